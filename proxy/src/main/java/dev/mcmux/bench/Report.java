package dev.mcmux.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/** Renders the results of all targets as a markdown table with notes below it. */
public final class Report {

  private static final String[] HEADERS = {
    "target",
    "ops/s",
    "% of first",
    "p50 (ms)",
    "p99 (ms)",
    "p99.9 (ms)",
    "max (ms)",
    "errors",
    "mismatches"
  };

  private Report() {}

  /** One line describing the workload, shared by the table and the chart. */
  public static String workload(BenchConfig c) {
    String shape =
        c.connectPerRequest()
            ? String.format(Locale.ROOT, "connect per request, %d workers", c.workers())
            : String.format(
                Locale.ROOT, "%d connections x pipeline %d", c.connections(), c.pipeline());
    String line =
        String.format(
            Locale.ROOT,
            "%s, %s gets, %d-byte values, %,d keys, warmup %s, measured %s",
            shape,
            percent(c.getRatio() * 100),
            c.valueSize(),
            c.keys(),
            DurationParser.format(c.warmup()),
            DurationParser.format(c.duration()));
    return c.rounds() == 1
        ? line
        : line + ", " + c.rounds() + " rounds (target order reversed every other round)";
  }

  /**
   * The whole report: heading, table, per-target notes, and mismatch warnings. {@code results} are
   * combined per target; {@code rounds} holds each target's runs by name, whose rates the notes
   * list when there are several.
   */
  public static String render(
      BenchConfig config,
      List<TargetResult> results,
      Map<String, List<TargetResult>> rounds,
      String generator) {
    StringBuilder s = new StringBuilder();
    s.append("### mcmux bench: ").append(workload(config)).append("\n\n");
    s.append(table(results)).append('\n');
    for (TargetResult r : results) {
      s.append(note(r, config.proxyPids().containsKey(r.target().name())));
      List<TargetResult> runs = rounds.getOrDefault(r.target().name(), List.of());
      if (runs.size() > 1) {
        s.append("; ops/s by round:");
        String sep = " ";
        for (TargetResult run : runs) {
          s.append(sep).append(String.format(Locale.ROOT, "%,.0f", run.opsPerSecond()));
          sep = ", ";
        }
      }
      s.append('\n');
    }
    s.append("- generator: ").append(generator).append('\n');
    for (TargetResult r : results) {
      if (r.mismatches() > 0) {
        s.append('\n').append(mismatchBanner(r));
      }
    }
    return s.toString();
  }

  /** The markdown table alone, columns padded so that it also reads well as plain text. */
  public static String table(List<TargetResult> results) {
    List<String[]> rows = new ArrayList<>();
    double first = results.isEmpty() ? 0 : results.get(0).opsPerSecond();
    for (TargetResult r : results) {
      Histogram h = r.latency();
      boolean has = h.getTotalCount() > 0;
      rows.add(
          new String[] {
            r.target().name(),
            r.failure().isPresent() && r.ops() == 0
                ? "failed"
                : String.format(Locale.ROOT, "%,.0f", r.opsPerSecond()),
            first > 0 && r.failure().isEmpty()
                ? String.format(Locale.ROOT, "%.1f %%", 100 * r.opsPerSecond() / first)
                : "n/a",
            has ? millis(h.getValueAtPercentile(50)) : "-",
            has ? millis(h.getValueAtPercentile(99)) : "-",
            has ? millis(h.getValueAtPercentile(99.9)) : "-",
            has ? millis(h.getMaxValue()) : "-",
            String.format(Locale.ROOT, "%,d", r.errorCount()),
            r.mismatches() > 0 ? String.format(Locale.ROOT, "**%,d**", r.mismatches()) : "0"
          });
    }
    int[] width = new int[HEADERS.length];
    for (int i = 0; i < HEADERS.length; i++) {
      width[i] = HEADERS[i].length();
      for (String[] row : rows) {
        width[i] = Math.max(width[i], row[i].length());
      }
    }
    StringBuilder s = new StringBuilder();
    line(s, HEADERS, width);
    s.append('|');
    for (int i = 0; i < width.length; i++) {
      // Names left-aligned, numbers right-aligned.
      s.append(i == 0 ? ":" + "-".repeat(width[i] + 1) : "-".repeat(width[i] + 1) + ":");
      s.append('|');
    }
    s.append('\n');
    for (String[] row : rows) {
      line(s, row, width);
    }
    return s.toString();
  }

  private static void line(StringBuilder s, String[] cells, int[] width) {
    s.append('|');
    for (int i = 0; i < cells.length; i++) {
      String cell = cells[i];
      String pad = " ".repeat(width[i] - cell.length());
      s.append(' ').append(i == 0 ? cell + pad : pad + cell).append(" |");
    }
    s.append('\n');
  }

  private static String note(TargetResult r, boolean proxyGiven) {
    StringBuilder s = new StringBuilder("- ").append(r.target().name()).append(" (");
    s.append(r.target().address());
    r.tlsSession().ifPresent(t -> s.append(", ").append(t));
    s.append("): ");
    if (r.failure().isPresent()) {
      s.append("FAILED: ").append(r.failure().get()).append("; ");
    }
    s.append(
        String.format(
            Locale.ROOT,
            "%,d ops (%,d gets, %,d sets), %,d misses, %,d connections opened",
            r.ops(),
            r.gets(),
            r.sets(),
            r.misses(),
            r.connectionsOpened()));
    if (r.reconnects() > 0) {
      s.append(String.format(Locale.ROOT, ", %,d reconnects", r.reconnects()));
    }
    if (!Double.isNaN(r.cpuCores())) {
      s.append(String.format(Locale.ROOT, ", bench process CPU %.2f cores", r.cpuCores()));
      if (!Double.isNaN(r.busiestLoopCores())) {
        s.append(String.format(Locale.ROOT, " (busiest event loop %.2f)", r.busiestLoopCores()));
      }
    }
    if (!Double.isNaN(r.benchMicrosPerOp())) {
      // "us", not the micro sign: the note must read the same under any locale's charset.
      s.append(
          String.format(Locale.ROOT, "; CPU per request: bench %.1f us", r.benchMicrosPerOp()));
      if (!Double.isNaN(r.benchSystemMicrosPerOp())) {
        s.append(String.format(Locale.ROOT, " (%.1f of it system)", r.benchSystemMicrosPerOp()));
      }
      if (!Double.isNaN(r.proxyMicrosPerOp())) {
        s.append(
            String.format(
                Locale.ROOT,
                ", proxy %.1f us (%.1f of it system; %.2f cores)",
                r.proxyMicrosPerOp(),
                r.proxySystemMicrosPerOp(),
                r.proxyCpuSeconds() / r.seconds()));
      } else if (proxyGiven) {
        s.append(", proxy unknown (a --proxy-pid process could not be read; did it exit?)");
      }
    }
    if (!r.errors().isEmpty()) {
      s.append("; errors:");
      String sep = " ";
      for (Map.Entry<ErrorKind, Long> e : r.errors().entrySet()) {
        s.append(sep).append(String.format(Locale.ROOT, "%,d ", e.getValue()));
        s.append(e.getKey().label());
        String first = r.firstErrors().get(e.getKey());
        if (first != null) {
          s.append(" (first: ").append(first).append(')');
        }
        sep = ", ";
      }
    }
    return s.toString();
  }

  /** The loud part: how many values were wrong on a target, and the first few of them. */
  public static String mismatchBanner(TargetResult r) {
    StringBuilder s = new StringBuilder();
    s.append(
        String.format(
            Locale.ROOT,
            "**!!! MISMATCH: %,d values read from %s were not what was written !!!**\n",
            r.mismatches(),
            r.target().name()));
    for (String sample : r.mismatchSamples()) {
      s.append("  - ").append(sample).append('\n');
    }
    return s.toString();
  }

  static String millis(long micros) {
    return String.format(Locale.ROOT, "%.3f", micros / 1000.0);
  }

  private static String percent(double p) {
    return String.format(Locale.ROOT, p == Math.rint(p) ? "%.0f %%" : "%.1f %%", p);
  }
}
