package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
import dev.mcmux.testing.StandInConfigEndpoint;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import net.spy.memcached.AddrUtil;
import net.spy.memcached.KetamaConnectionFactory;
import net.spy.memcached.MemcachedClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Per-node mode: one local port per node for clients that place keys themselves. Keys land on the
 * node behind the port the client chose, and ports keep their node as membership changes.
 */
@ExtendWith(LeakDetection.class)
class PerNodeIT {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  TestPki pki;
  final List<MemcachedProcess> nodes = new ArrayList<>();
  McmuxHarness mcmux;
  StandInConfigEndpoint endpoint;

  @BeforeEach
  void start() {
    pki = TestPki.create(dir);
    for (int i = 0; i < 3; i++) {
      nodes.add(MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start());
    }
  }

  @AfterEach
  void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    if (endpoint != null) {
      endpoint.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  /** A first port with {@code count} free consecutive loopback ports from it. */
  private static int freePortRun(int count) {
    for (int attempt = 0; attempt < 50; attempt++) {
      int first = Ports.freeLoopbackPort();
      boolean free = first + count - 1 <= 65535;
      for (int i = 1; i < count && free; i++) {
        free = Ports.canBind(first + i);
      }
      if (free) {
        return first;
      }
    }
    throw new IllegalStateException("no run of " + count + " free ports");
  }

  private static boolean holds(MemcachedProcess node, String key) {
    try (TextClient direct = node.connect()) {
      direct.send("get " + key + "\r\n");
      return direct.readUntilEnd().startsWith("VALUE ");
    }
  }

  @Test
  void aKetamaClientsKeysLandOnTheNodeBehindThePortItChose() throws Exception {
    int first = freePortRun(3);
    List<String> endpoints = new ArrayList<>();
    for (MemcachedProcess m : nodes) {
      endpoints.add("localhost:" + m.port());
    }
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .set("mcmux.mode", "per-node")
            .set("mcmux.listen", "127.0.0.1:" + first)
            .start();
    String addresses =
        "127.0.0.1:" + first + " 127.0.0.1:" + (first + 1) + " 127.0.0.1:" + (first + 2);
    MemcachedClient spy =
        new MemcachedClient(new KetamaConnectionFactory(), AddrUtil.getAddresses(addresses));
    int[] perPort = new int[3];
    try {
      for (int i = 0; i < 60; i++) {
        String key = "pn-" + i;
        assertTrue(spy.set(key, 0, "value-" + i).get(10, TimeUnit.SECONDS), key);
        assertEquals("value-" + i, spy.get(key));
        int port =
            ((InetSocketAddress) spy.getNodeLocator().getPrimary(key).getSocketAddress()).getPort();
        int chosen = port - first;
        perPort[chosen]++;
        for (int n = 0; n < 3; n++) {
          assertEquals(n == chosen, holds(nodes.get(n), key), key + " on node " + n);
        }
      }
    } finally {
      spy.shutdown(5, TimeUnit.SECONDS);
    }
    for (int count : perPort) {
      assertTrue(count > 5, "the client spread keys over the ports");
    }
    try (TextClient c = TextClient.connect(first + 1)) {
      c.send("config get cluster\r\n");
      String header = c.readLine();
      String body =
          "1\n127.0.0.1|127.0.0.1|"
              + first
              + " 127.0.0.1|127.0.0.1|"
              + (first + 1)
              + " 127.0.0.1|127.0.0.1|"
              + (first + 2)
              + "\n";
      assertEquals("CONFIG cluster 0 " + body.length(), header);
      assertEquals(
          body + "\r\nEND\r\n",
          new String(c.readExactly(body.length() + 7), StandardCharsets.US_ASCII));
      // flush_all and stats concern only this port's node.
      c.send("flush_all\r\nstats mcmux\r\n");
      assertEquals("OK", c.readLine());
      c.readLine();
      c.readLine();
      c.readLine();
      assertEquals("STAT nodes 1", c.readLine());
    }
    assertEquals("0", nodes.get(0).stats().get("cmd_flush"));
    assertEquals("1", nodes.get(1).stats().get("cmd_flush"));
  }

  private String node(int i) {
    return "localhost|127.0.0.1|" + nodes.get(i).port();
  }

  /** Sets {@code key} through local port {@code port} and says which node holds it now. */
  private int nodeBehind(int port, String key) {
    try (TextClient c = TextClient.connect(port)) {
      c.send("set " + key + " 0 0 1\r\nx\r\n");
      String reply = c.readLine();
      if (!reply.equals("STORED")) {
        return -1;
      }
    }
    for (int n = 0; n < nodes.size(); n++) {
      if (holds(nodes.get(n), key)) {
        return n;
      }
    }
    return -1;
  }

  @Test
  void withDiscoveryPortsKeepTheirNodeAsNodesJoinAndLeave() {
    endpoint = StandInConfigEndpoint.start(pki.server(TestPki.Kind.LOCALHOST));
    endpoint.config(1, node(0), node(1));
    int first = freePortRun(3);
    mcmux =
        McmuxHarness.inFrontOf(endpoint.port(), pki.caFile())
            .set("mcmux.upstream.discovery", "elasticache")
            .set("mcmux.upstream.discovery-interval", "200ms")
            .set("mcmux.mode", "per-node")
            .set("mcmux.per-node-ports", "3")
            .set("mcmux.listen", "127.0.0.1:" + first)
            .start();
    Await.until("first configuration", WAIT, () -> nodeBehind(first + 1, "k1") == 1);
    assertEquals(0, nodeBehind(first, "k0"));
    try (TextClient spare = TextClient.connect(first + 2)) {
      assertEquals("SERVER_ERROR no memcached node on this port", spare.readLine());
      spare.expectEof();
    }
    endpoint.config(2, node(0), node(1), node(2));
    Await.until("node 2 takes the free port", WAIT, () -> nodeBehind(first + 2, "k2") == 2);
    assertEquals(0, nodeBehind(first, "k0b"));
    assertEquals(1, nodeBehind(first + 1, "k1b"));
    endpoint.config(3, node(2), node(1));
    Await.until("node 0 left", WAIT, () -> mcmux.server().view().configVersion() == 3);
    Await.until(
        "the departed node's port fails",
        WAIT,
        () -> {
          try (TextClient c = TextClient.connect(first)) {
            c.send("get k0\r\n");
            return c.readLine().startsWith("SERVER_ERROR");
          }
        });
    assertEquals(1, nodeBehind(first + 1, "k1c"), "port 2 keeps node 1");
    assertEquals(2, nodeBehind(first + 2, "k2c"), "port 3 keeps node 2");
    assertTrue(mcmux.server().statusJson().contains("\"port\": " + first), "ports in /status");
  }
}
