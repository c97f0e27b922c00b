package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.bench.Bench;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TestPki.Kind;
import dev.mcmux.testing.TextClient;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code mcmux bench} against real memcached servers, plaintext and TLS, through the CLI. */
@ExtendWith(LeakDetection.class)
class BenchIT {

  @TempDir static Path dir;
  static TestPki pki;

  @BeforeAll
  static void createPki() {
    pki = TestPki.create(dir.resolve("pki"));
  }

  record Result(int code, String out, String err) {

    /** The cells of the table row of {@code target}. */
    String[] row(String target) {
      for (String line : out.split("\n")) {
        if (line.startsWith("| " + target + " ")) {
          String[] cells = line.split("\\|");
          return Arrays.stream(cells).skip(1).map(String::strip).toArray(String[]::new);
        }
      }
      throw new AssertionError("no row for " + target + " in\n" + out + "\n" + err);
    }

    long ops(String target) {
      return Long.parseLong(row(target)[1].replace(",", ""));
    }

    String mismatches(String target) {
      return row(target)[8];
    }

    @Override
    public String toString() {
      return "exit " + code + "\n" + out + "\nstderr:\n" + err;
    }
  }

  private static Result bench(String... args) {
    List<String> all = new ArrayList<>(List.of("bench"));
    all.addAll(List.of(args));
    var out = new StringWriter();
    var err = new StringWriter();
    int code =
        Main.execute(
            all.toArray(String[]::new), Map.of(), new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  private static String plain(MemcachedProcess m) {
    return "127.0.0.1:" + m.port();
  }

  private static String tls(MemcachedProcess m) {
    return "tls://localhost:" + m.port();
  }

  @Test
  void plainAndTlsSideBySideWithHistogramsAndChart() throws Exception {
    Path hgrm = dir.resolve("hgrm");
    Path svg = dir.resolve("charts/latency.svg");
    try (MemcachedProcess plain = MemcachedProcess.plain().start();
        MemcachedProcess tls = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      Result r =
          bench(
              "--target",
              "plain=" + plain(plain),
              "--target",
              "tls=" + tls(tls),
              "--ca-file",
              pki.caFile().toString(),
              "--connections",
              "8",
              "--duration",
              "2s",
              "--warmup",
              "1s",
              "--hgrm-dir",
              hgrm.toString(),
              "--svg",
              svg.toString(),
              "--fail-on-errors");
      assertEquals(Bench.EXIT_OK, r.code(), r.toString());
      assertTrue(r.ops("plain") > 0, r.toString());
      assertTrue(r.ops("tls") > 0, r.toString());
      assertEquals("100.0 %", r.row("plain")[2], r.toString());
      assertEquals("0", r.mismatches("plain"), r.toString());
      assertEquals("0", r.mismatches("tls"), r.toString());
      assertEquals("0", r.row("tls")[7], r.toString());
      assertTrue(r.out().contains("TLSv1.3"), r.toString());
      // Every key was preloaded on both servers.
      assertEquals("10000", plain.stats().get("curr_items"));
      assertEquals("10000", tls.stats().get("curr_items"));

      for (String name : List.of("plain", "tls")) {
        String text = Files.readString(hgrm.resolve(name + ".hgrm"));
        assertTrue(text.contains("Value     Percentile TotalCount 1/(1-Percentile)"), text);
        assertTrue(text.contains("#[Max     ="), text);
      }
      String chart = Files.readString(svg);
      assertTrue(chart.startsWith("<svg"), chart);
      assertEquals(2, chart.split("<polyline").length - 1, chart);
      assertTrue(chart.contains(">plain<") && chart.contains(">tls<"), chart);
    }
  }

  @Test
  void pipelinedLargeSetsOverTlsDoNotStall() {
    // Large values split sets across TLS records; without a record boundary after each set,
    // memcached before 1.6.39 leaves the next command unread and the connection times out.
    try (MemcachedProcess tls = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      Result r =
          bench(
              "--target",
              "tls=" + tls(tls),
              "--ca-file",
              pki.caFile().toString(),
              "--connections",
              "4",
              "--pipeline",
              "16",
              "--get-ratio",
              "0.2",
              "--value-size",
              "3000",
              "--keys",
              "500",
              "--duration",
              "2s",
              "--warmup",
              "0s",
              "--timeout",
              "1s",
              "--fail-on-errors");
      assertEquals(Bench.EXIT_OK, r.code(), r.toString());
      assertTrue(r.ops("tls") > 0, r.toString());
    }
  }

  @Test
  void connectPerRequestAgainstPlainAndTls() {
    try (MemcachedProcess plain = MemcachedProcess.plain().start();
        MemcachedProcess tls = MemcachedProcess.tls(pki.server(Kind.LOCALHOST)).start()) {
      Result r =
          bench(
              "--target",
              "plain=" + plain(plain),
              "--target",
              "tls=" + tls(tls),
              "--ca-file",
              pki.caFile().toString(),
              "--connect-per-request",
              "--workers",
              "4",
              "--connections",
              "2",
              "--keys",
              "100",
              "--duration",
              "1s",
              "--warmup",
              "0s",
              "--fail-on-errors");
      assertEquals(Bench.EXIT_OK, r.code(), r.toString());
      assertTrue(r.ops("plain") > 0, r.toString());
      assertTrue(r.ops("tls") > 0, r.toString());
      assertTrue(r.out().contains("connect per request, 4 workers"), r.toString());
      // Each request had its own connection: far more were opened than the 2 for the preload.
      long total = Long.parseLong(tls.stats().get("total_connections"));
      assertTrue(total > r.ops("tls"), total + " connections for " + r);
    }
  }

  /**
   * One kind of vandalism per run: the report lists only the first few mismatches, so a run with
   * both kinds could list only one of them.
   */
  @ParameterizedTest
  @ValueSource(strings = {"bad header", "value of another key"})
  void valuesOverwrittenByAnotherClientAreMismatches(String kind) throws Exception {
    boolean garbage = kind.equals("bad header");
    try (MemcachedProcess plain = MemcachedProcess.plain().start()) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Thread vandal =
          new Thread(
              () -> {
                try (TextClient c = plain.connect()) {
                  while (!stop.get()) {
                    if (garbage) {
                      // Garbage of the right length.
                      c.send("set key:3 0 0 100\r\n" + "x".repeat(100) + "\r\n");
                      c.readLine();
                    } else {
                      // A genuine value of another key.
                      c.send("get key:5\r\n");
                      String header = c.readLine();
                      if (header.startsWith("VALUE ")) {
                        String data = c.readLine();
                        c.readLine(); // END
                        c.send("set key:4 " + header.split(" ")[2] + " 0 100\r\n" + data + "\r\n");
                        c.readLine();
                      }
                    }
                    // Pacing, not synchronisation: leave the bench most of the server.
                    Thread.sleep(2);
                  }
                } catch (Throwable t) {
                  failure.set(t);
                }
              },
              "vandal");
      vandal.start();
      Result r;
      try {
        r =
            bench(
                "--target", "plain=" + plain(plain),
                "--keys", "8",
                "--get-ratio", "1",
                "--connections", "2",
                "--duration", "2s",
                "--warmup", "0s");
      } finally {
        stop.set(true);
        vandal.join();
      }
      assertEquals(null, failure.get(), () -> r.toString());
      assertEquals(Bench.EXIT_MISMATCH, r.code(), r.toString());
      assertTrue(r.mismatches("plain").matches("\\*\\*[\\d,]+\\*\\*"), r.toString());
      assertTrue(r.out().contains("**!!! MISMATCH: "), r.toString());
      assertTrue(r.err().contains("!!! MISMATCH: "), r.toString());
      assertTrue(r.out().contains(kind), r.toString());
    }
  }

  @Test
  void aValueRolledBackToAnOlderVersionIsAMismatch() throws Exception {
    try (MemcachedProcess plain = MemcachedProcess.plain().start()) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Thread rollback =
          new Thread(
              () -> {
                try (TextClient c = plain.connect()) {
                  String header = "";
                  String data = null;
                  // The first value the bench stores (its preload), kept to be restored later.
                  while (data == null && !stop.get()) {
                    c.send("get key:0\r\n");
                    header = c.readLine();
                    if (header.startsWith("VALUE ")) {
                      data = c.readLine();
                      c.readLine();
                    }
                  }
                  // Wait until the bench has written a newer version, so restoring this one is a
                  // rollback the bench must notice.
                  String first = data;
                  String now = first;
                  while (now.equals(first) && !stop.get()) {
                    c.send("get key:0\r\n");
                    String h = c.readLine();
                    if (h.startsWith("VALUE ")) {
                      now = c.readLine();
                      c.readLine();
                    }
                  }
                  while (!stop.get()) {
                    c.send("set key:0 " + header.split(" ")[2] + " 0 100\r\n" + data + "\r\n");
                    c.readLine();
                    // Pacing, not synchronisation: leave the bench most of the server.
                    Thread.sleep(2);
                  }
                } catch (Throwable t) {
                  failure.set(t);
                }
              },
              "rollback");
      rollback.start();
      Result r;
      try {
        r =
            bench(
                "--target", "plain=" + plain(plain),
                "--keys", "2",
                "--get-ratio", "0.5",
                "--connections", "2",
                "--duration", "2s",
                "--warmup", "0s");
      } finally {
        stop.set(true);
        rollback.join();
      }
      assertEquals(null, failure.get(), () -> r.toString());
      assertEquals(Bench.EXIT_MISMATCH, r.code(), r.toString());
      assertTrue(r.out().contains("older than a version already known to be stored"), r.toString());
    }
  }

  @Test
  void anUnreachableTargetFailsWithoutHidingTheOthers() {
    try (MemcachedProcess plain = MemcachedProcess.plain().start()) {
      int nobody = Ports.freeLoopbackPort();
      Result r =
          bench(
              "--target", "down=127.0.0.1:" + nobody,
              "--target", "plain=" + plain(plain),
              "--connections", "2",
              "--duration", "1s",
              "--warmup", "0s");
      assertEquals(Bench.EXIT_FAILED, r.code(), r.toString());
      assertEquals("failed", r.row("down")[1], r.toString());
      assertTrue(r.ops("plain") > 0, r.toString());
      assertTrue(r.out().contains("FAILED: no connection could be opened"), r.toString());
      assertTrue(r.err().contains("down: no connection could be opened"), r.toString());
    }
  }

  @Test
  void roundsRunEveryTargetAgainInReverseOrderAndCombine() {
    try (MemcachedProcess first = MemcachedProcess.plain().start();
        MemcachedProcess second = MemcachedProcess.plain().start()) {
      int nobody = Ports.freeLoopbackPort();
      Result r =
          bench(
              "--target", "a=" + plain(first),
              "--target", "b=" + plain(second),
              "--target", "down=127.0.0.1:" + nobody,
              "--connections", "2",
              "--duration", "1s",
              "--warmup", "0s",
              "--rounds", "2");
      assertEquals(Bench.EXIT_FAILED, r.code(), r.toString());
      assertTrue(r.out().contains("2 rounds (target order reversed every other round)"), r.out());
      // The failing target is reported in each round, last in the first and first in the second.
      int round1 = r.err().indexOf("down (round 1): no connection could be opened");
      int round2 = r.err().indexOf("down (round 2): no connection could be opened");
      assertTrue(round1 >= 0 && round2 > round1, r.err());
      for (String name : new String[] {"a", "b"}) {
        java.util.regex.Matcher m =
            java.util.regex.Pattern.compile(
                    "- " + name + " \\(.*; ops/s by round: ([0-9,]+), ([0-9,]+)")
                .matcher(r.out());
        assertTrue(m.find(), r.out());
        long sum = 0;
        for (int g = 1; g <= 2; g++) {
          long rate = Long.parseLong(m.group(g).replace(",", ""));
          assertTrue(rate > 0, r.out());
          sum += rate;
        }
        // Two windows of (nearly) the same length: the combined rate is about the rounds' mean.
        double mean = sum / 2.0;
        long combined = r.ops(name);
        assertTrue(
            Math.abs(combined - mean) <= 0.02 * mean + 2, combined + " vs " + mean + r.out());
      }
    }
  }

  @Test
  void theCpuOfTheProcessServingATargetIsReportedPerRequest() {
    try (MemcachedProcess plain = MemcachedProcess.plain().start()) {
      // Any process serving the target will do; here memcached itself stands where a proxy would.
      Result r =
          bench(
              "--target", "plain=" + plain(plain),
              "--proxy-pid", "plain=" + plain.pid(),
              "--connections", "8",
              "--duration", "2s",
              "--warmup", "1s");
      assertEquals(Bench.EXIT_OK, r.code(), r.toString());
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile(
                  "- plain \\(.*; CPU per request: bench ([0-9.]+) us \\(([0-9.]+) of it system\\),"
                      + " proxy ([0-9.]+) us \\(([0-9.]+) of it system; ([0-9.]+) cores\\)")
              .matcher(r.out());
      assertTrue(m.find(), r.toString());
      // memcached answered every request of the window, so it used some CPU for them.
      // Both processes did system calls for every request, so both have kernel time.
      for (int g = 1; g <= 5; g++) {
        assertTrue(Double.parseDouble(m.group(g)) > 0, g + ": " + r);
      }

      Result gone =
          bench("--target", "plain=" + plain(plain), "--proxy-pid", "plain=" + Integer.MAX_VALUE);
      assertEquals(Main.EXIT_USAGE, gone.code(), gone.toString());
      assertTrue(
          gone.err()
              .contains(
                  "--proxy-pid plain="
                      + Integer.MAX_VALUE
                      + ": no CPU time can be read for process "
                      + Integer.MAX_VALUE),
          gone.toString());
    }
  }

  @Test
  void anUntrustedCertificateIsRefusedUnlessInsecure() {
    try (MemcachedProcess tls = MemcachedProcess.tls(pki.server(Kind.UNTRUSTED_CA)).start()) {
      Result refused =
          bench(
              "--target", "tls=" + tls(tls),
              "--ca-file", pki.caFile().toString(),
              "--connections", "2",
              "--duration", "1s",
              "--warmup", "0s");
      assertEquals(Bench.EXIT_FAILED, refused.code(), refused.toString());
      assertTrue(refused.out().contains("connect (first: "), refused.toString());

      Result insecure =
          bench(
              "--target",
              "tls=" + tls(tls),
              "--insecure",
              "--connections",
              "2",
              "--duration",
              "1s",
              "--warmup",
              "0s");
      assertEquals(Bench.EXIT_OK, insecure.code(), insecure.toString());
      assertTrue(insecure.err().contains("WARNING: --insecure"), insecure.toString());
      assertTrue(insecure.out().contains("NOT VERIFIED"), insecure.toString());
    }
  }
}
