package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.nio.file.Path;
import java.time.Duration;
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
 * The point of mcmux: clients that connect for every request cost memcached no TLS handshake. Its
 * own {@code total_connections} counter must grow by the pool's connections only.
 */
@ExtendWith(LeakDetection.class)
class HandshakeEconomyIT {
  private static final int CLIENT_CONNECTIONS = 500;
  private static final int CLIENT_THREADS = 5;

  @TempDir static Path dir;
  static TestPki pki;
  static MemcachedProcess memcached;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
  }

  @AfterAll
  static void stop() {
    if (memcached != null) {
      memcached.close();
    }
  }

  @Test
  void fiveHundredShortLivedClientsCostOnePooledConnection() throws Exception {
    assertUpstreamConnectionsFor(mcmux(), 1);
  }

  @Test
  void twoLoopsWithTwoConnectionsEachOpenExactlyFour() throws Exception {
    assertUpstreamConnectionsFor(
        mcmux().set("mcmux.event-loops", "2").set("mcmux.upstream.connections-per-loop", "2"), 4);
  }

  /**
   * mcmux with a request timeout no busy machine reaches: a timed-out request would replace a
   * pooled connection and count as one more handshake.
   */
  private static McmuxHarness.Builder mcmux() {
    return McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
        .set("mcmux.upstream.request-timeout", "10s");
  }

  private static void assertUpstreamConnectionsFor(McmuxHarness.Builder builder, int poolSize)
      throws Exception {
    // This stats connection is counted in "before"; the one reading "after" adds exactly one.
    long before = totalConnections();
    try (McmuxHarness mcmux = builder.start()) {
      Await.until(
          poolSize + " pooled upstream connections",
          Duration.ofSeconds(15),
          () -> mcmux.server().node().liveConnections() == poolSize);
      runShortLivedClients(mcmux);
      Await.until(
          "every client connection to be closed",
          Duration.ofSeconds(10),
          () -> mcmux.server().clientCount() == 0);
      long after = totalConnections();
      assertEquals(
          poolSize + 1,
          after - before,
          "memcached's total_connections grew by "
              + (after - before)
              + " for a pool of "
              + poolSize
              + " (plus 1 stats connection) after "
              + CLIENT_CONNECTIONS
              + " client connections");
      assertEquals(
          poolSize,
          mcmux.server().node().liveConnections(),
          "a pooled connection was lost and replaced: " + mcmux.server().node().lastError());
    }
  }

  private static void runShortLivedClients(McmuxHarness mcmux) throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(CLIENT_THREADS);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < CLIENT_THREADS; t++) {
        int first = t * (CLIENT_CONNECTIONS / CLIENT_THREADS);
        done.add(
            threads.submit(
                () -> {
                  for (int i = first; i < first + CLIENT_CONNECTIONS / CLIENT_THREADS; i++) {
                    oneShortLivedClient(mcmux, i);
                  }
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get(60, TimeUnit.SECONDS);
      }
    } finally {
      threads.shutdownNow();
    }
  }

  /** What a PHP request does: connect, write, read back, disconnect. */
  private static void oneShortLivedClient(McmuxHarness mcmux, int i) {
    String key = "economy:" + i;
    String value = "value-" + i + "-" + Integer.toHexString(key.hashCode());
    try (TextClient c = mcmux.client()) {
      c.send("set " + key + " 0 0 " + value.length() + "\r\n" + value + "\r\nget " + key + "\r\n");
      assertEquals("STORED", c.readLine(), "set " + key);
      assertEquals(
          "VALUE " + key + " 0 " + value.length() + "\r\n" + value + "\r\nEND\r\n",
          c.readUntilEnd(),
          "get " + key);
    }
  }

  private static long totalConnections() {
    return Long.parseLong(memcached.stats().get("total_connections"));
  }
}
