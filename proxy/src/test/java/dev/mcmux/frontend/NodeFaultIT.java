package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
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
 * Faults of one node of three: frozen (SIGSTOP) and restarted with a certificate that no longer
 * matches. Only that node's keys fail, within the request timeout; the others keep serving, and no
 * answer ever reaches the wrong request.
 */
@ExtendWith(LeakDetection.class)
class NodeFaultIT {
  private static final Duration REQUEST_TIMEOUT = Duration.ofMillis(800);

  @TempDir Path dir;
  TestPki pki;
  final List<MemcachedProcess> nodes = new ArrayList<>();
  McmuxHarness mcmux;
  KeyPlacement placement;

  @BeforeEach
  void start() {
    pki = TestPki.create(dir);
    List<String> endpoints = new ArrayList<>();
    List<PlacementNode> placed = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      nodes.add(m);
      endpoints.add("localhost:" + m.port());
      placed.add(new PlacementNode("localhost", m.port()));
    }
    placement = KeyPlacement.create("libmemcached", placed);
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .set("mcmux.upstream.request-timeout", REQUEST_TIMEOUT.toMillis() + "ms")
            .set("mcmux.upstream.stall-nudge-after", "200ms")
            .start();
  }

  @AfterEach
  void stop() {
    mcmux.close();
    nodes.forEach(MemcachedProcess::close);
  }

  private List<String> keysOn(int node, int count, String prefix) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; keys.size() < count; i++) {
      String k = prefix + i;
      if (placement.nodeFor(k.getBytes(StandardCharsets.UTF_8)) == node) {
        keys.add(k);
      }
    }
    return keys;
  }

  private static String value(String key) {
    return "v-" + key;
  }

  private static void set(TextClient c, String key) {
    c.send("set " + key + " 0 0 " + value(key).length() + "\r\n" + value(key) + "\r\n");
    assertEquals("STORED", c.readLine(), key);
  }

  private static void assertServed(TextClient c, String key) {
    c.send("get " + key + "\r\n");
    assertEquals(
        "VALUE " + key + " 0 " + value(key).length() + "\r\n" + value(key) + "\r\nEND\r\n",
        c.readUntilEnd(),
        key);
  }

  @Test
  void aFrozenNodeTimesOutAloneAndRecoversWhenThawed() {
    List<String> frozenKeys = keysOn(1, 3, "frozen-");
    List<String> liveKeys = keysOn(2, 3, "live-");
    try (TextClient c = mcmux.client()) {
      frozenKeys.forEach(k -> set(c, k));
      liveKeys.forEach(k -> set(c, k));
      nodes.get(1).freeze();
      try (TextClient other = mcmux.client()) {
        long start = System.nanoTime();
        c.send("get " + frozenKeys.get(0) + "\r\n");
        // Meanwhile another client is served by the other nodes at once.
        for (String k : liveKeys) {
          assertServed(other, k);
        }
        String answer = c.readLine();
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(answer.startsWith("SERVER_ERROR"), answer);
        assertTrue(
            millis < REQUEST_TIMEOUT.toMillis() + 1_000,
            "answered within the request timeout (+ scheduling slack): " + millis + " ms");
      } finally {
        nodes.get(1).thaw();
      }
      Await.until(
          "the thawed node serves again",
          Duration.ofSeconds(15),
          () -> {
            c.send("get " + frozenKeys.get(1) + "\r\n");
            return c.readUntilEnd().startsWith("VALUE " + frozenKeys.get(1) + " ");
          });
      // Recovered means every value of the thawed node is its own again, not just some answer.
      for (String k : frozenKeys) {
        assertServed(c, k);
      }
      for (String k : liveKeys) {
        assertServed(c, k);
      }
    }
  }

  @Test
  void aNodeRestartedWithAForeignCertificateIsRefusedAndReported() throws Exception {
    List<String> victimKeys = keysOn(0, 2, "victim-");
    List<String> liveKeys = keysOn(2, 3, "fine-");
    try (TextClient c = mcmux.client()) {
      liveKeys.forEach(k -> set(c, k));
      nodes.get(0).restart(pki.server(TestPki.Kind.WRONG_HOST));
      Await.until(
          "the node with the foreign certificate is reported",
          Duration.ofSeconds(15),
          () ->
              mcmux.server().view().nodes().get(0).liveConnections() == 0
                  && mcmux.server().view().nodes().get(0).lastError().contains("handshake"));
      String status = mcmux.server().statusJson();
      assertTrue(status.contains("handshake"), status);
      c.send("get " + victimKeys.get(0) + "\r\n");
      assertTrue(c.readLine().startsWith("SERVER_ERROR"), "refused, never served unverified");
      for (String k : liveKeys) {
        assertServed(c, k);
      }
      assertTrue(
          mcmux.server().scrapeMetrics().contains("result=\"failure\""),
          "handshake failures counted");
    }
  }
}
