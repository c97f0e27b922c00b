package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AsciiResponseFramerTest {

  static List<Arguments> frames() {
    return List.of(
        Arguments.of(ResponseShape.LINE, "STORED\r\n"),
        Arguments.of(ResponseShape.LINE, "18446744073709551615\r\n"),
        Arguments.of(ResponseShape.LINE, "SERVER_ERROR out of memory storing object\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "END\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k 0 1\r\nv\r\nEND\r\n"),
        Arguments.of(
            ResponseShape.RETRIEVAL, "VALUE k 5 3 99\r\nEND\r\nVALUE j 0 0\r\n\r\nEND\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k 0 4\r\n\r\n\r\n\r\nEND\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "CLIENT_ERROR bad command line format\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory\r\n"),
        Arguments.of(ResponseShape.STATS, "STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n"),
        Arguments.of(ResponseShape.STATS, "END\r\n"),
        Arguments.of(ResponseShape.STATS, "ERROR\r\n"),
        Arguments.of(ResponseShape.META, "HD\r\n"),
        Arguments.of(ResponseShape.META, "HD c5 O12 kfoo b\r\n"),
        Arguments.of(ResponseShape.META, "EN O1\r\n"),
        Arguments.of(ResponseShape.META, "NF\r\n"),
        Arguments.of(ResponseShape.META, "NS O3\r\n"),
        Arguments.of(ResponseShape.META, "EX\r\n"),
        Arguments.of(ResponseShape.META, "MN\r\n"),
        Arguments.of(ResponseShape.META, "ME k exp=-1 la=0 cas=2 fetch=no cls=1 size=63\r\n"),
        Arguments.of(ResponseShape.META, "VA 5 f0 O7\r\nhello\r\n"),
        Arguments.of(ResponseShape.META, "VA 0\r\n\r\n"),
        Arguments.of(ResponseShape.META, "VA 8 O1\r\nHD\r\nEN\r\n\r\n"),
        Arguments.of(ResponseShape.META, "CLIENT_ERROR bad data chunk\r\n"),
        Arguments.of(ResponseShape.META, "ERROR\r\n"));
  }

  @ParameterizedTest
  @MethodSource("frames")
  void framesWholeResponseWhateverTheSplit(ResponseShape shape, String frame) throws Exception {
    byte[] bytes = (frame + frame).getBytes(StandardCharsets.ISO_8859_1);
    int one = frame.length();
    for (int split = 0; split <= bytes.length; split++) {
      AsciiResponseFramer framer = new AsciiResponseFramer(1 << 20);
      ByteBuf in = Unpooled.buffer();
      List<Integer> lengths = new ArrayList<>();
      in.writeBytes(bytes, 0, split);
      drain(framer, in, shape, lengths);
      in.writeBytes(bytes, split, bytes.length - split);
      drain(framer, in, shape, lengths);
      assertEquals(List.of(one, one), lengths, "split at " + split);
      assertEquals(0, in.readableBytes());
      in.release();
    }
  }

  private static void drain(
      AsciiResponseFramer framer, ByteBuf in, ResponseShape shape, List<Integer> out)
      throws UpstreamDesyncException {
    int n;
    while (in.isReadable() && (n = framer.frameLength(in, shape)) > 0) {
      out.add(n);
      in.skipBytes(n);
    }
  }

  static List<Arguments> desyncs() {
    return List.of(
        Arguments.of(ResponseShape.LINE, "VALUE k 0 1\r\nv\r\nEND\r\n"),
        Arguments.of(ResponseShape.LINE, "END\r\n"),
        Arguments.of(ResponseShape.LINE, "STORED\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "STORED\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k 0 1\r\nvx\r\nEND\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k 0 99999999999\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k 0 -1\r\n"),
        Arguments.of(ResponseShape.RETRIEVAL, "VALUE k\r\n"),
        Arguments.of(ResponseShape.STATS, "VALUE k 0 1\r\nv\r\nEND\r\n"),
        Arguments.of(ResponseShape.STATS, "STAT a 1\r\nSTORED\r\n"),
        Arguments.of(ResponseShape.META, "STORED\r\n"),
        Arguments.of(ResponseShape.META, "END\r\n"),
        Arguments.of(ResponseShape.META, "VALUE k 0 1\r\nv\r\nEND\r\n"),
        Arguments.of(ResponseShape.META, "HDX\r\n"),
        Arguments.of(ResponseShape.META, "HD\n"),
        Arguments.of(ResponseShape.META, "VA\r\n"),
        Arguments.of(ResponseShape.META, "VA x\r\n"),
        Arguments.of(ResponseShape.META, "VA 99999999999\r\n"),
        Arguments.of(ResponseShape.META, "VA 1\r\nxy\r\n"),
        Arguments.of(ResponseShape.META, "OK\r\n"));
  }

  @ParameterizedTest
  @MethodSource("desyncs")
  void rejectsWhatCannotBeTheExpectedResponse(ResponseShape shape, String bytes) {
    ByteBuf in = Unpooled.copiedBuffer(bytes, StandardCharsets.ISO_8859_1);
    AsciiResponseFramer framer = new AsciiResponseFramer(1 << 20);
    assertThrows(UpstreamDesyncException.class, () -> framer.frameLength(in, shape));
    in.release();
  }

  @ParameterizedTest
  @MethodSource("frames")
  void neverReadsPastAnIncompleteFrame(ResponseShape shape, String frame) throws Exception {
    byte[] bytes = frame.getBytes(StandardCharsets.ISO_8859_1);
    for (int cut = 0; cut < bytes.length; cut++) {
      ByteBuf in = Unpooled.wrappedBuffer(bytes, 0, cut);
      assertEquals(-1, new AsciiResponseFramer(1 << 20).frameLength(in, shape), "cut " + cut);
      assertEquals(0, in.readerIndex());
    }
  }
}
