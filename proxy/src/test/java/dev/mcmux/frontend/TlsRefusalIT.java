package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.Tls11OnlyServer;
import dev.mcmux.upstream.UpstreamPool;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * mcmux never talks to a server it cannot verify: each kind of bad certificate or outdated protocol
 * leaves it with no upstream connection, clients get {@code SERVER_ERROR} at once instead of
 * waiting for a timeout, and the log names the reason.
 */
@ExtendWith(LeakDetection.class)
class TlsRefusalIT {
  // Long, so an answer that only came from a request timing out cannot pass as "at once".
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration AT_ONCE = Duration.ofSeconds(2);

  @TempDir static Path dir;
  static TestPki pki;

  private final ListAppender<ILoggingEvent> poolLog = new ListAppender<>();
  private final Logger poolLogger = (Logger) LoggerFactory.getLogger(UpstreamPool.class);

  @BeforeAll
  static void createPki() {
    pki = TestPki.create(dir);
  }

  @BeforeEach
  void captureLog() {
    poolLog.start();
    poolLogger.addAppender(poolLog);
  }

  @AfterEach
  void releaseLog() {
    poolLogger.detachAppender(poolLog);
    poolLog.stop();
  }

  @Test
  void certificateFromAnUntrustedAuthorityIsRefused() {
    try (MemcachedProcess memcached =
        MemcachedProcess.tls(pki.server(TestPki.Kind.UNTRUSTED_CA)).start()) {
      // The JDK trust manager under BoringSSL: "unable to find valid certification path ...".
      assertRefused(memcached.port(), "unable to find valid certification path");
    }
  }

  @Test
  void certificateForAnotherHostIsRefused() {
    try (MemcachedProcess memcached =
        MemcachedProcess.tls(pki.server(TestPki.Kind.WRONG_HOST)).start()) {
      assertRefused(memcached.port(), "no subject alternative dns name matching localhost");
    }
  }

  @Test
  void expiredCertificateIsRefused() {
    try (MemcachedProcess memcached =
        MemcachedProcess.tls(pki.server(TestPki.Kind.EXPIRED)).start()) {
      assertRefused(memcached.port(), "certificateexpired.*notafter");
    }
  }

  @Test
  void serverThatOnlySpeaksTls11IsRefused() {
    try (Tls11OnlyServer server = Tls11OnlyServer.start(pki.server(TestPki.Kind.LOCALHOST))) {
      // BoringSSL's own words for the server's refusal to go above TLS 1.1.
      assertRefused(server.port(), "protocol_version");
    }
  }

  /**
   * Starts mcmux in front of {@code port}, waits for its first refusal to be logged, and checks the
   * reason, the absence of any connection, and that a client is answered at once.
   */
  private void assertRefused(int port, String reasonPattern) {
    try (McmuxHarness mcmux =
        McmuxHarness.inFrontOf(port, pki.caFile())
            .set("mcmux.upstream.connect-timeout", "1s")
            .set("mcmux.tls.handshake-timeout", "2s")
            .set("mcmux.upstream.request-timeout", REQUEST_TIMEOUT.toMillis() + "ms")
            .start()) {
      String refusal =
          Await.result(
              "UpstreamPool to log why it could not connect",
              Duration.ofSeconds(10),
              () -> logged(Level.WARN).stream().findFirst().orElse(null));

      try (TextClient c = mcmux.client()) {
        long started = System.nanoTime();
        c.send("get k\r\n");
        String answer = c.readLine();
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        assertTrue(answer.startsWith("SERVER_ERROR "), "get k answered '" + answer + "'");
        assertTrue(
            took.compareTo(AT_ONCE) < 0,
            "SERVER_ERROR took "
                + took.toMillis()
                + " ms; the request timeout is "
                + REQUEST_TIMEOUT);
      }

      assertEquals(0, mcmux.server().node().liveConnections(), "live upstream connections");
      List<String> connected =
          logged(Level.INFO).stream().filter(m -> m.contains(" connected: ")).toList();
      assertEquals(List.of(), connected, "connections logged as established");
      assertTrue(
          Pattern.compile(reasonPattern).matcher(refusal.toLowerCase(Locale.ROOT)).find(),
          "the logged reason should match /" + reasonPattern + "/: " + refusal);
    }
  }

  /** Messages logged so far at {@code level} or above. */
  private List<String> logged(Level level) {
    // The appender adds under its own lock (AppenderBase.doAppend); read under the same one.
    synchronized (poolLog) {
      return poolLog.list.stream()
          .filter(e -> e.getLevel().isGreaterOrEqual(level))
          .map(ILoggingEvent::getFormattedMessage)
          .toList();
    }
  }
}
