package dev.mcmux.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Builds binary-protocol request packets and describes response packets, for tests. */
public final class BinaryPackets {
  private BinaryPackets() {}

  /** A request whose header lengths are given explicitly (for malformed cases). */
  public static byte[] raw(
      int opcode, int keyLen, int extLen, long bodyLen, int opaque, long cas, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(24 + payload.length);
    b.put((byte) 0x80).put((byte) opcode).putShort((short) keyLen).put((byte) extLen);
    b.put((byte) 0).putShort((short) 0).putInt((int) bodyLen).putInt(opaque).putLong(cas);
    b.put(payload);
    return b.array();
  }

  /** A well-formed request: lengths taken from its parts. */
  public static byte[] request(
      int opcode, byte[] extras, byte[] key, byte[] value, int opaque, long cas) {
    byte[] payload = concat(extras, key, value);
    return raw(opcode, key.length, extras.length, payload.length, opaque, cas, payload);
  }

  /** A request without extras, value or CAS. */
  public static byte[] keyed(int opcode, String key, int opaque) {
    return request(opcode, new byte[0], bytes(key), new byte[0], opaque, 0);
  }

  /** A set-family request (set/add/replace and quiet forms). */
  public static byte[] store(
      int opcode, String key, int flags, int exptime, String value, int opaque, long cas) {
    return request(
        opcode,
        ByteBuffer.allocate(8).putInt(flags).putInt(exptime).array(),
        bytes(key),
        bytes(value),
        opaque,
        cas);
  }

  /** An incr/decr request. */
  public static byte[] counter(
      int opcode, String key, long delta, long initial, int exptime, int opaque, long cas) {
    return request(
        opcode,
        ByteBuffer.allocate(20).putLong(delta).putLong(initial).putInt(exptime).array(),
        bytes(key),
        new byte[0],
        opaque,
        cas);
  }

  /** A touch/gat request. */
  public static byte[] touch(int opcode, String key, int exptime, int opaque) {
    return request(
        opcode, ByteBuffer.allocate(4).putInt(exptime).array(), bytes(key), new byte[0], opaque, 0);
  }

  /** A request with no key, extras or body (noop, version, quit, flush ...). */
  public static byte[] bare(int opcode, int opaque) {
    return raw(opcode, 0, 0, 0, opaque, 0, new byte[0]);
  }

  public static byte[] bytes(String latin1) {
    return latin1.getBytes(StandardCharsets.ISO_8859_1);
  }

  public static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  /** One response packet, parsed. */
  public record Packet(
      int opcode, int status, int opaque, long cas, byte[] extras, byte[] key, byte[] value) {

    /** A one-line description, with non-printable bytes escaped. */
    public String describe() {
      return String.format(
          "op=%02x status=%02x opaque=%d cas=%d extras=%s key=%s value=%s",
          opcode, status, opaque, cas, escape(extras), escape(key), escape(value));
    }
  }

  /** Splits a response byte stream into packets; trailing bytes that are no packet are reported. */
  public static List<Packet> parse(byte[] stream) {
    List<Packet> out = new ArrayList<>();
    ByteBuffer b = ByteBuffer.wrap(stream);
    while (b.remaining() >= 24) {
      int start = b.position();
      byte magic = b.get();
      if (magic != (byte) 0x81) {
        throw new IllegalArgumentException("not a response packet at " + start);
      }
      int opcode = b.get() & 0xff;
      int keyLen = b.getShort() & 0xffff;
      int extLen = b.get() & 0xff;
      b.get();
      int status = b.getShort() & 0xffff;
      int bodyLen = b.getInt();
      int opaque = b.getInt();
      long cas = b.getLong();
      if (b.remaining() < bodyLen) {
        throw new IllegalArgumentException("truncated packet at " + start);
      }
      byte[] extras = new byte[extLen];
      byte[] key = new byte[keyLen];
      byte[] value = new byte[bodyLen - extLen - keyLen];
      b.get(extras).get(key).get(value);
      out.add(new Packet(opcode, status, opaque, cas, extras, key, value));
    }
    if (b.hasRemaining()) {
      throw new IllegalArgumentException(b.remaining() + " bytes after the last packet");
    }
    return out;
  }

  /** Printable ASCII as is, anything else as {@code \xNN}. */
  public static String escape(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      int c = x & 0xff;
      if (c >= ' ' && c < 0x7f && c != '\\') {
        sb.append((char) c);
      } else {
        sb.append(String.format("\\x%02x", c));
      }
    }
    return sb.toString();
  }
}
