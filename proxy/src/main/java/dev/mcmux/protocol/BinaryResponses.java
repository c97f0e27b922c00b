package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Writes binary-protocol response packets exactly as memcached 1.6.18 lays them out: the request's
 * opcode and opaque echoed, datatype 0, and for errors the status's fixed text as the body.
 */
public final class BinaryResponses {
  private BinaryResponses() {}

  /** Writes a 24-byte response header. */
  public static void header(
      ByteBuf out,
      int opcode,
      int status,
      int extrasLength,
      int keyLength,
      int bodyLength,
      int opaque,
      long cas) {
    out.writeByte(BinaryProtocol.RESPONSE_MAGIC);
    out.writeByte(opcode);
    out.writeShort(keyLength);
    out.writeByte(extrasLength);
    out.writeByte(0);
    out.writeShort(status);
    out.writeInt(bodyLength);
    out.writeInt(opaque);
    out.writeLong(cas);
  }

  /** Writes an error packet: the header and the status's text, CAS 0. */
  public static void error(ByteBuf out, int opcode, int opaque, int status) {
    byte[] text = BinaryProtocol.errorText(status);
    header(out, opcode, status, 0, 0, text.length, opaque, 0);
    out.writeBytes(text);
  }

  /** An error packet as a fresh array. */
  public static byte[] error(int opcode, int opaque, int status) {
    byte[] text = BinaryProtocol.errorText(status);
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES + text.length];
    fillHeader(packet, opcode, status, 0, 0, text.length, opaque, 0);
    System.arraycopy(text, 0, packet, BinaryProtocol.HEADER_BYTES, text.length);
    return packet;
  }

  /** A packet with the given status and {@code text} as body, CAS 0. */
  public static byte[] withStatus(int opcode, int opaque, int status, byte[] text) {
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES + text.length];
    fillHeader(packet, opcode, status, 0, 0, text.length, opaque, 0);
    System.arraycopy(text, 0, packet, BinaryProtocol.HEADER_BYTES, text.length);
    return packet;
  }

  /** True when {@code packet} is a response packet with a status other than success. */
  public static boolean isError(ByteBuf packet) {
    int r = packet.readerIndex();
    return packet.readableBytes() >= BinaryProtocol.HEADER_BYTES
        && packet.getByte(r) == BinaryProtocol.RESPONSE_MAGIC
        && packet.getShort(r + 6) != 0;
  }

  /** A packet with no extras, key or body (success of set, delete, noop, flush, quit ...). */
  public static byte[] empty(int opcode, int opaque, long cas) {
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES];
    fillHeader(packet, opcode, BinaryProtocol.SUCCESS, 0, 0, 0, opaque, cas);
    return packet;
  }

  /** A success packet whose body is {@code body} (version, one stat). */
  public static byte[] withBody(int opcode, int opaque, byte[] key, byte[] body) {
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES + key.length + body.length];
    fillHeader(
        packet, opcode, BinaryProtocol.SUCCESS, 0, key.length, key.length + body.length, opaque, 0);
    System.arraycopy(key, 0, packet, BinaryProtocol.HEADER_BYTES, key.length);
    System.arraycopy(body, 0, packet, BinaryProtocol.HEADER_BYTES + key.length, body.length);
    return packet;
  }

  /**
   * memcached's answer to a get miss: {@code getk}/{@code gatk} carry the key with status "not
   * found" and no text, the others the plain error packet.
   */
  public static byte[] miss(int opcode, int opaque, byte[] keyOrNull) {
    if (keyOrNull == null) {
      return error(opcode, opaque, BinaryProtocol.KEY_ENOENT);
    }
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES + keyOrNull.length];
    fillHeader(
        packet,
        opcode,
        BinaryProtocol.KEY_ENOENT,
        0,
        keyOrNull.length,
        keyOrNull.length,
        opaque,
        0);
    System.arraycopy(keyOrNull, 0, packet, BinaryProtocol.HEADER_BYTES, keyOrNull.length);
    return packet;
  }

  /**
   * Writes the header and extras of a get hit; the caller appends the key (getk/gatk only) and the
   * value ({@code valueLength} bytes; 0 for touch).
   */
  public static void getHitHeader(
      ByteBuf out, int opcode, int opaque, long cas, int flags, int keyLength, int valueLength) {
    header(
        out,
        opcode,
        BinaryProtocol.SUCCESS,
        4,
        keyLength,
        4 + keyLength + valueLength,
        opaque,
        cas);
    out.writeInt(flags);
  }

  /** The answer to a successful incr/decr: the new value as an 8-byte body. */
  public static byte[] counter(int opcode, int opaque, long cas, long value) {
    byte[] packet = new byte[BinaryProtocol.HEADER_BYTES + 8];
    fillHeader(packet, opcode, BinaryProtocol.SUCCESS, 0, 0, 8, opaque, cas);
    putLong(packet, BinaryProtocol.HEADER_BYTES, value);
    return packet;
  }

  private static void fillHeader(
      byte[] p,
      int opcode,
      int status,
      int extrasLength,
      int keyLength,
      int bodyLength,
      int opaque,
      long cas) {
    p[0] = BinaryProtocol.RESPONSE_MAGIC;
    p[1] = (byte) opcode;
    p[2] = (byte) (keyLength >>> 8);
    p[3] = (byte) keyLength;
    p[4] = (byte) extrasLength;
    p[5] = 0;
    p[6] = (byte) (status >>> 8);
    p[7] = (byte) status;
    putInt(p, 8, bodyLength);
    putInt(p, 12, opaque);
    putLong(p, 16, cas);
  }

  private static void putInt(byte[] p, int at, int v) {
    p[at] = (byte) (v >>> 24);
    p[at + 1] = (byte) (v >>> 16);
    p[at + 2] = (byte) (v >>> 8);
    p[at + 3] = (byte) v;
  }

  private static void putLong(byte[] p, int at, long v) {
    putInt(p, at, (int) (v >>> 32));
    putInt(p, at + 4, (int) v);
  }
}
