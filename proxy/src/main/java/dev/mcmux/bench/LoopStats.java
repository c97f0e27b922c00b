package dev.mcmux.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * What one event loop counted during one target run. Written by that loop only; {@link
 * #progressOps} and {@link #progressMismatches} are the only fields read while the run goes on.
 */
final class LoopStats {

  static final int MAX_SAMPLES = 5;

  /** Latency in microseconds of successful requests inside the measured window. */
  final Histogram latency = new Histogram(3);

  long ops;
  long gets;
  long sets;
  long misses;
  long mismatches;
  long connectionsOpened;
  long reconnects;
  final long[] errors = new long[ErrorKind.values().length];
  final String[] firstError = new String[ErrorKind.values().length];
  final List<String> mismatchSamples = new ArrayList<>();

  /** Successful requests in every phase, for the progress line. */
  final AtomicLong progressOps = new AtomicLong();

  /** Mismatches so far, for the progress line. */
  final AtomicLong progressMismatches = new AtomicLong();

  private long progressLocal;

  void completed() {
    // A release store is enough for a progress display and costs a plain store on x86.
    progressOps.lazySet(++progressLocal);
  }

  void error(ErrorKind kind, String message) {
    errors[kind.ordinal()]++;
    if (firstError[kind.ordinal()] == null && message != null) {
      firstError[kind.ordinal()] = message;
    }
  }

  void mismatch(String description) {
    mismatches++;
    progressMismatches.lazySet(mismatches);
    if (mismatchSamples.size() < MAX_SAMPLES) {
      mismatchSamples.add(description);
    }
  }

  /** Adds another loop's counts into this one; only once both loops are finished. */
  void add(LoopStats other) {
    latency.add(other.latency);
    ops += other.ops;
    gets += other.gets;
    sets += other.sets;
    misses += other.misses;
    mismatches += other.mismatches;
    connectionsOpened += other.connectionsOpened;
    reconnects += other.reconnects;
    for (int i = 0; i < errors.length; i++) {
      errors[i] += other.errors[i];
      if (firstError[i] == null) {
        firstError[i] = other.firstError[i];
      }
    }
    for (String sample : other.mismatchSamples) {
      if (mismatchSamples.size() < MAX_SAMPLES) {
        mismatchSamples.add(sample);
      }
    }
  }

  long totalErrors() {
    long total = 0;
    for (long e : errors) {
      total += e;
    }
    return total;
  }
}
