package dev.mcmux.golden;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.spy.memcached.AddrUtil;
import net.spy.memcached.ConnectionFactory;
import net.spy.memcached.KetamaConnectionFactory;
import net.spy.memcached.MemcachedClient;
import net.spy.memcached.MemcachedNode;
import net.spy.memcached.NodeLocator;
import net.spy.memcached.util.DefaultKetamaNodeLocatorConfiguration;

/**
 * Writes golden placement vectors from the real Java client on the classpath: stock spymemcached
 * or the AWS ElastiCache cluster client (both live in {@code net.spy.memcached}, so only one can be
 * loaded at a time).
 *
 * <p>The vectors for the shared node sets come from the client's own {@code
 * KetamaConnectionFactory().createLocator(nodes)}, with nodes whose socket address is built the
 * way the client builds it, without any DNS lookup or connection. The "client-*" sets then come
 * from complete {@code MemcachedClient} instances pointed at loopback addresses only (nothing
 * listens there except, for the ElastiCache dynamic mode, a stand-in configuration endpoint), so
 * the client's own code decides how each node is named; they must agree with the synthetic nodes.
 *
 * <p>Usage: {@code GoldenGen spymemcached|elasticache NODE_SETS KEYS OUT}
 */
public final class GoldenGen {

  private static final HexFormat HEX = HexFormat.of();

  // Held so that the level set on it is not lost to garbage collection.
  private static final java.util.logging.Logger SPY_LOG =
      java.util.logging.Logger.getLogger("net.spy");

  private record NodeSpec(String host, int port, String ip) {}

  private GoldenGen() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      throw new IllegalArgumentException("usage: GoldenGen FLAVOUR NODE_SETS KEYS OUT");
    }
    String flavour = args[0];
    // The clients retry the closed loopback ports noisily; their log says nothing we need.
    System.setProperty("net.spy.log.LoggerImpl", "net.spy.memcached.compat.log.SunLogger");
    SPY_LOG.setLevel(java.util.logging.Level.OFF);
    boolean elastiCache = classExists("net.spy.memcached.config.NodeEndPoint");
    if (!flavour.equals(elastiCache ? "elasticache" : "spymemcached")) {
      throw new IllegalStateException(
          "flavour " + flavour + " but the classpath holds " + libraryJar());
    }
    Map<String, List<NodeSpec>> sets = readSets(Path.of(args[1]));
    List<byte[]> keys = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[2]))) {
      if (!line.isBlank()) {
        keys.add(HEX.parseHex(line.trim()));
      }
    }
    // Java clients take keys as String and hash their UTF-8 bytes, so only keys that are valid
    // UTF-8 (and come back byte-identical) can be asked for.
    List<String> stringKeys = new ArrayList<>();
    for (byte[] k : keys) {
      String s = strictUtf8(k);
      if (s != null && java.util.Arrays.equals(s.getBytes(StandardCharsets.UTF_8), k)) {
        stringKeys.add(s);
      }
    }

    try (OutputStream os = Files.newOutputStream(Path.of(args[3]));
        PrintWriter out = new PrintWriter(os, false, StandardCharsets.UTF_8)) {
      out.println("# flavour " + flavour);
      out.println(
          "# generator tools/golden (GoldenGen): "
              + libraryJar()
              + ", Java "
              + Runtime.version()
              + " "
              + System.getProperty("java.vendor"));
      out.println(
          "# locator: new KetamaConnectionFactory().createLocator(nodes) (KETAMA_HASH,"
              + " SPYMEMCACHED node key format, no weights); getPrimary(new String(key, UTF-8))");
      out.println("# keys: the " + stringKeys.size() + " of " + keys.size() + " that are UTF-8");
      out.println("# format: set NAME / node HOST PORT IP (in client order) / key HEX NODE_INDEX / end");
      out.println("# '# hashes' lines: the client's own ring key of each node for repetition 0");

      for (Map.Entry<String, List<NodeSpec>> e : sets.entrySet()) {
        List<MemcachedNode> nodes = new ArrayList<>();
        for (NodeSpec n : e.getValue()) {
          nodes.add(fakeNode(clientAddress(n, elastiCache)));
        }
        NodeLocator locator = new KetamaConnectionFactory().createLocator(nodes);
        writeSet(out, e.getKey(), e.getValue(), nodes, locator, stringKeys);
      }

      clientSets(out, elastiCache, stringKeys);
    }
  }

  /** The socket address the client gives a configured node, built without touching DNS. */
  private static InetSocketAddress clientAddress(NodeSpec n, boolean elastiCache)
      throws Exception {
    InetAddress ip = InetAddress.getByName(n.ip()); // an IP literal: parsed, never looked up
    if (elastiCache) {
      // The cluster client turns every address into a NodeEndPoint(host, ip, port) and connects
      // to endPoint.getInetSocketAddress(): ask its own code for that address.
      Class<?> endPoint = Class.forName("net.spy.memcached.config.NodeEndPoint");
      Object ep =
          endPoint
              .getConstructor(String.class, String.class, int.class)
              .newInstance(n.host(), n.ip(), n.port());
      return (InetSocketAddress) endPoint.getMethod("getInetSocketAddress").invoke(ep);
    }
    // Stock spymemcached keeps the InetSocketAddress it was given: for "host:port" that is
    // new InetSocketAddress(host, port), i.e. an address carrying the host as written when it
    // is a name, and no host name when it is an IP literal.
    if (isIpLiteral(n.host())) {
      return new InetSocketAddress(n.host(), n.port());
    }
    return new InetSocketAddress(InetAddress.getByAddress(n.host(), ip.getAddress()), n.port());
  }

  private static boolean isIpLiteral(String host) {
    return host.indexOf(':') >= 0 || host.matches("\\d{1,3}(\\.\\d{1,3}){3}");
  }

  private static void writeSet(
      PrintWriter out,
      String name,
      List<NodeSpec> specs,
      List<? extends Object> nodes,
      NodeLocator locator,
      List<String> keys) {
    out.println();
    out.println("set " + name);
    DefaultKetamaNodeLocatorConfiguration config = new DefaultKetamaNodeLocatorConfiguration();
    for (NodeSpec n : specs) {
      out.println("node " + n.host() + " " + n.port() + " " + n.ip());
    }
    for (MemcachedNode node : locator.getAll()) {
      out.println("# hashes " + config.getKeyForNode(node, 0));
    }
    List<SocketAddress> addresses = new ArrayList<>();
    for (Object node : nodes) {
      addresses.add(((MemcachedNode) node).getSocketAddress());
    }
    for (String k : keys) {
      SocketAddress sa = locator.getPrimary(k).getSocketAddress();
      int index = addresses.indexOf(sa);
      if (index < 0 || addresses.lastIndexOf(sa) != index) {
        throw new IllegalStateException(name + ": cannot map " + sa + " to one node");
      }
      out.println("key " + HEX.formatHex(k.getBytes(StandardCharsets.UTF_8)) + " " + index);
    }
    out.println("end");
  }

  /**
   * Vectors from complete clients on loopback addresses, checked against synthetic nodes: proves
   * that the synthetic nodes are named as the real client names them.
   */
  private static void clientSets(PrintWriter out, boolean elastiCache, List<String> keys)
      throws Exception {
    // A name from /etc/hosts, an IP literal, and a name made without DNS (getByAddress), so no
    // lookup leaves the machine; the ports are closed, so the clients only retry connecting.
    InetSocketAddress localhost = AddrUtil.getAddresses("localhost:11391").get(0);
    InetSocketAddress literal = AddrUtil.getAddresses("127.0.0.1:11392").get(0);
    InetSocketAddress named =
        new InetSocketAddress(
            InetAddress.getByAddress("mc-c.example.internal", new byte[] {127, 0, 0, 3}), 11211);
    List<InetSocketAddress> addrs = List.of(localhost, literal, named);
    List<NodeSpec> specs = new ArrayList<>();
    for (InetSocketAddress a : addrs) {
      String host = a.getHostString();
      specs.add(new NodeSpec(host, a.getPort(), a.getAddress().getHostAddress()));
    }
    MemcachedClient client = new MemcachedClient(new KetamaConnectionFactory(), addrs);
    try {
      checkAndWrite(out, "client-static-3", specs, client, elastiCache, keys);
    } finally {
      client.shutdown();
    }
    if (elastiCache) {
      dynamicClientSet(out, keys);
    }
  }

  private static void checkAndWrite(
      PrintWriter out,
      String name,
      List<NodeSpec> specs,
      MemcachedClient client,
      boolean elastiCache,
      List<String> keys)
      throws Exception {
    List<MemcachedNode> synthetic = new ArrayList<>();
    for (NodeSpec n : specs) {
      synthetic.add(fakeNode(clientAddress(n, elastiCache)));
    }
    NodeLocator expected = new KetamaConnectionFactory().createLocator(synthetic);
    NodeLocator real = client.getNodeLocator();
    DefaultKetamaNodeLocatorConfiguration config = new DefaultKetamaNodeLocatorConfiguration();
    List<String> realNames = new ArrayList<>();
    for (MemcachedNode n : real.getAll()) {
      realNames.add(config.getKeyForNode(n, 0));
    }
    List<String> syntheticNames = new ArrayList<>();
    for (MemcachedNode n : synthetic) {
      syntheticNames.add(config.getKeyForNode(n, 0));
    }
    if (!realNames.equals(syntheticNames)) {
      throw new IllegalStateException(
          name + ": real client names " + realNames + ", synthetic " + syntheticNames);
    }
    for (String k : keys) {
      SocketAddress r = real.getPrimary(k).getSocketAddress();
      SocketAddress s = expected.getPrimary(k).getSocketAddress();
      if (!String.valueOf(r).equals(String.valueOf(s))) {
        throw new IllegalStateException(name + ": key " + k + " real " + r + " synthetic " + s);
      }
    }
    out.println();
    out.println("# " + name + ": from a real MemcachedClient (KetamaConnectionFactory) on loopback");
    writeSet(out, name, specs, synthetic, real, keys);
  }

  /**
   * The ElastiCache client in dynamic mode, fed by a stand-in configuration endpoint on loopback
   * that lists node names with IPs, as {@code config get cluster} does.
   */
  private static void dynamicClientSet(PrintWriter out, List<String> keys) throws Exception {
    List<NodeSpec> specs =
        List.of(
            new NodeSpec("mc-dyn.x7k2pq.0001.use1.cache.amazonaws.com", 11393, "127.0.0.1"),
            new NodeSpec("mc-dyn.x7k2pq.0002.use1.cache.amazonaws.com", 11394, "127.0.0.2"),
            new NodeSpec("mc-dyn.x7k2pq.0003.use1.cache.amazonaws.com", 11211, "127.0.0.3"));
    StringBuilder line = new StringBuilder();
    for (NodeSpec n : specs) {
      line.append(line.length() == 0 ? "" : " ").append(n.host() + "|" + n.ip() + "|" + n.port());
    }
    String body = "7\n" + line + "\n";
    try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getByName("127.0.0.1"))) {
      Thread t = new Thread(() -> serveConfig(server, body), "config-endpoint");
      t.setDaemon(true);
      t.start();
      Class<?> modeClass = Class.forName("net.spy.memcached.ClientMode");
      Object dynamic = modeClass.getField("Dynamic").get(null);
      Constructor<KetamaConnectionFactory> c =
          KetamaConnectionFactory.class.getConstructor(
              modeClass, int.class, int.class, long.class);
      ConnectionFactory cf = c.newInstance(dynamic, 16384, 16384, 10_000L);
      MemcachedClient client =
          new MemcachedClient(
              cf, List.of(new InetSocketAddress("127.0.0.1", server.getLocalPort())));
      try {
        checkAndWrite(out, "client-dynamic-3", specs, client, true, keys);
      } finally {
        client.shutdown();
      }
    }
  }

  private static void serveConfig(ServerSocket server, String body) {
    while (!server.isClosed()) {
      try (Socket s = server.accept()) {
        BufferedReader in =
            new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
        OutputStream o = s.getOutputStream();
        String l;
        while ((l = in.readLine()) != null) {
          String reply;
          if (l.trim().equals("config get cluster")) {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            reply = "CONFIG cluster 0 " + b.length + "\r\n" + body + "\r\nEND\r\n";
          } else if (l.startsWith("version")) {
            reply = "VERSION 1.6.18\r\n";
          } else {
            reply = "ERROR\r\n";
          }
          o.write(reply.getBytes(StandardCharsets.UTF_8));
          o.flush();
        }
      } catch (IOException e) {
        // closed by the generator, or the client went away: accept the next one
      }
    }
  }

  /** A MemcachedNode that only knows its socket address: all a locator needs. */
  private static MemcachedNode fakeNode(InetSocketAddress address) {
    return (MemcachedNode)
        Proxy.newProxyInstance(
            MemcachedNode.class.getClassLoader(),
            new Class<?>[] {MemcachedNode.class},
            (proxy, method, args) -> fakeNodeCall(proxy, method, args, address));
  }

  private static Object fakeNodeCall(
      Object proxy, Method method, Object[] args, InetSocketAddress address) {
    switch (method.getName()) {
      case "getSocketAddress":
        return address;
      case "toString":
        return "fake:" + address;
      case "hashCode":
        return System.identityHashCode(proxy);
      case "equals":
        return proxy == args[0];
      case "isActive":
        return true;
      default:
        throw new UnsupportedOperationException(method.getName());
    }
  }

  private static Map<String, List<NodeSpec>> readSets(Path file) throws IOException {
    Map<String, List<NodeSpec>> sets = new LinkedHashMap<>();
    List<NodeSpec> current = null;
    for (String line : Files.readAllLines(file)) {
      String[] f = line.trim().split("\\s+");
      if (f[0].equals("set")) {
        current = new ArrayList<>();
        sets.put(f[1], current);
      } else if (f[0].equals("node")) {
        current.add(new NodeSpec(f[1], Integer.parseInt(f[2]), f[3]));
      }
    }
    return sets;
  }

  private static String strictUtf8(byte[] b) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(b))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private static boolean classExists(String name) {
    try {
      Class.forName(name);
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  private static String libraryJar() {
    String path =
        MemcachedClient.class.getProtectionDomain().getCodeSource().getLocation().getPath();
    return path.substring(path.lastIndexOf('/') + 1);
  }
}
