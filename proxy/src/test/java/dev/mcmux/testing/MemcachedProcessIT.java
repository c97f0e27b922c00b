package dev.mcmux.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.TestPki.Kind;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Proves the fixtures against the real programs: memcached with TLS, and openssl. */
class MemcachedProcessIT {

  @TempDir static Path dir;
  static TestPki pki;

  @BeforeAll
  static void createPki() {
    pki = TestPki.create(dir.resolve("pki"));
  }

  @Test
  void tlsMemcachedAnswersAJdkClientThatVerifiesChainAndHostName() throws Exception {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start();
        SSLSocket socket = verifyingSocket(pki.caFile(), "localhost", memcached.port());
        TextClient client = TextClient.over(socket)) {
      assertTrue(client.send("version\r\n").readLine().matches("VERSION 1\\.6\\.\\d+"));
      assertEquals("TLSv1.3", socket.getSession().getProtocol());

      Map<String, String> stats = memcached.stats();
      assertTrue(Integer.parseInt(stats.get("total_connections")) >= 2, stats.toString());
      assertEquals("0", stats.get("ssl_handshake_errors"));
      Map<String, String> settings = memcached.statsSettings();
      assertEquals("yes", settings.get("ssl_enabled"));
      assertEquals("1", settings.get("num_threads"));
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = Kind.class,
      names = {"EXPIRED", "WRONG_HOST", "UNTRUSTED_CA"})
  void aVerifyingClientRefusesEveryBadCertificateThatMemcachedServes(Kind kind) {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(kind)).start()) {
      SSLHandshakeException refused =
          assertThrows(
              SSLHandshakeException.class,
              () -> verifyingSocket(pki.caFile(), "localhost", memcached.port()).close());
      assertTrue(refused.getMessage() != null, kind.toString());
      // The fixture's own connections still work: they trust exactly the served certificate.
      assertEquals("yes", memcached.statsSettings().get("ssl_enabled"));
      // The client rejects the certificate after memcached's first SSL_accept step has
      // returned, and memcached counts only failures seen in that step (see below).
      assertEquals("0", memcached.stats().get("ssl_handshake_errors"));
    }
  }

  @Test
  void wildcardCertificateVerifiesForAClusterNodeName() throws Exception {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.WILDCARD)).start();
        TextClient client =
            TextClient.over(
                verifyingSocket(pki.caFile(), "node-7.cluster.test", memcached.port()))) {
      assertTrue(client.send("version\r\n").readLine().startsWith("VERSION "));
    }
  }

  @Test
  void restartKeepsThePortAndStartsEmpty() {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      int port = memcached.port();
      long pid = memcached.pid();
      TextClient before = memcached.connect();
      assertEquals("STORED", before.send("set k 0 0 1\r\nv\r\n").readLine());

      memcached.restart();

      before.expectEof();
      before.close();
      assertEquals(port, memcached.port());
      assertNotEquals(pid, memcached.pid());
      try (TextClient after = memcached.connect()) {
        assertEquals("END\r\n", after.send("get k\r\n").readUntilEnd());
      }
    }
  }

  @Test
  void killLooksLikeACrashAndRestartComesBackOnTheSamePort() {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      int port = memcached.port();
      TextClient client = memcached.connect();

      memcached.kill();

      assertFalse(memcached.isAlive());
      client.expectEof();
      client.close();
      assertThrows(RuntimeException.class, memcached::connect);

      memcached.restart();
      assertEquals(port, memcached.port());
      assertTrue(memcached.isAlive());
      assertEquals("1", memcached.stats().get("curr_connections"));
    }
  }

  @Test
  void frozenMemcachedKeepsTheConnectionButAnswersOnlyAfterThaw() {
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start();
        TextClient client = memcached.connect()) {
      memcached.freeze();

      client.withTimeout(Duration.ofMillis(300)).send("version\r\n");
      AssertionError silence = assertThrows(AssertionError.class, client::readLine);
      assertTrue(silence.getMessage().contains("within 300 ms"), silence.getMessage());
      assertTrue(memcached.isAlive());

      memcached.thaw();
      assertTrue(client.withTimeout(Duration.ofSeconds(5)).readLine().startsWith("VERSION "));
    }
  }

  @Test
  void stopWorksOnAFrozenProcess() {
    MemcachedProcess memcached = MemcachedProcess.plain().start();
    memcached.freeze();
    memcached.stop();
    assertFalse(memcached.isAlive());
    memcached.close();
  }

  @Test
  void restartWithACertificateFromANewAuthority() throws Exception {
    TestPki.Rotation rotation = pki.rotate();
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      memcached.restart(rotation.server());

      assertThrows(
          SSLHandshakeException.class,
          () -> verifyingSocket(pki.caFile(), "localhost", memcached.port()).close());
      try (TextClient client =
          TextClient.over(verifyingSocket(rotation.caFile(), "localhost", memcached.port()))) {
        assertTrue(client.send("version\r\n").readLine().startsWith("VERSION "));
      }
    }
  }

  @Test
  void refreshCertsRotatesWithoutDroppingConnections() throws Exception {
    TestPki.Rotation rotation = pki.rotate();
    try (MemcachedProcess memcached = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start();
        TextClient established =
            TextClient.over(verifyingSocket(pki.caFile(), "localhost", memcached.port()))) {
      long pid = memcached.pid();

      memcached.refreshCertificate(rotation.server());

      assertEquals(pid, memcached.pid());
      assertEquals("0", memcached.stats().get("time_since_server_cert_refresh"));
      assertTrue(established.send("version\r\n").readLine().startsWith("VERSION "));
      assertThrows(
          SSLHandshakeException.class,
          () -> verifyingSocket(pki.caFile(), "localhost", memcached.port()).close());
      verifyingSocket(rotation.caFile(), "localhost", memcached.port()).close();
    }
  }

  @Test
  void minimumTlsVersionRefusesOlderClients() throws Exception {
    try (MemcachedProcess memcached =
        MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).minTlsVersion("TLSv1.3").start()) {
      assertEquals("tlsv1.3", memcached.statsSettings().get("ssl_min_version"));
      SSLContext context = TestPki.sslContextTrusting(pki.caFile());
      assertThrows(
          SSLHandshakeException.class,
          () -> handshake(context, memcached.port(), "localhost", "TLSv1.2").close());
      // No assertion on ssl_handshake_errors here: memcached counts a failure only when its
      // one non-blocking SSL_accept right after accept() already sees the ClientHello; a
      // handshake that fails later, in the worker, is not counted. The count races.
      try (SSLSocket modern = handshake(context, memcached.port(), "localhost", "TLSv1.3")) {
        assertEquals("TLSv1.3", modern.getSession().getProtocol());
      }
    }
  }

  @Test
  void optionsReachMemcached() {
    try (MemcachedProcess memcached =
        MemcachedProcess.tls(pki.server(Kind.LOCALHOST))
            .memoryMegabytes(16)
            .itemSizeMax(2 * 1024 * 1024)
            .maxConnections(64)
            .threads(2)
            .start()) {
      Map<String, String> settings = memcached.statsSettings();
      assertEquals(String.valueOf(16 * 1024 * 1024), settings.get("maxbytes"));
      assertEquals(String.valueOf(2 * 1024 * 1024), settings.get("item_size_max"));
      assertEquals("64", settings.get("maxconns"));
      assertEquals("2", settings.get("num_threads"));
    }
  }

  @Test
  void plainMemcachedOnAUnixSocket(@TempDir Path socketDir) {
    Path socket = socketDir.resolve("memcached.sock");
    try (MemcachedProcess memcached = MemcachedProcess.plain().unixSocket(socket).start();
        TextClient client = TextClient.connectUnix(socket)) {
      assertEquals(Optional.of(socket), memcached.unixSocket());
      assertThrows(IllegalStateException.class, memcached::port);
      assertEquals("STORED", client.send("set u 3 0 5\r\nEND\r\n\r\n").readLine());
      assertEquals("VALUE u 3 5\r\nEND\r\n\r\nEND\r\n", client.send("get u\r\n").readUntilEnd());
      assertEquals("no", memcached.statsSettings().get("ssl_enabled"));
    }
  }

  @Test
  void tls11OnlyServerHandshakesTls11AndRefusesModernClients() throws Exception {
    try (Tls11OnlyServer server = Tls11OnlyServer.start(pki.server(Kind.LOCALHOST))) {
      assertEquals(
          Optional.of("TLSv1.1"),
          server.openSslHandshake("-tls1_1", "-cipher", Tls11OnlyServer.LEGACY_CIPHERS));
      assertEquals(Optional.empty(), server.openSslHandshake("-tls1_2"));

      SSLContext context = TestPki.sslContextTrusting(pki.caFile());
      assertThrows(
          SSLHandshakeException.class,
          () -> handshake(context, server.port(), "localhost", "TLSv1.2", "TLSv1.3").close());

      // Still serving after refusing: one refusal does not end the fixture.
      assertEquals(
          Optional.of("TLSv1.1"),
          server.openSslHandshake("-tls1_1", "-cipher", Tls11OnlyServer.LEGACY_CIPHERS));
    }
  }

  @Test
  void missingBinaryFailsWithInstallAdvice() {
    String previous = System.setProperty("mcmux.test.memcached", "/nonexistent/memcached");
    try {
      IllegalStateException missing =
          assertThrows(IllegalStateException.class, MemcachedProcess::memcachedBinary);
      assertTrue(missing.getMessage().contains("apt-get install -y memcached"));
    } finally {
      if (previous == null) {
        System.clearProperty("mcmux.test.memcached");
      } else {
        System.setProperty("mcmux.test.memcached", previous);
      }
    }
  }

  @Test
  void memcachedDiesWithAJvmThatExitsNormally(@TempDir Path work) throws Exception {
    Process jvm = startChildJvm(work);
    long pid = memcachedPidOf(work);
    jvm.getOutputStream().close();
    assertTrue(jvm.waitFor(20, java.util.concurrent.TimeUnit.SECONDS));
    awaitGone(pid);
  }

  @Test
  void memcachedDiesWithAJvmThatIsKilled(@TempDir Path work) throws Exception {
    Process jvm = startChildJvm(work);
    long pid = memcachedPidOf(work);
    // SIGKILL: no shutdown hook runs; only the parent-death signal can clean up.
    jvm.destroyForcibly();
    assertTrue(jvm.waitFor(20, java.util.concurrent.TimeUnit.SECONDS));
    awaitGone(pid);
  }

  /** Run in its own JVM by the orphan tests: starts memcached, writes its pid, waits on stdin. */
  public static final class ChildJvm {
    public static void main(String[] args) throws Exception {
      MemcachedProcess memcached = MemcachedProcess.plain().workDir(Path.of(args[0])).start();
      java.nio.file.Files.writeString(Path.of(args[0], "pid.tmp"), Long.toString(memcached.pid()));
      java.nio.file.Files.move(Path.of(args[0], "pid.tmp"), Path.of(args[0], "pid"));
      while (System.in.read() >= 0) {
        // Runs until the parent closes stdin or kills this JVM.
      }
      System.exit(0);
    }
  }

  private static Process startChildJvm(Path work) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    return new ProcessBuilder(java, "-cp", classPath, ChildJvm.class.getName(), work.toString())
        .redirectErrorStream(true)
        .redirectOutput(work.resolve("child-jvm.log").toFile())
        .start();
  }

  private static long memcachedPidOf(Path work) {
    return Await.result(
        "the child JVM to start memcached (see " + work.resolve("child-jvm.log") + ")",
        Duration.ofSeconds(30),
        () -> {
          Path file = work.resolve("pid");
          return java.nio.file.Files.exists(file)
              ? Long.valueOf(java.nio.file.Files.readString(file))
              : null;
        });
  }

  private static void awaitGone(long pid) {
    Await.until(
        "memcached pid " + pid + " to die with its JVM",
        Duration.ofSeconds(10),
        () -> {
          Path stat = Path.of("/proc", Long.toString(pid), "stat");
          if (!java.nio.file.Files.exists(stat)) {
            return true;
          }
          String text = java.nio.file.Files.readString(stat);
          // A zombie is dead already; whoever adopted it reaps it in its own time.
          return text.charAt(text.lastIndexOf(')') + 2) == 'Z';
        });
  }

  /** A JDK TLS connection that verifies the chain against {@code caFile} and the host name. */
  private static SSLSocket verifyingSocket(Path caFile, String hostName, int port)
      throws IOException {
    return handshake(TestPki.sslContextTrusting(caFile), port, hostName, "TLSv1.2", "TLSv1.3");
  }

  private static SSLSocket handshake(
      SSLContext context, int port, String hostName, String... protocols) throws IOException {
    SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket();
    try {
      SSLParameters parameters = socket.getSSLParameters();
      parameters.setProtocols(protocols);
      parameters.setServerNames(List.of(new SNIHostName(hostName)));
      parameters.setEndpointIdentificationAlgorithm("HTTPS");
      socket.setSSLParameters(parameters);
      socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2_000);
      socket.setSoTimeout(5_000);
      socket.startHandshake();
      return socket;
    } catch (IOException e) {
      socket.close();
      throw e;
    }
  }
}
