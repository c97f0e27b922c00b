package dev.mcmux.bench;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/** Encodes {@code get} and {@code set} requests from key ids and versions, without Strings. */
final class RequestWriter {

  private static final byte[] GET = ascii("get ");
  private static final byte[] SET = ascii("set ");
  private static final short CRLF = ('\r' << 8) | '\n';

  private final KeySpace keys;
  private final ValueCodec codec;
  // " 0 <size>\r\n": exptime and length never change within a run.
  private final byte[] setTail;

  RequestWriter(KeySpace keys, ValueCodec codec) {
    this.keys = keys;
    this.codec = codec;
    this.setTail = ascii(" 0 " + codec.valueSize() + "\r\n");
  }

  /** Appends {@code get key:<id>\r\n}. */
  void get(ByteBuf out, int keyId) {
    out.writeBytes(GET);
    keys.write(out, keyId);
    out.writeShort(CRLF);
  }

  /** Appends {@code set key:<id> <flags> 0 <size>\r\n<value>\r\n} for {@code version}. */
  void set(ByteBuf out, int keyId, int version) {
    out.writeBytes(SET);
    keys.write(out, keyId);
    out.writeByte(' ');
    KeySpace.writeDecimal(out, ValueCodec.flags(version));
    out.writeBytes(setTail);
    codec.write(out, keyId, version);
    out.writeShort(CRLF);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
