package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The binary decoder against the framing rules of memcached 1.6.18's {@code proto_bin.c}; every
 * case is also decoded split at every byte and byte by byte, which must give the same results.
 */
class BinaryRequestDecoderTest {
  private static final long MAX_VALUE = 1024;

  /** Builds one request packet with the given lengths written in its header. */
  static byte[] packet(
      int opcode, int keyLen, int extLen, long bodyLen, int opaque, long cas, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(24 + payload.length);
    b.put((byte) 0x80).put((byte) opcode).putShort((short) keyLen).put((byte) extLen);
    b.put((byte) 0).putShort((short) 0).putInt((int) bodyLen).putInt(opaque).putLong(cas);
    b.put(payload);
    return b.array();
  }

  /** A well-formed request: lengths taken from the parts. */
  static byte[] request(int opcode, byte[] extras, String key, byte[] value, int opaque, long cas) {
    byte[] k = key.getBytes(StandardCharsets.ISO_8859_1);
    byte[] payload = concat(extras, k, value);
    return packet(opcode, k.length, extras.length, payload.length, opaque, cas, payload);
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  static byte[] ints(int... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4);
    for (int v : values) {
      b.putInt(v);
    }
    return b.array();
  }

  static byte[] text(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  static final byte[] NONE = new byte[0];

  /** Decodes whole, at every split point and byte by byte; all must agree. */
  static List<String> decode(byte[] input) {
    List<String> whole = decodeChunks(List.of(input));
    for (int at = 1; at < input.length; at++) {
      byte[] a = java.util.Arrays.copyOfRange(input, 0, at);
      byte[] b = java.util.Arrays.copyOfRange(input, at, input.length);
      assertEquals(whole, decodeChunks(List.of(a, b)), "split at " + at);
    }
    List<byte[]> single = new ArrayList<>();
    for (byte x : input) {
      single.add(new byte[] {x});
    }
    assertEquals(whole, decodeChunks(single), "byte by byte");
    return whole;
  }

  static List<String> decodeChunks(List<byte[]> chunks) {
    BinaryRequestDecoder decoder = new BinaryRequestDecoder(MAX_VALUE);
    List<String> out = new ArrayList<>();
    List<BinaryRequest> held = new ArrayList<>();
    List<ByteBuf> buffers = new ArrayList<>();
    ByteBuf cumulation = null;
    boolean closed = false;
    for (byte[] chunk : chunks) {
      if (cumulation == null) {
        cumulation = Unpooled.buffer(chunk.length);
        buffers.add(cumulation);
      } else if (cumulation.refCnt() > 1) {
        ByteBuf fresh = Unpooled.buffer(cumulation.readableBytes() + chunk.length);
        fresh.writeBytes(cumulation);
        cumulation.release();
        cumulation = fresh;
        buffers.add(fresh);
      }
      cumulation.writeBytes(chunk);
      while (true) {
        BinaryDecodeResult r = decoder.decode(cumulation);
        if (r instanceof BinaryDecodeResult.NeedMore) {
          break;
        }
        if (r instanceof BinaryDecodeResult.Request q) {
          held.add(q.request());
        }
        out.add(r instanceof BinaryDecodeResult.Request q ? null : describe(r));
        if (r instanceof BinaryDecodeResult.Close) {
          closed = true;
          break;
        }
      }
      if (closed) {
        break;
      }
    }
    // Described only now: every value slice must have survived the later input.
    int h = 0;
    for (int i = 0; i < out.size(); i++) {
      if (out.get(i) == null) {
        out.set(i, describe(held.get(h++)));
      }
    }
    held.forEach(BinaryRequest::release);
    cumulation.release();
    for (ByteBuf b : buffers) {
      assertEquals(0, b.refCnt(), "a buffer leaked");
    }
    if (cumulation.refCnt() == 0 && closed) {
      out.add("closed");
    }
    return out;
  }

  static String describe(BinaryDecodeResult r) {
    if (r instanceof BinaryDecodeResult.LocalReply l) {
      return "reply "
          + packetText(l.reply())
          + (l.deleteKeyFirst() == null ? "" : " after delete " + esc(l.deleteKeyFirst()));
    }
    BinaryDecodeResult.Close c = (BinaryDecodeResult.Close) r;
    return c.reply().length == 0 ? "close" : "close " + packetText(c.reply());
  }

  /** status/opcode/opaque and body text of an error packet. */
  static String packetText(byte[] p) {
    ByteBuffer b = ByteBuffer.wrap(p);
    assertEquals((byte) 0x81, b.get(0));
    int body = b.getInt(8);
    assertEquals(p.length - 24, body);
    return String.format(
        "op=%02x status=%02x opaque=%d cas=%d '%s'",
        p[1],
        b.getShort(6),
        b.getInt(12),
        b.getLong(16),
        new String(p, 24, body, StandardCharsets.ISO_8859_1));
  }

  static String describe(BinaryRequest r) {
    StringBuilder sb =
        new StringBuilder(String.format("req op=%02x opaque=%d", r.opcode(), r.opaque()));
    if (r.cas() != 0) {
      sb.append(" cas=").append(Long.toUnsignedString(r.cas()));
    }
    if (r.key().length > 0) {
      sb.append(" key=").append(esc(r.key()));
    }
    if (r.flags() != 0) {
      sb.append(" flags=").append(Integer.toUnsignedString(r.flags()));
    }
    if (r.hasExptime()) {
      sb.append(" exp=").append(r.exptime());
    }
    if (r.delta() != 0 || r.initial() != 0) {
      sb.append(" delta=").append(Long.toUnsignedString(r.delta()));
      sb.append(" initial=").append(Long.toUnsignedString(r.initial()));
    }
    if (r.value() != null) {
      byte[] v = new byte[r.value().readableBytes()];
      r.value().getBytes(r.value().readerIndex(), v);
      sb.append(" value=").append(esc(v));
    }
    return sb.toString();
  }

  static String esc(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      int c = x & 0xff;
      sb.append(
          c > ' ' && c < 0x7f && c != '\\'
              ? String.valueOf((char) c)
              : String.format("\\x%02x", c));
    }
    return sb.toString();
  }

  @Test
  void getFamilyAndOpaque() {
    byte[] in =
        concat(
            request(0x00, NONE, "a", NONE, 7, 0),
            request(0x09, NONE, "b", NONE, -1, 0),
            request(0x0c, NONE, "c", NONE, 0x01020304, 0),
            request(0x0d, NONE, "d\u0000 \r\n", NONE, 9, 0));
    assertEquals(
        List.of(
            "req op=00 opaque=7 key=a",
            "req op=09 opaque=-1 key=b",
            "req op=0c opaque=16909060 key=c",
            "req op=0d opaque=9 key=d\\x00\\x20\\x0d\\x0a"),
        decode(in));
  }

  @Test
  void storageCarriesFlagsExptimeCasAndValue() {
    byte[] in =
        concat(
            request(0x01, ints(0xdeadbeef, 60), "k", text("v\r\nal"), 1, 42),
            request(0x11, ints(5, 0), "q", NONE, 2, 0),
            request(0x0e, NONE, "k", text("x"), 3, 0),
            request(0x1a, NONE, "k", text("yy"), 4, 0));
    assertEquals(
        List.of(
            "req op=01 opaque=1 cas=42 key=k flags=3735928559 exp=60 value=v\\x0d\\x0aal",
            "req op=11 opaque=2 key=q flags=5 exp=0 value=",
            "req op=0e opaque=3 key=k exp=0 value=x",
            "req op=1a opaque=4 key=k exp=0 value=yy"),
        decode(in));
  }

  @Test
  void counterTouchFlushStatAndLocalOpcodes() {
    byte[] incr = concat(ByteBuffer.allocate(20).putLong(-1L).putLong(10).putInt(-1).array());
    byte[] in =
        concat(
            request(0x05, incr, "n", NONE, 1, 0),
            request(0x1c, ints(100), "t", NONE, 2, 0),
            request(0x24, ints(-5), "g", NONE, 3, 0),
            request(0x08, ints(30), "", NONE, 4, 0),
            request(0x18, NONE, "", NONE, 5, 0),
            request(0x10, NONE, "items", NONE, 6, 0),
            request(0x0a, NONE, "", NONE, 7, 0),
            request(0x0b, NONE, "", NONE, 8, 0),
            request(0x17, NONE, "", NONE, 9, 0));
    assertEquals(
        List.of(
            "req op=05 opaque=1 key=n exp=-1 delta=18446744073709551615 initial=10",
            "req op=1c opaque=2 key=t exp=100",
            "req op=24 opaque=3 key=g exp=-5",
            "req op=08 opaque=4 exp=30",
            "req op=18 opaque=5",
            "req op=10 opaque=6 key=items",
            "req op=0a opaque=7",
            "req op=0b opaque=8",
            "req op=17 opaque=9"),
        decode(in));
  }

  @Test
  void badMagicClosesSilently() {
    byte[] in = concat(request(0x0a, NONE, "", NONE, 1, 0), text("get a\r\n0123456789abcdefghij"));
    assertEquals(List.of("req op=0a opaque=1", "close", "closed"), decode(in));
  }

  @Test
  void keyLongerThanBodyIsUnknownCommandAndCloses() {
    byte[] in =
        concat(packet(0x00, 3, 0, 2, 5, 0, text("abc")), request(0x0a, NONE, "", NONE, 1, 0));
    assertEquals(
        List.of("close op=00 status=81 opaque=5 cas=0 'Unknown command'", "closed"), decode(in));
  }

  @Test
  void keyOverLimitIsInvalidAndCloses() {
    String key = "k".repeat(251);
    assertEquals(
        List.of("close op=00 status=04 opaque=1 cas=0 'Invalid arguments'", "closed"),
        decode(request(0x00, NONE, key, NONE, 1, 0)));
    assertEquals(
        List.of("req op=00 opaque=1 key=" + "k".repeat(250)),
        decode(request(0x00, NONE, "k".repeat(250), NONE, 1, 0)));
  }

  @Test
  void wrongLengthsForAnOpcodeAreInvalidAndClose() {
    List<byte[]> bad =
        List.of(
            request(0x00, ints(1), "k", NONE, 1, 0), // get with extras
            request(0x00, NONE, "", NONE, 1, 0), // get without key
            request(0x00, NONE, "k", text("v"), 1, 0), // get with a value
            request(0x01, ints(1), "k", text("v"), 1, 0), // set with 4 bytes of extras
            request(0x01, ints(1, 2), "", text("v"), 1, 0), // set without key
            request(0x0e, ints(1), "k", text("v"), 1, 0), // append with extras
            request(0x05, ints(1, 2, 3, 4), "k", NONE, 1, 0), // incr with 16 bytes of extras
            request(0x04, NONE, "k", text("v"), 1, 0), // delete with a value
            request(0x0a, NONE, "k", NONE, 1, 0), // noop with a key
            request(0x0b, ints(1), "", NONE, 1, 0), // version with extras
            request(0x07, NONE, "", text("x"), 1, 0), // quit with a body
            request(0x08, ints(1, 2), "", NONE, 1, 0), // flush with 8 bytes of extras
            request(0x08, NONE, "k", NONE, 1, 0), // flush with a key
            request(0x1c, NONE, "k", NONE, 1, 0), // touch without extras
            request(0x1d, ints(1), "", NONE, 1, 0), // gat without key
            request(0x10, ints(1), "", NONE, 1, 0), // stat with extras
            request(0x20, NONE, "k", NONE, 1, 0), // sasl list with a key
            request(0x21, NONE, "", text("x"), 1, 0)); // sasl auth without key
    for (byte[] in : bad) {
      List<String> out = decode(concat(in, request(0x0a, NONE, "", NONE, 2, 0)));
      assertEquals(2, out.size(), out.toString());
      assertTrue(
          out.get(0).matches("close op=.. status=04 opaque=1 cas=0 'Invalid arguments'"),
          out.toString());
    }
  }

  @Test
  void unknownOpcodeSwallowsTheBodyLengthAgain() {
    // Body of 4 (extras 0, key 2, value 2): memcached consumes the key, then swallows 4 more
    // bytes, which here are the value and the first two bytes of padding.
    byte[] in =
        concat(
            request(0x1b, NONE, "ab", text("cd"), 3, 0),
            text("ef"),
            request(0x0a, NONE, "", NONE, 4, 0));
    assertEquals(
        List.of("reply op=1b status=81 opaque=3 cas=0 'Unknown command'", "req op=0a opaque=4"),
        decode(in));
  }

  @Test
  void saslWithoutSaslIsUnknownAndSwallowsItsValue() {
    byte[] in =
        concat(
            request(0x21, NONE, "PLAIN", text("\u0000u\u0000p"), 3, 0),
            request(0x20, NONE, "", NONE, 4, 0),
            request(0x0a, NONE, "", NONE, 5, 0));
    assertEquals(
        List.of(
            "reply op=21 status=81 opaque=3 cas=0 'Unknown command'",
            "reply op=20 status=81 opaque=4 cas=0 'Unknown command'",
            "req op=0a opaque=5"),
        decode(in));
  }

  @Test
  void touchAndStatLeaveExtraBodyBytesToBeReadAsTheNextRequest() {
    byte[] noop = request(0x0a, NONE, "", NONE, 9, 0);
    byte[] touch = packet(0x1c, 1, 4, 5 + noop.length, 1, 0, concat(ints(10), text("t")));
    byte[] stat = packet(0x10, 0, 0, noop.length, 2, 0, NONE);
    assertEquals(
        List.of("req op=1c opaque=1 key=t exp=10", "req op=0a opaque=9"),
        decode(concat(touch, noop)));
    assertEquals(List.of("req op=10 opaque=2", "req op=0a opaque=9"), decode(concat(stat, noop)));
  }

  @Test
  void valueOverTheLimitIsTooLargeAndSwallowed() {
    byte[] big = new byte[(int) MAX_VALUE + 1];
    byte[] in =
        concat(
            request(0x01, ints(0, 0), "s", big, 1, 0),
            request(0x11, ints(0, 0), "q", big, 2, 0),
            request(0x02, ints(0, 0), "a", big, 3, 0),
            request(0x0e, NONE, "p", big, 4, 0),
            request(0x01, ints(0, 0), "ok", new byte[(int) MAX_VALUE], 5, 0));
    List<String> out = decodeChunks(List.of(in));
    assertEquals(
        List.of(
            "reply op=01 status=03 opaque=1 cas=0 'Too large.' after delete s",
            "reply op=11 status=03 opaque=2 cas=0 'Too large.' after delete q",
            "reply op=02 status=03 opaque=3 cas=0 'Too large.'",
            "reply op=0e status=03 opaque=4 cas=0 'Too large.'"),
        out.subList(0, 4));
    assertTrue(out.get(4).startsWith("req op=01 opaque=5 key=ok exp=0 value="), out.get(4));
  }

  @Test
  void valueOfTwoGibibytesIsTooLargeAndSwallowsNothing() {
    byte[] in =
        concat(
            packet(0x01, 1, 8, 0x80000009L, 1, 0, concat(ints(0, 0), text("k"))),
            request(0x0a, NONE, "", NONE, 2, 0));
    assertEquals(
        List.of(
            "reply op=01 status=03 opaque=1 cas=0 'Too large.' after delete k",
            "req op=0a opaque=2"),
        decode(in));
  }

  @Test
  void unknownOpcodeWithHugeBodySwallowsNothing() {
    byte[] in =
        concat(packet(0x40, 0, 0, 0x80000000L, 1, 0, NONE), request(0x0a, NONE, "", NONE, 2, 0));
    assertEquals(
        List.of("reply op=40 status=81 opaque=1 cas=0 'Unknown command'", "req op=0a opaque=2"),
        decode(in));
  }

  @Test
  void randomPacketStreamsFrameTheSameHoweverTheyAreSplit() {
    int[] opcodes = {
      0x00, 0x01, 0x04, 0x05, 0x08, 0x0a, 0x0d, 0x0e, 0x10, 0x11, 0x1c, 0x21, 0x1b, 0x55
    };
    int[] extrasLengths = {0, 4, 8, 20};
    for (int seed = 0; seed < 300; seed++) {
      java.util.Random random = new java.util.Random(seed);
      ByteArrayOutputStream stream = new ByteArrayOutputStream();
      int packets = 1 + random.nextInt(6);
      for (int p = 0; p < packets; p++) {
        int op = opcodes[random.nextInt(opcodes.length)];
        byte[] extras = new byte[extrasLengths[random.nextInt(extrasLengths.length)]];
        random.nextBytes(extras);
        byte[] key = new byte[random.nextInt(10) == 0 ? 251 : random.nextInt(4)];
        random.nextBytes(key);
        byte[] value = new byte[random.nextInt(4) == 0 ? (int) MAX_VALUE + 1 : random.nextInt(6)];
        byte[] payload = concat(extras, key, value);
        // Now and then a body length that disagrees with the parts.
        long bodyLength = payload.length + (random.nextInt(8) == 0 ? random.nextInt(7) - 3 : 0);
        stream.writeBytes(
            packet(op, key.length, extras.length, Math.max(0, bodyLength), p, 0, payload));
      }
      byte[] input = stream.toByteArray();
      List<String> whole = decodeChunks(List.of(input));
      for (int at = 1; at < input.length; at += 1 + random.nextInt(40)) {
        byte[] a = java.util.Arrays.copyOfRange(input, 0, at);
        byte[] b = java.util.Arrays.copyOfRange(input, at, input.length);
        assertEquals(whole, decodeChunks(List.of(a, b)), "seed " + seed + " split at " + at);
      }
    }
  }
}
