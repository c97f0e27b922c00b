package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * How mcmux treats its clients at the edges of a connection's life: half-closed writers, {@code
 * quit}, the Unix socket, the connection limit, stalled values and a small outstanding limit.
 */
@ExtendWith(LeakDetection.class)
class ClientBehaviourIT {
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

  private static McmuxHarness.Builder mcmux() {
    // None of these is about upstream timeouts: keep them out of the way on a busy machine.
    return McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
        .set("mcmux.upstream.request-timeout", "10s");
  }

  @Test
  void clientThatHalfClosesAfterWritingGetsEveryAnswer() throws IOException {
    try (McmuxHarness mcmux = mcmux().start()) {
      assertHalfClosedPipelineAnswered(mcmux, "half", 3);
      // More requests than max-outstanding-per-client (1024): reading pauses and resumes around
      // the end of input.
      assertHalfClosedPipelineAnswered(mcmux, "halfmany", 1_500);
    }
  }

  @Test
  void clientThatHalfClosesWithASmallOutstandingLimitGetsEveryAnswer() throws IOException {
    try (McmuxHarness mcmux = mcmux().set("mcmux.limits.max-outstanding-per-client", "8").start()) {
      assertHalfClosedPipelineAnswered(mcmux, "halfsmall", 300);
    }
  }

  /** Like {@code printf 'set ...get ...' | nc -q1}: write pairs, shut output, read to the end. */
  private static void assertHalfClosedPipelineAnswered(McmuxHarness mcmux, String prefix, int pairs)
      throws IOException {
    Socket socket = new Socket();
    socket.setTcpNoDelay(true);
    socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port()));
    try (TextClient c = TextClient.over(socket)) {
      StringBuilder all = new StringBuilder();
      for (int i = 0; i < pairs; i++) {
        String v = prefix + "-" + i;
        all.append("set ").append(prefix).append(i).append(" 0 0 ").append(v.length());
        all.append("\r\n").append(v).append("\r\nget ").append(prefix).append(i).append("\r\n");
      }
      c.send(all.toString());
      socket.shutdownOutput();
      for (int i = 0; i < pairs; i++) {
        String v = prefix + "-" + i;
        assertEquals("STORED", c.readLine(), "set number " + i);
        assertEquals(
            "VALUE " + prefix + i + " 0 " + v.length() + "\r\n" + v + "\r\nEND\r\n",
            c.readUntilEnd(),
            "get number " + i);
      }
      c.expectEof();
    }
  }

  @Test
  void quitMidPipelineAnswersWhatCameBeforeAndNothingAfter() {
    try (McmuxHarness mcmux = mcmux().start()) {
      try (TextClient c = mcmux.client()) {
        c.send(
            "set quit:a 0 0 1\r\na\r\nget quit:a\r\nquit\r\nget quit:a\r\n"
                + "set quit:b 0 0 1\r\nb\r\n");
        assertEquals("STORED", c.readLine());
        assertEquals("VALUE quit:a 0 1\r\na\r\nEND\r\n", c.readUntilEnd());
        c.expectEof();
      }
      try (TextClient c = mcmux.client()) {
        // The set after quit was dropped, not executed.
        assertEquals("END\r\n", c.send("get quit:b\r\n").readUntilEnd());
      }
    }
  }

  @Test
  void unixSocketListenerServesClientsBesideTcp() throws java.io.IOException {
    Path socketFile = dir.resolve("mcmux.sock");
    try (McmuxHarness mcmux =
        mcmux()
            .set("mcmux.unix-socket", socketFile.toString())
            .set("mcmux.unix-socket-mode", "0660")
            .start()) {
      assertEquals(
          "rw-rw----",
          java.nio.file.attribute.PosixFilePermissions.toString(
              java.nio.file.Files.getPosixFilePermissions(socketFile)));
      try (TextClient unix = TextClient.connectUnix(socketFile);
          TextClient tcp = mcmux.client()) {
        unix.send("set unix:k 0 0 4\r\nunix\r\n");
        assertEquals("STORED", unix.readLine());
        assertEquals(
            "VALUE unix:k 0 4\r\nunix\r\nEND\r\n", tcp.send("get unix:k\r\n").readUntilEnd());
        tcp.send("set unix:k 0 0 3\r\ntcp\r\n");
        assertEquals("STORED", tcp.readLine());
        assertEquals(
            "VALUE unix:k 0 3\r\ntcp\r\nEND\r\n", unix.send("get unix:k\r\n").readUntilEnd());
      }
    }
    assertFalse(Files.exists(socketFile), "the socket file outlived mcmux");
  }

  @Test
  void clientOverTheConnectionLimitIsRefusedAndTheOthersCarryOn() {
    try (McmuxHarness mcmux = mcmux().set("mcmux.limits.max-client-connections", "5").start()) {
      List<TextClient> admitted = new ArrayList<>();
      try {
        for (int i = 0; i < 5; i++) {
          admitted.add(mcmux.client());
        }
        Await.until(
            "five client sessions", Duration.ofSeconds(5), () -> mcmux.server().clientCount() == 5);
        try (TextClient sixth = mcmux.client()) {
          String refusal = sixth.readLine();
          assertTrue(refusal.startsWith("SERVER_ERROR "), "the sixth client got: " + refusal);
          sixth.expectEof();
        }
        for (int i = 0; i < 5; i++) {
          TextClient c = admitted.get(i);
          c.send("set limit:" + i + " 0 0 1\r\n" + i + "\r\nget limit:" + i + "\r\n");
          assertEquals("STORED", c.readLine(), "admitted client " + i);
          assertEquals("VALUE limit:" + i + " 0 1\r\n" + i + "\r\nEND\r\n", c.readUntilEnd());
        }
        admitted.remove(0).close();
        Await.until(
            "the closed client to be counted out",
            Duration.ofSeconds(5),
            () -> mcmux.server().clientCount() == 4);
        try (TextClient again = mcmux.client()) {
          assertEquals(
              "VALUE limit:0 0 1\r\n0\r\nEND\r\n", again.send("get limit:0\r\n").readUntilEnd());
        }
      } finally {
        admitted.forEach(TextClient::close);
      }
    }
  }

  @Test
  void clientThatStopsHalfwayThroughAValueIsClosedAfterTheValueReadTimeout() {
    Duration timeout = Duration.ofMillis(300);
    try (McmuxHarness mcmux =
            mcmux().set("mcmux.limits.value-read-timeout", timeout.toMillis() + "ms").start();
        TextClient idle = mcmux.client();
        TextClient stalled = mcmux.client().withTimeout(Duration.ofSeconds(5))) {
      long started = System.nanoTime();
      stalled.send("set stalled:k 0 0 10\r\nabc");
      stalled.expectEof();
      Duration took = Duration.ofNanos(System.nanoTime() - started);
      assertTrue(
          took.compareTo(timeout.minusMillis(50)) >= 0 && took.compareTo(Duration.ofSeconds(3)) < 0,
          "closed after " + took.toMillis() + " ms; value-read-timeout is " + timeout);
      // The idle client waited just as long with no request in progress: it must still be served.
      assertEquals("END\r\n", idle.send("get stalled:k\r\n").readUntilEnd());
    }
  }

  @Test
  void clientHeldBackByTheOutstandingLimitIsNotTakenForAStalledSender() {
    Duration timeout = Duration.ofMillis(300);
    try (McmuxHarness mcmux =
            mcmux()
                .set("mcmux.limits.value-read-timeout", timeout.toMillis() + "ms")
                .set("mcmux.limits.max-outstanding-per-client", "4")
                .start();
        TextClient pipelined = mcmux.client().withTimeout(Duration.ofSeconds(10))) {
      pipelined.send("set held:k 0 0 4\r\nheld\r\n");
      assertEquals("STORED", pipelined.readLine());
      StringBuilder gets = new StringBuilder();
      for (int i = 0; i < 100; i++) {
        gets.append("get held:k\r\n");
      }
      memcached.freeze();
      try {
        // Complete requests, waiting only because memcached does not answer the first four.
        pipelined.send(gets.toString());
        // Two clients that really stall, one after the other, measure out more than the
        // value-read timeout since the pipelined requests arrived.
        for (int i = 0; i < 2; i++) {
          try (TextClient stalled = mcmux.client()) {
            stalled.send("set held:stalled 0 0 10\r\nabc");
            stalled.expectEof();
          }
        }
      } finally {
        memcached.thaw();
      }
      for (int i = 0; i < 100; i++) {
        assertEquals(
            "VALUE held:k 0 4\r\nheld\r\nEND\r\n", pipelined.readUntilEnd(), "get number " + i);
      }
    }
  }

  @Test
  void clientHeldBackByTheOutstandingLimitThatResetsIsLetGoAndItsAnswersDropped()
      throws IOException {
    try (McmuxHarness mcmux = mcmux().set("mcmux.limits.max-outstanding-per-client", "4").start();
        TextClient other = mcmux.client()) {
      other.send("set reset:k 0 0 5\r\nfirst\r\n");
      assertEquals("STORED", other.readLine());
      StringBuilder gets = new StringBuilder();
      for (int i = 0; i < 100; i++) {
        gets.append("get reset:k\r\n");
      }
      memcached.freeze();
      try {
        try (Socket leaving = new Socket()) {
          leaving.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port()));
          leaving.getOutputStream().write(gets.toString().getBytes(StandardCharsets.US_ASCII));
          // Four requests out to the frozen node, the other 96 held back: mcmux stopped reading.
          Await.until(
              "the leaving client's first four requests in flight",
              Duration.ofSeconds(10),
              () -> IN_FLIGHT_4.matcher(mcmux.server().statusJson()).find());
          leaving.setSoLinger(true, 0);
        }
        if (mcmux.server().transportName().equals("epoll")) {
          // epoll reports a reset even on a socket mcmux is not reading from.
          Await.until(
              "mcmux to let the paused client go", Duration.ofSeconds(10), () -> clients(mcmux, 1));
        }
      } finally {
        memcached.thaw();
      }
      // NIO's selector reports nothing for a socket without read interest: there the reset is
      // seen when the first late answer is written to it. Either way the client goes.
      Await.until(
          "mcmux to let the reset client go", Duration.ofSeconds(10), () -> clients(mcmux, 1));
      // The four answers memcached now sends are read and dropped, not given to anyone else.
      other.send("set reset:k 0 0 6\r\nsecond\r\n");
      assertEquals("STORED", other.readLine());
      assertEquals(
          "VALUE reset:k 0 6\r\nsecond\r\nEND\r\n", other.send("get reset:k\r\n").readUntilEnd());
    }
  }

  private static final java.util.regex.Pattern IN_FLIGHT_4 =
      java.util.regex.Pattern.compile("\"in_flight\"\\s*:\\s*4\\b");

  private static boolean clients(McmuxHarness mcmux, int n) {
    return mcmux.server().clientCount() == n;
  }

  @Test
  void smallOutstandingLimitStillAnswersAThousandPipelinedGetsInOrder() {
    try (McmuxHarness mcmux = mcmux().set("mcmux.limits.max-outstanding-per-client", "8").start();
        TextClient c = mcmux.client()) {
      StringBuilder sets = new StringBuilder();
      for (int k = 0; k < 100; k++) {
        String v = "outstanding-" + k + "-" + "o".repeat(k * 10);
        sets.append("set out:").append(k).append(" 0 0 ").append(v.length()).append("\r\n");
        sets.append(v).append("\r\n");
      }
      c.send(sets.toString());
      for (int k = 0; k < 100; k++) {
        assertEquals("STORED", c.readLine(), "set out:" + k);
      }
      StringBuilder gets = new StringBuilder();
      for (int i = 0; i < 1_000; i++) {
        gets.append("get out:").append((i * 7) % 100).append("\r\n");
      }
      c.send(gets.toString());
      for (int i = 0; i < 1_000; i++) {
        int k = (i * 7) % 100;
        String v = "outstanding-" + k + "-" + "o".repeat(k * 10);
        assertEquals(
            "VALUE out:" + k + " 0 " + v.length() + "\r\n" + v + "\r\nEND\r\n",
            c.readUntilEnd(),
            "get number " + i);
      }
    }
  }
}
