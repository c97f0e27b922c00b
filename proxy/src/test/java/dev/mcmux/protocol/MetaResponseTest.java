package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class MetaResponseTest {

  private static ByteBuf buf(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1);
  }

  private static String text(ByteBuf b) {
    try {
      return b.toString(StandardCharsets.ISO_8859_1);
    } finally {
      b.release();
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void parsesStatusFlagsAndValue() {
    ByteBuf f = buf("VA 5 s5 c42 f7 t-1 kfoo b O9\r\nhello\r\n");
    MetaResponse m = MetaResponse.parse(f);
    assertEquals(MetaResponse.Status.VA, m.status());
    assertEquals(7, m.flags().size());
    assertArrayEquals(ascii("foo"), m.flag('k'));
    assertEquals(42, m.numericFlag('c', 0));
    assertEquals(7, m.numericFlag('f', 0));
    assertEquals(-1, m.numericFlag('t', 0));
    assertEquals(99, m.numericFlag('h', 99));
    assertTrue(m.hasFlag('b'));
    assertEquals("hello", m.value().toString(StandardCharsets.US_ASCII));
    f.release();
  }

  @Test
  void parsesErrorsAndPlainStatuses() {
    ByteBuf e = buf("CLIENT_ERROR bad data chunk\r\n");
    MetaResponse m = MetaResponse.parse(e);
    assertEquals(MetaResponse.Status.CLIENT_ERROR, m.status());
    assertEquals("bad data chunk", m.errorMessage());
    assertTrue(m.status().isError());
    e.release();
    for (String s : List.of("HD", "EN", "NF", "NS", "EX", "MN")) {
      ByteBuf b = buf(s + "\r\n");
      assertEquals(s, MetaResponse.parse(b).status().name());
      assertNull(MetaResponse.parse(b).value());
      b.release();
    }
    ByteBuf bad = buf("STORED\r\n");
    assertThrows(IllegalArgumentException.class, () -> MetaResponse.parse(bad));
    bad.release();
  }

  @Test
  void findsOnlyItsOwnTag() {
    ByteBuf f = buf("HD O12 c5\r\n");
    assertTrue(MetaResponse.carriesTag(f, 0, f.readableBytes(), 12));
    assertFalse(MetaResponse.carriesTag(f, 0, f.readableBytes(), 1));
    assertFalse(MetaResponse.carriesTag(f, 0, f.readableBytes(), 123));
    f.release();
    ByteBuf none = buf("HD c5\r\n");
    assertFalse(MetaResponse.carriesTag(none, 0, none.readableBytes(), 5));
    none.release();
    ByteBuf err = buf("SERVER_ERROR out of memory\r\n");
    assertTrue(MetaResponse.carriesTag(err, 0, err.readableBytes(), 5));
    err.release();
    // A value holding the tag does not count: only the first line is looked at.
    ByteBuf inValue = buf("VA 4\r\nO777\r\n");
    assertFalse(MetaResponse.carriesTag(inValue, 0, inValue.readableBytes(), 777));
    inValue.release();
  }

  @Test
  void restoresTheClientsOpaqueInPlace() {
    ByteBufAllocator a = ByteBufAllocator.DEFAULT;
    assertEquals(
        "HD c5 Oabc k1\r\n",
        text(MetaResponse.restoreOpaque(buf("HD c5 O9 k1\r\n"), 9, ascii("Oabc"), a)));
    assertEquals(
        "HD c5 k1\r\n", text(MetaResponse.restoreOpaque(buf("HD c5 O9 k1\r\n"), 9, null, a)));
    assertEquals("EN\r\n", text(MetaResponse.restoreOpaque(buf("EN O10\r\n"), 10, null, a)));
    assertEquals(
        "EN O\r\n", text(MetaResponse.restoreOpaque(buf("EN O10\r\n"), 10, ascii("O"), a)));
    assertEquals(
        "VA 2 Ox W\r\nhi\r\n",
        text(MetaResponse.restoreOpaque(buf("VA 2 O3 W\r\nhi\r\n"), 3, ascii("Ox"), a)));
    assertEquals(
        "CLIENT_ERROR x\r\n",
        text(MetaResponse.restoreOpaque(buf("CLIENT_ERROR x\r\n"), 3, ascii("Ox"), a)));
  }

  @Test
  void restoringTheOpaqueInPlaceTouchesOnlyTheFrame() {
    ByteBufAllocator a = ByteBufAllocator.DEFAULT;
    // Frames as the framer hands them over: slices of a larger read buffer.
    String[][] cases = {
      // upstream line, tag, client token (null: none), expected answer
      {"VA 2 f1 O123456 t\r\nhi\r\n", "123456", "Oab", "VA 2 f1 Oab t\r\nhi\r\n"},
      {"VA 2 f1 O123456 t\r\nhi\r\n", "123456", null, "VA 2 f1 t\r\nhi\r\n"},
      {"HD O77\r\n", "77", "O12", "HD O12\r\n"},
      {"HD O77\r\n", "77", "O123", "HD O123\r\n"},
      {"O5 HD\r\n", "5", null, "O5 HD\r\n"},
    };
    for (String[] c : cases) {
      ByteBuf read = buf("<<" + c[0] + ">>");
      ByteBuf frame = read.retainedSlice(2, c[0].length());
      byte[] token = c[2] == null ? null : ascii(c[2]);
      ByteBuf answer = MetaResponse.restoreOpaque(frame, Long.parseLong(c[1]), token, a);
      assertEquals(c[3], text(answer), c[0]);
      assertEquals("<<", read.toString(0, 2, StandardCharsets.US_ASCII), "bytes before the frame");
      assertEquals(
          ">>", read.toString(read.writerIndex() - 2, 2, StandardCharsets.US_ASCII), "after it");
      read.release();
    }
    // A read-only frame is never written to.
    ByteBuf readOnly = buf("HD O42 k\r\n").asReadOnly();
    assertEquals("HD k\r\n", text(MetaResponse.restoreOpaque(readOnly, 42, null, a)));
  }

  @Test
  void base64DecodesAsMemcachedDoes() {
    assertArrayEquals(ascii("foo"), MetaKeys.decode(ascii("Zm9v")));
    assertArrayEquals(ascii("foo"), MetaKeys.decode(ascii("Zm9v!!")));
    assertArrayEquals(ascii("f"), MetaKeys.decode(ascii("Zg==Zm9v")));
    assertArrayEquals(ascii("fo"), MetaKeys.decode(ascii("Zm8=")));
    assertNull(MetaKeys.decode(ascii("Zm9")));
    assertNull(MetaKeys.decode(ascii("A===")));
    assertNull(MetaKeys.decode(ascii("!!!!")));
    assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xff}, MetaKeys.decode(ascii("AAEC/w==")));
    for (int n = 0; n < 40; n++) {
      byte[] raw = new byte[n];
      for (int i = 0; i < n; i++) {
        raw[i] = (byte) (i * 37 + n);
      }
      assertEquals(
          java.util.Base64.getEncoder().encodeToString(raw),
          new String(MetaKeys.encode(raw), StandardCharsets.US_ASCII));
      if (n > 0) {
        assertArrayEquals(raw, MetaKeys.decode(MetaKeys.encode(raw)));
      }
    }
  }

  @Test
  void mapsOnlyExpiryFlags() {
    MetaRequest r =
        MetaRequest.of(
            Command.MG,
            ascii("k"),
            false,
            List.of(ascii("T100"), ascii("R100"), ascii("N-1"), ascii("v")),
            null);
    MetaRequest capped = r.withExptimes(t -> Math.min(t, 30));
    ByteBuf line = Unpooled.buffer();
    capped.writeLine(1, line);
    assertEquals("mg k T30 R100 N-1 v O1\r\n", text(line));
    ByteBuf original = Unpooled.buffer();
    r.writeLine(1, original);
    assertEquals("mg k T100 R100 N-1 v O1\r\n", text(original));
  }

  @Test
  void buildsRequestsForOtherProtocols() {
    ByteBuf value = buf("hello");
    MetaRequest r =
        MetaRequest.of(
            Command.MS, new byte[] {'a', ' ', 0}, true, List.of(ascii("T30"), ascii("F5")), value);
    ByteBuf line = Unpooled.buffer();
    r.writeLine(42, line);
    assertEquals("ms YSAA 5 b T30 F5 O42\r\n", text(line));
    assertTrue(r.tagged());
    r.release();
    assertEquals(0, value.refCnt());
    assertThrows(
        IllegalArgumentException.class,
        () -> MetaRequest.of(Command.MG, ascii("a b"), false, List.of(), null));
    assertThrows(
        IllegalArgumentException.class,
        () -> MetaRequest.of(Command.MG, ascii("k"), false, List.of(ascii("q")), null));
    assertThrows(
        IllegalArgumentException.class,
        () -> MetaRequest.of(Command.MG, ascii("k"), false, List.of(ascii("v"), ascii("v")), null));
    assertThrows(
        IllegalArgumentException.class,
        () -> MetaRequest.of(Command.MN, ascii("k"), false, List.of(), null));
  }
}
