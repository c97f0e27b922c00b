package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MainTest {

  @TempDir Path dir;

  /** The outcome of one in-process invocation. */
  record Result(int code, String out, String err) {}

  private static Result run(Map<String, String> env, String... args) {
    var out = new StringWriter();
    var err = new StringWriter();
    int code = Main.execute(args, env, new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  private static Result run(String... args) {
    return run(Map.of(), args);
  }

  @Test
  void nettyFlightRecorderEventsAreOffUnlessTheOperatorAsked() {
    String before = System.getProperty("io.netty.jfr.enabled");
    try {
      System.clearProperty("io.netty.jfr.enabled");
      Main.noNettyFlightRecorderEventsUnlessAsked();
      assertEquals("false", System.getProperty("io.netty.jfr.enabled"));

      System.setProperty("io.netty.jfr.enabled", "true");
      Main.noNettyFlightRecorderEventsUnlessAsked();
      assertEquals("true", System.getProperty("io.netty.jfr.enabled"));
    } finally {
      if (before == null) {
        System.clearProperty("io.netty.jfr.enabled");
      } else {
        System.setProperty("io.netty.jfr.enabled", before);
      }
    }
  }

  @Test
  void validatePrintsTheEffectiveSettings() throws IOException {
    Path conf =
        Files.writeString(
            dir.resolve("mcmux.conf"),
            "mcmux { upstream.endpoints = [\"cache-1.example:11211\"], event-loops = 2 }\n");
    Result r =
        run(
            Map.of("MCMUX_LIMITS_MAX_CLIENT_CONNECTIONS", "500"),
            "validate",
            "--config",
            conf.toString(),
            "--upstream",
            "cache-2.example:11211",
            "--upstream",
            "cache-3.example",
            "--listen",
            "127.0.0.1:22122");
    assertEquals(0, r.code(), r.err());
    assertTrue(
        r.out()
            .contains(
                "mcmux.upstream.endpoints = [\"cache-2.example:11211\","
                    + " \"cache-3.example:11211\"]\n"),
        r.out());
    assertTrue(r.out().contains("mcmux.listen = \"127.0.0.1:22122\"\n"), r.out());
    assertTrue(r.out().contains("mcmux.event-loops = 2\n"), r.out());
    assertTrue(r.out().contains("mcmux.limits.max-client-connections = 500\n"), r.out());
    assertTrue(r.out().contains("# tls engine: "), r.out());
    assertTrue(r.out().contains("# trusted: the system trust store\n"), r.out());
    assertEquals("", r.err());
  }

  @Test
  void validateWithABadSettingPrintsOneLineAndExits2() {
    Path missing = dir.resolve("ca.pem");
    Result r = run("validate", "--upstream", "cache:11211", "--ca-file", missing.toString());
    assertEquals(2, r.code());
    assertEquals("mcmux: mcmux.tls.ca-file: " + missing + " does not exist\n", r.err());
    assertEquals("", r.out());
  }

  @Test
  void validateChecksTheTlsFilesThemselves() throws IOException {
    Path empty = Files.writeString(dir.resolve("empty.pem"), "");
    Result r = run("validate", "--upstream", "cache:11211", "--ca-file", empty.toString());
    assertEquals(2, r.code());
    assertEquals(
        "mcmux: mcmux.tls.ca-file: " + empty + " contains no PEM certificate (BEGIN CERTIFICATE)\n",
        r.err());
  }

  @Test
  void runWithABadSettingExits2BeforeStarting() {
    Result r = run("run", "--upstream", "cache:11211", "--listen", "0.0.0.0:11211");
    assertEquals(2, r.code());
    assertEquals(
        "mcmux: mcmux.listen: 0.0.0.0:11211 is not a loopback address; use 127.0.0.1, ::1 or"
            + " localhost, or set mcmux.unsafe-listen = true to serve plaintext memcached to the"
            + " network\n",
        r.err());
  }

  @Test
  void runWithoutEndpointsNamesTheSettingAndItsVariable() {
    Result r = run("run");
    assertEquals(2, r.code());
    assertEquals(
        "mcmux: mcmux.upstream.endpoints: at least one memcached host:port is required (in a"
            + " file, with --upstream or MCMUX_UPSTREAM_ENDPOINTS)\n",
        r.err());
  }

  @ParameterizedTest
  @ValueSource(strings = {"run", "validate"})
  void helpWorksForEachSubcommand(String command) {
    Result r = run(command, "--help");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("Usage: mcmux " + command), r.out());
    assertTrue(r.out().contains("--upstream=HOST:PORT"), r.out());
    assertTrue(r.out().contains("--version"), r.out());
  }

  @ParameterizedTest
  @ValueSource(strings = {"run", "validate"})
  void versionWorksForEachSubcommand(String command) {
    Result r = run(command, "--version");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("mcmux "), r.out());
    assertTrue(r.out().contains("Netty 4.2"), r.out());
  }

  @Test
  void topLevelHelpListsTheSubcommands() {
    Result r = run("--help");
    assertEquals(0, r.code());
    assertTrue(r.out().contains("run"), r.out());
    assertTrue(r.out().contains("validate"), r.out());
  }

  @Test
  void noSubcommandPrintsUsageAndExits2() {
    Result r = run();
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("Usage: mcmux"), r.err());
    assertEquals("", r.out());
  }

  @Test
  void unknownFlagIsOneLine() {
    Result r = run("validate", "--bogus");
    assertEquals(2, r.code());
    assertEquals("mcmux: Unknown option: '--bogus' (see 'mcmux validate --help')\n", r.err());
  }

  @Test
  void keepsPerThreadBufferCachesUnlessTheOperatorSaysOtherwise() {
    String name = "io.netty.allocator.lowMemory";
    String before = System.getProperty(name);
    try {
      System.clearProperty(name);
      Main.keepPerThreadBufferCaches();
      assertEquals("false", System.getProperty(name));

      System.setProperty(name, "true");
      Main.keepPerThreadBufferCaches();
      assertEquals("true", System.getProperty(name));
    } finally {
      if (before == null) {
        System.clearProperty(name);
      } else {
        System.setProperty(name, before);
      }
    }
  }
}
