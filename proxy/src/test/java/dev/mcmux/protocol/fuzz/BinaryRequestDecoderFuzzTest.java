package dev.mcmux.protocol.fuzz;

import static dev.mcmux.protocol.BinaryProtocol.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.mcmux.protocol.BinaryDecodeResult;
import dev.mcmux.protocol.BinaryMeta;
import dev.mcmux.protocol.BinaryRequest;
import dev.mcmux.protocol.BinaryRequestDecoder;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.MetaRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Coverage-guided fuzzing of {@link BinaryRequestDecoder} with arbitrary bytes in arbitrary chunks,
 * fed the way {@code ClientSession} feeds it.
 *
 * <p>For every input it checks: no exception; indexes stay in bounds and only move forward; the
 * outcome does not depend on how the bytes were split; every request is completely framed (the
 * bytes consumed end with exactly one packet whose header, extras, key and value are the request's,
 * laid out as the protocol lays out that opcode) and the meta request mcmux sends upstream for it
 * decodes back to the same request; local replies and close replies are single well-formed response
 * packets echoing the opaque; values stay intact while later input arrives and every buffer is
 * released exactly once; and after any input, a stream of {@code noop} packets is eventually read
 * as a {@code noop} request, unless the decoder closed the connection (its state cannot be wedged
 * by garbage).
 *
 * <p>Input layout: see {@link FuzzInput}; the low two settings bits pick the value limit.
 */
class BinaryRequestDecoderFuzzTest {

  /** Refcounts are checked exactly, so Netty's leak detector is off for these buffers. */
  private static final ByteBufAllocator ALLOC = new UnpooledByteBufAllocator(false, true);

  private static final long[] MAX_VALUE = {1024, 0, 16, 3000};

  private static final byte[] NOOP_PACKET = new byte[HEADER_BYTES];

  /** 16 MiB of noop packets, fed repeatedly to a decoder that swallows up to 2 GiB. */
  private static final ByteBuf FILLER;

  static {
    NOOP_PACKET[0] = REQUEST_MAGIC;
    NOOP_PACKET[1] = NOOP;
    int copies = (16 << 20) / HEADER_BYTES;
    byte[] filler = new byte[copies * HEADER_BYTES];
    for (int i = 0; i < copies; i++) {
      System.arraycopy(NOOP_PACKET, 0, filler, i * HEADER_BYTES, HEADER_BYTES);
    }
    FILLER = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(filler));
  }

  @FuzzTest(maxDuration = "30s")
  void decode(byte[] raw) {
    FuzzInput input = FuzzInput.parse(raw, 0);
    long maxValue = MAX_VALUE[input.settings & 3];

    List<String> whole = new Session(maxValue).run(new byte[][] {input.payload}, false);
    List<String> chunked = new Session(maxValue).run(input.chunks(), true);
    assertEquals(whole, chunked, "outcome depends on where the input was split");
    if (input.payload.length <= 512) {
      assertEquals(whole, new Session(maxValue).run(input.bytewise(), false));
    }
  }

  /** One binary client connection's decoder and cumulation buffer, with every check on the way. */
  private static final class Session {
    private final BinaryRequestDecoder decoder;
    private final long maxValue;
    private final List<String> outcomes = new ArrayList<>();
    private final List<BinaryRequest> held = new ArrayList<>();
    private final List<byte[]> heldValues = new ArrayList<>();
    private final Set<ByteBuf> cumulations = Collections.newSetFromMap(new IdentityHashMap<>());
    private ByteBuf cumulation;
    private boolean closed;
    private boolean sawNoop;
    private boolean recovering;

    Session(long maxValue) {
      this.decoder = new BinaryRequestDecoder(maxValue);
      this.maxValue = maxValue;
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

    private void drain() {
      while (!closed && !(recovering && sawNoop) && cumulation != null && cumulation.isReadable()) {
        int before = cumulation.readerIndex();
        int writer = cumulation.writerIndex();
        BinaryDecodeResult r = decoder.decode(cumulation);
        int after = cumulation.readerIndex();
        assertEquals(writer, cumulation.writerIndex(), "the decoder wrote to its input");
        assertTrue(after >= before && after <= writer, "reader index " + after + " out of range");
        if (r instanceof BinaryDecodeResult.NeedMore) {
          break;
        }
        assertTrue(after > before, "a result other than NeedMore consumed nothing");
        if (r instanceof BinaryDecodeResult.Request req) {
          request(req.request(), before, after);
        } else if (r instanceof BinaryDecodeResult.LocalReply reply) {
          assertPacket(reply.reply(), false);
          String text = "REPLY " + ByteBufUtil.hexDump(reply.reply());
          if (reply.deleteKeyFirst() != null) {
            byte[] key = reply.deleteKeyFirst();
            assertTrue(key.length >= 1 && key.length <= MAX_KEY_BYTES, "delete key length");
            assertEquals(E2BIG, status(reply.reply()), "a delete first without too large");
            assertEquals(SET, loudForm(reply.reply()[1] & 0xFF), "a delete first for a non-set");
            // The unlink ClientSession sends upstream for it, when the key can travel.
            try {
              MetaRequest delete =
                  MetaRequest.of(Command.MD, key, BinaryMeta.needsBase64(key), List.of(), null);
              RequestDecoderFuzzTest.assertMetaRoundTrips(delete);
              assertArrayEquals(key, delete.routingKey());
            } catch (IllegalArgumentException e) {
              assertTrue(cannotTravelAsMeta(key), e.getMessage());
            }
            text += " after delete " + ByteBufUtil.hexDump(key);
          }
          outcomes.add(text);
        } else if (r instanceof BinaryDecodeResult.Close close) {
          if (close.reply().length > 0) {
            assertPacket(close.reply(), false);
          }
          outcomes.add("CLOSE " + ByteBufUtil.hexDump(close.reply()));
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
          cumulation.discardSomeReadBytes();
        }
      }
    }

    /**
     * The bytes consumed end with exactly this request's packet: computed from the opcode's layout
     * alone, its header at the right place carries the request's opcode, lengths, opaque and CAS,
     * followed by its extras, key and value.
     */
    private void request(BinaryRequest r, int before, int after) {
      int loud = r.loudOpcode();
      byte[] key = r.key();
      int valueLength = r.value() == null ? 0 : r.value().readableBytes();
      int extras =
          switch (loud) {
            case SET, ADD, REPLACE -> 8;
            case INCREMENT, DECREMENT -> 20;
            case TOUCH, GAT, GATK -> 4;
            case FLUSH -> r.hasExptime() ? 4 : 0;
            case GET, GETK, DELETE, APPEND, PREPEND, NOOP, VERSION, QUIT, STAT -> 0;
            default -> fail("request for opcode " + r.opcode());
          };
      int start = after - (HEADER_BYTES + extras + key.length + valueLength);
      assertTrue(start >= before, "request longer than the bytes consumed");
      ByteBuf in = cumulation;
      assertEquals(REQUEST_MAGIC, in.getByte(start), "no request magic where the packet starts");
      assertEquals(r.opcode(), in.getUnsignedByte(start + 1));
      assertEquals(key.length, in.getUnsignedShort(start + 2));
      assertEquals(extras, in.getUnsignedByte(start + 4));
      long body = in.getUnsignedInt(start + 8);
      assertEquals(r.opaque(), in.getInt(start + 12));
      assertEquals(r.cas(), in.getLong(start + 16));
      byte[] wireKey = new byte[key.length];
      in.getBytes(start + HEADER_BYTES + extras, wireKey);
      assertArrayEquals(wireKey, key, "key is not the packet's key");
      assertTrue(key.length <= MAX_KEY_BYTES, "key over 250 bytes");
      if (loud == TOUCH || loud == GAT || loud == GATK || loud == STAT) {
        // As memcached: only extras and key are consumed; the rest of the body is read as the next
        // request.
        assertTrue(body >= extras + key.length, "body shorter than extras and key");
      } else {
        assertEquals(extras + key.length + valueLength, body, "body length not consumed exactly");
      }
      byte[] value = null;
      if (r.value() != null) {
        assertTrue(
            loud == SET || loud == ADD || loud == REPLACE || loud == APPEND || loud == PREPEND,
            "a value with opcode " + r.opcode());
        assertTrue(valueLength <= maxValue, "value over the limit");
        value = ByteBufUtil.getBytes(r.value());
        byte[] framed = new byte[valueLength];
        in.getBytes(after - valueLength, framed);
        assertArrayEquals(framed, value, "the value is not the packet's last bytes");
      }
      held.add(r);
      heldValues.add(value);
      if (loud == NOOP) {
        sawNoop = true;
      }
      if (BinaryMeta.isKeyed(r.opcode())) {
        upstream(r, value);
      }
      outcomes.add("REQ " + describe(r));
    }

    /** What goes upstream for a keyed request is a complete meta request with the same key. */
    private void upstream(BinaryRequest r, byte[] value) {
      BinaryRequest copy =
          new BinaryRequest(
              r.opcode(),
              r.opaque(),
              r.cas(),
              r.key(),
              r.flags(),
              r.exptime(),
              r.hasExptime(),
              r.delta(),
              r.initial(),
              value == null ? null : Unpooled.wrappedBuffer(value.clone()));
      MetaRequest meta;
      try {
        meta = BinaryMeta.toMeta(copy);
      } catch (IllegalArgumentException e) {
        assertTrue(
            cannotTravelAsMeta(r.key()), "no meta form for " + describe(r) + ": " + e.getMessage());
        return;
      }
      try {
        assertArrayEquals(r.key(), meta.routingKey(), "routed by other bytes than the key");
        assertFalse(meta.quiet(), "quiet mode went upstream");
        assertTrue(meta.tagged(), "a translated request goes untagged");
        if (meta.command() == Command.MS) {
          assertArrayEquals(
              value == null ? new byte[0] : value,
              ByteBufUtil.getBytes(meta.value()),
              "value changed on the way up");
        }
        RequestDecoderFuzzTest.assertMetaRoundTrips(meta);
      } finally {
        meta.release();
      }
    }

    /**
     * After any input, {@code noop} packets must eventually be read as a {@code noop}: first enough
     * to complete any header, extras, key and value the limits allow; if all that is swallowed, the
     * decoder is discarding a rejected body of under 2 GiB, so it must surface within that many
     * more bytes. A close is also a consistent end.
     */
    private void recover() {
      sawNoop = false;
      recovering = true;
      int copies = (int) ((HEADER_BYTES * 2L + 255 + 65535 + maxValue) / HEADER_BYTES) + 2;
      byte[] probes = new byte[copies * HEADER_BYTES];
      for (int i = 0; i < copies; i++) {
        System.arraycopy(NOOP_PACKET, 0, probes, i * HEADER_BYTES, HEADER_BYTES);
      }
      feed(probes);
      if (sawNoop || closed) {
        return;
      }
      if (cumulation != null && cumulation.isReadable()) {
        // A swallow that ended just short of the probes' end leaves less than a header, which a
        // socket would keep; more probes must then bring a noop or, misaligned, a close.
        assertTrue(
            cumulation.readableBytes() < HEADER_BYTES,
            "no noop after "
                + probes.length
                + " bytes of noop packets, yet a whole header is left");
        feed(probes);
        assertTrue(
            sawNoop || closed, "a swallow ended inside the probes, then neither noop nor close");
        return;
      }
      if (cumulation != null) {
        cumulation.release();
        cumulation = null;
      }
      long limit = (Integer.MAX_VALUE + 2L) / FILLER.readableBytes() + 2;
      byte[] rest = null;
      for (long i = 0; i < limit && !sawNoop && !closed && rest == null; i++) {
        ByteBuf piece = FILLER.duplicate();
        while (piece.isReadable() && !sawNoop && !closed) {
          BinaryDecodeResult r = decoder.decode(piece);
          if (r instanceof BinaryDecodeResult.NeedMore) {
            if (piece.isReadable()) {
              // The swallow ended inside the last packet: go on with what a socket would keep.
              rest = ByteBufUtil.getBytes(piece);
            }
            break;
          } else if (r instanceof BinaryDecodeResult.Request req) {
            req.request().release();
            sawNoop = req.request().opcode() == NOOP;
          } else if (r instanceof BinaryDecodeResult.Close) {
            closed = true;
          }
        }
      }
      if (rest != null) {
        byte[] more = new byte[rest.length + probes.length];
        System.arraycopy(rest, 0, more, 0, rest.length);
        System.arraycopy(probes, 0, more, rest.length, probes.length);
        feed(more);
      }
      assertTrue(sawNoop || closed, "the decoder never read a noop again");
    }

    private void finish() {
      for (int i = 0; i < held.size(); i++) {
        BinaryRequest r = held.get(i);
        byte[] value = heldValues.get(i);
        if (value != null) {
          assertTrue(r.value().refCnt() > 0, "a held value was freed under its request");
          assertArrayEquals(value, ByteBufUtil.getBytes(r.value()), "a held value changed later");
        }
        r.release();
      }
      held.clear();
      if (cumulation != null) {
        assertEquals(1, cumulation.refCnt(), "a value slice was retained and not released");
        cumulation.release();
        cumulation = null;
      }
      for (ByteBuf b : cumulations) {
        assertEquals(0, b.refCnt(), "an input buffer was never released");
      }
    }
  }

  /** A single response packet: magic, a body length that matches, no extras or key for errors. */
  private static void assertPacket(byte[] p, boolean success) {
    assertTrue(p.length >= HEADER_BYTES, "reply shorter than a header");
    assertEquals(RESPONSE_MAGIC, p[0], "reply without response magic");
    long body =
        Integer.toUnsignedLong(
            ((p[8] & 0xFF) << 24) | ((p[9] & 0xFF) << 16) | ((p[10] & 0xFF) << 8) | (p[11] & 0xFF));
    assertEquals(p.length - HEADER_BYTES, body, "reply body length");
    if (!success) {
      assertTrue(status(p) != SUCCESS, "an error reply with status success");
      assertEquals(0, p[2] | p[3] | p[4], "an error reply with a key or extras");
    }
  }

  private static int status(byte[] p) {
    return ((p[6] & 0xFF) << 8) | (p[7] & 0xFF);
  }

  static String describe(BinaryRequest r) {
    StringBuilder sb =
        new StringBuilder(String.format("op=%02x opaque=%08x", r.opcode(), r.opaque()));
    sb.append(" cas=")
        .append(Long.toUnsignedString(r.cas()))
        .append(" key=")
        .append(ByteBufUtil.hexDump(r.key()))
        .append(" flags=")
        .append(Integer.toUnsignedString(r.flags()))
        .append(" exptime=")
        .append(r.exptime())
        .append(r.hasExptime() ? "+" : "")
        .append(" delta=")
        .append(Long.toUnsignedString(r.delta()))
        .append(" initial=")
        .append(Long.toUnsignedString(r.initial()));
    if (r.value() != null) {
      sb.append(" data=").append(ByteBufUtil.hexDump(r.value()));
    }
    return sb.toString();
  }

  /**
   * Only a key with separator bytes whose padded base64 form is over memcached's 250-byte token
   * cannot travel as a meta request: 187 bytes and more.
   */
  static boolean cannotTravelAsMeta(byte[] key) {
    return BinaryMeta.needsBase64(key) && 4 * ((key.length + 2) / 3) > MAX_KEY_BYTES;
  }
}
