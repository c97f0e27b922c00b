package dev.mcmux.protocol;

import static dev.mcmux.protocol.DecoderHarness.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Random inputs built from protocol fragments: however the bytes are split, the decoder must give
 * the same outcomes, never loop, never leak, and every request it accepts must re-encode to a line
 * that parses back to the same request.
 */
class AsciiRequestDecoderFuzzTest {

  private static final List<String> FRAGMENTS =
      List.of(
          "get",
          "gets",
          "gat",
          "gats",
          "bget",
          "set",
          "add",
          "replace",
          "append",
          "prepend",
          "cas",
          "incr",
          "decr",
          "delete",
          "touch",
          "flush_all",
          "version",
          "verbosity",
          "stats",
          "quit",
          "mg",
          "ms",
          "md",
          "ma",
          "mn",
          "me",
          "watch",
          "lru",
          "GET",
          "HTTP/1.1",
          "noreply",
          "k",
          "a",
          "key",
          "0",
          "1",
          "2",
          "3",
          "-1",
          "+1",
          "01",
          "-0",
          "1025",
          "2147483645",
          "4294967296",
          "18446744073709551615",
          "18446744073709551616",
          "-9223372036854775809",
          " ",
          " ",
          " ",
          " ",
          "  ",
          "\t",
          "\r",
          "\n",
          "\r\n",
          "\r\n",
          "\r\n",
          "\0",
          "x",
          "xx",
          "\u00c3\u00a9",
          "k".repeat(250),
          "k".repeat(251),
          " ".repeat(101));

  /** Well-formed requests, to be mutated. */
  private static final List<String> TEMPLATES =
      List.of(
          "get a b\r\n",
          "gets k\r\n",
          "gat 10 a\r\n",
          "set k 0 0 1\r\nx\r\n",
          "set k 5 -1 2 noreply\r\nxy\r\n",
          "cas k 0 0 1 99\r\nx\r\n",
          "add k 0 0 1025\r\n" + "v".repeat(1025) + "\r\n",
          "incr k 5\r\n",
          "decr k 5 noreply\r\n",
          "touch k 10\r\n",
          "delete k 0 noreply\r\n",
          "flush_all 5\r\n",
          "ms k 2 T0\r\nxy\r\n",
          "stats items\r\n",
          "verbosity 1\r\n",
          "version\r\n");

  private static byte[] randomInput(Random random) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int parts = 1 + random.nextInt(60);
    for (int i = 0; i < parts; i++) {
      int pick = random.nextInt(100);
      if (pick < 40) {
        byte[] t = bytes(TEMPLATES.get(random.nextInt(TEMPLATES.size())));
        if (random.nextInt(3) == 0) {
          // One byte changed, dropped or doubled.
          int at = random.nextInt(t.length);
          switch (random.nextInt(3)) {
            case 0 -> t[at] = FLIP[random.nextInt(FLIP.length)];
            case 1 -> t = concat(t, 0, at, t, at + 1, t.length);
            default -> t = concat(t, 0, at + 1, t, at, t.length);
          }
        }
        out.writeBytes(t);
      } else if (pick < 60) {
        out.writeBytes(bytes(" "));
      } else if (pick < 62) {
        out.writeBytes(bytes(" ".repeat(1 + random.nextInt(2500))));
      } else if (pick < 6) {
        out.write(random.nextInt(256));
      } else {
        out.writeBytes(bytes(FRAGMENTS.get(random.nextInt(FRAGMENTS.size()))));
      }
    }
    return out.toByteArray();
  }

  private static final byte[] FLIP = bytes(" \t\r\n\u0000x9-+");

  private static byte[] concat(byte[] a, int aFrom, int aTo, byte[] b, int bFrom, int bTo) {
    byte[] r = new byte[(aTo - aFrom) + (bTo - bFrom)];
    System.arraycopy(a, aFrom, r, 0, aTo - aFrom);
    System.arraycopy(b, bFrom, r, aTo - aFrom, bTo - bFrom);
    return r;
  }

  @Test
  void splittingNeverChangesTheOutcome() {
    Map<String, Integer> kinds = new TreeMap<>();
    Random random = new Random(42);
    for (int round = 0; round < 3000; round++) {
      byte[] input = randomInput(random);
      List<String> whole = DecoderHarness.decodeWhole(input);
      String where = "round " + round + ": " + DecoderHarness.escape(input);
      assertEquals(
          whole,
          DecoderHarness.decodeChunks(AsciiRequestDecoderTest.randomChunks(input, random)),
          where);
      if (input.length < 400) {
        assertEquals(whole, DecoderHarness.decodeBytewise(input), where);
      }
      AsciiRequestEncoderTest.assertRoundTrips(input);
      for (String outcome : whole) {
        kinds.merge(
            outcome.substring(
                0, outcome.indexOf(' ') < 0 ? outcome.length() : outcome.indexOf(' ')),
            1,
            Integer::sum);
      }
    }
    // Guards against a generator that only ever produces one kind of outcome.
    assertTrue(kinds.getOrDefault("REQ", 0) > 5000, kinds.toString());
    assertTrue(kinds.getOrDefault("REPLY", 0) > 5000, kinds.toString());
    assertTrue(kinds.getOrDefault("SILENT", 0) > 50, kinds.toString());
    assertTrue(kinds.getOrDefault("CLOSE", 0) > 50, kinds.toString());
  }
}
