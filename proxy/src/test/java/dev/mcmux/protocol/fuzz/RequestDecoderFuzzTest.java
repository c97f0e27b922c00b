package dev.mcmux.protocol.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.DecodeResult;
import dev.mcmux.protocol.MetaKeys;
import dev.mcmux.protocol.MetaRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Coverage-guided fuzzing of {@link AsciiRequestDecoder} with arbitrary bytes in arbitrary chunks,
 * fed the way {@code ClientSession} feeds it (Netty's merge cumulator, compaction only while no
 * value slice is held).
 *
 * <p>For every input it checks: no exception; indexes stay in bounds and only move forward; the
 * outcome does not depend on how the bytes were split; every {@code Request} is completely framed
 * (a value is exactly the bytes before the CRLF that ended what was consumed) and its canonical
 * upstream encoding, split as {@code ClientSession} splits long retrievals, decodes back to an
 * equal request; value slices stay intact while later input arrives and every buffer is released
 * exactly once; and after any input, {@code \nversion\r\n} eventually decodes to a {@code version}
 * request unless the decoder closed the connection.
 *
 * <p>Input layout: see {@link FuzzInput}; the low settings bits pick the value and get-line limits.
 */
class RequestDecoderFuzzTest {

  /**
   * Refcounts are checked exactly, so Netty's leak detector (paranoid in tests, with a stack trace
   * per access) is switched off for these buffers: it would only slow the fuzzer down.
   */
  private static final ByteBufAllocator ALLOC = new UnpooledByteBufAllocator(false, true);

  private static final long[] MAX_VALUE = {1024, 0, 16, 3000};
  private static final int[] MAX_GET_LINE = {8192, 2048, 2500, 20000};

  private static final byte[] PROBE = "\nversion\r\n".getBytes(StandardCharsets.US_ASCII);

  /**
   * 16 MiB of {@link #PROBE}s, ending on a whole probe: fed repeatedly to a decoder that is
   * discarding a rejected data block of up to 2 GiB, which skips each piece in one step.
   */
  private static final ByteBuf FILLER;

  static {
    int copies = (16 << 20) / PROBE.length;
    byte[] filler = new byte[copies * PROBE.length];
    for (int i = 0; i < copies; i++) {
      System.arraycopy(PROBE, 0, filler, i * PROBE.length, PROBE.length);
    }
    FILLER = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(filler));
  }

  @FuzzTest(maxDuration = "30s")
  void decode(byte[] raw) {
    FuzzInput input = FuzzInput.parse(raw, 0);
    long maxValue = MAX_VALUE[input.settings & 3];
    int maxGetLine = MAX_GET_LINE[(input.settings >>> 2) & 3];

    List<String> whole = new Session(maxValue, maxGetLine).run(new byte[][] {input.payload}, false);
    List<String> chunked = new Session(maxValue, maxGetLine).run(input.chunks(), true);
    assertEquals(whole, chunked, "outcome depends on where the input was split");
    if (input.payload.length <= 512) {
      assertEquals(whole, new Session(maxValue, maxGetLine).run(input.bytewise(), false));
    }
  }

  /** One client connection's decoder and cumulation buffer, with every check on the way. */
  private static final class Session {
    private final AsciiRequestDecoder decoder;
    private final long maxValue;
    private final int maxGetLine;
    private final List<String> outcomes = new ArrayList<>();
    private final List<Held> held = new ArrayList<>();
    private final List<HeldMeta> heldMeta = new ArrayList<>();
    private final Set<ByteBuf> cumulations = Collections.newSetFromMap(new IdentityHashMap<>());
    private ByteBuf cumulation;
    private boolean closed;
    private boolean sawVersion;

    /** Set while probing for recovery: stop at the first version request. */
    private boolean recovering;

    Session(long maxValue, int maxGetLine) {
      this.decoder = new AsciiRequestDecoder(maxValue, maxGetLine);
      this.maxValue = maxValue;
      this.maxGetLine = maxGetLine;
    }

    List<String> run(byte[][] chunks, boolean thenRecover) {
      try {
        for (byte[] chunk : chunks) {
          feed(chunk);
          if (closed) {
            break;
          }
        }
        List<String> result = List.copyOf(outcomes);
        if (thenRecover && !closed) {
          recover();
        }
        return result;
      } finally {
        finish();
      }
    }

    private void feed(byte[] chunk) {
      ByteBuf in = ALLOC.heapBuffer(chunk.length).writeBytes(chunk);
      cumulation =
          cumulation == null
              ? in
              : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ALLOC, cumulation, in);
      cumulations.add(cumulation);
      drain();
    }

    /** Decodes until the decoder needs more, as ClientSession.processInput does. */
    private void drain() {
      while (!closed
          && !(recovering && sawVersion)
          && cumulation != null
          && cumulation.isReadable()) {
        int before = cumulation.readerIndex();
        int writer = cumulation.writerIndex();
        DecodeResult r = decoder.decode(cumulation);
        int after = cumulation.readerIndex();
        assertEquals(writer, cumulation.writerIndex(), "the decoder wrote to its input");
        assertTrue(after >= before && after <= writer, "reader index " + after + " out of range");
        if (r instanceof DecodeResult.NeedMore) {
          break;
        }
        assertTrue(after > before, "a result other than NeedMore consumed nothing");
        if (r instanceof DecodeResult.Request req) {
          request(req.request(), after);
        } else if (r instanceof DecodeResult.Meta meta) {
          meta(meta, after);
        } else if (r instanceof DecodeResult.LocalReply reply) {
          assertOneLineOrEmpty(reply.reply());
          String text = "REPLY " + ascii(reply.reply());
          if (reply.deleteFirst() != null) {
            AsciiRequest delete = reply.deleteFirst();
            assertEquals(Command.DELETE, delete.command());
            assertNull(delete.data());
            checkKeys(delete);
            assertRoundTrips(delete);
            text += " after " + describe(delete);
          }
          outcomes.add(text);
        } else if (r instanceof DecodeResult.Close close) {
          assertOneLineOrEmpty(close.reply());
          outcomes.add("CLOSE " + ascii(close.reply()));
          closed = true;
        } else {
          fail("unknown result " + r);
        }
      }
      if (cumulation != null) {
        if (!cumulation.isReadable() || closed) {
          cumulation.release();
          cumulation = null;
        } else if (cumulation.refCnt() == 1) {
          // As ClientSession: compacting moves bytes under any value slice still held.
          cumulation.discardSomeReadBytes();
        }
      }
    }

    private void request(AsciiRequest r, int consumedTo) {
      Command c = r.command();
      checkKeys(r);
      if (c.isStorage()) {
        ByteBuf data = r.data();
        assertTrue(data != null && data.refCnt() > 0, "storage request without a live value");
        int len = data.readableBytes();
        assertTrue(len <= maxValue, "value of " + len + " bytes over the limit " + maxValue);
        // Completely framed: what was consumed ends with exactly this value and its CRLF.
        assertEquals('\r', cumulation.getByte(consumedTo - 2));
        assertEquals('\n', cumulation.getByte(consumedTo - 1));
        byte[] framed = new byte[len];
        cumulation.getBytes(consumedTo - 2 - len, framed);
        byte[] value = ByteBufUtil.getBytes(data);
        assertArrayEquals(framed, value, "the value is not the bytes before the final CRLF");
        held.add(new Held(r, value));
      } else {
        assertNull(r.data(), c + " with a value");
        held.add(new Held(r, null));
      }
      if (c == Command.VERSION) {
        sawVersion = true;
      }
      assertRoundTrips(r);
      outcomes.add("REQ " + describe(r));
    }

    /**
     * A meta request is framed as completely as a storage one (an {@code ms} value is exactly the
     * bytes before the final CRLF), and what goes upstream for it, tagged or failed over, decodes
     * back to the same request with mcmux's tag in place of the client's opaque and quiet mode.
     */
    private void meta(DecodeResult.Meta m, int consumedTo) {
      MetaRequest q = m.request();
      Command c = q.command();
      byte[] value = null;
      try {
        if (m.replyInstead() != null) {
          // An ms over the size limit: memcached unlinks the key, the client gets the error.
          assertEquals(Command.MD, c, "an ms over the limit runs as md");
          assertTrue(q.tagged(), "the unlink of an ms over the limit must be tagged");
          assertOneLineOrEmpty(m.replyInstead());
          assertTrue(m.replyInstead().length > 0, "an ms over the limit must be answered");
        }
        if (c == Command.MN) {
          assertNull(q.value(), "mn with a value");
          assertEquals(0, q.flagCount(), "mn with flags");
          outcomes.add("META MN");
          return;
        }
        assertTrue(
            c == Command.MG
                || c == Command.MS
                || c == Command.MD
                || c == Command.MA
                || c == Command.ME,
            "meta result for " + c);
        byte[] wire = q.wireKey();
        assertTrue(wire.length >= 1 && wire.length <= AsciiRequestDecoder.MAX_KEY_BYTES, "key");
        for (byte b : wire) {
          assertTrue(b != ' ' && b != '\n' && b != 0, "separator inside a meta key");
        }
        if (q.base64()) {
          assertArrayEquals(MetaKeys.encode(q.routingKey()), wire, "base64 key not canonical");
        } else {
          assertArrayEquals(wire, q.routingKey(), "a plain key routed by other bytes");
        }
        for (int i = 0; i < q.flagCount(); i++) {
          byte f = q.flag(i)[0];
          assertTrue(f != 'b' && f != 'q' && f != 'O', "flag " + (char) f + " goes upstream");
        }
        if (c == Command.MS && m.replyInstead() == null) {
          ByteBuf data = q.value();
          assertTrue(data != null && data.refCnt() > 0, "ms without a live value");
          int len = data.readableBytes();
          assertTrue(len <= maxValue, "ms value of " + len + " bytes over the limit " + maxValue);
          assertEquals('\r', cumulation.getByte(consumedTo - 2));
          assertEquals('\n', cumulation.getByte(consumedTo - 1));
          byte[] framed = new byte[len];
          cumulation.getBytes(consumedTo - 2 - len, framed);
          value = ByteBufUtil.getBytes(data);
          assertArrayEquals(framed, value, "the ms value is not the bytes before the final CRLF");
        } else {
          assertNull(q.value(), c + " with a value");
        }
        assertMetaRoundTrips(q);
        MetaRequest capped = q.withExpiryCap(ttl -> ttl <= 0 || ttl > 60 ? 60 : ttl);
        if (capped != null) {
          assertMetaRoundTrips(capped);
        }
        outcomes.add("META " + describe(q) + (m.replyInstead() == null ? "" : " too large"));
      } finally {
        heldMeta.add(new HeldMeta(q, value));
      }
    }

    /**
     * After any input, a newline and {@code version} must eventually be understood: the decoder
     * cannot be wedged by garbage. First enough probes to end any line, fill any value the limits
     * allow and resynchronise; if that is all swallowed, the decoder must be discarding a rejected
     * block, which is at most 2 GiB, so it must surface within that many more bytes.
     */
    private void recover() {
      sawVersion = false;
      recovering = true;
      int copies = (int) ((maxValue + 2 + maxGetLine + 2L * PROBE.length) / PROBE.length) + 1;
      byte[] probes = new byte[copies * PROBE.length];
      for (int i = 0; i < copies; i++) {
        System.arraycopy(PROBE, 0, probes, i * PROBE.length, PROBE.length);
      }
      feed(probes);
      if (sawVersion || closed) {
        return;
      }
      assertTrue(
          cumulation == null || !cumulation.isReadable(),
          "no version request after " + probes.length + " bytes of probes, yet bytes are left");
      if (cumulation != null) {
        cumulation.release();
        cumulation = null;
      }
      long limit = (Integer.MAX_VALUE + 2L) / FILLER.readableBytes() + 2;
      for (long i = 0; i < limit && !sawVersion && !closed; i++) {
        ByteBuf piece = FILLER.duplicate();
        while (piece.isReadable() && !sawVersion) {
          DecodeResult r = decoder.decode(piece);
          if (r instanceof DecodeResult.NeedMore) {
            assertFalse(piece.isReadable(), "waiting for more inside whole probe lines");
          } else if (r instanceof DecodeResult.Request req) {
            assertNull(req.request().data());
            sawVersion = req.request().command() == Command.VERSION;
          } else if (r instanceof DecodeResult.Close) {
            closed = true;
            break;
          }
        }
      }
      assertTrue(sawVersion || closed, "the decoder never read a version request again");
    }

    /** Releases what the session holds and checks every buffer was released exactly once. */
    private void finish() {
      for (Held h : held) {
        if (h.value != null) {
          assertTrue(h.request.data().refCnt() > 0, "a held value was freed under its request");
          assertArrayEquals(
              h.value, ByteBufUtil.getBytes(h.request.data()), "a held value changed later");
        }
        h.request.release();
      }
      held.clear();
      for (HeldMeta h : heldMeta) {
        if (h.value != null) {
          assertTrue(h.request.value().refCnt() > 0, "a held ms value was freed under it");
          assertArrayEquals(
              h.value, ByteBufUtil.getBytes(h.request.value()), "a held ms value changed later");
        }
        h.request.release();
      }
      heldMeta.clear();
      if (cumulation != null) {
        assertEquals(1, cumulation.refCnt(), "a value slice was retained and not released");
        cumulation.release();
        cumulation = null;
      }
      for (ByteBuf b : cumulations) {
        assertEquals(0, b.refCnt(), "an input buffer was never released");
      }
    }

    private void checkKeys(AsciiRequest r) {
      Command c = r.command();
      int n = r.keys().size();
      if (c.isRetrieval()) {
        assertTrue(n >= 1, "retrieval without keys");
      } else if (c.isStorage()
          || c == Command.DELETE
          || c == Command.INCR
          || c == Command.DECR
          || c == Command.TOUCH) {
        assertEquals(1, n, c + " key count");
      } else {
        assertEquals(0, n, c + " key count");
      }
      for (byte[] k : r.keys()) {
        assertTrue(k.length >= 1 && k.length <= AsciiRequestDecoder.MAX_KEY_BYTES, "key length");
        for (byte b : k) {
          // Any of these inside a key would change how upstream splits the canonical line.
          assertTrue(b != ' ' && b != '\n' && b != 0, "separator inside a key");
        }
      }
    }
  }

  /** A request kept until the end of the input, with a copy of its value at decode time. */
  private record Held(AsciiRequest request, byte[] value) {}

  /** A meta request kept until the end of the input, with a copy of its ms value. */
  private record HeldMeta(MetaRequest request, byte[] value) {}

  /** mcmux's sequence tag in the round trips; any positive number would do. */
  private static final long TAG = 4_294_967_301L;

  /**
   * Nothing goes upstream that was not completely framed: the line mcmux writes for {@code q} (and
   * its value) is one request to a decoder that reads as memcached does, with the same command, key
   * and flags, no quiet mode, and mcmux's tag as its only opaque (or the client's opaque cut one
   * byte over memcached's limit, when that must fail upstream as it would have).
   */
  static void assertMetaRoundTrips(MetaRequest q) {
    ByteBuf wire = ALLOC.heapBuffer();
    q.writeLine(TAG, wire);
    int lineLength = wire.readableBytes();
    assertTrue(lineLength <= q.lineLengthBound(), "meta line over its own bound");
    assertEquals(lineLength - 1, wire.indexOf(0, wire.writerIndex(), (byte) '\n'), "one line");
    assertTrue(lineLength <= AsciiRequestDecoder.MAX_LINE_BYTES, "meta line memcached closes on");
    if (q.command() == Command.MS) {
      wire.writeBytes(q.value(), q.value().readerIndex(), q.value().readableBytes());
      wire.writeByte('\r').writeByte('\n');
    }
    MetaRequest back = null;
    try {
      AsciiRequestDecoder fresh = new AsciiRequestDecoder(Long.MAX_VALUE, 2048);
      DecodeResult r = fresh.decode(wire);
      assertFalse(wire.isReadable(), "upstream meta request not consumed whole");
      DecodeResult.Meta m = assertInstanceOf(DecodeResult.Meta.class, r, "upstream meta line");
      back = m.request();
      assertNull(m.replyInstead());
      assertEquals(q.command(), back.command());
      assertArrayEquals(q.wireKey(), back.wireKey(), "key changed on the way up");
      assertArrayEquals(q.routingKey(), back.routingKey(), "routing key changed on the way up");
      assertEquals(q.base64(), back.base64());
      assertFalse(back.quiet(), "quiet mode went upstream");
      assertEquals(q.flagCount(), back.flagCount(), "flag count changed on the way up");
      for (int i = 0; i < q.flagCount(); i++) {
        assertArrayEquals(q.flag(i), back.flag(i), "flag " + i + " changed on the way up");
      }
      byte[] expectedOpaque;
      if (q.tagged()) {
        expectedOpaque = ("O" + TAG).getBytes(StandardCharsets.US_ASCII);
      } else if (q.opaque() != null && q.command() != Command.ME) {
        expectedOpaque =
            java.util.Arrays.copyOf(
                q.opaque(), Math.min(q.opaque().length, MetaRequest.MAX_OPAQUE_BYTES + 1));
      } else {
        expectedOpaque = null;
      }
      assertArrayEquals(expectedOpaque, back.opaque(), "upstream opaque");
      if (q.command() == Command.MS) {
        assertArrayEquals(
            ByteBufUtil.getBytes(q.value()), ByteBufUtil.getBytes(back.value()), "ms value");
      }
    } finally {
      if (back != null) {
        back.release();
      }
      wire.release();
    }
  }

  /** Every field of a meta request, keys, flags and value in hex. */
  static String describe(MetaRequest q) {
    StringBuilder sb = new StringBuilder(q.command().name());
    sb.append(' ').append(ByteBufUtil.hexDump(q.wireKey()));
    sb.append(q.base64() ? " b" : "")
        .append(q.quiet() ? " q" : "")
        .append(q.tagged() ? "" : " untagged");
    for (int i = 0; i < q.flagCount(); i++) {
      sb.append(' ').append(new String(q.flag(i), StandardCharsets.ISO_8859_1));
    }
    if (q.opaque() != null) {
      sb.append(" opaque=").append(ByteBufUtil.hexDump(q.opaque()));
    }
    if (q.value() != null) {
      sb.append(" data=").append(ByteBufUtil.hexDump(q.value()));
    }
    return sb.toString();
  }

  /**
   * Nothing goes upstream that was not completely framed: the canonical encoding of {@code r},
   * split into upstream lines as ClientSession splits retrievals, decodes to {@code r} again.
   */
  static void assertRoundTrips(AsciiRequest r) {
    Command c = r.command();
    if (c == Command.QUIT || c == Command.VERBOSITY) {
      ByteBuf out = ALLOC.heapBuffer();
      try {
        assertThrows(IllegalArgumentException.class, () -> AsciiRequestEncoder.writeLine(r, out));
      } finally {
        out.release();
      }
      return;
    }
    if (c.isRetrieval()) {
      List<byte[]> keys = r.keys();
      int max = AsciiRequestEncoder.maxUpstreamLineBytes(c);
      List<byte[]> seen = new ArrayList<>();
      for (int from = 0; from < keys.size(); ) {
        int to = AsciiRequestEncoder.retrievalPartEnd(c, r.exptime(), keys, from, max);
        ByteBuf line = ALLOC.heapBuffer();
        AsciiRequestEncoder.writeRetrieval(c, r.exptime(), keys, from, to, line);
        assertEquals(
            AsciiRequestEncoder.retrievalLineLength(c, r.exptime(), keys, from, to),
            line.readableBytes());
        assertTrue(line.readableBytes() <= max, "upstream line of " + line.readableBytes());
        AsciiRequest back = decodeEncoded(line);
        assertEquals(c, back.command());
        assertEquals(r.exptime(), back.exptime());
        seen.addAll(back.keys());
        from = to;
      }
      assertEquals(keys.size(), seen.size());
      for (int i = 0; i < keys.size(); i++) {
        assertArrayEquals(keys.get(i), seen.get(i), "key " + i + " changed on the way up");
      }
      return;
    }
    ByteBuf wire = ALLOC.heapBuffer();
    AsciiRequestEncoder.writeLine(r, wire);
    int lf = wire.indexOf(0, wire.writerIndex(), (byte) '\n');
    assertTrue(lf <= AsciiRequestDecoder.MAX_LINE_BYTES, "upstream line memcached would close on");
    if (c.isStorage()) {
      wire.writeBytes(r.data(), r.data().readerIndex(), r.data().readableBytes());
      wire.writeByte('\r').writeByte('\n');
    }
    AsciiRequest back = decodeEncoded(wire);
    try {
      AsciiRequest expected =
          new AsciiRequest(
              c,
              r.keys(),
              r.flags(),
              r.exptime(),
              r.cas(),
              r.delta(),
              false,
              r.hasDelay(),
              r.data(),
              r.arguments());
      assertEquals(describe(expected), describe(back), "canonical form decodes differently");
    } finally {
      back.release();
    }
  }

  /** Decodes one canonical encoding (released here) that must be exactly one request. */
  private static AsciiRequest decodeEncoded(ByteBuf wire) {
    try {
      AsciiRequestDecoder fresh =
          new AsciiRequestDecoder(Long.MAX_VALUE, Math.max(wire.readableBytes(), 2048));
      DecodeResult r = fresh.decode(wire);
      assertFalse(wire.isReadable(), "canonical encoding not consumed whole");
      AsciiRequest back = assertInstanceOf(DecodeResult.Request.class, r).request();
      if (back.data() != null) {
        // Keep the value readable after the wire buffer is gone.
        AsciiRequest copy =
            new AsciiRequest(
                back.command(),
                back.keys(),
                back.flags(),
                back.exptime(),
                back.cas(),
                back.delta(),
                back.noreply(),
                back.hasDelay(),
                Unpooled.wrappedBuffer(ByteBufUtil.getBytes(back.data())),
                back.arguments());
        back.release();
        return copy;
      }
      return back;
    } finally {
      wire.release();
    }
  }

  private static void assertOneLineOrEmpty(byte[] reply) {
    if (reply.length == 0) {
      return;
    }
    int lf = indexOf(reply, (byte) '\n');
    assertEquals(reply.length - 1, lf, "a local reply must be exactly one line");
    assertTrue(reply.length >= 2 && reply[reply.length - 2] == '\r', "reply without CRLF");
  }

  private static int indexOf(byte[] a, byte b) {
    for (int i = 0; i < a.length; i++) {
      if (a[i] == b) {
        return i;
      }
    }
    return -1;
  }

  /** Every field of a request, values and keys in hex, so any difference shows. */
  static String describe(AsciiRequest r) {
    StringBuilder sb = new StringBuilder(r.command().name());
    for (byte[] k : r.keys()) {
      sb.append(' ').append(ByteBufUtil.hexDump(k));
    }
    sb.append(" flags=")
        .append(Integer.toUnsignedString(r.flags()))
        .append(" exptime=")
        .append(r.exptime())
        .append(" cas=")
        .append(Long.toUnsignedString(r.cas()))
        .append(" delta=")
        .append(Long.toUnsignedString(r.delta()))
        .append(r.noreply() ? " noreply" : "")
        .append(r.hasDelay() ? " delay" : "");
    if (r.arguments() != null) {
      sb.append(" args=").append(ByteBufUtil.hexDump(r.arguments()));
    }
    if (r.data() != null) {
      sb.append(" data=").append(ByteBufUtil.hexDump(r.data()));
    }
    return sb.toString();
  }

  private static String ascii(byte[] b) {
    return new String(b, StandardCharsets.ISO_8859_1);
  }
}
