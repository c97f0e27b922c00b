package dev.mcmux.frontend;

import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/** State every client session shares across event loops: limits, the buffer budget, counts. */
final class FrontendContext {
  private final Settings.Limits limits;
  private final BufferBudget budget;
  private final AtomicInteger clients = new AtomicInteger();
  private final ProxyMetrics metrics;

  FrontendContext(Settings.Limits limits, ProxyMetrics metrics) {
    this.limits = limits;
    this.metrics = metrics;
    this.budget = new BufferBudget(limits.globalBufferBudget());
  }

  Settings.Limits limits() {
    return limits;
  }

  BufferBudget budget() {
    return budget;
  }

  /** Admits one more client, or returns false when at the connection limit. */
  boolean tryOpenClient() {
    if (clients.incrementAndGet() > limits.maxClientConnections()) {
      clients.decrementAndGet();
      metrics.clientClosed("limit");
      return false;
    }
    metrics.clientOpened();
    return true;
  }

  void clientClosed(ClientSession.CloseReason reason) {
    clients.decrementAndGet();
    metrics.clientClosed(reason.name().toLowerCase(Locale.ROOT));
  }

  ProxyMetrics metrics() {
    return metrics;
  }

  int clientCount() {
    return clients.get();
  }
}
