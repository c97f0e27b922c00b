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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A TLS server that offers TLS 1.1 and nothing newer ({@code openssl s_server -tls1_1}), standing
 * in for an outdated memcached endpoint that a client must refuse.
 *
 * <p>OpenSSL 3 forbids TLS 1.1 at its default security level, so both this server and any client
 * meant to reach it need {@code -cipher DEFAULT:@SECLEVEL=0}. It serves one connection at a time,
 * which is enough for handshake tests.
 */
public final class Tls11OnlyServer implements AutoCloseable {

  /** The cipher setting that lets OpenSSL 3 speak TLS 1.1 at all. */
  public static final String LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(15);
  private static final Pattern PROTOCOL = Pattern.compile("Protocol version: (\\S+)");

  private final Process process;
  private final int port;
  private final Path log;

  private Tls11OnlyServer(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  /** Starts {@code openssl s_server} with {@code cert} on a free loopback port, once it listens. */
  public static Tls11OnlyServer start(CertPair cert) {
    try {
      Path dir = Path.of(System.getProperty("user.dir"), "target", "test-servers");
      Path log = Files.createTempFile(Files.createDirectories(dir), "openssl-tls11-", ".log");
      int port = Ports.freeLoopbackPort();
      List<String> command =
          List.of(
              "openssl",
              "s_server",
              "-tls1_1",
              "-cipher",
              LEGACY_CIPHERS,
              "-cert",
              cert.cert().toString(),
              "-key",
              cert.key().toString(),
              "-accept",
              InetAddress.getLoopbackAddress().getHostAddress() + ":" + port);
      // stdin stays an open pipe: s_server shuts down when its stdin reaches end of file.
      Process process = ChildProcesses.start(command, log);
      Tls11OnlyServer server = new Tls11OnlyServer(process, port, log);
      server.awaitListening();
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The port it accepts on, at 127.0.0.1. */
  public int port() {
    return port;
  }

  /** 127.0.0.1 and {@link #port()}. */
  public InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
  }

  /** The server's output: accepted handshakes, shared ciphers, errors. */
  public Path logFile() {
    return log;
  }

  /**
   * Handshakes with {@code openssl s_client} given {@code clientOptions} (e.g. {@code -tls1_1
   * -cipher DEFAULT:@SECLEVEL=0}) and returns the negotiated protocol, or empty when the handshake
   * failed.
   */
  public Optional<String> openSslHandshake(String... clientOptions) {
    List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-brief"));
    command.addAll(List.of(clientOptions));
    command.addAll(List.of("-connect", address().getHostString() + ":" + port));
    try {
      Process client = new ProcessBuilder(command).redirectErrorStream(true).start();
      // End of input makes s_client close the connection right after the handshake.
      client.getOutputStream().close();
      String output = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!client.waitFor(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        client.destroyForcibly();
        throw new AssertionError("openssl s_client did not finish: " + output);
      }
      Matcher protocol = PROTOCOL.matcher(output);
      return client.exitValue() == 0 && output.contains("CONNECTION ESTABLISHED") && protocol.find()
          ? Optional.of(protocol.group(1))
          : Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL if it lingers). */
  @Override
  public void close() {
    process.destroy();
    if (!ChildProcesses.awaitExit(process, Duration.ofSeconds(5))) {
      process.destroyForcibly();
      ChildProcesses.awaitExit(process, Duration.ofSeconds(5));
    }
  }

  private void awaitListening() {
    try {
      Await.until(
          "openssl s_server to listen on port " + port,
          START_TIMEOUT,
          () -> {
            if (!process.isAlive()) {
              throw new AssertionError(
                  "openssl s_server exited with status "
                      + process.exitValue()
                      + ":\n"
                      + ChildProcesses.tail(log, 4_000));
            }
            // A bare TCP connection is enough: s_server logs the failed handshake and accepts
            // again.
            try (Socket probe = new Socket()) {
              probe.connect(address(), 1_000);
              return true;
            }
          });
    } catch (AssertionError e) {
      close();
      throw e;
    }
  }
}
