package dev.mcmux.frontend;

import dev.mcmux.config.Settings;
import java.util.concurrent.atomic.AtomicInteger;

/** State every client session shares across event loops: limits, the buffer budget, counts. */
final class FrontendContext {
  private final Settings.Limits limits;
  private final BufferBudget budget;
  private final AtomicInteger clients = new AtomicInteger();

  FrontendContext(Settings.Limits limits) {
    this.limits = limits;
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
      return false;
    }
    return true;
  }

  void clientClosed(ClientSession.CloseReason reason) {
    clients.decrementAndGet();
  }

  int clientCount() {
    return clients.get();
  }
}
