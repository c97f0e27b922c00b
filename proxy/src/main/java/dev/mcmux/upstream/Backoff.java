package dev.mcmux.upstream;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Jittered exponential backoff for reconnects ("full jitter"), so a fleet of sidecars that lost a
 * node at the same moment does not reconnect in lockstep.
 */
public final class Backoff {
  private final long minNanos;
  private final long maxNanos;
  private int attempt;

  public Backoff(Duration min, Duration max) {
    this.minNanos = min.toNanos();
    this.maxNanos = Math.max(max.toNanos(), minNanos);
  }

  /** The delay before the next attempt; grows with each call until {@link #reset()}. */
  public long nextDelayNanos() {
    int shift = Math.min(attempt, 30);
    attempt++;
    long ceiling = minNanos << shift;
    if (ceiling <= 0 || ceiling > maxNanos) {
      ceiling = maxNanos;
    }
    // Never below the minimum: a tight reconnect loop against a refusing server helps nobody.
    return minNanos + ThreadLocalRandom.current().nextLong(Math.max(1, ceiling - minNanos + 1));
  }

  /** Number of consecutive failed attempts so far. */
  public int attempts() {
    return attempt;
  }

  /** Called after a successful connection. */
  public void reset() {
    attempt = 0;
  }
}
