package dev.mcmux.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that vanish in the middle of things, on real sockets, each way a TCP connection can end:
 * a FIN ({@code close()}) and a reset ({@code SO_LINGER 0}). Meanwhile other clients run checked
 * traffic over the same two pooled upstream connections. Every other client's answers stay its own
 * and correct, no upstream connection is closed or replaced, a half-sent value is never stored, and
 * no buffer leaks (DESIGN.md invariants 4 and 5).
 */
@ExtendWith(LeakDetection.class)
class ClientDisconnectIT {
  private static final int WORKERS = 4;
  private static final int ROUNDS = 20;
  private static final int BIG = 256 * 1024;
  private static final int BIG_KEYS = 8;
  private static final String[] BIG_VALUES = bigValues();
  private static final Duration STEP = Duration.ofSeconds(15);

  /**
   * Long, so that a slow shared build machine cannot make a request timeout replace a connection:
   * this suite asserts that departures alone never do.
   */
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

  @TempDir static Path dir;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;

  private final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
  private final List<String> partialKeys = new ArrayList<>();

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    List<String> endpoints = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      nodes.add(m);
      endpoints.add("localhost:" + m.port());
    }
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .set("mcmux.upstream.request-timeout", REQUEST_TIMEOUT.toMillis() + "ms")
            .start();
    try (TextClient c = mcmux.client()) {
      for (int k = 0; k < BIG_KEYS; k++) {
        c.send("set " + bigKey(k) + " 0 0 " + BIG + "\r\n" + big(k) + "\r\n");
        assertEquals("STORED", c.readLine(), bigKey(k));
      }
    }
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  @Test
  void clientsLeavingAfterHalfARequestLine() throws Exception {
    underCheckedLoad(
        (round, reset) -> {
          String key = "fault:half-line:" + round + (reset ? ":rst" : ":fin");
          partialKeys.add(key);
          String[] halves = {"get " + key, "set " + key + " 0 0 5", "gets fault:a " + key, "se"};
          try (Socket s = connect()) {
            send(s, halves[round % halves.length]);
            leave(s, reset);
          }
        });
  }

  @Test
  void clientsLeavingInTheMiddleOfASetDataBlock() throws Exception {
    underCheckedLoad(
        (round, reset) -> {
          String key = "fault:half-value:" + round + (reset ? ":rst" : ":fin");
          partialKeys.add(key);
          // Small and large values: inside one read, and spread over many.
          int length = round % 2 == 0 ? 10 : 200_000;
          try (Socket s = connect()) {
            send(s, "set " + key + " 0 0 " + length + "\r\n" + "x".repeat(length / 2));
            leave(s, reset);
          }
        });
  }

  @Test
  void clientsLeavingAfterAskingForALargeValueBeforeReadingIt() throws Exception {
    underCheckedLoad(
        (round, reset) -> {
          try (Socket s = connect()) {
            s.setReceiveBufferSize(8 * 1024);
            send(s, "get " + bigKey(round % BIG_KEYS) + "\r\n");
            leave(s, reset);
          }
        });
  }

  @Test
  void clientsLeavingWhileALargeMultiGetIsWrittenToThem() throws Exception {
    StringBuilder line = new StringBuilder("get");
    ByteArrayBuilder expected = new ByteArrayBuilder();
    for (int k = 0; k < BIG_KEYS; k++) {
      line.append(' ').append(bigKey(k));
      expected.add("VALUE " + bigKey(k) + " 0 " + BIG + "\r\n" + big(k) + "\r\n");
    }
    line.append("\r\n");
    byte[] answer = expected.add("END\r\n").bytes();
    underCheckedLoad(
        (round, reset) -> {
          try (Socket s = new Socket()) {
            // A small window, so most of the 2 MiB answer is still mcmux's to write when we leave.
            s.setReceiveBufferSize(8 * 1024);
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port()));
            s.setSoTimeout((int) STEP.toMillis());
            send(s, line.toString());
            byte[] got = readAtLeast(s.getInputStream(), 64 * 1024);
            if (!Arrays.equals(got, Arrays.copyOf(answer, got.length))) {
              problems.add("the leaving client's own multi-get answer started wrong");
            }
            if (!reset) {
              // A FIN first; the close that follows resets anyway, as unread data is pending.
              s.shutdownOutput();
            }
            leave(s, reset);
          }
        });
  }

  /** One departure, for round {@code round}, ending with a FIN or with a reset. */
  @FunctionalInterface
  private interface Departure {
    void run(int round, boolean reset) throws IOException;
  }

  /**
   * Runs {@link #WORKERS} checking clients, makes {@link #ROUNDS} departures of each kind (FIN and
   * reset) while they run, then asserts that nobody noticed.
   */
  private void underCheckedLoad(Departure departure) throws Exception {
    Map<String, Long> connectionsBefore = totalConnections();
    double handshakesBefore = handshakes();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong ops = new AtomicLong();
    ExecutorService threads = Executors.newFixedThreadPool(WORKERS);
    List<Future<?>> running = new ArrayList<>();
    long departures = 0;
    try {
      CountDownLatch connected = new CountDownLatch(WORKERS);
      for (int w = 0; w < WORKERS; w++) {
        int id = w;
        running.add(threads.submit(() -> work(id, connected, stop, ops)));
      }
      assertTrue(connected.await(STEP.toSeconds(), TimeUnit.SECONDS), "workers connected");
      Await.until("workers under way", STEP, () -> ops.get() >= 2L * WORKERS);
      for (int round = 0; round < ROUNDS; round++) {
        for (boolean reset : new boolean[] {false, true}) {
          long opsBefore = ops.get();
          departure.run(round, reset);
          departures++;
          // The workers' requests interleave with the departure on the shared connections.
          Await.until(
              "workers served after departure " + departures,
              STEP,
              () -> ops.get() >= opsBefore + WORKERS);
          // mcmux noticed: only the workers remain.
          Await.until(
              "mcmux to let the departed client go (round " + round + ", reset " + reset + ")",
              STEP,
              () -> mcmux.server().clientCount() == WORKERS);
        }
      }
      long opsAtEnd = ops.get();
      Await.until(
          "workers still served after the departures",
          STEP,
          () -> ops.get() >= opsAtEnd + 2L * WORKERS);
    } finally {
      stop.set(true);
      for (Future<?> f : running) {
        f.get(STEP.toSeconds(), TimeUnit.SECONDS);
      }
      threads.shutdownNow();
    }
    assertEquals(List.of(), List.copyOf(problems), "problems seen by the clients that stayed");
    System.out.printf(
        "ClientDisconnectIT: %d departures beside %d checked round trips%n", departures, ops.get());

    // The shared upstream connections were neither closed nor replaced.
    assertEquals(handshakesBefore, handshakes(), "TLS handshakes mcmux made during the departures");
    for (int n = 0; n < nodes.size(); n++) {
      assertEquals(1, mcmux.server().view().nodes().get(n).liveConnections(), "node " + n);
    }
    Map<String, Long> connectionsAfter = totalConnections();
    for (Map.Entry<String, Long> e : connectionsBefore.entrySet()) {
      // The only new connection each memcached saw is this test's second stats connection.
      assertEquals(
          e.getValue() + 1,
          connectionsAfter.get(e.getKey()),
          "connections accepted by memcached " + e.getKey());
    }

    // Nothing half-sent was ever stored, on any node.
    for (MemcachedProcess node : nodes) {
      try (TextClient direct = node.connect()) {
        for (String key : partialKeys) {
          assertEquals(
              "END\r\n", direct.send("get " + key + "\r\n").readUntilEnd(), key + " on " + node);
        }
      }
    }

    Await.until("every client gone", STEP, () -> mcmux.server().clientCount() == 0);
    Await.until(
        "held response bytes back to 0", STEP, () -> mcmux.server().heldResponseBytes() == 0);
  }

  /**
   * One client that stays: sets its own key and reads it back, and gets it together with a large
   * shared value, checking every byte of every answer.
   */
  private void work(int id, CountDownLatch connected, AtomicBoolean stop, AtomicLong ops) {
    try (TextClient c = mcmux.client().withTimeout(STEP)) {
      connected.countDown();
      for (int seq = 0; !stop.get(); seq++) {
        String key = "fault:worker:" + id + ":" + seq % 8;
        String value = id + "/" + seq + "/" + "w".repeat((seq * 997) % 20_000);
        c.send("set " + key + " " + seq + " 0 " + value.length() + "\r\n" + value + "\r\n");
        String stored = c.readLine();
        if (!stored.equals("STORED")) {
          problems.add("worker " + id + " set " + key + ": " + stored);
          return;
        }
        String own = "VALUE " + key + " " + seq + " " + value.length() + "\r\n" + value + "\r\n";
        String expected;
        if (seq % 4 == 3) {
          int k = (id + seq) % BIG_KEYS;
          c.send("get " + key + " " + bigKey(k) + "\r\n");
          expected = own + "VALUE " + bigKey(k) + " 0 " + BIG + "\r\n" + big(k) + "\r\nEND\r\n";
        } else {
          c.send("get " + key + "\r\n");
          expected = own + "END\r\n";
        }
        String got = c.readUntilEnd();
        if (!got.equals(expected)) {
          problems.add(
              "worker "
                  + id
                  + " seq "
                  + seq
                  + " got: "
                  + got.substring(0, Math.min(200, got.length())));
          return;
        }
        ops.incrementAndGet();
      }
    } catch (Throwable e) {
      problems.add("worker " + id + ": " + e);
    }
  }

  private static Socket connect() throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port()));
    return s;
  }

  private static void send(Socket s, String text) throws IOException {
    OutputStream out = s.getOutputStream();
    out.write(text.getBytes(StandardCharsets.US_ASCII));
    out.flush();
  }

  /** Ends the connection with a reset ({@code SO_LINGER 0}) or an ordinary close (a FIN). */
  private static void leave(Socket s, boolean reset) throws IOException {
    if (reset) {
      s.setSoLinger(true, 0);
    }
    s.close();
  }

  private static byte[] readAtLeast(InputStream in, int n) throws IOException {
    byte[] buf = new byte[n];
    int at = 0;
    while (at < n) {
      int r = in.read(buf, at, n - at);
      if (r < 0) {
        throw new IOException("mcmux closed after " + at + " bytes of a 2 MiB answer");
      }
      at += r;
    }
    return buf;
  }

  /** memcached's {@code total_connections}, per node, read over one fresh connection each. */
  private static Map<String, Long> totalConnections() {
    Map<String, Long> out = new java.util.LinkedHashMap<>();
    for (MemcachedProcess node : nodes) {
      out.put(node.toString(), Long.parseLong(node.stats().get("total_connections")));
    }
    return out;
  }

  /** Every TLS handshake mcmux has made, successful or not. */
  private static double handshakes() {
    double sum = 0;
    for (String line : mcmux.server().scrapeMetrics().lines().toList()) {
      if (line.startsWith("mcmux_tls_handshakes_total{")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  private static String bigKey(int k) {
    return "fault:big:" + k;
  }

  private static String big(int k) {
    return BIG_VALUES[k];
  }

  private static String[] bigValues() {
    String[] values = new String[BIG_KEYS];
    for (int k = 0; k < BIG_KEYS; k++) {
      char[] v = new char[BIG];
      for (int i = 0; i < BIG; i++) {
        v[i] = (char) ('a' + (i * 7 + k * 13) % 26);
      }
      values[k] = new String(v);
    }
    return values;
  }

  /** Concatenates ASCII strings into bytes. */
  private static final class ByteArrayBuilder {
    private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

    ByteArrayBuilder add(String s) {
      out.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }
}
