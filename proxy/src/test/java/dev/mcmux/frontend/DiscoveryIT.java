package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.StandInConfigEndpoint;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
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
 * ElastiCache auto discovery against a stand-in configuration endpoint and three real memcached
 * nodes: nodes join and leave under load with no lost or misrouted answer.
 */
@ExtendWith(LeakDetection.class)
class DiscoveryIT {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  TestPki pki;
  final List<MemcachedProcess> nodes = new ArrayList<>();
  StandInConfigEndpoint endpoint;
  McmuxHarness mcmux;

  @BeforeEach
  void start() {
    pki = TestPki.create(dir);
    for (int i = 0; i < 3; i++) {
      nodes.add(MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start());
    }
    endpoint = StandInConfigEndpoint.start(pki.server(TestPki.Kind.LOCALHOST));
  }

  @AfterEach
  void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    endpoint.close();
    nodes.forEach(MemcachedProcess::close);
  }

  private String node(int i) {
    return "localhost|127.0.0.1|" + nodes.get(i).port();
  }

  @Test
  void membershipChangesUnderLoadLoseNoAnswer() throws Exception {
    endpoint.config(1, node(0), node(1));
    mcmux =
        McmuxHarness.inFrontOf(endpoint.port(), pki.caFile())
            .set("mcmux.upstream.discovery", "elasticache")
            .set("mcmux.upstream.discovery-interval", "200ms")
            .set("mcmux.upstream.placement", "elasticache")
            .start();
    assertEquals(2, mcmux.server().view().size(), "first configuration applied at start");
    assertEquals(1, mcmux.server().view().configVersion());
    OperationsIT.Load load = new OperationsIT.Load(mcmux.port(), 6);
    try {
      load.awaitProgress();
      endpoint.config(2, node(0), node(1), node(2));
      Await.until("node 3 joined", WAIT, () -> mcmux.server().view().size() == 3);
      Await.until(
          "node 3 takes keys",
          WAIT,
          () -> Long.parseLong(nodes.get(2).stats().get("cmd_set")) > 20);
      load.awaitProgress();
      endpoint.config(3, node(1), node(2));
      Await.until("node 1 left", WAIT, () -> mcmux.server().view().configVersion() == 3);
      long setsOnDeparted = Long.parseLong(nodes.get(0).stats().get("cmd_set"));
      load.awaitProgress();
      load.awaitProgress();
      assertEquals(
          setsOnDeparted,
          Long.parseLong(nodes.get(0).stats().get("cmd_set")),
          "a departed node gets no new requests");
    } finally {
      load.stop();
    }
    assertEquals(List.of(), load.problems(), "answers lost during membership changes");
    assertEquals(List.of(), load.mismatches(), "misrouted answers");
    try (TextClient c = mcmux.client()) {
      c.send("config get cluster\r\n");
      String header = c.readLine();
      assertTrue(header.startsWith("CONFIG cluster 0 "), header);
      String body =
          new String(
              c.readExactly(Integer.parseInt(header.substring(17)) + 7),
              java.nio.charset.StandardCharsets.US_ASCII);
      assertTrue(body.startsWith("3\n"), "mcmux follows the configuration version: " + body);
    }
  }

  @Test
  void startsOnTheEndpointWhenNoConfigurationComesAndSwitchesWhenOneDoes() throws Exception {
    endpoint.mute(true);
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.discovery", "elasticache")
            .set("mcmux.upstream.discovery-interval", "200ms")
            .set("mcmux.upstream.endpoints", "localhost:" + endpoint.port())
            .set("mcmux.upstream.connect-timeout", "500ms")
            .set("mcmux.tls.handshake-timeout", "500ms")
            .start();
    assertEquals(-1, mcmux.server().view().configVersion());
    endpoint.mute(false);
    endpoint.config(7, node(0));
    Await.until("configuration applied", WAIT, () -> mcmux.server().view().configVersion() == 7);
    try (TextClient c = mcmux.client()) {
      // The event loops switch right after the view; a request may still reach the endpoint.
      Await.until(
          "requests reach the discovered node",
          WAIT,
          () -> {
            c.send("set late 0 0 2\r\nok\r\n");
            return c.readLine().equals("STORED");
          });
      c.send("get late\r\n");
      assertEquals("VALUE late 0 2\r\nok\r\nEND\r\n", c.readUntilEnd());
    }
  }
}
