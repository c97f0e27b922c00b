package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.TlsNodes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Three real memcached nodes with TLS behind one mcmux: placement, split gets, node failure. */
@ExtendWith(LeakDetection.class)
class ClusterIT {
  @TempDir static Path dir;
  static TestPki pki;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;
  static KeyPlacement placement;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir);
    TlsNodes three = TlsNodes.start(pki, 3);
    nodes.addAll(three.processes());
    String endpoints = three.endpoints();
    placement = three.placement();
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
            .set("mcmux.upstream.placement", "libmemcached")
            .set("mcmux.upstream.request-timeout", "1s")
            .start();
  }

  @AfterAll
  static void stop() {
    mcmux.close();
    nodes.forEach(MemcachedProcess::close);
  }

  private static int nodeOf(String key) {
    return placement.nodeFor(key.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void keysLandWhereLibmemcachedPutsThemAndMultiGetsMergeInOrder() {
    int[] perNode = new int[3];
    try (TextClient c = mcmux.client()) {
      StringBuilder get = new StringBuilder("get");
      StringBuilder expected = new StringBuilder();
      for (int i = 0; i < 300; i++) {
        String key = "placed-" + i;
        c.send("set " + key + " " + i + " 0 " + key.length() + "\r\n" + key + "\r\n");
        assertEquals("STORED", c.readLine());
        perNode[nodeOf(key)]++;
        // Duplicates and a miss, interleaved across nodes.
        get.append(' ').append(key);
        expected.append("VALUE ").append(key).append(' ').append(i).append(' ');
        expected.append(key.length()).append("\r\n").append(key).append("\r\n");
        if (i % 50 == 0) {
          get.append(' ').append(key).append(" absent-").append(i);
          expected.append("VALUE ").append(key).append(' ').append(i).append(' ');
          expected.append(key.length()).append("\r\n").append(key).append("\r\n");
        }
      }
      expected.append("END\r\n");
      c.send(get + "\r\n");
      assertEquals(expected.toString(), c.readUntilEnd());
    }
    for (int n = 0; n < 3; n++) {
      assertTrue(perNode[n] > 50, "keys spread over nodes: " + java.util.Arrays.toString(perNode));
      try (TextClient direct = nodes.get(n).connect()) {
        for (int i = 0; i < 300; i += 7) {
          String key = "placed-" + i;
          direct.send("get " + key + "\r\n");
          String reply = direct.readUntilEnd();
          assertEquals(nodeOf(key) == n, reply.startsWith("VALUE "), key + " on node " + n);
        }
      }
    }
  }

  @Test
  void statsAreSummedOverNodesAndConfigGetClusterNamesMcmux() {
    long getsBefore = 0;
    for (MemcachedProcess n : nodes) {
      getsBefore += Long.parseLong(n.stats().get("cmd_get"));
    }
    try (TextClient c = mcmux.client()) {
      c.send("stats\r\n");
      java.util.Map<String, String> stats = new java.util.HashMap<>();
      for (String line = c.readLine(); !line.equals("END"); line = c.readLine()) {
        String[] parts = line.split(" ", 3);
        stats.put(parts[1], parts[2]);
      }
      // Our own stats connections add a few gets after this snapshot, never fewer.
      assertTrue(Long.parseLong(stats.get("cmd_get")) >= getsBefore, stats.toString());
      assertTrue(stats.containsKey("uptime") && stats.containsKey("version"));
      c.send("stats mcmux\r\n");
      String own = c.readLine();
      StringBuilder all = new StringBuilder(own);
      while (!own.equals("END")) {
        own = c.readLine();
        all.append('\n').append(own);
      }
      assertTrue(all.toString().contains("STAT nodes 3"), all.toString());
      assertTrue(all.toString().contains("STAT node2_state up"), all.toString());
      c.send("config get cluster\r\n");
      String header = c.readLine();
      assertTrue(header.startsWith("CONFIG cluster 0 "), header);
      String body = "1\n127.0.0.1|127.0.0.1|" + mcmux.port() + "\n";
      assertEquals(body.length(), Integer.parseInt(header.substring(17)));
      assertEquals(
          body + "\r\nEND\r\n",
          new String(c.readExactly(body.length() + 7), StandardCharsets.US_ASCII));
      c.send("config set x\r\n");
      assertEquals("ERROR", c.readLine());
    }
  }

  @Test
  void flushAllReachesEveryNode() {
    try (TextClient c = mcmux.client()) {
      for (int i = 0; i < 30; i++) {
        c.send("set f" + i + " 0 0 1\r\nx\r\n");
        assertEquals("STORED", c.readLine());
      }
      c.send("flush_all\r\n");
      assertEquals("OK", c.readLine());
      c.send("flush_all noreply\r\nversion\r\n");
      assertTrue(c.readLine().startsWith("VERSION "));
    }
    // flush_all invalidates lazily (curr_items stays), so ask each node for the keys themselves.
    for (MemcachedProcess n : nodes) {
      assertTrue(Long.parseLong(n.stats().get("cmd_flush")) >= 2, "node " + n + " was flushed");
      try (TextClient direct = n.connect()) {
        for (int i = 0; i < 30; i++) {
          direct.send("get f" + i + "\r\n");
          assertEquals("END\r\n", direct.readUntilEnd());
        }
      }
    }
  }

  @Test
  void aDownNodeFailsOnlyItsKeysAndRecovers() {
    MemcachedProcess victim = nodes.get(1);
    List<String> onVictim = new ArrayList<>();
    List<String> elsewhere = new ArrayList<>();
    for (int i = 0; onVictim.size() < 5 || elsewhere.size() < 5; i++) {
      String key = "down-" + i;
      (nodeOf(key) == 1 ? onVictim : elsewhere).add(key);
    }
    try (TextClient c = mcmux.client()) {
      for (String k : elsewhere.subList(0, 5)) {
        c.send("set " + k + " 0 0 1\r\ny\r\n");
        assertEquals("STORED", c.readLine());
      }
      victim.kill();
      try {
        downAndBack(c, victim, onVictim, elsewhere);
      } finally {
        if (!victim.isAlive()) {
          victim.restart();
        }
      }
    }
  }

  private static void downAndBack(
      TextClient c, MemcachedProcess victim, List<String> onVictim, List<String> elsewhere) {
    Await.until(
        "node marked down",
        Duration.ofSeconds(10),
        () -> mcmux.server().view().nodes().get(1).liveConnections() == 0);
    long start = System.nanoTime();
    c.send("get " + onVictim.get(0) + "\r\n");
    assertTrue(c.readLine().startsWith("SERVER_ERROR"));
    assertTrue(System.nanoTime() - start < Duration.ofMillis(500).toNanos(), "fails fast");
    // A multi-get across nodes: the down node's keys are misses, the others are answered.
    c.send("get " + onVictim.get(1) + " " + elsewhere.get(0) + " " + elsewhere.get(1) + "\r\n");
    String reply = c.readUntilEnd();
    assertEquals(
        "VALUE "
            + elsewhere.get(0)
            + " 0 1\r\ny\r\nVALUE "
            + elsewhere.get(1)
            + " 0 1\r\ny\r\nEND\r\n",
        reply);
    victim.restart();
    Await.until(
        "node back",
        Duration.ofSeconds(15),
        () -> {
          c.send("set " + onVictim.get(2) + " 0 0 1\r\nz\r\n");
          return c.readLine().equals("STORED");
        });
  }
}
