package dev.mcmux.protocol.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.mcmux.protocol.BinaryDecodeResult;
import dev.mcmux.protocol.BinaryMeta;
import dev.mcmux.protocol.BinaryRequest;
import dev.mcmux.protocol.BinaryRequestDecoder;
import dev.mcmux.protocol.MetaRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of {@link BinaryRequestDecoder} with arbitrary bytes in arbitrary chunks,
 * fed as {@code ClientSession} feeds it (Netty's merge cumulator).
 *
 * <p>For every input: no exception; the reader index only moves forward; the outcome does not
 * depend on how the bytes were split; every request has a key of at most 250 bytes and a value no
 * longer than the limit; every local answer is one well-formed response packet; every keyed request
 * translates to one meta line with no CR or LF before its end (or is refused for a key base64
 * cannot carry); every buffer is released exactly once.
 *
 * <p>Input layout: see {@link FuzzInput}; the low settings bits pick the value limit.
 */
class BinaryRequestDecoderFuzzTest {
  private static final ByteBufAllocator ALLOC = new UnpooledByteBufAllocator(false, true);
  private static final long[] MAX_VALUE = {1024, 0, 16, 3000};

  @FuzzTest(maxDuration = "30s")
  void decode(byte[] raw) {
    FuzzInput input = FuzzInput.parse(raw, 0);
    long maxValue = MAX_VALUE[input.settings & 3];
    List<String> whole = run(maxValue, new byte[][] {input.payload});
    assertEquals(whole, run(maxValue, input.chunks()), "chunked");
    if (input.payload.length <= 512) {
      assertEquals(whole, run(maxValue, input.bytewise()), "byte by byte");
    }
  }

  private static List<String> run(long maxValue, byte[][] chunks) {
    BinaryRequestDecoder decoder = new BinaryRequestDecoder(maxValue);
    List<String> out = new ArrayList<>();
    List<BinaryRequest> held = new ArrayList<>();
    ByteBuf cumulation = null;
    boolean closed = false;
    for (byte[] chunk : chunks) {
      ByteBuf in = ALLOC.buffer(chunk.length).writeBytes(chunk);
      cumulation =
          cumulation == null
              ? in
              : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ALLOC, cumulation, in);
      while (cumulation.isReadable()) {
        int before = cumulation.readerIndex();
        BinaryDecodeResult r = decoder.decode(cumulation);
        assertTrue(cumulation.readerIndex() >= before, "reader index moved back");
        assertTrue(cumulation.readerIndex() <= cumulation.writerIndex(), "read past the end");
        if (r instanceof BinaryDecodeResult.NeedMore) {
          break;
        }
        if (r instanceof BinaryDecodeResult.Request q) {
          BinaryRequest req = q.request();
          assertTrue(req.key().length <= 250, "key over 250 bytes");
          if (req.value() != null) {
            assertTrue(req.value().readableBytes() <= maxValue, "value over the limit");
          }
          held.add(req);
          out.add("request");
        } else if (r instanceof BinaryDecodeResult.LocalReply l) {
          checkPacket(l.reply());
          out.add("reply " + ByteBufUtil.hexDump(l.reply()));
        } else if (r instanceof BinaryDecodeResult.Close c) {
          if (c.reply().length > 0) {
            checkPacket(c.reply());
          }
          out.add("close " + ByteBufUtil.hexDump(c.reply()));
          closed = true;
          break;
        }
      }
      if (closed) {
        break;
      }
    }
    // Described after all input arrived: every value slice must still hold its bytes.
    int h = 0;
    for (int i = 0; i < out.size(); i++) {
      if (out.get(i).equals("request")) {
        out.set(i, describeAndTranslate(held.get(h++)));
      }
    }
    if (cumulation != null) {
      assertEquals(1, cumulation.refCnt(), "a value slice was not released");
      cumulation.release();
    }
    return out;
  }

  private static void checkPacket(byte[] p) {
    assertTrue(p.length >= 24 && p[0] == (byte) 0x81, "not a response packet");
    int body =
        ((p[8] & 0xff) << 24) | ((p[9] & 0xff) << 16) | ((p[10] & 0xff) << 8) | (p[11] & 0xff);
    assertEquals(p.length - 24, body, "body length");
  }

  /** Describes a request, then translates it as ClientSession would; releases its value. */
  private static String describeAndTranslate(BinaryRequest r) {
    String text =
        String.format(
            "request op=%02x opaque=%d cas=%d key=%s flags=%d exp=%d delta=%d initial=%d value=%s",
            r.opcode(),
            r.opaque(),
            r.cas(),
            ByteBufUtil.hexDump(r.key()),
            r.flags(),
            r.exptime(),
            r.delta(),
            r.initial(),
            r.value() == null ? "-" : ByteBufUtil.hexDump(r.value()));
    if (!BinaryMeta.isKeyed(r.opcode())) {
      r.release();
      return text;
    }
    MetaRequest meta;
    try {
      meta = BinaryMeta.toMeta(r);
    } catch (IllegalArgumentException e) {
      // Only a key with separator bytes whose base64 form is over 250 bytes is refused.
      assertTrue(r.key().length > 187 && BinaryMeta.needsBase64(r.key()), e.getMessage());
      return text + " refused";
    }
    ByteBuf line = ALLOC.buffer(meta.lineLengthBound());
    meta.writeLine(1, line);
    meta.release();
    String s = line.toString(StandardCharsets.ISO_8859_1);
    line.release();
    assertTrue(s.endsWith("\r\n"), "meta line not ended");
    String body = s.substring(0, s.length() - 2);
    assertTrue(body.indexOf('\n') < 0 && body.indexOf('\r') < 0, "CR or LF inside: " + body);
    return text;
  }
}
