package dev.mcmux.routing;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Frames a configuration endpoint's replies and turns each into a {@link ConfigReply}; nothing
 * reference-counted leaves it, so the handler after it cannot leak a buffer.
 *
 * <p>A reply whose framing is wrong throws {@link MalformedClusterConfigException}: after that the
 * byte stream cannot be trusted and the connection must close. A reply framed correctly with a bad
 * body only becomes {@link ConfigReply.Unusable}; the connection stays usable.
 */
final class ConfigReplyDecoder extends ByteToMessageDecoder {
  /** Longer header lines than this come from no memcached (keys are at most 250 bytes). */
  static final int MAX_LINE = 1024;

  private static final String CONFIG_KEY = "cluster";
  private static final String LEGACY_KEY = "AmazonElastiCache:cluster";
  private static final byte[] TRAILER = "\r\nEND\r\n".getBytes(StandardCharsets.US_ASCII);

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    try {
      ConfigReply reply;
      while ((reply = decodeOne(in)) != null) {
        out.add(reply);
      }
    } catch (MalformedClusterConfigException e) {
      // The connection is about to close; decoding the same bytes again on close helps nobody.
      in.skipBytes(in.readableBytes());
      throw e;
    }
  }

  /**
   * Decodes the reply at {@code in}'s reader index and moves past it, or returns null and leaves
   * {@code in} alone when it is not complete yet.
   *
   * @throws MalformedClusterConfigException when the bytes cannot be a reply
   */
  static ConfigReply decodeOne(ByteBuf in) {
    int start = in.readerIndex();
    int lf = in.indexOf(start, Math.min(in.writerIndex(), start + MAX_LINE), (byte) '\n');
    if (lf < 0) {
      if (in.readableBytes() >= MAX_LINE) {
        throw new MalformedClusterConfigException(
            "reply line longer than " + MAX_LINE + " bytes: '" + shown(in) + "'");
      }
      return null;
    }
    if (lf == start || in.getByte(lf - 1) != '\r') {
      throw new MalformedClusterConfigException(
          "reply line not ended by CRLF: '" + shown(in) + "'");
    }
    String line = in.toString(start, lf - 1 - start, StandardCharsets.ISO_8859_1);
    int next = lf + 1;
    if (line.equals("END")) {
      in.readerIndex(next);
      return new ConfigReply.Missing();
    }
    if (line.startsWith("ERROR")
        || line.startsWith("CLIENT_ERROR")
        || line.startsWith("SERVER_ERROR")) {
      in.readerIndex(next);
      return new ConfigReply.ErrorLine(ClusterConfig.printable(line));
    }
    int length = dataLength(line);
    long needed = (long) next + length + TRAILER.length;
    if (needed > in.writerIndex()) {
      return null;
    }
    int bodyEnd = next + length;
    for (int i = 0; i < TRAILER.length; i++) {
      if (in.getByte(bodyEnd + i) != TRAILER[i]) {
        throw new MalformedClusterConfigException(
            "cluster config data of "
                + length
                + " bytes is not followed by \\r\\nEND\\r\\n: '"
                + ClusterConfig.shown(in, bodyEnd, in.writerIndex())
                + "'");
      }
    }
    ConfigReply reply;
    try {
      reply = new ConfigReply.Config(ClusterConfig.parse(in.slice(next, length)));
    } catch (MalformedClusterConfigException e) {
      reply = new ConfigReply.Unusable(e.getMessage());
    }
    in.readerIndex(bodyEnd + TRAILER.length);
    return reply;
  }

  /**
   * The data length of {@code CONFIG cluster <flags> <length>} or {@code VALUE
   * AmazonElastiCache:cluster <flags> <length> [<cas>]}.
   */
  private static int dataLength(String line) {
    String[] t = line.split(" ", -1);
    boolean config = t.length == 4 && t[0].equals("CONFIG") && t[1].equals(CONFIG_KEY);
    boolean legacy =
        (t.length == 4 || t.length == 5) && t[0].equals("VALUE") && t[1].equals(LEGACY_KEY);
    if (!config && !legacy) {
      throw new MalformedClusterConfigException(
          "unexpected reply line '" + ClusterConfig.printable(line) + "'");
    }
    if (!isNumber(t[2], 10) || !isNumber(t[3], 7) || (t.length == 5 && !isNumber(t[4], 20))) {
      throw new MalformedClusterConfigException(
          "malformed reply header '" + ClusterConfig.printable(line) + "'");
    }
    int length = Integer.parseInt(t[3]);
    if (length > ClusterConfig.MAX_BODY_BYTES) {
      throw new MalformedClusterConfigException(
          "cluster config of " + length + " bytes is larger than " + ClusterConfig.MAX_BODY_BYTES);
    }
    return length;
  }

  private static boolean isNumber(String s, int maxDigits) {
    if (s.isEmpty() || s.length() > maxDigits) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '9') {
        return false;
      }
    }
    return true;
  }

  private static String shown(ByteBuf in) {
    return ClusterConfig.shown(in, in.readerIndex(), in.writerIndex());
  }
}
