package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.TlsNodes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many clients pipeline quiet meta commands with their own opaques and {@code mn} barriers through
 * one mcmux to three TLS nodes, all at once over the same shared upstream connections: each client
 * must get exactly its own answers (its opaques, its values), in its order, and nothing that quiet
 * mode hides.
 */
@ExtendWith(LeakDetection.class)
class MetaPipelineIT {
  @TempDir static Path dir;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;
  static KeyPlacement placement;

  private static final int CLIENTS = 12;
  private static final int ROUNDS = 15;
  private static final int KEYS = 20;

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    TlsNodes three = TlsNodes.start(pki, 3);
    nodes.addAll(three.processes());
    String endpoints = three.endpoints();
    placement = three.placement();
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", endpoints)
            .set("mcmux.upstream.placement", "libmemcached")
            .start();
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  @Test
  void everyClientGetsItsOwnAnswersInItsOrder() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<int[]>> results = new ArrayList<>();
      for (int id = 0; id < CLIENTS; id++) {
        int client = id;
        results.add(pool.submit(() -> runClient(client)));
      }
      int[] perNode = new int[3];
      for (Future<int[]> f : results) {
        int[] n = f.get(2, TimeUnit.MINUTES);
        for (int i = 0; i < 3; i++) {
          perNode[i] += n[i];
        }
      }
      for (int n : perNode) {
        assertTrue(n > CLIENTS * KEYS / 10, "keys reached every node: " + List.of(perNode));
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Runs one client's rounds; returns how many of its keys each node holds. */
  private static int[] runClient(int id) {
    int[] perNode = new int[3];
    try (TextClient c = mcmux.client()) {
      for (int round = 0; round < ROUNDS; round++) {
        StringBuilder request = new StringBuilder();
        StringBuilder expected = new StringBuilder();
        for (int j = 0; j < KEYS; j++) {
          String key = "m" + id + "-" + j;
          String value = "v-" + id + "-" + round + "-" + j;
          String tag = id + "x" + round + "x" + j;
          if (round == 0) {
            perNode[placement.nodeFor(key.getBytes(StandardCharsets.US_ASCII))]++;
          }
          // Quiet set: HD is hidden.
          request.append("ms ").append(key).append(' ').append(value.length());
          request.append(" q T0 Os").append(tag).append("\r\n").append(value).append("\r\n");
          // Get with the key and an opaque: answered.
          request.append("mg ").append(key).append(" v k Og").append(tag).append("\r\n");
          expected.append("VA ").append(value.length()).append(" k").append(key);
          expected.append(" Og").append(tag).append("\r\n").append(value).append("\r\n");
          // Quiet miss: EN is hidden.
          request.append("mg ").append(key).append("-absent q v Om").append(tag).append("\r\n");
          // Quiet delete of a missing key: NF is still sent.
          request.append("md ").append(key).append("-absent q On").append(tag).append("\r\n");
          expected.append("NF On").append(tag).append("\r\n");
          // Quiet increment of a non-number: the error is sent.
          if (j % 5 == 0) {
            request.append("ma ").append(key).append(" q Oa").append(tag).append("\r\n");
            expected.append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
          }
          if (j % 7 == 0) {
            request.append("mn\r\n");
            expected.append("MN\r\n");
          }
        }
        request.append("mn\r\n");
        expected.append("MN\r\n");
        c.send(request.toString());
        byte[] got = c.readExactly(expected.length());
        assertEquals(
            expected.toString(),
            new String(got, StandardCharsets.US_ASCII),
            "client " + id + " round " + round);
      }
      // Nothing else may be waiting: one more barrier must be the very next answer.
      c.send("mn\r\n");
      assertEquals("MN", c.readLine());
    }
    return perNode;
  }
}
