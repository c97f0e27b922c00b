package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.check.MiniJson;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine.TypeConversionException;

/** What {@code mcmux check} does before it touches the network. */
class CheckCommandTest {

  @TempDir Path dir;

  record Result(int code, String out, String err) {}

  private static Result run(String... args) {
    var out = new StringWriter();
    var err = new StringWriter();
    int code = Main.execute(args, Map.of(), new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void helpNamesEveryFlagAndTheExitCodes() {
    Result r = run("check", "--help");
    assertEquals(0, r.code(), r.err());
    for (String flag :
        new String[] {
          "ENDPOINT",
          "--ca-file",
          "--server-name",
          "--cert-file",
          "--key-file",
          "--key-password",
          "--timeout",
          "--insecure",
          "--json",
          "--config"
        }) {
      assertTrue(r.out().contains(flag), flag + " in " + r.out());
    }
    assertTrue(r.out().contains("mcmux check: FAILED"), r.out());
  }

  @Test
  void theTopLevelHelpListsCheck() {
    assertTrue(run("--help").out().contains("check"));
  }

  @Test
  void anUnusableSettingFailsWithTheSettingNamed() {
    Path missing = dir.resolve("ca.pem");
    Result r = run("check", "cache.example:11211", "--ca-file", missing.toString());
    assertEquals(1, r.code());
    assertEquals(
        "hint           mcmux run would refuse to start with these settings too\n"
            + "mcmux check: FAILED: mcmux.tls.ca-file: "
            + missing
            + " does not exist\n",
        r.out());
  }

  @Test
  void anUnusableSettingInJsonIsAFailureObject() {
    Path missing = dir.resolve("ca.pem");
    Result r = run("check", "cache.example", "--ca-file", missing.toString(), "--json");
    assertEquals(1, r.code());
    Map<String, Object> json = MiniJson.object(r.out());
    assertEquals(false, json.get("ok"));
    Map<?, ?> failure = (Map<?, ?>) json.get("failure");
    assertEquals("settings", failure.get("kind"));
    assertEquals("mcmux.tls.ca-file: " + missing + " does not exist", failure.get("reason"));
  }

  @Test
  void aBadEndpointIsASettingFailure() {
    Result r = run("check", "cache.example:http");
    assertEquals(1, r.code());
    assertEquals(
        "mcmux check: FAILED: mcmux.upstream.endpoints: 'cache.example:http' has no valid port",
        r.out().lines().reduce((a, b) -> b).orElseThrow());
  }

  @Test
  void aTimeoutNeedsAUnit() {
    Result r = run("check", "cache.example", "--timeout", "5");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("'5' is not a duration such as 500ms, 5s or 1m"), r.err());
  }

  @Test
  void anEndpointIsRequired() {
    Result r = run("check");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("mcmux: Missing required parameter: 'ENDPOINT'"), r.err());
  }

  @ParameterizedTest
  @CsvSource({"500ms, 500", "5s, 5000", "1.5s, 1500", "1m, 60000", "2S, 2000"})
  void durationsRead(String text, long millis) {
    assertEquals(Duration.ofMillis(millis), new CheckCommand.DurationConverter().convert(text));
  }

  @Test
  void zeroIsNotATimeout() {
    assertThrows(
        TypeConversionException.class, () -> new CheckCommand.DurationConverter().convert("0s"));
  }
}
