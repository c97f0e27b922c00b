package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.config.SettingsLoader;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two clusters in one process, each behind its own listener with its own CA and key placement:
 * every key lands on a node of its own cluster, where that cluster's placement puts it.
 */
@ExtendWith(LeakDetection.class)
class MultiClusterIT {
  @TempDir Path dir;
  TestPki pkiA;
  TestPki pkiB;
  final List<MemcachedProcess> clusterA = new ArrayList<>();
  final List<MemcachedProcess> clusterB = new ArrayList<>();
  McmuxServer mcmux;

  @BeforeEach
  void start() throws Exception {
    pkiA = TestPki.create(Files.createDirectories(dir.resolve("a")));
    pkiB = TestPki.create(Files.createDirectories(dir.resolve("b")));
    for (int i = 0; i < 2; i++) {
      clusterA.add(MemcachedProcess.tls(pkiA.server(TestPki.Kind.LOCALHOST)).start());
      clusterB.add(MemcachedProcess.tls(pkiB.server(TestPki.Kind.LOCALHOST)).start());
    }
  }

  @AfterEach
  void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    clusterA.forEach(MemcachedProcess::close);
    clusterB.forEach(MemcachedProcess::close);
  }

  private static String endpoints(List<MemcachedProcess> nodes) {
    List<String> out = new ArrayList<>();
    for (MemcachedProcess m : nodes) {
      out.add("\"localhost:" + m.port() + "\"");
    }
    return "[" + String.join(", ", out) + "]";
  }

  private Settings settings(int portA, int portB) throws Exception {
    Path file = dir.resolve("mcmux.conf");
    Files.writeString(
        file,
        "mcmux {\n"
            + "  listen = \"127.0.0.1:"
            + portA
            + "\"\n"
            + "  admin.listen = \"\"\n"
            + "  upstream { endpoints = "
            + endpoints(clusterA)
            + ", placement = libmemcached, reconnect-backoff-max = 500ms }\n"
            + "  tls.ca-file = \""
            + pkiA.caFile()
            + "\"\n"
            + "  clusters.sessions {\n"
            + "    listen = \"127.0.0.1:"
            + portB
            + "\"\n"
            + "    upstream { endpoints = "
            + endpoints(clusterB)
            + ", placement = spymemcached, deny-commands = [flush_all] }\n"
            + "    tls.ca-file = \""
            + pkiB.caFile()
            + "\"\n"
            + "  }\n"
            + "}\n");
    return SettingsLoader.load(Optional.of(file), Map.of(), Map.of());
  }

  private static boolean holds(MemcachedProcess node, String key) {
    try (TextClient direct = node.connect()) {
      direct.send("get " + key + "\r\n");
      return direct.readUntilEnd().startsWith("VALUE ");
    }
  }

  private static void checkPlacement(
      int port, List<MemcachedProcess> own, List<MemcachedProcess> other, KeyPlacement placement) {
    try (TextClient c = TextClient.connect(port)) {
      for (int i = 0; i < 20; i++) {
        String key = "mc-" + port + "-" + i;
        c.send("set " + key + " 0 0 1\r\nx\r\n");
        assertEquals("STORED", c.readLine(), key);
        int expected = placement.nodeFor(key.getBytes(StandardCharsets.UTF_8));
        for (int n = 0; n < own.size(); n++) {
          assertEquals(n == expected, holds(own.get(n), key), key + " on node " + n);
          assertTrue(!holds(other.get(n), key), key + " leaked to the other cluster");
        }
      }
    }
  }

  @Test
  void eachListenerServesItsOwnClusterWithItsOwnCaAndPlacement() throws Exception {
    int portA = Ports.freeLoopbackPort();
    int portB = Ports.freeLoopbackPort();
    mcmux = McmuxServer.start(settings(portA, portB));
    List<PlacementNode> a = new ArrayList<>();
    List<PlacementNode> b = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      a.add(new PlacementNode("localhost", clusterA.get(i).port()));
      b.add(new PlacementNode("localhost", clusterB.get(i).port(), "127.0.0.1"));
    }
    checkPlacement(portA, clusterA, clusterB, KeyPlacement.create("libmemcached", a));
    checkPlacement(portB, clusterB, clusterA, KeyPlacement.create("spymemcached", b));
    try (TextClient c = TextClient.connect(portB)) {
      c.send("flush_all\r\n");
      assertEquals("CLIENT_ERROR flush_all is denied by mcmux configuration", c.readLine());
    }
    try (TextClient c = TextClient.connect(portA)) {
      c.send("flush_all\r\n");
      assertEquals("OK", c.readLine());
    }
    assertTrue(mcmux.ready());
    assertEquals(2, mcmux.cluster("sessions").view().size());
    String status = mcmux.statusJson();
    assertTrue(status.contains("\"name\": \"sessions\""), status);
    assertTrue(status.contains("\"placement\": \"spymemcached\""), status);
    String metrics = mcmux.scrapeMetrics();
    assertTrue(
        metrics.contains(
            "mcmux_node_up{cluster=\"sessions\",node=\"localhost:"
                + clusterB.get(0).port()
                + "\"}"),
        metrics);
    assertTrue(
        metrics.contains(
            "mcmux_denied_requests_total{cluster=\"sessions\",command=\"flush_all\"} 1.0"),
        metrics);
  }

  @Test
  void aNamedClustersBadTlsFileStopsStartNamingItsSetting() throws Exception {
    Settings ok = settings(Ports.freeLoopbackPort(), Ports.freeLoopbackPort());
    Files.writeString(pkiB.caFile(), "not a certificate\n");
    InvalidSettingException e =
        assertThrows(InvalidSettingException.class, () -> McmuxServer.start(ok));
    assertTrue(e.getMessage().startsWith("mcmux.clusters.sessions.tls.ca-file: "), e.getMessage());
  }
}
