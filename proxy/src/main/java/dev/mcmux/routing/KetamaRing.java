package dev.mcmux.routing;

import io.netty.buffer.ByteBuf;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.FastThreadLocal;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;

/**
 * A ketama continuum: sorted points on the 32-bit circle, each owned by a node; a key belongs to
 * the first point at or after its hash, wrapping around to the first point.
 *
 * <p>All three flavours put 160 points per node, 4 per digest of {@code NAME-N} (N from 0), reading
 * each point as a little-endian 32-bit word of the digest; they differ in NAME, in the digest (MD5,
 * or SHA-384 for the ElastiCache client) and in libmemcached's point count.
 */
final class KetamaRing implements KeyPlacement {

  static final int DEFAULT_MEMCACHED_PORT = 11211;
  static final int POINTS_PER_NODE = 160;
  private static final int POINTS_PER_DIGEST = 4;

  // One digest per thread (event loops are FastThreadLocalThreads, so this is an array read).
  private static final FastThreadLocal<Hasher> MD5 =
      new FastThreadLocal<>() {
        @Override
        protected Hasher initialValue() {
          return new Hasher("MD5");
        }
      };
  private static final FastThreadLocal<Hasher> SHA384 =
      new FastThreadLocal<>() {
        @Override
        protected Hasher initialValue() {
          return new Hasher("SHA-384");
        }
      };

  private final PlacementFlavour flavour;
  private final List<PlacementNode> nodes;
  private final FastThreadLocal<Hasher> hasher;

  /** Point values, unsigned order stored with the sign bit flipped so that int order works. */
  private final int[] points;

  /** {@code owners[i]} is the node index of {@code points[i]}. */
  private final int[] owners;

  private KetamaRing(
      PlacementFlavour flavour, List<PlacementNode> nodes, int[] points, int[] owners) {
    this.flavour = flavour;
    this.nodes = nodes;
    this.hasher = flavour == PlacementFlavour.ELASTICACHE ? SHA384 : MD5;
    this.points = points;
    this.owners = owners;
  }

  static KetamaRing build(PlacementFlavour flavour, List<PlacementNode> nodes) {
    int perNode =
        flavour == PlacementFlavour.LIBMEMCACHED
            ? libmemcachedPointsPerNode(nodes == null ? 0 : nodes.size())
            : POINTS_PER_NODE;
    return build(flavour, nodes, perNode);
  }

  /** Builds with an explicit point count per node (tests use it to show the count matters). */
  static KetamaRing build(PlacementFlavour flavour, List<PlacementNode> nodes, int perNode) {
    // Two nodes can share a point value (about once in 500 rings of 25 nodes). spymemcached and
    // the ElastiCache client keep points in a TreeMap, where the node inserted last wins;
    // libmemcached sorts its array with glibc's qsort (a merge sort, so stable) and takes the
    // first match, so the node inserted first wins. The collision-* golden sets confirm both.
    return build(flavour, nodes, perNode, flavour != PlacementFlavour.LIBMEMCACHED);
  }

  /** Builds with an explicit rule for shared points (tests use it to show the rule matters). */
  static KetamaRing build(
      PlacementFlavour flavour, List<PlacementNode> nodes, int perNode, boolean lastWins) {
    if (nodes == null || nodes.isEmpty()) {
      throw new IllegalArgumentException("a key placement needs at least one node");
    }
    List<PlacementNode> copy = List.copyOf(nodes);
    MessageDigest digest = newDigest(flavour == PlacementFlavour.ELASTICACHE ? "SHA-384" : "MD5");
    int digestsPerNode = perNode / POINTS_PER_DIGEST;

    // (point with its sign bit flipped << 32 | insertion order): one signed sort orders points
    // as unsigned numbers and, among equal points, keeps the order the client inserted them in.
    long[] entries = new long[copy.size() * digestsPerNode * POINTS_PER_DIGEST];
    int e = 0;
    for (PlacementNode node : copy) {
      String name = pointName(flavour, node);
      for (int n = 0; n < digestsPerNode; n++) {
        byte[] d = digest.digest((name + "-" + n).getBytes(StandardCharsets.UTF_8));
        for (int h = 0; h < POINTS_PER_DIGEST; h++) {
          entries[e] = ((long) (littleEndianInt(d, h * 4) ^ Integer.MIN_VALUE) << 32) | e;
          e++;
        }
      }
    }
    Arrays.sort(entries);

    int pointsPerNodeInserted = digestsPerNode * POINTS_PER_DIGEST;
    int[] points = new int[entries.length];
    int[] owners = new int[entries.length];
    int size = 0;
    for (int i = 0; i < entries.length; i++) {
      int point = (int) (entries[i] >> 32);
      int owner = (int) entries[i] / pointsPerNodeInserted;
      if (size > 0 && points[size - 1] == point) {
        if (lastWins) {
          owners[size - 1] = owner;
        }
        continue;
      }
      points[size] = point;
      owners[size] = owner;
      size++;
    }
    return new KetamaRing(flavour, copy, Arrays.copyOf(points, size), Arrays.copyOf(owners, size));
  }

  /**
   * libmemcached's points per server with equal weights, computed as it does in C {@code float}
   * ({@code floor(pct * 160 / 4 * servers + 1e-10F) * 4} with {@code pct = 1.0f / servers}): the
   * product falls just under 40 for some server counts, which then get 156 points, not 160.
   */
  static int libmemcachedPointsPerNode(int servers) {
    if (servers <= 0) {
      return POINTS_PER_NODE;
    }
    float pct = 1.0f / (float) servers;
    float perDigest = pct * POINTS_PER_NODE / 4 * (float) servers + 0.0000000001F;
    return (int) Math.floor(perDigest) * 4;
  }

  /** The string whose {@code -N} suffixed digests place {@code node}, per flavour. */
  static String pointName(PlacementFlavour flavour, PlacementNode node) {
    switch (flavour) {
      case LIBMEMCACHED:
        return node.port() == DEFAULT_MEMCACHED_PORT
            ? node.host()
            : node.host() + ":" + node.port();
      case SPYMEMCACHED:
        {
          // String.valueOf(InetSocketAddress) minus its leading '/': "host/ip:port" for a
          // name, "ip:port" for an IP literal (the JDK keeps no host name for those).
          if (isIpLiteral(node.host())) {
            return socketAddressName(null, node.host(), node.port());
          }
          if (node.ip() == null) {
            throw new IllegalArgumentException(
                "spymemcached placement needs the IP that node " + node + " resolves to");
          }
          return socketAddressName(node.host(), node.ip(), node.port());
        }
      case ELASTICACHE:
        {
          // The cluster client connects to new InetSocketAddress(InetAddress.getByName(ip),
          // port), which carries no host name, so only "ip:port" is hashed.
          String ip = node.ip() != null ? node.ip() : node.host();
          if (!isIpLiteral(ip)) {
            throw new IllegalArgumentException(
                "elasticache placement needs the IP of node "
                    + node
                    + " (as config get cluster reports it)");
          }
          return socketAddressName(null, ip, node.port());
        }
      default:
        throw new AssertionError(flavour);
    }
  }

  private static boolean isIpLiteral(String s) {
    return NetUtil.isValidIpV4Address(s) || NetUtil.isValidIpV6Address(s);
  }

  /**
   * Formats an address the way the JDK's {@code InetSocketAddress.toString()} does (JDK 14+: IPv6
   * in full, uncompressed, in brackets), without the leading '/' of a nameless address.
   */
  private static String socketAddressName(String host, String ip, int port) {
    byte[] bytes = ip.indexOf('%') < 0 ? NetUtil.createByteArrayFromIpAddressString(ip) : null;
    if (bytes == null) {
      throw new IllegalArgumentException("'" + ip + "' is not an IP address without a scope");
    }
    try {
      // getByAddress never does a lookup; the JDK turns IPv4-mapped IPv6 into IPv4, as the
      // clients' InetAddress.getByName does.
      String s = new InetSocketAddress(InetAddress.getByAddress(host, bytes), port).toString();
      return s.startsWith("/") ? s.substring(1) : s;
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("'" + ip + "' is not an IP address", e);
    }
  }

  @Override
  public PlacementFlavour flavour() {
    return flavour;
  }

  @Override
  public List<PlacementNode> nodes() {
    return nodes;
  }

  /** The number of distinct points on the ring (tests and diagnostics). */
  int pointCount() {
    return points.length;
  }

  @Override
  public int nodeFor(byte[] key, int offset, int length) {
    if (nodes.size() == 1) {
      return 0;
    }
    return ownerOf(hasher.get().hash(key, offset, length));
  }

  @Override
  public int nodeFor(ByteBuf buf, int index, int length) {
    if (nodes.size() == 1) {
      return 0;
    }
    Hasher h = hasher.get();
    if (buf.hasArray()) {
      return ownerOf(h.hash(buf.array(), buf.arrayOffset() + index, length));
    }
    byte[] scratch = h.scratch(length);
    buf.getBytes(index, scratch, 0, length);
    return ownerOf(h.hash(scratch, 0, length));
  }

  @Override
  public int nodeFor(byte[] key, java.util.function.IntPredicate skip) {
    int start = nodes.size() == 1 ? 0 : pointOf(hasher.get().hash(key, 0, key.length));
    for (int i = 0; i < owners.length; i++) {
      int owner = owners[(start + i) % owners.length];
      if (!skip.test(owner)) {
        return owner;
      }
    }
    return -1;
  }

  private int ownerOf(int hash) {
    return owners[pointOf(hash)];
  }

  /** The index of the first point at or after {@code hash}, wrapping round the ring. */
  private int pointOf(int hash) {
    int key = hash ^ Integer.MIN_VALUE;
    int lo = 0;
    int hi = points.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (points[mid] < key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo == points.length ? 0 : lo;
  }

  private static int littleEndianInt(byte[] b, int at) {
    return (b[at] & 0xff)
        | (b[at + 1] & 0xff) << 8
        | (b[at + 2] & 0xff) << 16
        | (b[at + 3] & 0xff) << 24;
  }

  private static MessageDigest newDigest(String algorithm) {
    try {
      return MessageDigest.getInstance(algorithm);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(algorithm + " is missing from this JVM", e);
    }
  }

  /** A thread's digest, its output buffer and a scratch copy for keys in direct buffers. */
  private static final class Hasher {
    private final MessageDigest digest;
    private final byte[] out;
    private byte[] scratch = new byte[256];

    Hasher(String algorithm) {
      digest = newDigest(algorithm);
      out = new byte[digest.getDigestLength()];
    }

    byte[] scratch(int length) {
      if (scratch.length < length) {
        scratch = new byte[length];
      }
      return scratch;
    }

    int hash(byte[] key, int offset, int length) {
      digest.update(key, offset, length);
      try {
        digest.digest(out, 0, out.length);
      } catch (DigestException e) {
        throw new IllegalStateException(e);
      }
      return littleEndianInt(out, 0);
    }
  }
}
