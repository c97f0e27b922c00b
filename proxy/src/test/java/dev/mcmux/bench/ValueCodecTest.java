package dev.mcmux.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.bench.ValueCodec.Verdict;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ValueCodecTest {

  private static final int RUN = 0x5eed1234;

  private static ByteBuf value(ValueCodec codec, int key, int version) {
    ByteBuf buf = Unpooled.buffer();
    codec.write(buf, key, version);
    return buf;
  }

  private static Verdict verify(ValueCodec codec, int key, ByteBuf buf, int min, int max) {
    return codec.verify(
        key, header(buf, "V"), buf, buf.readerIndex(), buf.readableBytes(), min, max);
  }

  /** The flags memcached would return: the version in the header (or 0 if unreadable). */
  private static long header(ByteBuf buf, String field) {
    String text = buf.toString(StandardCharsets.ISO_8859_1);
    int at = text.indexOf(field);
    try {
      return Long.parseLong(text.substring(at + 1, at + 9), 16);
    } catch (RuntimeException e) {
      return 0;
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {37, 38, 44, 45, 46, 100, 1000, 4099, 65_536})
  void everyWrittenValueVerifies(int size) {
    ValueCodec codec = new ValueCodec(size, RUN);
    for (int key : new int[] {0, 1, 9_999, Integer.MAX_VALUE}) {
      for (int version : new int[] {0, 1, 77, Integer.MAX_VALUE}) {
        ByteBuf buf = value(codec, key, version);
        assertEquals(size, buf.readableBytes());
        assertEquals(
            Verdict.OK, verify(codec, key, buf, 0, Integer.MAX_VALUE), key + "/" + version);
      }
    }
  }

  @Test
  void valuesAreDeterministicPrintableAndDifferPerVersionAndKey() {
    ValueCodec codec = new ValueCodec(100, RUN);
    String v1 = value(codec, 7, 3).toString(StandardCharsets.ISO_8859_1);
    assertEquals(v1, value(codec, 7, 3).toString(StandardCharsets.ISO_8859_1));
    assertTrue(v1.startsWith("K00000007V00000003R5eed1234C"), v1);
    assertEquals('|', v1.charAt(36));
    assertTrue(v1.chars().allMatch(c -> c > 0x20 && c < 0x7f), v1);
    String body = v1.substring(37);
    assertNotEquals(body, value(codec, 7, 4).toString(StandardCharsets.ISO_8859_1).substring(37));
    assertNotEquals(body, value(codec, 8, 3).toString(StandardCharsets.ISO_8859_1).substring(37));
    assertNotEquals(
        body,
        value(new ValueCodec(100, RUN + 1), 7, 3)
            .toString(StandardCharsets.ISO_8859_1)
            .substring(37));
  }

  @Test
  void everySingleByteChangeIsCaught() {
    ValueCodec codec = new ValueCodec(61, RUN);
    ByteBuf good = value(codec, 42, 5);
    for (int i = 0; i < good.readableBytes(); i++) {
      for (int delta : new int[] {1, 0x20, 0x80}) {
        ByteBuf bad = good.copy();
        bad.setByte(i, bad.getByte(i) ^ delta);
        Verdict v = codec.verify(42, 5, bad, 0, bad.readableBytes(), 0, 10);
        assertNotEquals(Verdict.OK, v, "byte " + i + " xor " + delta);
      }
    }
  }

  @Test
  void aValueOfAnotherKeyIsCaught() {
    ValueCodec codec = new ValueCodec(100, RUN);
    assertEquals(Verdict.WRONG_KEY, verify(codec, 6, value(codec, 5, 0), 0, 10));
  }

  @Test
  void aValueOfAnotherRunIsCaught() {
    ByteBuf other = value(new ValueCodec(100, RUN ^ 1), 5, 0);
    assertEquals(Verdict.FOREIGN_RUN, verify(new ValueCodec(100, RUN), 5, other, 0, 10));
  }

  @Test
  void versionsOutsideTheBoundsAreCaught() {
    ValueCodec codec = new ValueCodec(100, RUN);
    assertEquals(Verdict.STALE_VERSION, verify(codec, 5, value(codec, 5, 3), 4, 10));
    assertEquals(Verdict.FUTURE_VERSION, verify(codec, 5, value(codec, 5, 11), 4, 10));
    assertEquals(Verdict.OK, verify(codec, 5, value(codec, 5, 4), 4, 10));
    assertEquals(Verdict.OK, verify(codec, 5, value(codec, 5, 10), 4, 10));
  }

  @Test
  void flagsMustBeTheVersion() {
    ValueCodec codec = new ValueCodec(100, RUN);
    ByteBuf buf = value(codec, 5, 3);
    assertEquals(Verdict.WRONG_FLAGS, codec.verify(5, 4, buf, 0, 100, 0, 10));
    assertEquals(Verdict.WRONG_FLAGS, codec.verify(5, 0x1_0000_0003L, buf, 0, 100, 0, 10));
  }

  @Test
  void aTruncatedOrPaddedValueIsCaught() {
    ValueCodec codec = new ValueCodec(100, RUN);
    ByteBuf buf = value(codec, 5, 3);
    assertEquals(Verdict.WRONG_LENGTH, codec.verify(5, 3, buf, 0, 99, 0, 10));
    ByteBuf longer = Unpooled.buffer().writeBytes(buf.duplicate()).writeByte('x');
    assertEquals(Verdict.WRONG_LENGTH, codec.verify(5, 3, longer, 0, 101, 0, 10));
  }

  @Test
  void garbageIsAMalformedHeader() {
    ValueCodec codec = new ValueCodec(40, RUN);
    ByteBuf garbage = Unpooled.copiedBuffer("x".repeat(40), StandardCharsets.US_ASCII);
    assertEquals(Verdict.MALFORMED_HEADER, codec.verify(5, 0, garbage, 0, 40, 0, 10));
    // Upper-case hex is not what the codec writes: a value that a different writer produced.
    ByteBuf upper = value(codec, 10, 0);
    upper.setByte(8, 'A');
    assertEquals(Verdict.MALFORMED_HEADER, codec.verify(10, 0, upper, 0, 40, 0, 10));
  }

  @Test
  void aSelfConsistentForgedBodyIsCaught() {
    ValueCodec codec = new ValueCodec(100, RUN);
    ByteBuf buf = value(codec, 5, 3);
    buf.setByte(60, buf.getByte(60) == 'A' ? 'B' : 'A');
    // Checksum repaired: only the derivation can tell that this run never wrote these bytes.
    ValueCodec.setChecksum(buf, 0, codec.checksumOf(buf, 0, 5, 3));
    assertEquals(Verdict.NOT_DERIVED, verify(codec, 5, buf, 0, 10));
    buf.setByte(61, buf.getByte(61) == 'A' ? 'B' : 'A');
    assertEquals(Verdict.BAD_CHECKSUM, verify(codec, 5, buf, 0, 10));
  }

  @Test
  void verifiesAtAnyOffsetOfABiggerBuffer() {
    ValueCodec codec = new ValueCodec(77, RUN);
    ByteBuf buf =
        Unpooled.buffer().writeBytes("VALUE key:9 2 77\r\n".getBytes(StandardCharsets.US_ASCII));
    int at = buf.writerIndex();
    codec.write(buf, 9, 2);
    buf.writeBytes("\r\nEND\r\n".getBytes(StandardCharsets.US_ASCII));
    assertEquals(Verdict.OK, codec.verify(9, 2, buf, at, 77, 0, 2));
  }

  @Test
  void describeShowsTheStartOfTheValueEscaped() {
    ByteBuf buf = Unpooled.copiedBuffer("ab\u0001'\\", StandardCharsets.ISO_8859_1);
    assertEquals(
        "wrong length: 5 bytes 'ab\\x01\\x27\\x5c'",
        ValueCodec.describe(Verdict.WRONG_LENGTH, buf, 0, 5));
  }

  @Test
  void tooSmallValuesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> new ValueCodec(36, RUN));
  }
}
