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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real memcached nodes, one killed: with failover its keys go to the next node on the ring
 * with capped expiries; without, they fail at once. Also the command deny list.
 */
@ExtendWith(LeakDetection.class)
class FailoverIT {
  @TempDir Path dir;
  final List<MemcachedProcess> nodes = new ArrayList<>();
  KeyPlacement placement;
  McmuxHarness withFailover;
  McmuxHarness without;

  @BeforeEach
  void start() {
    TestPki pki = TestPki.create(dir);
    TlsNodes three = TlsNodes.start(pki, 3);
    nodes.addAll(three.processes());
    String endpoints = three.endpoints();
    placement = three.placement();
    withFailover =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
            .set("mcmux.upstream.failure-threshold", "1")
            .set("mcmux.upstream.failover", "true")
            .set("mcmux.upstream.failover-ttl-cap", "90s")
            .start();
    without =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
            .set("mcmux.upstream.failure-threshold", "1")
            .set("mcmux.upstream.deny-commands", "flush_all,ms")
            .start();
  }

  @AfterEach
  void stop() {
    withFailover.close();
    without.close();
    nodes.forEach(MemcachedProcess::close);
  }

  private List<String> keysOn(int node, int count) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; keys.size() < count; i++) {
      String k = "fo-" + i;
      if (placement.nodeFor(k.getBytes(StandardCharsets.UTF_8)) == node) {
        keys.add(k);
      }
    }
    return keys;
  }

  /** The node failover picks: the next node on the ring that is not {@code down}. */
  private int nextAfter(String key, int down) {
    return placement.nodeFor(key.getBytes(StandardCharsets.UTF_8), n -> n == down);
  }

  /** Remaining seconds of {@code key} on {@code node}, asked with meta get; -1 = never expires. */
  private long ttlOn(int node, String key) {
    try (TextClient direct = nodes.get(node).connect()) {
      direct.send("mg " + key + " t v\r\n");
      String header = direct.readLine();
      assertTrue(header.startsWith("VA "), key + " on node " + node + ": " + header);
      direct.readLine();
      return Long.parseLong(header.substring(header.indexOf(" t") + 2).split(" ")[0]);
    }
  }

  @Test
  void aDownNodesKeysGoToTheNextNodeWithCappedExpiry() {
    List<String> keys = keysOn(1, 6);
    nodes.get(1).kill();
    Await.until(
        "node 1 down in both",
        Duration.ofSeconds(10),
        () ->
            withFailover.server().view().nodes().get(1).isDown()
                && without.server().view().nodes().get(1).isDown());
    try (TextClient c = withFailover.client()) {
      c.send("set " + keys.get(0) + " 7 0 2\r\nv0\r\n");
      assertEquals("STORED", c.readLine());
      c.send("set " + keys.get(1) + " 0 100000 2 noreply\r\nv1\r\n");
      c.send("add " + keys.get(2) + " 0 30 2\r\nv2\r\n");
      assertEquals("STORED", c.readLine());
      c.send("get " + keys.get(0) + " " + keys.get(1) + "\r\n");
      assertEquals(
          "VALUE " + keys.get(0) + " 7 2\r\nv0\r\nVALUE " + keys.get(1) + " 0 2\r\nv1\r\nEND\r\n",
          c.readUntilEnd());
      // gat with "never" is capped as well; the value itself comes from the failover node.
      c.send("gat 0 " + keys.get(2) + "\r\n");
      assertEquals("VALUE " + keys.get(2) + " 0 2\r\nv2\r\nEND\r\n", c.readUntilEnd());
      // Meta: an ms without T would live forever on the other node, so it is given T<cap>.
      c.send("ms " + keys.get(4) + " 2 F3\r\nm4\r\n");
      assertEquals("HD", c.readLine());
      c.send("ms " + keys.get(5) + " 2 T100000 q O9\r\nm5\r\nmn\r\n");
      assertEquals("MN", c.readLine());
      c.send("mg " + keys.get(4) + " v f\r\n");
      assertEquals("VA 2 f3", c.readLine());
      assertEquals("m4", c.readLine());
    }
    long cap4 = ttlOn(nextAfter(keys.get(4), 1), keys.get(4));
    assertTrue(cap4 > 80 && cap4 <= 90, "ms without T capped to 90s, got " + cap4);
    long cap5 = ttlOn(nextAfter(keys.get(5), 1), keys.get(5));
    assertTrue(cap5 > 80 && cap5 <= 90, "ms T100000 capped to 90s, got " + cap5);
    long cap0 = ttlOn(nextAfter(keys.get(0), 1), keys.get(0));
    assertTrue(cap0 > 80 && cap0 <= 90, "exptime 0 capped to 90s, got " + cap0);
    long cap1 = ttlOn(nextAfter(keys.get(1), 1), keys.get(1));
    assertTrue(cap1 > 80 && cap1 <= 90, "100000s capped to 90s, got " + cap1);
    long cap2 = ttlOn(nextAfter(keys.get(2), 1), keys.get(2));
    assertTrue(cap2 > 80 && cap2 <= 90, "gat 0 capped to 90s, got " + cap2);
    try (TextClient c = without.client()) {
      long start = System.nanoTime();
      c.send("get " + keys.get(3) + "\r\n");
      assertTrue(c.readLine().startsWith("SERVER_ERROR"));
      assertTrue(System.nanoTime() - start < Duration.ofMillis(500).toNanos(), "fails fast");
    }
    nodes.get(1).restart();
    Await.until(
        "node 1 back",
        Duration.ofSeconds(15),
        () -> withFailover.server().view().nodes().get(1).liveConnections() > 0);
    try (TextClient c = withFailover.client()) {
      // Reads go to the key's own node again, which has not seen the outage's writes.
      c.send("get " + keys.get(0) + "\r\n");
      assertEquals("END\r\n", c.readUntilEnd());
    }
  }

  @Test
  void deniedCommandsAreAnsweredLocallyInOrderAndCounted() {
    try (TextClient c = without.client()) {
      c.send("set d1 0 0 1\r\nx\r\nflush_all\r\nflush_all noreply\r\nget d1\r\n");
      assertEquals("STORED", c.readLine());
      assertEquals("CLIENT_ERROR flush_all is denied by mcmux configuration", c.readLine());
      // memcached sends error lines even for noreply; so does the deny list.
      assertEquals("CLIENT_ERROR flush_all is denied by mcmux configuration", c.readLine());
      assertEquals("VALUE d1 0 1\r\nx\r\nEND\r\n", c.readUntilEnd());
      // A denied ms is read whole (its data block is not taken for a command), then refused.
      c.send("ms d2 3 q\r\nget\r\nmg d1 v\r\n");
      assertEquals("CLIENT_ERROR ms is denied by mcmux configuration", c.readLine());
      assertEquals("VA 1", c.readLine());
      assertEquals("x", c.readLine());
    }
    for (MemcachedProcess n : nodes) {
      assertEquals("0", n.stats().get("cmd_flush"), "no flush reached " + n);
    }
    String metrics = without.server().scrapeMetrics();
    assertTrue(
        metrics.contains("mcmux_denied_requests_total{command=\"flush_all\"} 2.0"),
        "denied requests counted");
    try (TextClient c = withFailover.client()) {
      c.send("flush_all\r\n");
      assertEquals("OK", c.readLine());
    }
  }
}
