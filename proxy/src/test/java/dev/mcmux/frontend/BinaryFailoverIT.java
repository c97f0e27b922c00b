package dev.mcmux.frontend;

import static dev.mcmux.testing.BinaryPackets.bare;
import static dev.mcmux.testing.BinaryPackets.concat;
import static dev.mcmux.testing.BinaryPackets.keyed;
import static dev.mcmux.testing.BinaryPackets.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.BinaryPackets;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.TlsNodes;
import java.net.InetSocketAddress;
import java.net.Socket;
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

/** Binary requests follow failover like ASCII and meta ones: next node, writes' expiry capped. */
@ExtendWith(LeakDetection.class)
class BinaryFailoverIT {
  @TempDir Path dir;
  final List<MemcachedProcess> nodes = new ArrayList<>();
  KeyPlacement placement;
  McmuxHarness mcmux;

  @BeforeEach
  void start() {
    TestPki pki = TestPki.create(dir);
    TlsNodes three = TlsNodes.start(pki, 3);
    nodes.addAll(three.processes());
    String endpoints = three.endpoints();
    placement = three.placement();
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
            .set("mcmux.upstream.failure-threshold", "1")
            .set("mcmux.upstream.failover", "true")
            .set("mcmux.upstream.failover-ttl-cap", "90s")
            .start();
  }

  @AfterEach
  void stop() {
    mcmux.close();
    nodes.forEach(MemcachedProcess::close);
  }

  @Test
  void aDownNodesKeysGoToTheNextNodeWithCappedExpiry() throws Exception {
    String key = null;
    for (int i = 0; key == null; i++) {
      if (placement.nodeFor(("bfo-" + i).getBytes(StandardCharsets.UTF_8)) == 1) {
        key = "bfo-" + i;
      }
    }
    String k = key;
    int next = placement.nodeFor(k.getBytes(StandardCharsets.UTF_8), n -> n == 1);
    nodes.get(1).kill();
    Await.until(
        "node 1 down", Duration.ofSeconds(10), () -> mcmux.server().view().nodes().get(1).isDown());
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", mcmux.port()), 5000);
      s.setSoTimeout(20_000);
      List<BinaryPackets.Packet> answer =
          BinaryMultiGetIT.exchange(
              s, concat(store(0x01, k, 7, 0, "v0", 1, 0), keyed(0x00, k, 2), bare(0x0a, 3)), 3);
      assertEquals(0, answer.get(0).status(), answer.get(0).describe());
      assertEquals(
          "op=00 status=00 opaque=2 extras=\\x00\\x00\\x00\\x07 key= value=v0",
          answer.get(1).describe().replaceAll(" cas=\\d+", ""));
    }
    try (TextClient direct = nodes.get(next).connect()) {
      direct.send("mg " + k + " t v\r\n");
      String header = direct.readLine();
      assertTrue(header.startsWith("VA "), header);
      direct.readLine();
      long ttl = Long.parseLong(header.substring(header.indexOf(" t") + 2).split(" ")[0]);
      assertTrue(ttl > 0 && ttl <= 90, "a write without expiry is capped at 90 s: " + ttl);
    }
  }
}
