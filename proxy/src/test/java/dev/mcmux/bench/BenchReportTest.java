package dev.mcmux.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.xml.parsers.DocumentBuilderFactory;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.xml.sax.InputSource;

class BenchReportTest {

  private static BenchConfig config() {
    return new BenchConfig(
        List.of(Target.parse("plain=127.0.0.1:1"), Target.parse("tls=tls://localhost:2")),
        Optional.of(Path.of("ca.pem")),
        false,
        50,
        1,
        0.9,
        100,
        10_000,
        Duration.ofSeconds(10),
        Duration.ofSeconds(5),
        false,
        50,
        1,
        Duration.ofSeconds(2),
        Optional.empty(),
        Optional.empty(),
        1,
        false,
        false,
        1,
        Map.of());
  }

  private static TargetResult result(String spec, long ops, long baseMicros, long mismatches) {
    Histogram h = new Histogram(3);
    for (int i = 0; i < 1000; i++) {
      h.recordValue(baseMicros + i);
    }
    return new TargetResult(
        Target.parse(spec),
        Optional.empty(),
        ops,
        ops * 9 / 10,
        ops / 10,
        0,
        mismatches,
        mismatches > 0 ? List.of("key:3: value of another key: ...") : List.of(),
        mismatches > 0 ? Map.of(ErrorKind.TIMEOUT, 2L) : Map.of(),
        mismatches > 0 ? Map.of(ErrorKind.TIMEOUT, "no answer within 2000 ms") : Map.of(),
        h,
        10,
        0.5,
        0.4,
        Optional.empty(),
        50,
        0,
        4.0,
        Double.NaN,
        Double.NaN);
  }

  @Test
  void tableComparesEveryTargetWithTheFirst() {
    String table =
        Report.table(
            List.of(
                result("plain=127.0.0.1:1", 1_000_000, 100, 0),
                result("tls=tls://localhost:2", 600_000, 1000, 0)));
    String[] lines = table.split("\n");
    assertEquals(4, lines.length, table);
    assertTrue(
        lines[0].matches("\\| target +\\| +ops/s \\| % of first \\|.*mismatches \\|"), table);
    assertTrue(lines[1].startsWith("|:-"), table);
    assertTrue(
        lines[2].matches("\\| plain +\\| +100,000 \\| +100\\.0 % \\| +0\\.599 \\|.*"), table);
    assertTrue(lines[3].matches("\\| tls +\\| +60,000 \\| +60\\.0 % \\| +1\\.499 \\|.*"), table);
    // Every line has the same length: columns are padded.
    for (String line : lines) {
      assertEquals(lines[0].length(), line.length(), table);
    }
  }

  @Test
  void failuresAndMismatchesStandOut() {
    TargetResult failed =
        new TargetResult(
            Target.parse("down=127.0.0.1:3"),
            Optional.of("no connection could be opened: Connection refused"),
            0,
            0,
            0,
            0,
            0,
            List.of(),
            Map.of(ErrorKind.CONNECT, 50L),
            Map.of(ErrorKind.CONNECT, "Connection refused"),
            new Histogram(3),
            0,
            Double.NaN,
            Double.NaN,
            Optional.empty(),
            0,
            0,
            Double.NaN,
            Double.NaN,
            Double.NaN);
    String report =
        Report.render(
            config(),
            List.of(result("plain=127.0.0.1:1", 1000, 100, 0), failed, result("bad=x:4", 1, 5, 7)),
            Map.of(),
            "test");
    assertTrue(report.contains("| down   | failed |        n/a |        - |"), report);
    assertTrue(report.contains("FAILED: no connection could be opened"), report);
    assertTrue(report.contains("50 connect (first: Connection refused)"), report);
    assertTrue(report.contains("|      **7** |"), report);
    assertTrue(report.contains("**!!! MISMATCH: 7 values read from bad"), report);
    assertTrue(report.contains("  - key:3: value of another key"), report);
    assertTrue(
        report.startsWith(
            "### mcmux bench: 50 connections x pipeline 1, 90 % gets, 100-byte values,"
                + " 10,000 keys, warmup 5s, measured 10s\n"),
        report);
  }

  @Test
  void svgIsWellFormedWithOneLinePerTargetWithSamples() throws Exception {
    String svg =
        SvgChart.render(
            "title <&>",
            "sub",
            List.of(
                new SvgChart.Series("plain", result("plain=a:1", 1, 100, 0).latency()),
                new SvgChart.Series("empty", new Histogram(3)),
                new SvgChart.Series("tls", result("tls=a:2", 1, 900, 0).latency())));
    Document doc =
        DocumentBuilderFactory.newInstance()
            .newDocumentBuilder()
            .parse(new InputSource(new StringReader(svg)));
    assertEquals("svg", doc.getDocumentElement().getNodeName());
    assertEquals(2, doc.getElementsByTagName("polyline").getLength());
    assertTrue(svg.contains("title &lt;&amp;&gt;"));
    assertTrue(svg.contains(">99.9 %<"), svg);
    assertTrue(svg.contains(">no samples<"), svg);
  }

  @Test
  void configRejectsNonsense() {
    BenchConfig ok = config();
    assertEquals(50, ok.connections());
    List<Target> one = List.of(Target.parse("a=h:1"));
    Map<String, List<Long>> noPids = Map.of();
    String[] expected = {
      "--pipeline does not apply to --connect-per-request",
      "--ca-file is given but no target is tls://",
      "--value-size must be in 37..",
      "--target name 'a' is used twice",
      "--rounds must be in 1..100",
      "--proxy-pid names no --target 'haproxy'"
    };
    Runnable[] attempts = {
      () -> small(one, Optional.empty(), true, 2, 40, 1, noPids),
      () -> small(one, Optional.of(Path.of("ca")), false, 1, 40, 1, noPids),
      () -> small(one, Optional.empty(), false, 1, 36, 1, noPids),
      () -> small(List.of(one.get(0), one.get(0)), Optional.empty(), false, 1, 40, 1, noPids),
      () -> small(one, Optional.empty(), false, 1, 40, 0, noPids),
      () -> small(one, Optional.empty(), false, 1, 40, 1, Map.of("haproxy", List.of(1L)))
    };
    for (int i = 0; i < attempts.length; i++) {
      try {
        attempts[i].run();
        throw new AssertionError("accepted: " + expected[i]);
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage().startsWith(expected[i]), e.getMessage());
      }
    }
  }

  @Test
  void roundsCombineIntoOneRowAndTheNotesListEachRoundsRate() {
    TargetResult first = result("mcmux=127.0.0.1:3", 400_000, 500, 0);
    TargetResult second = result("mcmux=127.0.0.1:3", 600_000, 700, 0);
    TargetResult combined = TargetResult.combine(List.of(first, second));
    // 1,000,000 requests in two 10 s windows.
    assertEquals(50_000, combined.opsPerSecond(), 0.001);
    assertEquals(2_000, combined.latency().getTotalCount());
    assertEquals(500, combined.latency().getMinValue());
    assertEquals(20, combined.seconds(), 0.001);
    assertEquals(900_000, combined.gets());
    assertEquals(0.5, combined.cpuCores(), 1e-9);
    assertEquals(0.4, combined.busiestLoopCores(), 1e-9);
    // A round whose CPU could not be read leaves the others' figures standing.
    TargetResult unknownCpu =
        new TargetResult(
            second.target(),
            second.failure(),
            second.ops(),
            second.gets(),
            second.sets(),
            second.misses(),
            second.mismatches(),
            second.mismatchSamples(),
            second.errors(),
            second.firstErrors(),
            second.latency(),
            second.seconds(),
            Double.NaN,
            Double.NaN,
            second.tlsSession(),
            second.connectionsOpened(),
            second.reconnects(),
            Double.NaN,
            Double.NaN,
            Double.NaN);
    TargetResult partly = TargetResult.combine(List.of(unknownCpu, first));
    assertEquals(0.5, partly.cpuCores(), 1e-9);
    assertEquals(0.4, partly.busiestLoopCores(), 1e-9);

    TargetResult failedOnce =
        TargetResult.combine(List.of(result("x=127.0.0.1:4", 10, 5, 2), first));
    assertEquals(2, failedOnce.mismatches());
    assertEquals(Map.of(ErrorKind.TIMEOUT, 2L), failedOnce.errors());

    BenchConfig two = withRounds(config(), 2);
    String report =
        Report.render(
            two,
            List.of(combined),
            Map.of("mcmux", List.of(first, second)),
            "1 event loop (epoll), TLS not used, seed 1, timeout 2s");
    assertTrue(report.contains("2 rounds (target order reversed every other round)"), report);
    assertTrue(report.contains("ops/s by round: 40,000, 60,000"), report);
    assertTrue(report.contains("| 50,000 |"), report);
  }

  /** One connection and one key; the options that the validation tests vary are the arguments. */
  private static BenchConfig small(
      List<Target> targets,
      Optional<Path> caFile,
      boolean connectPerRequest,
      int pipeline,
      int valueSize,
      int rounds,
      Map<String, List<Long>> proxyPids) {
    Duration s = Duration.ofSeconds(1);
    return new BenchConfig(
        targets,
        caFile,
        false,
        1,
        pipeline,
        1,
        valueSize,
        1,
        s,
        s,
        connectPerRequest,
        1,
        1,
        s,
        Optional.empty(),
        Optional.empty(),
        1,
        false,
        false,
        rounds,
        proxyPids);
  }

  private static BenchConfig withProxyPids(BenchConfig c, Map<String, List<Long>> pids) {
    return withRoundsAndPids(c, c.rounds(), pids);
  }

  private static BenchConfig withRounds(BenchConfig c, int rounds) {
    return withRoundsAndPids(c, rounds, c.proxyPids());
  }

  private static BenchConfig withRoundsAndPids(
      BenchConfig c, int rounds, Map<String, List<Long>> pids) {
    return new BenchConfig(
        c.targets(),
        c.caFile(),
        c.insecure(),
        c.connections(),
        c.pipeline(),
        c.getRatio(),
        c.valueSize(),
        c.keys(),
        c.duration(),
        c.warmup(),
        c.connectPerRequest(),
        c.workers(),
        c.threads(),
        c.timeout(),
        c.hgrmDir(),
        c.svg(),
        c.seed(),
        c.progress(),
        c.failOnErrors(),
        rounds,
        pids);
  }

  private static TargetResult withProxyCpu(TargetResult r, double user, double system) {
    return new TargetResult(
        r.target(),
        r.failure(),
        r.ops(),
        r.gets(),
        r.sets(),
        r.misses(),
        r.mismatches(),
        r.mismatchSamples(),
        r.errors(),
        r.firstErrors(),
        r.latency(),
        r.seconds(),
        r.cpuCores(),
        r.busiestLoopCores(),
        r.tlsSession(),
        r.connectionsOpened(),
        r.reconnects(),
        r.benchSystemSeconds(),
        user,
        system);
  }

  @Test
  void proxyCpuIsReportedPerRequestBesideTheGenerators() {
    // 500,000 requests in 10 s; the generator used 0.5 cores (10 µs each), the proxy 2 s of user
    // and 4 s of system time (12 µs, 8 of them in the kernel).
    TargetResult measured = withProxyCpu(result("mcmux=127.0.0.1:3", 500_000, 500, 0), 2.0, 4.0);
    assertEquals(10.0, measured.benchMicrosPerOp(), 1e-9);
    assertEquals(12.0, measured.proxyMicrosPerOp(), 1e-9);
    assertEquals(8.0, measured.proxySystemMicrosPerOp(), 1e-9);
    String report = Report.render(config(), List.of(measured), Map.of(), "generator");
    assertTrue(
        report.contains(
            "; CPU per request: bench 10.0 us (8.0 of it system), proxy 12.0 us (8.0 of it system;"
                + " 0.60 cores)"),
        report);
    // Without --proxy-pid the notes give the generator's figure alone.
    String without =
        Report.render(
            config(), List.of(result("mcmux=127.0.0.1:3", 500_000, 500, 0)), Map.of(), "g");
    assertTrue(without.contains("; CPU per request: bench 10.0 us (8.0 of it system)\n"), without);
    // With --proxy-pid for a target whose proxy could not be read, the notes say so.
    BenchConfig named = withProxyPids(config(), Map.of("tls", List.of(1L)));
    String unread =
        Report.render(
            named, List.of(result("tls=tls://localhost:2", 500_000, 500, 0)), Map.of(), "g");
    assertTrue(unread.contains("proxy unknown (a --proxy-pid process could not be read"), unread);

    // A round whose proxy CPU could not be read (the proxy died) does not dilute the others.
    TargetResult lost = result("mcmux=127.0.0.1:3", 300_000, 500, 0);
    TargetResult combined = TargetResult.combine(List.of(measured, lost));
    assertEquals(12.0, combined.proxyMicrosPerOp(), 1e-9);
    assertEquals(10.0, combined.benchSystemMicrosPerOp(), 1e-9);
    assertEquals(8.0, combined.proxySystemMicrosPerOp(), 1e-9);
    assertTrue(Double.isNaN(TargetResult.combine(List.of(lost, lost)).proxyMicrosPerOp()));
  }

  @Test
  void proxyPidsParse() {
    assertEquals(
        Map.of("haproxy", List.of(12L), "nut", List.of(3L, 4L)),
        BenchConfig.parseProxyPids(List.of("haproxy=12", "nut=3,4")));
    for (String bad : List.of("haproxy", "=12", "haproxy=", "haproxy=x", "haproxy=0", "a=1,")) {
      IllegalArgumentException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              IllegalArgumentException.class, () -> BenchConfig.parseProxyPids(List.of(bad)));
      assertEquals(
          "--proxy-pid '" + bad + "': expected NAME=PID or NAME=PID,PID,...", e.getMessage());
    }
    IllegalArgumentException twice =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class,
            () -> BenchConfig.parseProxyPids(List.of("a=1", "a=2")));
    assertEquals("--proxy-pid for 'a' is given twice", twice.getMessage());
  }

  @Test
  void procStatIsReadPastACommandNameWithSpacesAndParentheses() {
    // Fields 14 and 15 (user 250, system 130 ticks) after a command name "(a b) c".
    String stat =
        "4242 ((a b) c) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 130 0 0 20 0 9 0 77 1000 50";
    org.junit.jupiter.api.Assertions.assertArrayEquals(
        new long[] {2_500_000_000L, 1_300_000_000L}, ProcessCpu.parse(stat));
    long[] own = ProcessCpu.nanos(ProcessHandle.current().pid());
    assertTrue(own != null && own[0] + own[1] > 0);
    assertEquals(null, ProcessCpu.nanos(List.of(ProcessHandle.current().pid(), Long.MAX_VALUE)));
  }
}
