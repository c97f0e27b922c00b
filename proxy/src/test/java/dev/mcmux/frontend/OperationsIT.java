package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.admin.AdminServer;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Metrics, health, certificate rotation and graceful shutdown, against a real memcached. */
@ExtendWith(LeakDetection.class)
class OperationsIT {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  TestPki pki;
  MemcachedProcess memcached;
  McmuxHarness mcmux;
  AdminServer admin;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void start() {
    pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
  }

  @AfterEach
  void stop() {
    if (admin != null) {
      admin.close();
    }
    if (mcmux != null) {
      mcmux.close();
    }
    memcached.close();
  }

  private void startMcmux(McmuxHarness.Builder builder) throws InterruptedException {
    mcmux = builder.start();
    McmuxServer s = mcmux.server();
    admin =
        AdminServer.start(
            "127.0.0.1",
            0,
            new AdminServer.Endpoints(s::scrapeMetrics, s::healthy, s::ready, s::statusJson));
  }

  private HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private double metric(String nameAndLabels) throws IOException, InterruptedException {
    String body = get("/metrics").body();
    Matcher m =
        Pattern.compile("(?m)^" + Pattern.quote(nameAndLabels) + " ([0-9.eE+-]+)$").matcher(body);
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  @Test
  void metricsMoveAsTrafficFlows() throws Exception {
    startMcmux(McmuxHarness.inFrontOf(memcached.port(), pki.caFile()));
    String sets = "mcmux_requests_total{command=\"set\",result=\"ok\"}";
    String errors = "mcmux_requests_total{command=\"other\",result=\"error\"}";
    double setsBefore = metric(sets);
    double opened = metric("mcmux_client_connections_opened_total");
    try (TextClient c = mcmux.client()) {
      for (int i = 0; i < 10; i++) {
        c.send("set m" + i + " 0 0 1\r\nx\r\n");
        assertEquals("STORED", c.readLine());
      }
      c.send("bogus\r\n");
      assertEquals("ERROR", c.readLine());
      Await.until("the client is counted", WAIT, () -> metric("mcmux_client_connections") == 1.0);
    }
    assertEquals(setsBefore + 10, metric(sets));
    assertEquals(1.0, metric(errors));
    assertEquals(opened + 1, metric("mcmux_client_connections_opened_total"));
    assertTrue(metric("mcmux_bytes_total{direction=\"upstream_out\"}") > 100);
    assertTrue(metric("mcmux_request_duration_seconds_count") >= 11);
    String body = get("/metrics").body();
    assertTrue(body.contains("mcmux_request_duration_seconds_bucket{le="), "histogram buckets");
    assertTrue(
        body.contains("mcmux_tls_handshakes_total{kind=\"full\",node=\"localhost:"), "handshakes");
    assertEquals(1.0, metric("mcmux_node_up{node=\"localhost:" + memcached.port() + "\"}"));
    assertTrue(metric("mcmux_certificate_expiry_seconds{file=\"ca\"}") > 3600);
    // No cache key reaches a label.
    assertTrue(!body.contains("m0") && !body.contains("m9"), "keys never appear in metrics");
  }

  @Test
  void healthReadinessAndStatusFollowTheUpstream() throws Exception {
    startMcmux(
        McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
            .set("mcmux.upstream.request-timeout", "500ms"));
    assertEquals(200, get("/healthz").statusCode());
    assertEquals(200, get("/readyz").statusCode());
    String status = get("/status").body().replaceAll("\\s+", "");
    assertTrue(status.contains("\"state\":\"up\""), status);
    assertTrue(status.contains("\"tls_engine\":\"OpenSSL(BoringSSL)\""), status);
    memcached.kill();
    Await.until("not ready while the node is down", WAIT, () -> get("/readyz").statusCode() == 503);
    assertEquals(200, get("/healthz").statusCode(), "alive even when the node is down");
    Await.until(
        "marked down after the failure threshold",
        WAIT,
        () -> get("/status").body().replaceAll("\\s+", "").contains("\"state\":\"down\""));
    memcached.restart();
    Await.until("ready again", WAIT, () -> get("/readyz").statusCode() == 200);
    assertEquals(404, get("/nothing").statusCode());
  }

  @Test
  void rotatesCaAndCertificateUnderLoadWithoutAClientError() throws Exception {
    Path ca = dir.resolve("mcmux-ca.pem");
    Files.copy(pki.caFile(), ca);
    startMcmux(
        McmuxHarness.inFrontOf(memcached.port(), ca)
            .set("mcmux.upstream.max-connection-age", "1s")
            .set("mcmux.tls.reload-interval", "100ms"));
    Load load = new Load(mcmux.port(), 4);
    try {
      load.awaitProgress();
      TestPki.Rotation rotation = pki.rotate();
      // Step 1: trust both CAs (a rotation bundle), then the server switches to the new one.
      Files.writeString(ca, Files.readString(pki.caFile()) + Files.readString(rotation.caFile()));
      Await.until("bundle reloaded", WAIT, () -> metric(reloads()) >= 1);
      memcached.refreshCertificate(rotation.server());
      double handshakes = handshakes();
      Await.until("connections recycled", WAIT, () -> handshakes() >= handshakes + 2);
      // Step 2: only the new CA is trusted; recycled connections must verify the new certificate.
      Files.copy(rotation.caFile(), ca, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      Await.until("new CA reloaded", WAIT, () -> metric(reloads()) >= 2);
      double after = handshakes();
      Await.until("recycled with the new CA", WAIT, () -> handshakes() >= after + 2);
      load.awaitProgress();
      assertEquals(0.0, metric(failedHandshakes()), "no handshake failed during the rotation");
    } finally {
      load.stop();
    }
    assertEquals(List.of(), load.problems(), "client errors during rotation");
    // A bad file keeps the old material and says so.
    Files.writeString(ca, "not a certificate");
    Await.until(
        "bad file refused", WAIT, () -> metric("mcmux_reloads_total{result=\"failure\"}") >= 1);
    try (TextClient c = mcmux.client()) {
      c.send("version\r\n");
      assertTrue(c.readLine().startsWith("VERSION "));
    }
  }

  private String reloads() {
    return "mcmux_reloads_total{result=\"success\"}";
  }

  private String failedHandshakes() {
    return "mcmux_tls_handshakes_total{kind=\"full\",node=\"localhost:"
        + memcached.port()
        + "\",result=\"failure\"}";
  }

  private double handshakes() throws IOException, InterruptedException {
    return metric(
            "mcmux_tls_handshakes_total{kind=\"full\",node=\"localhost:"
                + memcached.port()
                + "\",result=\"success\"}")
        + metric(
            "mcmux_tls_handshakes_total{kind=\"resumed\",node=\"localhost:"
                + memcached.port()
                + "\",result=\"success\"}");
  }

  @Test
  void gracefulShutdownLosesNoAcknowledgedWrite() throws Exception {
    startMcmux(McmuxHarness.inFrontOf(memcached.port(), pki.caFile()));
    Load load = new Load(mcmux.port(), 8);
    load.awaitProgress();
    mcmux.server().shutdownGracefully(Duration.ofMillis(200), Duration.ofSeconds(5));
    load.stop();
    assertTrue(load.acknowledged.size() > 50, "load ran: " + load.acknowledged.size());
    try (TextClient direct = memcached.connect()) {
      for (String key : load.acknowledged) {
        direct.send("get " + key + "\r\n");
        String reply = direct.readUntilEnd();
        assertTrue(reply.startsWith("VALUE " + key + " 0 "), key + " lost: " + reply);
        assertTrue(reply.contains("\r\n" + valueOf(key) + "\r\n"), key + " wrong: " + reply);
      }
    }
    assertEquals(List.of(), load.mismatches(), "no wrong value was ever read");
  }

  static String valueOf(String key) {
    return "v-" + key;
  }

  /**
   * Clients writing unique keys and reading them back; records every acknowledged write, every
   * wrong value, and (separately) every error reply.
   */
  static final class Load {
    final Set<String> acknowledged = ConcurrentHashMap.newKeySet();
    final List<String> problems = new java.util.concurrent.CopyOnWriteArrayList<>();
    final List<String> mismatches = new java.util.concurrent.CopyOnWriteArrayList<>();
    final AtomicBoolean running = new AtomicBoolean(true);
    final AtomicLong ops = new AtomicLong();
    final List<Thread> threads = new java.util.ArrayList<>();
    static final AtomicInteger RUN = new AtomicInteger();

    Load(int port, int clients) {
      int run = RUN.incrementAndGet();
      for (int t = 0; t < clients; t++) {
        int id = t;
        Thread th = new Thread(() -> loop(port, run, id), "load-" + t);
        th.setDaemon(true);
        threads.add(th);
        th.start();
      }
    }

    private void loop(int port, int run, int id) {
      int i = 0;
      try (TextClient c = TextClient.connect(port)) {
        while (running.get()) {
          String key = "r" + run + "c" + id + "k" + i++;
          String value = valueOf(key);
          c.send(
              "set " + key + " 0 0 " + value.length() + "\r\n" + value + "\r\nget " + key + "\r\n");
          String stored = c.readLine();
          if (!stored.equals("STORED")) {
            problems.add(key + ": " + stored);
            continue;
          }
          acknowledged.add(key);
          String got = c.readUntilEnd();
          if (!got.equals(
              "VALUE " + key + " 0 " + value.length() + "\r\n" + value + "\r\nEND\r\n")) {
            mismatches.add(key + ": " + got);
          }
          ops.incrementAndGet();
        }
      } catch (AssertionError | RuntimeException e) {
        // The connection ended (shutdown) or a read failed: only a problem while still running.
        if (running.get()) {
          problems.add("client " + id + ": " + e.getMessage());
        }
      }
    }

    void awaitProgress() {
      long start = ops.get();
      Await.until("load makes progress", WAIT, () -> ops.get() >= start + 100);
    }

    void stop() throws InterruptedException {
      running.set(false);
      for (Thread t : threads) {
        t.join(10_000);
      }
    }

    List<String> problems() {
      return List.copyOf(problems);
    }

    List<String> mismatches() {
      return List.copyOf(mismatches);
    }
  }
}
