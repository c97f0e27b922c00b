package dev.mcmux.upstream;

import dev.mcmux.config.HostPort;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What all event loops share about one memcached node: its address and what was learned from it
 * (version, {@code item_size_max}), plus counters for status and readiness.
 */
public final class UpstreamNode {
  /** memcached's default item size, used until the server's own is known. */
  public static final long DEFAULT_ITEM_SIZE_MAX = 1024 * 1024;

  private final HostPort address;
  private final boolean itemSizeFixed;
  private final AtomicLong itemSizeMax;
  private final AtomicInteger liveConnections = new AtomicInteger();
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final java.util.concurrent.atomic.LongAdder inFlight =
      new java.util.concurrent.atomic.LongAdder();
  private final int failureThreshold;
  private final CompletableFuture<Void> firstConnection = new CompletableFuture<>();
  private volatile String version = "1.6.0";
  private volatile String lastError = "";

  public UpstreamNode(HostPort address, long configuredItemSizeMax, int failureThreshold) {
    this.address = address;
    this.failureThreshold = failureThreshold;
    this.itemSizeFixed = configuredItemSizeMax > 0;
    this.itemSizeMax =
        new AtomicLong(itemSizeFixed ? configuredItemSizeMax : DEFAULT_ITEM_SIZE_MAX);
  }

  /** The node's address as configured (host name kept as written, never resolved here). */
  public HostPort address() {
    return address;
  }

  /** The largest value the node accepts. */
  public long itemSizeMax() {
    return itemSizeMax.get();
  }

  /** Records the server's {@code item_size_max} unless the operator fixed it. */
  void learnItemSizeMax(long value) {
    if (!itemSizeFixed && value > 0) {
      itemSizeMax.set(value);
    }
  }

  /** True when the server's {@code item_size_max} should still be read. */
  boolean wantsItemSizeMax() {
    return !itemSizeFixed;
  }

  /** The version the node last reported. */
  public String version() {
    return version;
  }

  void version(String v) {
    version = v;
  }

  /** Established TLS connections to this node across all event loops. */
  public int liveConnections() {
    return liveConnections.get();
  }

  /** Completes when the first TLS connection to this node is established. */
  public CompletableFuture<Void> firstConnection() {
    return firstConnection;
  }

  AtomicInteger liveConnectionCounter() {
    return liveConnections;
  }

  /**
   * The node's state for operators: {@code up} with a live connection, {@code down} after {@code
   * upstream.failure-threshold} consecutive failed connection attempts (its requests fail at once
   * while reconnects continue with backoff), {@code connecting} in between.
   */
  public String state() {
    if (liveConnections.get() > 0) {
      return "up";
    }
    return consecutiveFailures.get() >= failureThreshold ? "down" : "connecting";
  }

  /** True after {@code upstream.failure-threshold} failed connection attempts with none up. */
  public boolean isDown() {
    return liveConnections.get() == 0 && consecutiveFailures.get() >= failureThreshold;
  }

  /** Requests written to this node and not yet answered, across all event loops. */
  public long inFlight() {
    return inFlight.sum();
  }

  void inFlightDelta(int delta) {
    inFlight.add(delta);
  }

  void connectFailed() {
    consecutiveFailures.incrementAndGet();
  }

  void connected() {
    consecutiveFailures.set(0);
  }

  /** The last connection error, for status pages and refusals. */
  public String lastError() {
    return lastError;
  }

  void lastError(String e) {
    lastError = e;
  }
}
