package dev.mcmux.frontend;

import dev.mcmux.config.Settings;

/** A running mcmux: listeners, event loops and upstream pools, started from {@link Settings}. */
public final class McmuxServer implements AutoCloseable {

  private McmuxServer() {}

  /**
   * Validates what only the running system can check, binds the listeners and opens the pools.
   *
   * @throws Exception when a listener cannot bind or TLS cannot be set up; nothing stays bound
   */
  public static McmuxServer start(Settings settings) throws Exception {
    throw new UnsupportedOperationException("not built yet");
  }

  /** Blocks until the server has stopped. */
  public void awaitTermination() throws InterruptedException {}

  /** Stops accepting, closes clients and upstream connections, and releases the event loops. */
  @Override
  public void close() {}
}
