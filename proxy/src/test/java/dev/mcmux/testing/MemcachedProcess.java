package dev.mcmux.testing;

import dev.mcmux.testing.TestPki.CertPair;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A real memcached server on a loopback port (TLS or plain) or a Unix socket, started, stopped,
 * killed, frozen and restarted by a test.
 *
 * <p>Its own connections (readiness, {@link #stats()}, {@link #connect()}) trust exactly the
 * certificate it was started with, so it works the same with expired, wrong-host and untrusted
 * certificates, and notices if memcached serves any other certificate.
 */
public final class MemcachedProcess implements AutoCloseable {

  /** Where the package is expected; override with {@code -Dmcmux.test.memcached=/path}. */
  public static final Path DEFAULT_BINARY = Path.of("/usr/bin/memcached");

  private static final Duration START_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);
  private static final int AUTO_PORT_ATTEMPTS = 5;

  private static volatile Boolean tlsSupported;

  private final Builder config;
  private final Path workDir;
  private final Path log;
  private final Path certFile;
  private final Path keyFile;
  private volatile int port;
  private volatile X509Certificate servedCert;
  private volatile Process process;
  private volatile boolean frozen;

  private MemcachedProcess(Builder config) throws IOException {
    this.config = config;
    Path base = config.workDir != null ? config.workDir : defaultWorkRoot();
    this.workDir = Files.createTempDirectory(Files.createDirectories(base), "memcached-");
    this.log = workDir.resolve("memcached.log");
    this.certFile = workDir.resolve("server-cert.pem");
    this.keyFile = workDir.resolve("server-key.pem");
    if (config.cert != null) {
      installCertificate(config.cert);
    }
  }

  /** A builder for a TLS memcached ({@code -Z}) serving {@code cert}. */
  public static Builder tls(CertPair cert) {
    return new Builder(cert);
  }

  /** A builder for a plaintext memcached. */
  public static Builder plain() {
    return new Builder(null);
  }

  /**
   * The memcached executable.
   *
   * @throws IllegalStateException saying how to install it, when it is missing: tests that need
   *     memcached fail rather than skip
   */
  public static Path memcachedBinary() {
    String override = System.getProperty("mcmux.test.memcached");
    Path binary = override != null ? Path.of(override) : DEFAULT_BINARY;
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException(
          "memcached is not installed at "
              + binary
              + ": install Debian's memcached: apt-get install -y memcached"
              + " (.ci/run does this), or point -Dmcmux.test.memcached at one built with TLS");
    }
    return binary;
  }

  /** 127.0.0.1, the only interface these servers listen on. */
  public String host() {
    return InetAddress.getLoopbackAddress().getHostAddress();
  }

  /** The TCP port; the same one after every restart. */
  public int port() {
    if (config.unixSocket != null) {
      throw new IllegalStateException("this memcached listens on " + config.unixSocket);
    }
    return port;
  }

  /** {@link #host()} and {@link #port()} together. */
  public InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port());
  }

  /** The Unix socket it listens on, if it was built with one. */
  public Optional<Path> unixSocket() {
    return Optional.ofNullable(config.unixSocket);
  }

  /** Whether it speaks TLS. */
  public boolean isTls() {
    return config.cert != null;
  }

  /** The operating-system process id of the current run. */
  public long pid() {
    return process.pid();
  }

  /** Whether the current run is still a live process (a frozen one is alive). */
  public boolean isAlive() {
    return process.isAlive();
  }

  /** The file collecting memcached's stdout and stderr over every run. */
  public Path logFile() {
    return log;
  }

  /** The end of {@link #logFile()}, for failure messages. */
  public String logTail() {
    return ChildProcesses.tail(log, 4_000);
  }

  /** The certificate memcached serves now. */
  public Optional<X509Certificate> servedCertificate() {
    return Optional.ofNullable(servedCert);
  }

  /**
   * Opens a fresh connection: TLS that trusts exactly the served certificate, or plain TCP, or the
   * Unix socket.
   */
  public TextClient connect() {
    return connect(TextClient.DEFAULT_TIMEOUT);
  }

  /** {@link #stats(String) stats("")}: general statistics such as {@code curr_connections}. */
  public Map<String, String> stats() {
    return stats("");
  }

  /** {@code stats settings}: the options memcached actually runs with. */
  public Map<String, String> statsSettings() {
    return stats("settings");
  }

  /** Sends {@code stats <group>} over a fresh connection and returns the {@code STAT} pairs. */
  public Map<String, String> stats(String group) {
    try (TextClient client = connect()) {
      client.send(group.isEmpty() ? "stats\r\n" : "stats " + group + "\r\n");
      Map<String, String> stats = new LinkedHashMap<>();
      for (String line = client.readLine(); !line.equals("END"); line = client.readLine()) {
        String[] parts = line.split(" ", 3);
        if (parts.length < 2 || !parts[0].equals("STAT")) {
          throw new AssertionError("unexpected line in stats " + group + ": " + line);
        }
        stats.put(parts[1], parts.length == 3 ? parts[2] : "");
      }
      return stats;
    }
  }

  /** Stops with SIGTERM and waits for the exit; a frozen process is thawed so it can exit. */
  public void stop() {
    Process current = process;
    if (!current.isAlive()) {
      return;
    }
    current.destroy();
    if (frozen) {
      // SIGTERM stays pending on a stopped process until it runs again.
      ChildProcesses.signal(current, "CONT");
      frozen = false;
    }
    if (!ChildProcesses.awaitExit(current, STOP_TIMEOUT)) {
      current.destroyForcibly();
      ChildProcesses.awaitExit(current, STOP_TIMEOUT);
      throw new AssertionError(
          "memcached pid " + current.pid() + " ignored SIGTERM for " + STOP_TIMEOUT + "; killed");
    }
  }

  /** Kills with SIGKILL, as a crash would, and waits for the exit. */
  public void kill() {
    Process current = process;
    current.destroyForcibly();
    if (!ChildProcesses.awaitExit(current, STOP_TIMEOUT)) {
      throw new AssertionError("memcached pid " + current.pid() + " survived SIGKILL");
    }
    frozen = false;
  }

  /**
   * Suspends the process with SIGSTOP: connections stay open and nothing is answered, like a server
   * stuck in a long pause.
   */
  public void freeze() {
    ChildProcesses.signal(process, "STOP");
    frozen = true;
    Await.until(
        "memcached pid " + process.pid() + " to be stopped",
        STOP_TIMEOUT,
        () -> ChildProcesses.state(process) == 'T');
  }

  /** Resumes a frozen process with SIGCONT. */
  public void thaw() {
    ChildProcesses.signal(process, "CONT");
    frozen = false;
    Await.until(
        "memcached pid " + process.pid() + " to run again",
        STOP_TIMEOUT,
        () -> ChildProcesses.state(process) != 'T');
  }

  /** Stops it if still running and starts it again on the same port with the same options. */
  public void restart() {
    if (process.isAlive()) {
      stop();
    }
    launch(false);
  }

  /** Like {@link #restart()}, serving {@code newCert} from now on. */
  public void restart(CertPair newCert) {
    requireTls();
    if (process.isAlive()) {
      stop();
    }
    installCertificate(newCert);
    launch(false);
  }

  /**
   * Rotates the certificate without a restart: replaces the files memcached was started with and
   * sends {@code refresh_certs}, which makes it load them for new connections.
   */
  public void refreshCertificate(CertPair newCert) {
    requireTls();
    try (TextClient client = connect()) {
      installCertificate(newCert);
      String answer = client.send("refresh_certs\r\n").readLine();
      if (!answer.equals("OK")) {
        throw new AssertionError("refresh_certs answered '" + answer + "'; log: " + logTail());
      }
    }
  }

  /** Kills the process if it still runs; the log stays for diagnosis. */
  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      kill();
    }
  }

  @Override
  public String toString() {
    String where = config.unixSocket != null ? "unix:" + config.unixSocket : host() + ":" + port;
    return "memcached[" + where + (isTls() ? ", tls" : "") + ", log " + log + "]";
  }

  private TextClient connect(Duration timeout) {
    if (config.unixSocket != null) {
      return TextClient.connectUnix(config.unixSocket).withTimeout(timeout);
    }
    if (!isTls()) {
      return TextClient.connect(port).withTimeout(timeout);
    }
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, new TrustManager[] {new PinnedTrust()}, null);
      SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket();
      try {
        socket.setTcpNoDelay(true);
        socket.connect(address(), (int) timeout.toMillis());
        socket.setSoTimeout((int) timeout.toMillis());
        socket.startHandshake();
        return TextClient.over(socket).withTimeout(timeout);
      } catch (IOException e) {
        socket.close();
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open a TLS connection to " + this, e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private void requireTls() {
    if (!isTls()) {
      throw new IllegalStateException("not a TLS memcached: " + this);
    }
  }

  private void installCertificate(CertPair cert) {
    try {
      // Replaced by rename so memcached never reads a half-written file.
      copyAtomically(cert.cert(), certFile);
      copyAtomically(cert.key(), keyFile);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    servedCert = TestPki.readCertificates(certFile).get(0);
  }

  private static void copyAtomically(Path from, Path to) throws IOException {
    Path temp = to.resolveSibling(to.getFileName() + ".new");
    Files.copy(from, temp, StandardCopyOption.REPLACE_EXISTING);
    Files.move(temp, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private List<String> command() {
    List<String> command = new ArrayList<>();
    command.add(memcachedBinary().toString());
    if ("root".equals(System.getProperty("user.name"))) {
      // memcached refuses to run as root unless told which user to be.
      command.addAll(List.of("-u", "root"));
    }
    if (config.unixSocket != null) {
      command.addAll(List.of("-s", config.unixSocket.toString()));
    } else {
      command.addAll(List.of("-l", host(), "-p", Integer.toString(port)));
    }
    command.addAll(List.of("-U", "0", "-t", Integer.toString(config.threads)));
    if (config.memoryMegabytes > 0) {
      command.addAll(List.of("-m", Integer.toString(config.memoryMegabytes)));
    }
    if (config.itemSizeMax > 0) {
      command.addAll(List.of("-I", Integer.toString(config.itemSizeMax)));
    }
    if (config.maxConnections > 0) {
      command.addAll(List.of("-c", Integer.toString(config.maxConnections)));
    }
    if (isTls()) {
      String options = "ssl_chain_cert=" + certFile + ",ssl_key=" + keyFile;
      if (config.minTlsVersion != null) {
        options += ",ssl_min_version=" + config.minTlsVersion;
      }
      command.addAll(List.of("-Z", "-o", options));
    }
    command.addAll(config.extraArgs);
    return command;
  }

  private void launch(boolean mayChangePort) {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    int portChanges = 0;
    while (true) {
      long logStart = logSize();
      Process started = ChildProcesses.start(command(), log);
      process = started;
      frozen = false;
      String failure = awaitReady(started, deadline);
      if (failure == null) {
        return;
      }
      String output = logSince(logStart);
      boolean portTaken = output.contains("Address already in use");
      if (portTaken && mayChangePort && ++portChanges < AUTO_PORT_ATTEMPTS) {
        // Another process on this machine took the port between the probe and memcached's bind.
        port = Ports.freeLoopbackPort();
        continue;
      }
      if (portTaken && !mayChangePort && System.nanoTime() < deadline) {
        // A restart races with the old process's socket being released; try again until free.
        pause(Duration.ofMillis(20));
        continue;
      }
      throw new AssertionError(
          "memcached did not become ready: "
              + failure
              + "\ncommand: "
              + command()
              + "\nlog:\n"
              + output);
    }
  }

  /** Returns null once a real request is answered, or why it is not going to be. */
  private String awaitReady(Process started, long deadline) {
    Exception last = null;
    while (System.nanoTime() < deadline) {
      if (!started.isAlive()) {
        return "it exited with status " + started.exitValue();
      }
      try (TextClient client = connect(PROBE_TIMEOUT)) {
        String version = client.send("version\r\n").readLine();
        if (version.startsWith("VERSION ")) {
          return null;
        }
        return "'version' was answered with '" + version + "'";
      } catch (RuntimeException | AssertionError e) {
        last = e instanceof Exception ex ? ex : new Exception(e);
      }
      pause(Duration.ofMillis(10));
    }
    started.destroyForcibly();
    return "no answer to 'version' within " + START_TIMEOUT.toSeconds() + " s; last error: " + last;
  }

  private long logSize() {
    try {
      return Files.exists(log) ? Files.size(log) : 0;
    } catch (IOException e) {
      return 0;
    }
  }

  private String logSince(long offset) {
    try {
      byte[] all = Files.readAllBytes(log);
      int from = (int) Math.min(offset, all.length);
      return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  private static void pause(Duration duration) {
    // Only ever between polls of a condition, never as the synchronisation itself.
    try {
      TimeUnit.NANOSECONDS.sleep(duration.toNanos());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static Path defaultWorkRoot() {
    return Path.of(System.getProperty("user.dir"), "target", "test-servers");
  }

  private static void requireTlsSupport(Path binary) {
    if (tlsSupported == null) {
      try {
        Process help =
            new ProcessBuilder(binary.toString(), "-h").redirectErrorStream(true).start();
        String text = new String(help.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        help.waitFor(10, TimeUnit.SECONDS);
        tlsSupported = text.contains("enable-ssl");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    if (!tlsSupported) {
      throw new IllegalStateException(
          binary + " was built without TLS (no -Z in its -h): install Debian's memcached");
    }
  }

  /** Trusts the one certificate this memcached should serve, whatever its dates and names. */
  private final class PinnedTrust extends X509ExtendedTrustManager {
    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      X509Certificate expected = servedCert;
      if (chain.length == 0 || !chain[0].equals(expected)) {
        throw new CertificateException(
            "memcached served "
                + (chain.length == 0 ? "nothing" : chain[0].getSubjectX500Principal())
                + ", expected "
                + expected.getSubjectX500Principal()
                + " serial "
                + expected.getSerialNumber());
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  /** The options of a memcached to start; defaults are memcached's own except {@code -t 1}. */
  public static final class Builder {
    private final CertPair cert;
    private String minTlsVersion;
    private int memoryMegabytes;
    private int itemSizeMax;
    private int maxConnections;
    private int threads = 1;
    private int port;
    private Path unixSocket;
    private Path workDir;
    private final List<String> extraArgs = new ArrayList<>();

    private Builder(CertPair cert) {
      this.cert = cert;
    }

    /**
     * {@code -o ssl_min_version}, from the JDK's protocol names ({@code TLSv1} .. {@code TLSv1.3});
     * memcached 1.6.18 parses only the digits 0..3 that this maps them to.
     */
    public Builder minTlsVersion(String protocol) {
      minTlsVersion =
          switch (protocol) {
            case "TLSv1" -> "0";
            case "TLSv1.1" -> "1";
            case "TLSv1.2" -> "2";
            case "TLSv1.3" -> "3";
            default -> throw new IllegalArgumentException("unknown TLS version " + protocol);
          };
      return this;
    }

    /** {@code -m}: the item memory in megabytes. */
    public Builder memoryMegabytes(int megabytes) {
      this.memoryMegabytes = megabytes;
      return this;
    }

    /** {@code -I}: the largest item in bytes (memcached's {@code item_size_max}). */
    public Builder itemSizeMax(int bytes) {
      this.itemSizeMax = bytes;
      return this;
    }

    /** {@code -c}: the most simultaneous connections. */
    public Builder maxConnections(int connections) {
      this.maxConnections = connections;
      return this;
    }

    /** {@code -t}: worker threads, 1 unless set. */
    public Builder threads(int threads) {
      this.threads = threads;
      return this;
    }

    /** A fixed TCP port instead of a free one. */
    public Builder port(int port) {
      this.port = port;
      return this;
    }

    /** {@code -s}: listen on this Unix socket instead of TCP (plaintext only). */
    public Builder unixSocket(Path socketFile) {
      this.unixSocket = socketFile.toAbsolutePath();
      return this;
    }

    /** Where the log and certificate copies go; {@code target/test-servers} unless set. */
    public Builder workDir(Path dir) {
      this.workDir = dir;
      return this;
    }

    /** Further command-line arguments, appended as given. */
    public Builder args(String... args) {
      extraArgs.addAll(List.of(args));
      return this;
    }

    /** Starts memcached and returns once it has answered {@code version}. */
    public MemcachedProcess start() {
      Path binary = memcachedBinary();
      if (cert != null) {
        requireTlsSupport(binary);
        if (unixSocket != null) {
          throw new IllegalArgumentException("TLS on a Unix socket is not supported here");
        }
      }
      MemcachedProcess server;
      try {
        server = new MemcachedProcess(this);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      if (server.workDir.toString().contains(",")) {
        throw new IllegalArgumentException(
            "memcached's -o cannot take a path with a comma: " + server.workDir);
      }
      boolean autoPort = port == 0;
      server.port = autoPort ? Ports.freeLoopbackPort() : port;
      try {
        server.launch(autoPort);
      } catch (RuntimeException | AssertionError e) {
        server.close();
        throw e;
      }
      return server;
    }
  }
}
