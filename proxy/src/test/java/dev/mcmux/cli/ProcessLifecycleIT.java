package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Await;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shaded jar as operators run it: start, serve, reload on SIGHUP, stop on SIGTERM. */
class ProcessLifecycleIT {
  private static final Path JAR = Path.of("target", "mcmux.jar");

  @TempDir static Path dir;
  static TestPki pki;
  static MemcachedProcess memcached;

  @BeforeAll
  static void start() {
    assertTrue(Files.exists(JAR), "the package phase builds " + JAR.toAbsolutePath());
    pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
  }

  @AfterAll
  static void stop() {
    memcached.close();
  }

  private static Process mcmux(Path log, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-jar", JAR.toString()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private static String javaBinary() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  @Test
  void servesThenStopsOnSigtermWithExitZero() throws Exception {
    int port = Ports.freeLoopbackPort();
    int adminPort = Ports.freeLoopbackPort();
    Path log = dir.resolve("run.log");
    Process p =
        mcmux(
            log,
            "run",
            "--listen",
            "127.0.0.1:" + port,
            "--upstream",
            "localhost:" + memcached.port(),
            "--ca-file",
            pki.caFile().toString(),
            "--admin-listen",
            "127.0.0.1:" + adminPort);
    try {
      HttpClient http = HttpClient.newHttpClient();
      Await.until(
          "mcmux is ready",
          Duration.ofSeconds(30),
          () -> {
            try {
              return http.send(
                          HttpRequest.newBuilder(
                                  URI.create("http://127.0.0.1:" + adminPort + "/readyz"))
                              .build(),
                          HttpResponse.BodyHandlers.ofString())
                      .statusCode()
                  == 200;
            } catch (IOException e) {
              return false;
            }
          });
      try (TextClient c = TextClient.connect(port)) {
        c.send("set lifecycle 0 0 2\r\nok\r\nget lifecycle\r\n");
        assertEquals("STORED", c.readLine());
        assertEquals("VALUE lifecycle 0 2\r\nok\r\nEND\r\n", c.readUntilEnd());
      }
      new ProcessBuilder("kill", "-HUP", Long.toString(p.pid())).start().waitFor();
      Await.until(
          "SIGHUP reloads the certificates",
          Duration.ofSeconds(10),
          () -> Files.readString(log).contains("TLS material reloaded"));
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "exits within the grace period");
      assertEquals(0, p.exitValue(), Files.readString(log));
      assertTrue(Files.readString(log).contains("mcmux stopped"));
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void badConfigurationIsOneLineAndExitTwoBeforeBinding() throws Exception {
    int port = Ports.freeLoopbackPort();
    Path log = dir.resolve("bad.log");
    Process p =
        mcmux(
            log,
            "run",
            "--listen",
            "0.0.0.0:" + port,
            "--upstream",
            "localhost:" + memcached.port(),
            "--ca-file",
            pki.caFile().toString());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(2, p.exitValue());
    List<String> lines = Files.readAllLines(log);
    assertEquals(1, lines.size(), String.join("\n", lines));
    assertTrue(lines.get(0).startsWith("mcmux: mcmux.listen: 0.0.0.0:" + port), lines.get(0));
    assertTrue(Ports.canBind(port), "nothing was bound");
  }
}
