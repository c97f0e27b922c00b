package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.mcmux.testing.BinaryPackets;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Binary requests as meta lines, and meta answers as the binary packets memcached 1.6.18 sends
 * (each mapping was checked against a real memcached; BinaryDifferentialIT compares them end to
 * end).
 */
class BinaryMetaTest {

  static BinaryRequest req(int op, String key, long cas, int flags, int exptime, String value) {
    return new BinaryRequest(
        op,
        77,
        cas,
        key.getBytes(StandardCharsets.ISO_8859_1),
        flags,
        exptime,
        true,
        0,
        0,
        value == null ? null : Unpooled.copiedBuffer(value, StandardCharsets.ISO_8859_1));
  }

  static BinaryRequest counter(int op, long delta, long initial, int exptime, long cas) {
    return new BinaryRequest(
        op,
        5,
        cas,
        "n".getBytes(StandardCharsets.US_ASCII),
        0,
        exptime,
        true,
        delta,
        initial,
        null);
  }

  static String line(BinaryRequest r) {
    MetaRequest m = BinaryMeta.toMeta(r);
    ByteBuf out = Unpooled.buffer();
    m.writeLine(9, out);
    String s = out.toString(StandardCharsets.ISO_8859_1);
    out.release();
    m.release();
    return s;
  }

  @Test
  void requestsBecomeMetaLines() {
    assertEquals("mg k v f c O9\r\n", line(req(0x00, "k", 0, 0, 0, null)));
    assertEquals("mg k v f c O9\r\n", line(req(0x0d, "k", 0, 0, 0, null)));
    assertEquals("mg k f c T100 O9\r\n", line(req(0x1c, "k", 0, 0, 100, null)));
    assertEquals("mg k v f c T2147483647 O9\r\n", line(req(0x24, "k", 0, 0, -1, null)));
    assertEquals("ms k 3 F4294967295 T0 c MS O9\r\n", line(req(0x11, "k", 0, -1, 0, "abc")));
    assertEquals("ms k 1 F0 T5 c ME O9\r\n", line(req(0x02, "k", 0, 0, 5, "a")));
    assertEquals("ms k 1 F0 T0 c MR O9\r\n", line(req(0x03, "k", 0, 0, 0, "a")));
    // Any binary store with a CAS runs as a CAS store, add included.
    assertEquals("ms k 1 F0 T0 c MS C42 O9\r\n", line(req(0x02, "k", 42, 0, 0, "a")));
    assertEquals("ms k 1 c MA O9\r\n", line(req(0x0e, "k", 0, 0, 0, "a")));
    assertEquals("ms k 1 c MP C7 O9\r\n", line(req(0x1a, "k", 7, 0, 0, "a")));
    assertEquals("md k O9\r\n", line(req(0x14, "k", 0, 0, 0, null)));
    assertEquals("md k C3 O9\r\n", line(req(0x04, "k", 3, 0, 0, null)));
    assertEquals(
        "ma n v c MI D18446744073709551615 N0 J10 O9\r\n", line(counter(0x05, -1L, 10, 0, 0)));
    // exptime 0xffffffff: a missing counter is not created.
    assertEquals("ma n v c MD D1 C8 O9\r\n", line(counter(0x16, 1, 0, -1, 8)));
  }

  @Test
  void keysWithSeparatorBytesTravelBase64() {
    assertEquals("mg YSBi b v f c O9\r\n", line(req(0x00, "a b", 0, 0, 0, null)));
    assertEquals("mg \u00e9\t v f c O9\r\n", line(req(0x00, "\u00e9\t", 0, 0, 0, null)));
    // 186 bytes are 248 in base64, within memcached's 250-byte token; 187 are 252.
    assertEquals(
        "mg " + "ICAg".repeat(62) + " b v f c O9\r\n",
        line(req(0x00, " ".repeat(186), 0, 0, 0, null)));
    assertThrows(
        IllegalArgumentException.class,
        () -> BinaryMeta.toMeta(req(0x00, " ".repeat(187), 0, 0, 0, null)));
  }

  static String answer(BinaryRequest r, String meta) {
    ByteBuf frame = Unpooled.copiedBuffer(meta, StandardCharsets.ISO_8859_1);
    try {
      ByteBuf out = BinaryMeta.fromMeta(r, MetaResponse.parse(frame), ByteBufAllocator.DEFAULT);
      if (out == null) {
        return null;
      }
      byte[] b = new byte[out.readableBytes()];
      out.readBytes(b);
      out.release();
      return BinaryRequestDecoderTest.packetText(b);
    } finally {
      frame.release();
      r.release();
    }
  }

  @Test
  void storeAnswers() {
    assertEquals(
        "op=01 status=00 opaque=77 cas=12 ''", answer(req(0x01, "k", 0, 0, 0, null), "HD c12\r\n"));
    assertNull(answer(req(0x11, "k", 0, 0, 0, null), "HD c12\r\n"));
    assertEquals(
        "op=12 status=02 opaque=77 cas=0 'Data exists for key.'",
        answer(req(0x12, "k", 0, 0, 0, null), "NS\r\n"));
    assertEquals(
        "op=03 status=01 opaque=77 cas=0 'Not found'",
        answer(req(0x03, "k", 0, 0, 0, null), "NS\r\n"));
    assertEquals(
        "op=0e status=05 opaque=77 cas=0 'Not stored.'",
        answer(req(0x0e, "k", 0, 0, 0, null), "NS\r\n"));
    assertEquals(
        "op=01 status=02 opaque=77 cas=0 'Data exists for key.'",
        answer(req(0x01, "k", 5, 0, 0, null), "EX\r\n"));
    assertEquals(
        "op=01 status=01 opaque=77 cas=0 'Not found'",
        answer(req(0x01, "k", 5, 0, 0, null), "NF\r\n"));
    assertEquals(
        "op=02 status=03 opaque=77 cas=0 'Too large.'",
        answer(req(0x02, "k", 0, 0, 0, null), "SERVER_ERROR object too large for cache\r\n"));
    assertEquals(
        "op=01 status=82 opaque=77 cas=0 'Out of memory'",
        answer(req(0x01, "k", 0, 0, 0, null), "SERVER_ERROR out of memory storing object\r\n"));
  }

  @Test
  void getAndCounterAnswers() {
    assertEquals(
        "op=0c status=00 opaque=77 cas=3 '\u0000\u0000\u0000\u0005kval'",
        answer(req(0x0c, "k", 0, 0, 0, null), "VA 3 f5 c3\r\nval\r\n"));
    assertEquals(
        "op=1c status=00 opaque=77 cas=3 '\u0000\u0000\u0000\u0005'",
        answer(req(0x1c, "k", 0, 0, 0, null), "HD f5 c3\r\n"));
    assertEquals(
        "op=0c status=01 opaque=77 cas=0 'k'", answer(req(0x0c, "k", 0, 0, 0, null), "EN\r\n"));
    assertEquals(
        "op=00 status=01 opaque=77 cas=0 'Not found'",
        answer(req(0x00, "k", 0, 0, 0, null), "EN\r\n"));
    assertNull(answer(req(0x0d, "k", 0, 0, 0, null), "EN\r\n"));
    assertNull(answer(req(0x1e, "k", 0, 0, 0, null), "EN\r\n"));
    assertEquals(
        "op=05 status=00 opaque=5 cas=9 '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u000b'",
        answer(counter(0x05, 1, 0, 0, 0), "VA 2 c9\r\n11\r\n"));
    assertNull(answer(counter(0x15, 1, 0, 0, 0), "VA 2 c9\r\n11\r\n"));
    assertEquals(
        "op=06 status=06 opaque=5 cas=0 'Non-numeric server-side value for incr or decr'",
        answer(
            counter(0x06, 1, 0, 0, 0),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"));
    assertEquals(
        "op=16 status=01 opaque=5 cas=0 'Not found'", answer(counter(0x16, 1, 0, -1, 0), "NF\r\n"));
    assertEquals(
        "op=04 status=86 opaque=77 cas=0 'SERVER_ERROR busy'",
        answer(req(0x04, "k", 0, 0, 0, null), "SERVER_ERROR busy\r\n"));
  }

  @Test
  void asciiStatsBecomeOnePacketPerStatistic() {
    ByteBuf text =
        Unpooled.copiedBuffer(
            "STAT pid 12\r\nSTAT version 1.6.18\r\nEND\r\n", StandardCharsets.US_ASCII);
    ByteBuf out = BinaryMeta.statPackets(text, 0x10, 3, ByteBufAllocator.DEFAULT);
    text.release();
    byte[] b = new byte[out.readableBytes()];
    out.readBytes(b);
    out.release();
    List<String> packets = new ArrayList<>();
    for (BinaryPackets.Packet p : BinaryPackets.parse(b)) {
      packets.add(p.describe());
    }
    assertEquals(
        List.of(
            "op=10 status=00 opaque=3 cas=0 extras= key=pid value=12",
            "op=10 status=00 opaque=3 cas=0 extras= key=version value=1.6.18",
            "op=10 status=00 opaque=3 cas=0 extras= key= value="),
        packets);
  }
}
