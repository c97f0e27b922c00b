package dev.mcmux.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.ToDoubleFunction;
import org.HdrHistogram.Histogram;

/**
 * What one target run measured: throughput and latency of the measured window, and every error and
 * mismatch of the whole run (preload and warmup included).
 *
 * @param failure why the run stopped early, if it did; the counts are then partial
 * @param latency microseconds, successful requests of the measured window only
 * @param seconds the length of the measured window
 * @param cpuCores CPU time of this whole process during the window per second, NaN if unknown
 * @param busiestLoopCores the same for the busiest generator event loop: near 1.0 means the
 *     generator itself was the bottleneck
 * @param tlsSession protocol and cipher of the first TLS connection, empty for plaintext
 * @param benchSystemSeconds this process's system (kernel) CPU time during the window, NaN if
 *     unknown
 * @param proxyUserSeconds user CPU time that the processes given with {@code --proxy-pid} for this
 *     target used during the window, NaN when none were given or one could not be read
 * @param proxySystemSeconds the same for their system (kernel) CPU time
 */
public record TargetResult(
    Target target,
    Optional<String> failure,
    long ops,
    long gets,
    long sets,
    long misses,
    long mismatches,
    List<String> mismatchSamples,
    Map<ErrorKind, Long> errors,
    Map<ErrorKind, String> firstErrors,
    Histogram latency,
    double seconds,
    double cpuCores,
    double busiestLoopCores,
    Optional<String> tlsSession,
    long connectionsOpened,
    long reconnects,
    double benchSystemSeconds,
    double proxyUserSeconds,
    double proxySystemSeconds) {

  /** Successful requests per second of the measured window. */
  public double opsPerSecond() {
    return seconds > 0 ? ops / seconds : 0;
  }

  /** This process's CPU time per successful request of the window, in µs; NaN if unknown. */
  public double benchMicrosPerOp() {
    return ops > 0 ? cpuCores * seconds * 1e6 / ops : Double.NaN;
  }

  /** The system (kernel) part of {@link #benchMicrosPerOp()}. */
  public double benchSystemMicrosPerOp() {
    return ops > 0 ? benchSystemSeconds * 1e6 / ops : Double.NaN;
  }

  /** The proxy's user plus system CPU time during the window, in seconds; NaN if not measured. */
  public double proxyCpuSeconds() {
    return proxyUserSeconds + proxySystemSeconds;
  }

  /** The proxy's CPU time per successful request of the window, in µs; NaN if not measured. */
  public double proxyMicrosPerOp() {
    return ops > 0 ? proxyCpuSeconds() * 1e6 / ops : Double.NaN;
  }

  /** The system (kernel) part of {@link #proxyMicrosPerOp()}. */
  public double proxySystemMicrosPerOp() {
    return ops > 0 ? proxySystemSeconds * 1e6 / ops : Double.NaN;
  }

  /**
   * The runs of one target in several rounds as one result: counts and latencies added, measured
   * windows summed (so ops/s is over all of them), the first failure and TLS session kept.
   */
  public static TargetResult combine(List<TargetResult> runs) {
    if (runs.size() == 1) {
      return runs.get(0);
    }
    TargetResult first = runs.get(0);
    Histogram latency = first.latency().copy();
    Map<ErrorKind, Long> errors = new LinkedHashMap<>();
    Map<ErrorKind, String> firstErrors = new LinkedHashMap<>();
    List<String> samples = new ArrayList<>();
    Optional<String> failure = Optional.empty();
    Optional<String> tls = Optional.empty();
    long ops = 0;
    long gets = 0;
    long sets = 0;
    long misses = 0;
    long mismatches = 0;
    long opened = 0;
    long reconnects = 0;
    double seconds = 0;
    double cpuSeconds = 0;
    double cpuWindow = 0;
    double busiest = Double.NaN;
    for (int i = 0; i < runs.size(); i++) {
      TargetResult r = runs.get(i);
      if (i > 0) {
        latency.add(r.latency());
      }
      r.errors().forEach((kind, n) -> errors.merge(kind, n, Long::sum));
      r.firstErrors().forEach(firstErrors::putIfAbsent);
      samples.addAll(r.mismatchSamples());
      failure = failure.or(r::failure);
      tls = tls.or(r::tlsSession);
      ops += r.ops();
      gets += r.gets();
      sets += r.sets();
      misses += r.misses();
      mismatches += r.mismatches();
      opened += r.connectionsOpened();
      reconnects += r.reconnects();
      seconds += r.seconds();
      // NaN is "unknown" for one run; the others still say something.
      if (!Double.isNaN(r.cpuCores())) {
        cpuSeconds += r.cpuCores() * r.seconds();
        cpuWindow += r.seconds();
      }
      double loop = r.busiestLoopCores();
      if (!Double.isNaN(loop) && (Double.isNaN(busiest) || loop > busiest)) {
        busiest = loop;
      }
    }
    return new TargetResult(
        first.target(),
        failure,
        ops,
        gets,
        sets,
        misses,
        mismatches,
        List.copyOf(samples),
        errors,
        firstErrors,
        latency,
        seconds,
        cpuWindow > 0 ? cpuSeconds / cpuWindow : Double.NaN,
        busiest,
        tls,
        opened,
        reconnects,
        scaledFromKnownRuns(runs, TargetResult::benchSystemSeconds, ops),
        scaledFromKnownRuns(runs, TargetResult::proxyUserSeconds, ops),
        scaledFromKnownRuns(runs, TargetResult::proxySystemSeconds, ops));
  }

  /**
   * A CPU time summed over the runs that know it (NaN is "unknown" for one run) and scaled to all
   * {@code ops} of the runs, so that per request it is the known runs' figure; NaN if none knows.
   */
  private static double scaledFromKnownRuns(
      List<TargetResult> runs, ToDoubleFunction<TargetResult> seconds, long ops) {
    double sum = 0;
    long knownOps = 0;
    for (TargetResult r : runs) {
      double s = seconds.applyAsDouble(r);
      if (!Double.isNaN(s)) {
        sum += s;
        knownOps += r.ops();
      }
    }
    return knownOps > 0 ? sum * ops / knownOps : Double.NaN;
  }

  /** All errors of the run. */
  public long errorCount() {
    return errors.values().stream().mapToLong(Long::longValue).sum();
  }
}
