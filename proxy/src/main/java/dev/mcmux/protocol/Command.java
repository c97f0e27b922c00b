package dev.mcmux.protocol;

import java.nio.charset.StandardCharsets;

/** The memcached ASCII commands mcmux understands, with the upstream response shape of each. */
public enum Command {
  GET("get", ResponseShape.RETRIEVAL),
  GETS("gets", ResponseShape.RETRIEVAL),
  GAT("gat", ResponseShape.RETRIEVAL),
  GATS("gats", ResponseShape.RETRIEVAL),
  SET("set", ResponseShape.LINE),
  ADD("add", ResponseShape.LINE),
  REPLACE("replace", ResponseShape.LINE),
  APPEND("append", ResponseShape.LINE),
  PREPEND("prepend", ResponseShape.LINE),
  CAS("cas", ResponseShape.LINE),
  DELETE("delete", ResponseShape.LINE),
  INCR("incr", ResponseShape.LINE),
  DECR("decr", ResponseShape.LINE),
  TOUCH("touch", ResponseShape.LINE),
  FLUSH_ALL("flush_all", ResponseShape.LINE),
  /** Answered by mcmux itself; never forwarded. */
  VERSION("version", ResponseShape.LINE),
  /** Answered by mcmux itself; never forwarded. */
  VERBOSITY("verbosity", ResponseShape.LINE),
  STATS("stats", ResponseShape.STATS),
  /** Answered by mcmux itself: earlier answers go out, then the connection closes. */
  QUIT("quit", ResponseShape.LINE),
  /**
   * ElastiCache's {@code config get cluster}; answered by mcmux with its own address, so
   * auto-discovering clients keep working through it. Never forwarded.
   */
  CONFIG_GET_CLUSTER("config", ResponseShape.LINE),
  /** Meta get. */
  MG("mg", ResponseShape.META),
  /** Meta set; its value is written like a storage command's data block. */
  MS("ms", ResponseShape.META),
  /** Meta delete. */
  MD("md", ResponseShape.META),
  /** Meta arithmetic. */
  MA("ma", ResponseShape.META),
  /** Meta no-op: a barrier answered by mcmux in the client's order; never forwarded. */
  MN("mn", ResponseShape.META),
  /** Meta debug: one key's item internals; read-only, so forwarded (it echoes no opaque). */
  ME("me", ResponseShape.META);

  private final byte[] wireName;
  private final ResponseShape shape;

  Command(String wireName, ResponseShape shape) {
    this.wireName = wireName.getBytes(StandardCharsets.US_ASCII);
    this.shape = shape;
  }

  /** The command word as written on the wire, e.g. {@code set}. */
  public byte[] wireName() {
    return wireName.clone();
  }

  /** The command word without a defensive copy, for the encoder's hot path; never modify it. */
  byte[] wireNameShared() {
    return wireName;
  }

  /** What memcached answers to this command. */
  public ResponseShape shape() {
    return shape;
  }

  /** True for commands with a data block ({@code set add replace append prepend cas}). */
  public boolean isStorage() {
    return this == SET
        || this == ADD
        || this == REPLACE
        || this == APPEND
        || this == PREPEND
        || this == CAS;
  }

  /** True for the meta commands {@code mg ms md ma mn me}. */
  public boolean isMeta() {
    return shape == ResponseShape.META;
  }

  /** True for {@code get gets gat gats}, which take one or more keys. */
  public boolean isRetrieval() {
    return shape == ResponseShape.RETRIEVAL;
  }
}
