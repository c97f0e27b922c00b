package dev.mcmux.protocol;

import static dev.mcmux.protocol.DecoderHarness.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class AsciiRequestEncoderTest {

  private static AsciiRequest request(
      Command c, String key, int flags, int exptime, long cas, long delta, String data) {
    return new AsciiRequest(
        c,
        key == null ? List.of() : List.of(bytes(key)),
        flags,
        exptime,
        cas,
        delta,
        true,
        false,
        data == null ? null : Unpooled.wrappedBuffer(bytes(data)),
        null);
  }

  private static String line(AsciiRequest r) {
    ByteBuf out = Unpooled.buffer();
    try {
      AsciiRequestEncoder.writeLine(r, out);
      return out.toString(StandardCharsets.ISO_8859_1);
    } finally {
      out.release();
      r.release();
    }
  }

  @Test
  void storageHeaderHasUnsignedFlagsAndNoNoreply() {
    assertEquals("set k 0 0 3\r\n", line(request(Command.SET, "k", 0, 0, 0, 0, "abc")));
    assertEquals("add k 4294967295 -1 0\r\n", line(request(Command.ADD, "k", -1, -1, 0, 0, "")));
    assertEquals(
        "replace k 2147483648 -2147483648 1\r\n",
        line(request(Command.REPLACE, "k", Integer.MIN_VALUE, Integer.MIN_VALUE, 0, 0, "x")));
    assertEquals("append k 1 2 1\r\n", line(request(Command.APPEND, "k", 1, 2, 0, 0, "x")));
    assertEquals("prepend k 1 2 1\r\n", line(request(Command.PREPEND, "k", 1, 2, 0, 0, "x")));
    assertEquals(
        "cas k 5 0 2 18446744073709551615\r\n",
        line(request(Command.CAS, "k", 5, 0, -1L, 0, "ab")));
    assertEquals(
        "cas k 5 0 2 9223372036854775808\r\n",
        line(request(Command.CAS, "k", 5, 0, Long.MIN_VALUE, 0, "ab")));
  }

  @Test
  void otherCommands() {
    assertEquals("delete k\r\n", line(request(Command.DELETE, "k", 0, 0, 0, 0, null)));
    assertEquals(
        "incr k 18446744073709551615\r\n", line(request(Command.INCR, "k", 0, 0, 0, -1L, null)));
    assertEquals("decr k 0\r\n", line(request(Command.DECR, "k", 0, 0, 0, 0, null)));
    assertEquals("touch k -5\r\n", line(request(Command.TOUCH, "k", 0, -5, 0, 0, null)));
    assertEquals("version\r\n", line(request(Command.VERSION, null, 0, 0, 0, 0, null)));
    assertEquals("flush_all\r\n", line(request(Command.FLUSH_ALL, null, 0, 9, 0, 0, null)));
    assertEquals(
        "flush_all 0\r\n",
        line(new AsciiRequest(Command.FLUSH_ALL, List.of(), 0, 0, 0, 0, true, true, null, null)));
    assertEquals(
        "stats\r\n",
        line(new AsciiRequest(Command.STATS, List.of(), 0, 0, 0, 0, false, false, null, null)));
    assertEquals(
        "stats slabs\r\n",
        line(
            new AsciiRequest(
                Command.STATS, List.of(), 0, 0, 0, 0, false, false, null, bytes("slabs"))));
    assertEquals(
        "get a b\r\n",
        line(
            new AsciiRequest(
                Command.GET,
                List.of(bytes("a"), bytes("b")),
                0,
                7,
                0,
                0,
                false,
                false,
                null,
                null)));
    assertEquals(
        "gats -1 a\r\n",
        line(
            new AsciiRequest(
                Command.GATS, List.of(bytes("a")), 0, -1, 0, 0, false, false, null, null)));
  }

  @Test
  void localCommandsAreNeverEncoded() {
    for (Command c : List.of(Command.QUIT, Command.VERBOSITY)) {
      AsciiRequest r = request(c, null, 0, 0, 0, 0, null);
      assertThrows(IllegalArgumentException.class, () -> line(r));
    }
  }

  @Test
  void retrievalSlices() {
    List<byte[]> keys = List.of(bytes("a"), bytes("bb"), bytes("ccc"), bytes("dddd"));
    ByteBuf out = Unpooled.buffer();
    try {
      AsciiRequestEncoder.writeRetrieval(Command.GETS, 0, keys, 1, 3, out);
      assertEquals("gets bb ccc\r\n", out.toString(StandardCharsets.US_ASCII));
      out.clear();
      AsciiRequestEncoder.writeRetrieval(Command.GAT, -2147483648, keys, 3, 4, out);
      assertEquals("gat -2147483648 dddd\r\n", out.toString(StandardCharsets.US_ASCII));
    } finally {
      out.release();
    }
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> AsciiRequestEncoder.writeRetrieval(Command.GET, 0, keys, 2, 2, Unpooled.buffer()));
    assertThrows(
        IllegalArgumentException.class,
        () -> AsciiRequestEncoder.retrievalLineLength(Command.SET, 0, keys, 0, 1));
  }

  @Test
  void lineLengthIsExact() {
    Random random = new Random(7);
    for (int round = 0; round < 500; round++) {
      Command cmd = List.of(Command.GET, Command.GETS, Command.GAT, Command.GATS).get(round % 4);
      int exptime = random.nextInt();
      List<byte[]> keys = randomKeys(random, 1 + random.nextInt(40));
      int from = random.nextInt(keys.size());
      int to = from + 1 + random.nextInt(keys.size() - from);
      ByteBuf out = Unpooled.buffer();
      try {
        AsciiRequestEncoder.writeRetrieval(cmd, exptime, keys, from, to, out);
        assertEquals(
            out.readableBytes(),
            AsciiRequestEncoder.retrievalLineLength(cmd, exptime, keys, from, to));
      } finally {
        out.release();
      }
    }
  }

  @Test
  void partsStayUnderTheBudgetAndCoverEveryKeyInOrder() {
    Random random = new Random(11);
    for (int round = 0; round < 200; round++) {
      Command cmd = round % 2 == 0 ? Command.GET : Command.GAT;
      List<byte[]> keys = randomKeys(random, 1 + random.nextInt(300));
      int budget = AsciiRequestEncoder.maxUpstreamLineBytes(cmd);
      int from = 0;
      List<byte[]> seen = new ArrayList<>();
      while (from < keys.size()) {
        int to = AsciiRequestEncoder.retrievalPartEnd(cmd, 2147483647, keys, from, budget);
        assertTrue(to > from);
        int length = AsciiRequestEncoder.retrievalLineLength(cmd, 2147483647, keys, from, to);
        assertTrue(length <= budget, "part of " + length + " bytes");
        if (to < keys.size()) {
          assertTrue(
              AsciiRequestEncoder.retrievalLineLength(cmd, 2147483647, keys, from, to + 1) > budget,
              "a part stopped early");
        }
        seen.addAll(keys.subList(from, to));
        from = to;
      }
      assertEquals(keys, seen);
    }
  }

  @Test
  void upstreamLimits() {
    assertEquals(16383, AsciiRequestEncoder.maxUpstreamLineBytes(Command.GET));
    assertEquals(16383, AsciiRequestEncoder.maxUpstreamLineBytes(Command.GETS));
    assertEquals(2049, AsciiRequestEncoder.maxUpstreamLineBytes(Command.GAT));
    assertEquals(2049, AsciiRequestEncoder.maxUpstreamLineBytes(Command.GATS));
  }

  @Test
  void unsignedNumbers() {
    Random random = new Random(3);
    List<Long> values =
        new ArrayList<>(List.of(0L, 9L, 10L, 99L, 100L, Long.MAX_VALUE, Long.MIN_VALUE, -1L, -10L));
    for (int i = 0; i < 1000; i++) {
      values.add(random.nextLong() >>> random.nextInt(64));
    }
    for (long v : values) {
      ByteBuf out = Unpooled.buffer(1);
      try {
        AsciiRequestEncoder.writeUnsigned(v, out);
        assertEquals(Long.toUnsignedString(v), out.toString(StandardCharsets.US_ASCII));
        assertEquals(out.readableBytes(), AsciiRequestEncoder.unsignedLength(v));
      } finally {
        out.release();
      }
    }
  }

  static List<Input> decodedRequests() {
    List<Input> l = new ArrayList<>();
    for (AsciiRequestDecoderTest.Case c : AsciiRequestDecoderTest.cases()) {
      l.add(new Input(c.name(), c.input()));
    }
    return l;
  }

  /** An input from the decoder's table. */
  record Input(String name, byte[] input) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** Invariant 1: what mcmux writes upstream parses back, in memcached's rules, to the same. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("decodedRequests")
  void canonicalFormParsesBackToTheSameRequest(Input c) {
    assertRoundTrips(c.input());
  }

  /** Decodes {@code input} and checks that every request re-encodes to an equivalent line. */
  static void assertRoundTrips(byte[] input) {
    ByteBuf in = Unpooled.wrappedBuffer(input);
    AsciiRequestDecoder decoder = DecoderHarness.decoder();
    try {
      while (true) {
        DecodeResult r = decoder.decode(in);
        if (r instanceof DecodeResult.NeedMore || r instanceof DecodeResult.Close) {
          return;
        }
        if (r instanceof DecodeResult.Request req) {
          try {
            assertReencodes(req.request());
          } finally {
            req.request().release();
          }
        }
      }
    } finally {
      in.release();
    }
  }

  private static void assertReencodes(AsciiRequest original) {
    Command c = original.command();
    if (c == Command.QUIT || c == Command.VERBOSITY) {
      return;
    }
    ByteBuf wire = Unpooled.buffer();
    try {
      AsciiRequestEncoder.writeLine(original, wire);
      if (c.isStorage()) {
        wire.writeBytes(
            original.data(), original.data().readerIndex(), original.data().readableBytes());
        wire.writeBytes(bytes("\r\n"));
      }
      if (c != Command.GET && c != Command.GETS) {
        int lf = wire.indexOf(0, wire.writerIndex(), (byte) '\n');
        assertTrue(
            lf <= AsciiRequestDecoder.MAX_LINE_BYTES || c.isRetrieval(),
            "upstream line of " + lf + " bytes would risk a close");
      }
      AsciiRequestDecoder decoder =
          new AsciiRequestDecoder(Long.MAX_VALUE, Math.max(wire.readableBytes(), 2048));
      DecodeResult back = decoder.decode(wire);
      assertFalse(wire.isReadable(), "re-encoded request not consumed whole");
      DecodeResult.Request req = assertInstanceOf(DecodeResult.Request.class, back);
      try {
        AsciiRequest withoutNoreply =
            new AsciiRequest(
                c,
                original.keys(),
                original.flags(),
                original.exptime(),
                original.cas(),
                original.delta(),
                false,
                original.hasDelay(),
                original.data(),
                original.arguments());
        assertEquals(
            DecoderHarness.describe(withoutNoreply), DecoderHarness.describe(req.request()));
      } finally {
        req.request().release();
      }
    } finally {
      wire.release();
    }
  }

  static List<byte[]> randomKeys(Random random, int n) {
    List<byte[]> keys = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      byte[] k = new byte[1 + random.nextInt(random.nextInt(10) == 0 ? 250 : 20)];
      for (int j = 0; j < k.length; j++) {
        k[j] = (byte) ('a' + random.nextInt(26));
      }
      keys.add(k);
    }
    return keys;
  }
}
