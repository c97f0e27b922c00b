package dev.mcmux.bench;

import java.util.List;
import java.util.Map;
import java.util.Optional;
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
    long reconnects) {

  /** Successful requests per second of the measured window. */
  public double opsPerSecond() {
    return seconds > 0 ? ops / seconds : 0;
  }

  /** All errors of the run. */
  public long errorCount() {
    return errors.values().stream().mapToLong(Long::longValue).sum();
  }
}
