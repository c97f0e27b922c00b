package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.McmuxProcess;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ten thousand idle clients on the shaded jar, run as the container image runs it: mcmux holds them
 * all on its single pooled TLS connection, each one is answered with its own value when it finally
 * speaks, a fresh client is served beside them, and every one is forgotten when they leave.
 *
 * <p>mcmux runs in a process of its own ({@link McmuxProcess}), so this JVM holds the 10,000 client
 * sockets and mcmux its own 10,000 under separate open-files limits, and mcmux's resident memory is
 * its own. The figures are printed, not asserted tightly: speed and size are issue #7's benchmark.
 */
class IdleClientsIT {
  private static final int CLIENTS = 10_000;
  private static final Duration STEP_TIMEOUT = Duration.ofSeconds(20);

  /**
   * The Helm chart's default container memory limit; the image's {@code MaxRAMPercentage} sizes the
   * heap from it, as it would inside that container.
   */
  private static final String CONTAINER_MEMORY = "320m";

  /** A sanity bound, not a benchmark: mcmux must stay inside the chart's default memory limit. */
  private static final long RSS_BOUND = 320L * 1024 * 1024;

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
  void tenThousandIdleClientsAreHeldAnsweredAndReleased() throws IOException {
    long started = System.nanoTime();
    McmuxProcess running = null;
    try (McmuxProcess mcmux =
        McmuxProcess.inFrontOf(memcached.port(), pki.caFile(), dir)
            .set("mcmux.limits.max-client-connections", String.valueOf(CLIENTS + 100))
            // The image's own setting (deploy/docker/mcmux.conf), below its 64 MiB direct memory.
            .set("mcmux.limits.global-buffer-budget", "32MiB")
            .set("mcmux.listen-backlog", "4096")
            .jvmOption("-XX:MaxRAM=" + CONTAINER_MEMORY)
            .start()) {
      running = mcmux;
      String upstream = "mcmux_upstream_connections{node=\"localhost:" + memcached.port() + "\"";
      String upSeries = upstream + ",state=\"up\"}";
      assertEquals(1.0, mcmux.metric(upSeries), "one pooled TLS connection before the clients");
      double handshakesBefore = mcmux.metric("mcmux_tls_handshakes_total");
      String status = mcmux.admin("/status");
      System.out.println(
          "IdleClientsIT: mcmux "
              + status
                  .lines()
                  .filter(l -> l.contains("\"transport\"") || l.contains("tls_engine"))
                  .map(String::strip)
                  .toList());
      try (TextClient warm = mcmux.client()) {
        assertEquals("STORED", warm.send("set idle:warm 0 0 4\r\nwarm\r\n").readLine());
      }
      Await.until(
          "the warm-up client to be gone",
          STEP_TIMEOUT,
          () -> mcmux.metric("mcmux_client_connections") == 0);
      long rssBefore = mcmux.residentBytes();
      Map<String, String> memcachedBefore = memcached.stats();

      List<Socket> clients = new ArrayList<>(CLIENTS);
      try {
        InetSocketAddress address =
            new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port());
        long connecting = System.nanoTime();
        for (int i = 0; i < CLIENTS; i++) {
          Socket s = new Socket();
          clients.add(s);
          s.setTcpNoDelay(true);
          s.connect(address, 5_000);
        }
        Await.until(
            "mcmux to count all " + CLIENTS + " idle clients in /metrics",
            STEP_TIMEOUT,
            () -> mcmux.metric("mcmux_client_connections") == CLIENTS);
        long connectMillis = (System.nanoTime() - connecting) / 1_000_000;
        long rssHolding = mcmux.residentBytes();

        // A fresh client beside them is served, and mcmux's own stats count them all.
        try (TextClient fresh = mcmux.client()) {
          assertEquals("STORED", fresh.send("set idle:fresh 0 0 5\r\nhello\r\n").readLine());
          assertEquals(
              "VALUE idle:fresh 0 5\r\nhello\r\nEND\r\n",
              fresh.send("get idle:fresh\r\n").readUntilEnd());
          String stats = fresh.send("stats mcmux\r\n").readUntilEnd();
          assertTrue(
              stats.contains("STAT client_connections " + (CLIENTS + 1) + "\r\n"),
              "stats mcmux with " + CLIENTS + " idle clients and the fresh one: " + stats);
        }

        // Every idle client now speaks once, all at the same time: a set and a get of its own key.
        // Each must read back its own value; anything else would be a misrouted answer.
        long asking = System.nanoTime();
        for (int i = 0; i < CLIENTS; i++) {
          String key = "idle:" + i;
          String value = valueOf(i);
          clients
              .get(i)
              .getOutputStream()
              .write(
                  ("set "
                          + key
                          + " "
                          + i
                          + " 0 "
                          + value.length()
                          + "\r\n"
                          + value
                          + "\r\n"
                          + "get "
                          + key
                          + "\r\n")
                      .getBytes(StandardCharsets.US_ASCII));
        }
        for (int i = 0; i < CLIENTS; i++) {
          TextClient c = TextClient.over(clients.get(i)).withTimeout(STEP_TIMEOUT);
          String key = "idle:" + i;
          String value = valueOf(i);
          assertEquals("STORED", c.readLine(), "idle client " + i);
          assertEquals(
              "VALUE " + key + " " + i + " " + value.length() + "\r\n" + value + "\r\nEND\r\n",
              c.readUntilEnd(),
              "idle client " + i);
        }
        long answerMillis = (System.nanoTime() - asking) / 1_000_000;

        // All of that went over the one pooled connection: memcached saw no new connection but
        // this test's own stats connection, and mcmux made no new handshake.
        Map<String, String> memcachedAfter = memcached.stats();
        assertEquals(
            Long.parseLong(memcachedBefore.get("total_connections")) + 1,
            Long.parseLong(memcachedAfter.get("total_connections")),
            "connections memcached accepted while mcmux held " + CLIENTS + " clients");
        assertEquals(
            memcachedBefore.get("curr_connections"),
            memcachedAfter.get("curr_connections"),
            "connections open at memcached");
        assertEquals(1.0, mcmux.metric(upSeries), "pooled TLS connections with the clients");
        assertEquals(handshakesBefore, mcmux.metric("mcmux_tls_handshakes_total"), "handshakes");

        System.out.printf(
            "IdleClientsIT: %d clients connected in %d ms, each answered its own set+get within"
                + " %d ms%n",
            CLIENTS, connectMillis, answerMillis);
        System.out.printf(
            "IdleClientsIT: mcmux VmRSS %.1f MiB before, %.1f MiB holding %d idle clients"
                + " (%+.1f MiB, %.1f KiB per client); JAVA_TOOL_OPTIONS from the Dockerfile,"
                + " -XX:MaxRAM=%s%n",
            rssBefore / 1048576.0,
            rssHolding / 1048576.0,
            CLIENTS,
            (rssHolding - rssBefore) / 1048576.0,
            (rssHolding - rssBefore) / 1024.0 / CLIENTS,
            CONTAINER_MEMORY);
        assertTrue(
            rssHolding < RSS_BOUND,
            "mcmux holding "
                + CLIENTS
                + " idle clients is resident at "
                + rssHolding / 1048576
                + " MiB, above the chart's default limit");
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
      Await.until(
          "mcmux to forget all " + CLIENTS + " clients",
          STEP_TIMEOUT,
          () -> mcmux.metric("mcmux_client_connections") == 0);
      assertEquals(
          (double) CLIENTS + 2,
          mcmux.metric("mcmux_client_connections_closed_total"),
          "every client closed, counted once");

      // Make any buffer lost without a release collectable, then allocate so Netty reports it.
      mcmux.collectGarbage();
      try (TextClient after = mcmux.client()) {
        for (int i = 0; i < 10; i++) {
          assertEquals(
              "VALUE idle:"
                  + i
                  + " "
                  + i
                  + " "
                  + valueOf(i).length()
                  + "\r\n"
                  + valueOf(i)
                  + "\r\nEND\r\n",
              after.send("get idle:" + i + "\r\n").readUntilEnd());
        }
      }
      assertEquals(0, mcmux.stop(), "exit code after SIGTERM\n" + mcmux.logText());
      assertEquals(List.of(), mcmux.leakReports(), "Netty leak reports in mcmux's log");
    } catch (AssertionError e) {
      if (running != null) {
        e.addSuppressed(new AssertionError("mcmux's log:\n" + running.logText()));
      }
      throw e;
    }
    System.out.printf(
        "IdleClientsIT: whole test %d ms%n", (System.nanoTime() - started) / 1_000_000);
  }

  private static String valueOf(int client) {
    return "client-" + client + "-" + "v".repeat(client % 50);
  }
}
