package dev.mcmux.protocol.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.mcmux.protocol.AsciiResponseFramer;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.MetaResponse;
import dev.mcmux.protocol.NoReplyFilter;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.protocol.UpstreamDesyncException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of {@link AsciiResponseFramer} with arbitrary upstream bytes, framed for
 * a queue of pending requests of arbitrary shapes, fed the way {@code UpstreamConnection} feeds it.
 *
 * <p>Each call must give a frame length within the readable bytes, or -1 without moving either
 * index, or an {@link UpstreamDesyncException}; anything else is a finding. The frames and the
 * final outcome must not depend on how the bytes were split into reads, and every frame must really
 * be one complete response of its shape, as checked by an independent parser written the way the
 * client session later reads those frames.
 *
 * <p>Meta frames are also checked the way the session uses them: {@link MetaResponse#parse} reads
 * them, and giving the client back its opaque in place of mcmux's tag changes that one token and
 * nothing else.
 *
 * <p>Input layout: see {@link FuzzInput}; the low two settings bits pick the largest accepted
 * value, the third makes shape code 3 {@code META} instead of {@code RETRIEVAL}; the one header
 * byte holds four 2-bit shapes that the pending queue cycles through.
 */
class ResponseFramerFuzzTest {

  /** Refcounts are not the point here; keep Netty's paranoid leak tracking off the hot loop. */
  private static final ByteBufAllocator ALLOC = new UnpooledByteBufAllocator(false, true);

  private static final long[] MAX_VALUE = {1 << 20, 100, 0, 5000};
  private static final ResponseShape[] SHAPES = {
    ResponseShape.LINE, ResponseShape.RETRIEVAL, ResponseShape.STATS, ResponseShape.RETRIEVAL
  };

  /** The tag the meta seeds use, as {@code UpstreamConnection} would have sent it. */
  static final long TAG = 17;

  private static final byte[] CLIENT_OPAQUE = "Oclient".getBytes(StandardCharsets.US_ASCII);

  @FuzzTest(maxDuration = "30s")
  void frame(byte[] raw) {
    FuzzInput input = FuzzInput.parse(raw, 1);
    long maxValue = MAX_VALUE[input.settings & 3];
    ResponseShape[] queue = new ResponseShape[4];
    for (int i = 0; i < 4; i++) {
      int code = (input.header[0] >>> (2 * i)) & 3;
      queue[i] = code == 3 && (input.settings & 4) != 0 ? ResponseShape.META : SHAPES[code];
    }
    List<String> whole = run(new byte[][] {input.payload}, queue, maxValue);
    assertEquals(whole, run(input.chunks(), queue, maxValue), "framing depends on the split");
    if (input.payload.length <= 512) {
      assertEquals(whole, run(input.bytewise(), queue, maxValue), "framing bytewise differs");
    }
  }

  /** The frames found, then how the stream ended: desync, or how many bytes wait for more. */
  private static List<String> run(byte[][] chunks, ResponseShape[] queue, long maxValue) {
    AsciiResponseFramer framer = new AsciiResponseFramer(maxValue);
    List<String> out = new ArrayList<>();
    ByteBuf cumulation = null;
    try {
      for (byte[] chunk : chunks) {
        ByteBuf in = ALLOC.heapBuffer(chunk.length).writeBytes(chunk);
        cumulation =
            cumulation == null
                ? in
                : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ALLOC, cumulation, in);
        while (cumulation.isReadable()) {
          ResponseShape shape = queue[out.size() % queue.length];
          int reader = cumulation.readerIndex();
          int writer = cumulation.writerIndex();
          int n;
          try {
            n = framer.frameLength(cumulation, shape);
          } catch (UpstreamDesyncException e) {
            out.add("DESYNC");
            return out;
          }
          assertEquals(reader, cumulation.readerIndex(), "frameLength moved the reader index");
          assertEquals(writer, cumulation.writerIndex(), "frameLength moved the writer index");
          if (n == -1) {
            break;
          }
          assertTrue(n > 0 && n <= cumulation.readableBytes(), "frame length " + n);
          ByteBuf frame = cumulation.readRetainedSlice(n);
          try {
            byte[] bytes = ByteBufUtil.getBytes(frame);
            checkFrame(shape, bytes, maxValue);
            if (shape == ResponseShape.LINE) {
              // Must not throw on anything the framer lets through.
              NoReplyFilter.suppressed(Command.SET, frame);
            } else if (shape == ResponseShape.META) {
              checkMetaUse(frame, bytes);
            }
            out.add(shape + " " + n);
          } finally {
            frame.release();
          }
        }
        if (!cumulation.isReadable()) {
          cumulation.release();
          cumulation = null;
        } else if (cumulation.refCnt() == 1) {
          // As UpstreamConnection.channelReadComplete: compact between reads.
          cumulation.discardSomeReadBytes();
        }
      }
      out.add("WAITING " + (cumulation == null ? 0 : cumulation.readableBytes()));
      return out;
    } finally {
      if (cumulation != null) {
        cumulation.release();
      }
    }
  }

  /**
   * Checks that {@code f} is one whole response of {@code shape}: CRLF-terminated lines, VALUE
   * blocks with exactly their announced length, ended by END or by an error line.
   */
  static void checkFrame(ResponseShape shape, byte[] f, long maxValue) {
    String text = new String(f, StandardCharsets.ISO_8859_1);
    int pos = 0;
    while (true) {
      int lf = text.indexOf('\n', pos);
      assertTrue(lf > pos && text.charAt(lf - 1) == '\r', "line not ended by CRLF in " + esc(text));
      String line = text.substring(pos, lf - 1);
      boolean last = lf + 1 == f.length;
      if (isError(line)) {
        assertTrue(last, "bytes after an error line: " + esc(text));
        return;
      }
      switch (shape) {
        case META -> {
          checkMetaFrame(text, line, lf + 1, maxValue);
          return;
        }
        case LINE -> {
          assertTrue(last, "a one-line response has more lines: " + esc(text));
          assertTrue(
              !line.startsWith("VALUE ") && !line.startsWith("STAT ") && !line.equals("END"),
              "multi-line reply framed as one line: " + esc(text));
          return;
        }
        case STATS -> {
          if (line.equals("END")) {
            assertTrue(last, "bytes after END: " + esc(text));
            return;
          }
          assertTrue(line.startsWith("STAT "), "not a STAT line: " + esc(line));
          pos = lf + 1;
        }
        case RETRIEVAL -> {
          if (line.equals("END")) {
            assertTrue(last, "bytes after END: " + esc(text));
            return;
          }
          pos = valueBlock(text, line, lf + 1, maxValue);
        }
      }
      assertTrue(pos < f.length, "response ends without END: " + esc(text));
    }
  }

  /**
   * Reads {@code VALUE <key> <flags> <bytes> [<cas>]} as ClientSession's merge reads it and returns
   * where the block after it ends.
   */
  private static int valueBlock(String text, String line, int dataStart, long maxValue) {
    if (!line.startsWith("VALUE ")) {
      fail("not a VALUE line: " + esc(line));
    }
    int keyEnd = line.indexOf(' ', 6);
    int flagsEnd = keyEnd < 0 ? -1 : line.indexOf(' ', keyEnd + 1);
    assertTrue(keyEnd > 6 && flagsEnd > keyEnd + 1, "VALUE line without key and flags");
    int lenEnd = line.indexOf(' ', flagsEnd + 1);
    String len = line.substring(flagsEnd + 1, lenEnd < 0 ? line.length() : lenEnd);
    assertTrue(len.matches("[0-9]{1,10}"), "VALUE length " + esc(len));
    long n = Long.parseLong(len);
    assertTrue(n <= maxValue, "VALUE of " + n + " bytes over " + maxValue);
    // ClientSession parses it as an int.
    Integer.parseInt(len);
    int end = Math.toIntExact(dataStart + n + 2);
    assertTrue(end <= text.length(), "VALUE block cut short");
    assertEquals("\r\n", text.substring(end - 2, end), "VALUE data not followed by CRLF");
    return end;
  }

  /** One meta status line, alone, or {@code VA <len>} followed by exactly that much data. */
  private static void checkMetaFrame(String text, String line, int dataStart, long maxValue) {
    String[] words = line.split(" ", -1);
    String status = words[0];
    assertTrue(
        status.matches("HD|VA|EN|NF|NS|EX|MN|ME") || line.matches("(?s)(HD|EN|NF|NS|EX|MN|ME)\r.*"),
        "not a meta status: " + esc(line));
    if (!status.equals("VA")) {
      assertEquals(text.length(), dataStart, "a meta line with more after it: " + esc(text));
      return;
    }
    assertTrue(words.length >= 2 && words[1].matches("[0-9]{1,10}"), "VA length: " + esc(line));
    long n = Long.parseLong(words[1]);
    assertTrue(n <= maxValue, "VA of " + n + " bytes over " + maxValue);
    assertEquals(
        dataStart + n + 2, text.length(), "VA frame is not its line and data: " + esc(text));
    assertEquals("\r\n", text.substring(text.length() - 2), "VA data not followed by CRLF");
  }

  /**
   * What the session does with a meta frame must not fail on anything the framer let through, and
   * restoring the client's opaque must change exactly mcmux's tag token.
   */
  private static void checkMetaUse(ByteBuf frame, byte[] bytes) {
    MetaResponse m = MetaResponse.parse(frame);
    if (m.status() == MetaResponse.Status.VA) {
      assertTrue(m.value() != null, "VA without a value");
    }
    boolean tagged =
        MetaResponse.carriesTag(frame, frame.readerIndex(), frame.readableBytes(), TAG);
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    int lf = text.indexOf('\n');
    String first = text.substring(0, lf - 1);
    String tagToken = "O" + TAG;
    int at = (" " + first + " ").indexOf(" " + tagToken + " ");
    // The tag is searched after the status word; an error line counts as tagged.
    boolean hasToken = at > 0;
    assertEquals(hasToken || isError(first), tagged, "carriesTag disagrees on " + esc(first));
    for (byte[] opaque : new byte[][] {CLIENT_OPAQUE, null}) {
      ByteBuf restored = MetaResponse.restoreOpaque(frame.retainedDuplicate(), TAG, opaque, ALLOC);
      try {
        String expected = text;
        if (hasToken) {
          String replacement =
              opaque == null ? "" : " " + new String(opaque, StandardCharsets.US_ASCII);
          int cut = at - 1; // the space before the token
          expected =
              text.substring(0, cut) + replacement + text.substring(cut + 1 + tagToken.length());
        }
        assertEquals(
            esc(expected),
            esc(new String(ByteBufUtil.getBytes(restored), StandardCharsets.ISO_8859_1)),
            "restoring the client's opaque changed more than the tag");
      } finally {
        restored.release();
      }
    }
  }

  private static boolean isError(String line) {
    return line.startsWith("ERROR")
        || line.startsWith("CLIENT_ERROR")
        || line.startsWith("SERVER_ERROR");
  }

  private static String esc(String s) {
    String t = s.length() > 200 ? s.substring(0, 200) + "..." : s;
    return t.replace("\r", "\\r").replace("\n", "\\n");
  }
}
