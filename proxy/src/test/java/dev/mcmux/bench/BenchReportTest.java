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
        1);
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
        0);
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
            0);
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
    Optional<Path> none = Optional.empty();
    Duration s = Duration.ofSeconds(1);
    String[] expected = {
      "--pipeline does not apply to --connect-per-request",
      "--ca-file is given but no target is tls://",
      "--value-size must be in 37..",
      "--target name 'a' is used twice",
      "--rounds must be in 1..100"
    };
    Runnable[] attempts = {
      () ->
          new BenchConfig(
              one, none, false, 1, 2, 1, 40, 1, s, s, true, 1, 1, s, none, none, 1, false, false,
              1),
      () ->
          new BenchConfig(
              one,
              Optional.of(Path.of("ca")),
              false,
              1,
              1,
              1,
              40,
              1,
              s,
              s,
              false,
              1,
              1,
              s,
              none,
              none,
              1,
              false,
              false,
              1),
      () ->
          new BenchConfig(
              one, none, false, 1, 1, 1, 36, 1, s, s, false, 1, 1, s, none, none, 1, false, false,
              1),
      () ->
          new BenchConfig(
              List.of(one.get(0), one.get(0)),
              none,
              false,
              1,
              1,
              1,
              40,
              1,
              s,
              s,
              false,
              1,
              1,
              s,
              none,
              none,
              1,
              false,
              false,
              1),
      () ->
          new BenchConfig(
              one, none, false, 1, 1, 1, 40, 1, s, s, false, 1, 1, s, none, none, 1, false, false,
              0)
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
            second.reconnects());
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

  private static BenchConfig withRounds(BenchConfig c, int rounds) {
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
        rounds);
  }
}
