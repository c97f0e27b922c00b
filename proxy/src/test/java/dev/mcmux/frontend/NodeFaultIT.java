package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.TlsNodes;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

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
    TlsNodes three = TlsNodes.start(pki, 3);
    nodes.addAll(three.processes());
    String endpoints = three.endpoints();
    placement = three.placement();
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
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
    ListAppender<ILoggingEvent> poolLog = new ListAppender<>();
    Logger poolLogger = (Logger) LoggerFactory.getLogger(UpstreamPool.class);
    poolLog.start();
    poolLogger.addAppender(poolLog);
    try (TextClient c = mcmux.client()) {
      liveKeys.forEach(k -> set(c, k));
      // Served before the restart, so the refusal afterwards is the certificate's doing.
      victimKeys.forEach(k -> set(c, k));
      assertServed(c, victimKeys.get(0));
      nodes.get(0).restart(pki.server(TestPki.Kind.WRONG_HOST));
      UpstreamNode victim = mcmux.server().view().nodes().get(0);
      Await.until(
          "the node with the foreign certificate is reported down",
          Duration.ofSeconds(15),
          () ->
              victim.liveConnections() == 0
                  && victim.lastError().contains("handshake")
                  && victim.state().equals("down"));
      String status = mcmux.server().statusJson();
      assertTrue(status.contains("handshake"), status);
      assertTrue(status.contains("\"state\": \"down\""), status);
      String port = String.valueOf(nodes.get(0).port());
      List<String> warnings;
      synchronized (poolLog) {
        warnings =
            poolLog.list.stream()
                .filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                .map(ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains(port))
                .toList();
      }
      assertTrue(
          warnings.stream()
              .anyMatch(
                  m ->
                      m.toLowerCase(Locale.ROOT)
                          .contains("no subject alternative dns name matching localhost")),
          "the log names why the node is refused: " + warnings);
      c.send("get " + victimKeys.get(0) + "\r\n");
      assertTrue(c.readLine().startsWith("SERVER_ERROR"), "refused, never served unverified");
      for (String k : liveKeys) {
        assertServed(c, k);
      }
      assertTrue(
          mcmux.server().scrapeMetrics().contains("result=\"failure\""),
          "handshake failures counted");
    } finally {
      poolLogger.detachAppender(poolLog);
      poolLog.stop();
    }
  }
}
