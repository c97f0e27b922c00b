package dev.mcmux.metrics;

/**
 * What the data path reports, behind an interface so the hot path calls pre-resolved meters and
 * tests can run without a registry. Tags are few and bounded: never a key, never a client address.
 */
public interface ProxyMetrics {

  /** How a request ended, as the client saw it. */
  enum Result {
    /** A normal answer (including misses and NOT_STORED-style answers). */
    OK,
    /** memcached (or mcmux's parser, as memcached would) answered with an error line. */
    ERROR,
    /** mcmux could not get an answer: no connection, timeout, connection lost. */
    FAILED
  }

  /** Which way bytes flowed. */
  enum Direction {
    CLIENT_IN,
    CLIENT_OUT,
    UPSTREAM_IN,
    UPSTREAM_OUT
  }

  /** A client connection was accepted. */
  void clientOpened();

  /** A client connection ended; {@code reason} comes from a small fixed set. */
  void clientClosed(String reason);

  /**
   * A request was answered (or failed).
   *
   * @param command index into {@link #COMMANDS}
   */
  void request(int command, Result result, long nanos);

  /** Bytes moved. */
  void bytes(Direction direction, long count);

  /** A TLS handshake with a node finished. */
  void handshake(String node, boolean success, boolean resumed, long nanos);

  /** A certificate reload was attempted. */
  void reload(boolean success);

  /** Requests written upstream and not yet answered: +1 on write, -1 on answer. */
  void pendingDelta(int delta);

  /** A silent upstream connection with requests pending was sent an extra request. */
  void nudge();

  /** Keys of a multi-key get answered as misses because their node could not be reached. */
  void downNodeMisses(int keys);

  /** The command tag values, in a fixed order; the last one is for anything else. */
  String[] COMMANDS = {
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "flush_all",
    "version",
    "verbosity",
    "stats",
    "quit",
    "config",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "other"
  };

  /** The index of {@code other} in {@link #COMMANDS}. */
  int OTHER = COMMANDS.length - 1;

  /** Metrics that go nowhere. */
  ProxyMetrics NOOP =
      new ProxyMetrics() {
        @Override
        public void clientOpened() {}

        @Override
        public void clientClosed(String reason) {}

        @Override
        public void request(int command, Result result, long nanos) {}

        @Override
        public void bytes(Direction direction, long count) {}

        @Override
        public void handshake(String node, boolean success, boolean resumed, long nanos) {}

        @Override
        public void reload(boolean success) {}

        @Override
        public void pendingDelta(int delta) {}

        @Override
        public void downNodeMisses(int keys) {}

        @Override
        public void nudge() {}
      };
}
