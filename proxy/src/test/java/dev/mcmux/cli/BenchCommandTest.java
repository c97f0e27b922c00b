package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Option handling of {@code mcmux bench}; every case here fails before opening a socket. */
class BenchCommandTest {

  record Result(int code, String out, String err) {}

  private static Result run(String... args) {
    var out = new StringWriter();
    var err = new StringWriter();
    int code = Main.execute(args, Map.of(), new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void helpListsTheOptions() {
    Result r = run("bench", "--help");
    assertEquals(0, r.code());
    for (String option :
        new String[] {
          "--target", "--ca-file", "--insecure", "--connections", "--pipeline", "--get-ratio",
          "--value-size", "--keys", "--duration", "--warmup", "--connect-per-request", "--workers",
          "--threads", "--hgrm-dir", "--svg", "--seed", "--progress", "--fail-on-errors"
        }) {
      assertTrue(r.out().contains(option), option + " in\n" + r.out());
    }
  }

  @Test
  void aTargetIsRequired() {
    Result r = run("bench");
    assertEquals(Main.EXIT_USAGE, r.code());
    assertTrue(r.err().contains("--target"), r.err());
  }

  @Test
  void badValuesAreUsageErrorsOnOneLine() {
    String[][] cases = {
      {"--target", "x"},
      {"--target", "a=http://h:1"},
      {"--target", "a=h:99999"},
      {"--target", "a=h:1", "--duration", "soon"},
      {"--target", "a=h:1", "--get-ratio", "1.5"},
      {"--target", "a=h:1", "--value-size", "10"},
      {"--target", "a=h:1", "--connect-per-request", "--pipeline", "4"},
      {"--target", "a=tls://h:1", "--ca-file", "/nonexistent/ca.pem"},
      {"--target", "a=tls://h:1", "--ca-file", "/etc/hostname", "--insecure"},
      {"--target", "a=h:1", "--target", "a=h:2"},
      {"--target", "a=h:1", "--threads", "4", "--connections", "2"},
    };
    for (String[] c : cases) {
      String[] args = new String[c.length + 1];
      args[0] = "bench";
      System.arraycopy(c, 0, args, 1, c.length);
      Result r = run(args);
      assertEquals(Main.EXIT_USAGE, r.code(), String.join(" ", c) + ": " + r.err());
      assertTrue(r.err().startsWith("mcmux: "), r.err());
      assertEquals(1, r.err().lines().count(), r.err());
      assertEquals("", r.out());
    }
  }

  @Test
  void aCaFileThatIsNotPemIsAUsageError() {
    Result r = run("bench", "--target", "a=tls://localhost:1", "--ca-file", "/etc/hostname");
    assertEquals(Main.EXIT_USAGE, r.code(), r.err());
    assertTrue(r.err().contains("--ca-file"), r.err());
  }
}
