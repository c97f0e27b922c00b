package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * libmemcached's protocol conformance tester {@code memccapable} (Debian's libmemcached-tools) run
 * against mcmux in front of three TLS nodes, once in ASCII mode ({@code -a}) and once in binary
 * mode ({@code -b}); every one of its tests must pass.
 */
@ExtendWith(LeakDetection.class)
class MemccapableIT {
  static final Path MEMCCAPABLE = Path.of("/usr/bin/memccapable");

  @TempDir static Path dir;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    assertTrue(
        Files.isExecutable(MEMCCAPABLE),
        "memccapable is missing: install Debian's libmemcached-tools");
    TestPki pki = TestPki.create(dir);
    List<String> endpoints = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      nodes.add(m);
      endpoints.add("localhost:" + m.port());
    }
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .start();
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  /** Runs memccapable with {@code modeFlag}; returns its output after checking it passed. */
  private static String run(String modeFlag, String logName) throws Exception {
    Path log = dir.resolve(logName);
    Process p =
        new ProcessBuilder(
                MEMCCAPABLE.toString(),
                "-h",
                "127.0.0.1",
                "-p",
                Integer.toString(mcmux.port()),
                "-t",
                "10",
                modeFlag)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      assertTrue(p.waitFor(120, TimeUnit.SECONDS), "memccapable did not finish");
    } finally {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("All tests passed"), out);
    return out;
  }

  @Test
  void asciiModePassesEveryTest() throws Exception {
    String out = run("-a", "ascii.log");
    assertTrue(out.contains("ascii mget"), out);
  }

  @Test
  void binaryModePassesEveryTest() throws Exception {
    String out = run("-b", "binary.log");
    for (String test : List.of("binary getkq", "binary quitq", "binary stat", "binary incrq")) {
      assertTrue(out.contains(test + " "), test + " did not run:\n" + out);
    }
    assertTrue(!out.contains("[FAIL]"), out);
  }
}
