package dev.mcmux.routing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.NetUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One cluster description from an ElastiCache configuration endpoint: its version and its nodes.
 *
 * <p>The body, as {@code config get cluster} (and the older {@code get AmazonElastiCache:cluster})
 * carries it, is {@code <version>\n<host>|<ip>|<port> <host>|<ip>|<port> ...\n}. The parser is
 * strict about what it keeps (a version that is a number, host names made of DNS characters, IPs
 * that are IP literals, ports in range, no node twice, at least one node) because a wrong node list
 * silently moves keys; it tolerates only what a server may plausibly add around that: spaces and a
 * CR before a line's LF, and trailing blank space after the node line.
 *
 * @param version the configuration version, which the endpoint increases on every change
 * @param nodes the nodes, in the order the endpoint listed them
 */
public record ClusterConfig(long version, List<DiscoveredNode> nodes) {

  /** A body longer than this cannot be a cluster description; refusing it bounds memory. */
  static final int MAX_BODY_BYTES = 1024 * 1024;

  private static final int MAX_HOST_LENGTH = 253;
  private static final int MAX_SHOWN = 60;

  public ClusterConfig {
    if (version < 0) {
      throw new IllegalArgumentException("config version " + version + " is negative");
    }
    nodes = List.copyOf(nodes);
  }

  /**
   * Parses a body ({@code <version>\n<nodes>\n}): the data block of a {@code CONFIG cluster} or
   * {@code VALUE AmazonElastiCache:cluster} reply, without its header line and trailer.
   *
   * @throws MalformedClusterConfigException saying what is wrong, quoting the offending text
   */
  public static ClusterConfig parse(byte[] body) {
    return parse(Unpooled.wrappedBuffer(body));
  }

  /**
   * Parses the readable bytes of {@code body} as {@link #parse(byte[])} does; the buffer's indexes
   * and reference count are left alone.
   *
   * @throws MalformedClusterConfigException saying what is wrong, quoting the offending text
   */
  public static ClusterConfig parse(ByteBuf body) {
    int start = body.readerIndex();
    int end = body.writerIndex();
    if (end - start > MAX_BODY_BYTES) {
      throw new MalformedClusterConfigException(
          "cluster config body of " + (end - start) + " bytes is larger than " + MAX_BODY_BYTES);
    }
    int versionEnd = body.indexOf(start, end, (byte) '\n');
    if (versionEnd < 0) {
      throw new MalformedClusterConfigException(
          "cluster config has no line feed after its version: '" + shown(body, start, end) + "'");
    }
    long version = parseVersion(body, start, trimEnd(body, start, versionEnd));

    int lineStart = versionEnd + 1;
    int lf = body.indexOf(lineStart, end, (byte) '\n');
    int lineEnd = lf < 0 ? end : lf;
    for (int i = lf < 0 ? end : lf + 1; i < end; i++) {
      byte b = body.getByte(i);
      if (b != ' ' && b != '\r' && b != '\n') {
        throw new MalformedClusterConfigException(
            "cluster config has text after its node line: '" + shown(body, i, end) + "'");
      }
    }
    return new ClusterConfig(
        version, parseNodes(body, lineStart, trimEnd(body, lineStart, lineEnd)));
  }

  /**
   * Parses one complete reply, either {@code CONFIG cluster <flags> <length>\r\n<body>\r\nEND\r\n}
   * or the older engines' {@code VALUE AmazonElastiCache:cluster <flags> <length>\r\n<body>\r\n
   * END\r\n}, with nothing after it.
   *
   * @throws MalformedClusterConfigException for an error reply, a miss, a reply that is incomplete
   *     or followed by more bytes, or a malformed body
   */
  public static ClusterConfig parseReply(byte[] reply) {
    return parseReply(Unpooled.wrappedBuffer(reply));
  }

  /**
   * Parses the readable bytes of {@code reply} as {@link #parseReply(byte[])} does; the buffer's
   * indexes and reference count are left alone.
   *
   * @throws MalformedClusterConfigException as {@link #parseReply(byte[])}
   */
  public static ClusterConfig parseReply(ByteBuf reply) {
    ByteBuf view = reply.duplicate();
    ConfigReply decoded = ConfigReplyDecoder.decodeOne(view);
    if (decoded == null) {
      throw new MalformedClusterConfigException(
          "incomplete reply: '" + shown(reply, reply.readerIndex(), reply.writerIndex()) + "'");
    }
    if (view.isReadable()) {
      throw new MalformedClusterConfigException(
          "bytes after the reply: '" + shown(view, view.readerIndex(), view.writerIndex()) + "'");
    }
    if (decoded instanceof ConfigReply.Config c) {
      return c.config();
    }
    if (decoded instanceof ConfigReply.Unusable u) {
      throw new MalformedClusterConfigException(u.reason());
    }
    throw new MalformedClusterConfigException(decoded.describe());
  }

  /** Whether both list the same nodes (same host, IP and port), in whatever order. */
  public boolean sameNodesAs(ClusterConfig other) {
    return nodes.size() == other.nodes.size() && new HashSet<>(nodes).containsAll(other.nodes);
  }

  /** Nodes listed here but not in {@code previous} ({@code null}: every node). */
  public int addedSince(ClusterConfig previous) {
    if (previous == null) {
      return nodes.size();
    }
    Set<DiscoveredNode> before = new HashSet<>(previous.nodes);
    return (int) nodes.stream().filter(n -> !before.contains(n)).count();
  }

  /** Nodes in {@code previous} that are no longer listed here ({@code null}: none). */
  public int removedSince(ClusterConfig previous) {
    return previous == null ? 0 : previous.addedSince(this);
  }

  private static long parseVersion(ByteBuf body, int from, int to) {
    if (from == to) {
      throw new MalformedClusterConfigException("cluster config version line is empty");
    }
    long v = 0;
    for (int i = from; i < to; i++) {
      byte b = body.getByte(i);
      // Long.MAX_VALUE has 19 digits; a version anywhere near it is garbage, not a counter.
      if (b < '0' || b > '9' || i - from >= 18) {
        throw new MalformedClusterConfigException(
            "cluster config version '" + shown(body, from, to) + "' is not a number");
      }
      v = v * 10 + (b - '0');
    }
    return v;
  }

  private static List<DiscoveredNode> parseNodes(ByteBuf body, int from, int to) {
    List<DiscoveredNode> nodes = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    int i = from;
    while (i < to) {
      if (body.getByte(i) == ' ') {
        i++;
        continue;
      }
      int sp = body.indexOf(i, to, (byte) ' ');
      int entryEnd = sp < 0 ? to : sp;
      DiscoveredNode node = parseNode(body.toString(i, entryEnd - i, StandardCharsets.ISO_8859_1));
      if (!seen.add(node.host() + ":" + node.port())) {
        throw new MalformedClusterConfigException(
            "cluster config lists " + node.host() + ":" + node.port() + " twice");
      }
      nodes.add(node);
      i = entryEnd;
    }
    if (nodes.isEmpty()) {
      // Applying an empty list would take every node out of service: keep what we have instead.
      throw new MalformedClusterConfigException("cluster config lists no nodes");
    }
    return nodes;
  }

  private static DiscoveredNode parseNode(String entry) {
    int bar1 = entry.indexOf('|');
    int bar2 = bar1 < 0 ? -1 : entry.indexOf('|', bar1 + 1);
    if (bar2 < 0 || entry.indexOf('|', bar2 + 1) >= 0) {
      throw new MalformedClusterConfigException(
          "cluster config node '" + printable(entry) + "' is not host|ip|port");
    }
    String host = entry.substring(0, bar1);
    String ip = entry.substring(bar1 + 1, bar2);
    String port = entry.substring(bar2 + 1);
    if (!isHost(host)) {
      throw new MalformedClusterConfigException(
          "cluster config node '" + printable(entry) + "' has an invalid host name");
    }
    if (!ip.isEmpty() && !isIpLiteral(ip)) {
      throw new MalformedClusterConfigException(
          "cluster config node '" + printable(entry) + "' has an invalid IP address");
    }
    int p = 0;
    if (port.isEmpty() || port.length() > 5) {
      p = -1;
    } else {
      for (int i = 0; i < port.length(); i++) {
        char c = port.charAt(i);
        if (c < '0' || c > '9') {
          p = -1;
          break;
        }
        p = p * 10 + (c - '0');
      }
    }
    if (p < 1 || p > 65535) {
      throw new MalformedClusterConfigException(
          "cluster config node '" + printable(entry) + "' has an invalid port");
    }
    return new DiscoveredNode(host, ip, p);
  }

  /**
   * A DNS name of letters, digits, '-' and '_' in non-empty labels, or an IP literal. Labels may
   * start with a digit: ElastiCache node names do ({@code 0001-001.mycluster...}).
   */
  static boolean isHost(String host) {
    if (host.isEmpty() || host.length() > MAX_HOST_LENGTH) {
      return false;
    }
    if (isIpLiteral(host)) {
      return true;
    }
    int label = 0;
    for (int i = 0; i < host.length(); i++) {
      char c = host.charAt(i);
      if (c == '.') {
        if (label == 0) {
          return false;
        }
        label = 0;
      } else if ((c >= 'a' && c <= 'z')
          || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9')
          || c == '-'
          || c == '_') {
        if (++label > 63) {
          return false;
        }
      } else {
        return false;
      }
    }
    return label > 0;
  }

  private static boolean isIpLiteral(String s) {
    return NetUtil.isValidIpV4Address(s) || NetUtil.isValidIpV6Address(s);
  }

  /** Moves {@code to} back over trailing spaces and CRs, which servers may leave before an LF. */
  private static int trimEnd(ByteBuf body, int from, int to) {
    while (to > from && (body.getByte(to - 1) == ' ' || body.getByte(to - 1) == '\r')) {
      to--;
    }
    return to;
  }

  /** The bytes as printable ASCII, shortened, for exception messages and logs. */
  static String shown(ByteBuf buf, int from, int to) {
    int shownTo = Math.min(to, from + MAX_SHOWN);
    String s = printable(buf.toString(from, shownTo - from, StandardCharsets.ISO_8859_1));
    return shownTo < to ? s + "..." : s;
  }

  static String printable(String s) {
    StringBuilder out = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\r' -> out.append("\\r");
        case '\n' -> out.append("\\n");
        default -> {
          if (c < 0x20 || c > 0x7e) {
            out.append(String.format("\\x%02x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.toString();
  }

  @Override
  public String toString() {
    return "version " + version + ": " + nodes;
  }
}
