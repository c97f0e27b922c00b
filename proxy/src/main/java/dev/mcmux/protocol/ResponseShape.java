package dev.mcmux.protocol;

/** What an upstream memcached sends back for one request, which is all the framer needs. */
public enum ResponseShape {
  /** Zero or more {@code VALUE} blocks, then {@code END}; or one error line. */
  RETRIEVAL,
  /** Exactly one line ({@code STORED}, {@code DELETED}, a number, {@code OK}, an error, ...). */
  LINE,
  /** {@code STAT} lines then {@code END}; or one error line. */
  STATS,
  /**
   * One meta line ({@code HD NF NS EX EN MN ME}, with flags), or {@code VA <len> <flags>} and a
   * data block; or one error line.
   */
  META
}
