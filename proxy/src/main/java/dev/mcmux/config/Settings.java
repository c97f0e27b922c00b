package dev.mcmux.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The validated, immutable configuration of one mcmux process; built once at start by {@link
 * SettingsLoader} and never read raw on the hot path.
 */
public record Settings(
    Listen listen,
    Upstream upstream,
    Tls tls,
    Limits limits,
    Runtime runtime,
    Admin admin,
    Operations operations,
    Cluster cluster,
    /** {@code default} for the top-level cluster, else its name under {@code mcmux.clusters}. */
    String name,
    /**
     * The named clusters of {@code mcmux.clusters}, each complete settings of its own that share
     * the process-wide parts (event loops, limits, admin, shutdown, log); empty in a named one.
     */
    List<Settings> clusters) {

  /** The name of the cluster configured at the top level of {@code mcmux}. */
  public static final String DEFAULT_CLUSTER = "default";

  /** Where clients connect: a loopback TCP address and/or a Unix-domain socket. */
  public record Listen(
      Optional<HostPort> tcp,
      Optional<Path> unixSocket,
      boolean unsafeNonLoopback,
      int backlog,
      /** Permission bits of the Unix socket file, e.g. {@code 0660}. */
      int unixSocketMode) {}

  /** The memcached service behind mcmux and how the pool talks to it. */
  public record Upstream(
      List<HostPort> endpoints,
      int connectionsPerLoop,
      Duration connectTimeout,
      Duration requestTimeout,
      Duration keepaliveInterval,
      Duration reconnectBackoffMin,
      Duration reconnectBackoffMax,
      /** 0 means: read {@code item_size_max} from the server's {@code stats settings}. */
      long itemSizeMax,
      /** Silence with requests pending after which one extra request wakes a stalled server. */
      Duration stallNudgeAfter) {}

  /** How mcmux authenticates the server and, optionally, itself. */
  public record Tls(
      Optional<Path> caFile,
      Optional<String> serverName,
      Optional<Path> certFile,
      Optional<Path> keyFile,
      Optional<String> keyPassword,
      boolean verify,
      Duration handshakeTimeout,
      TlsEngine engine,
      List<String> protocols,
      List<String> ciphers) {}

  /** Per-client and process-wide bounds that keep one client from hurting the others. */
  public record Limits(
      int maxClientConnections,
      int maxOutstandingPerClient,
      long maxBufferedBytesPerClient,
      long globalBufferBudget,
      Duration valueReadTimeout) {}

  /** Threads and transport. */
  public record Runtime(int eventLoops, Transport transport) {}

  /** The HTTP listener for metrics and health; empty when switched off. */
  public record Admin(Optional<HostPort> listen) {}

  /** How keys are placed on several nodes, how membership is found, and how failures count. */
  public record Cluster(
      String placement,
      Discovery discovery,
      Duration discoveryInterval,
      int failureThreshold,
      DownNodeKeys multigetOnDownNode,
      /** Command names answered locally with an error instead of being forwarded. */
      List<String> denyCommands,
      /** Whether a down node's keys go to the next distinct node on the ring. */
      boolean failover,
      /** The longest expiry a write redirected by failover may have. */
      Duration failoverTtlCap,
      /** Upstream connections to one node across all event loops; 0 means no cap. */
      int maxConnectionsPerNode,
      Mode mode,
      /** Per-node mode: consecutive local ports from the listen port; 0 = one per static node. */
      int perNodePorts) {

    /** The names {@code upstream.deny-commands} accepts: every command mcmux forwards. */
    public static final List<String> DENIABLE =
        List.of(
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
            "stats",
            "mg",
            "ms",
            "md",
            "ma",
            "me");
  }

  /** How client connections map to nodes. */
  public enum Mode {
    /** One listener; mcmux places each key on its node. */
    ROUTED,
    /** One local port per node; the client places keys itself by choosing the port. */
    PER_NODE
  }

  /** Where the node list comes from. */
  public enum Discovery {
    /** {@code upstream.endpoints} are the nodes. */
    STATIC,
    /** {@code upstream.endpoints} is an ElastiCache configuration endpoint polled for nodes. */
    ELASTICACHE
  }

  /** What a multi-key get answers for keys whose node is down. */
  public enum DownNodeKeys {
    /** Those keys are misses (counted); the other keys are answered. */
    MISS,
    /** The whole request fails with {@code SERVER_ERROR}. */
    FAIL
  }

  /** Readiness, reloads, connection recycling, shutdown and logging. */
  public record Operations(
      Readiness readiness,
      Duration tlsReloadInterval,
      Duration maxConnectionAge,
      Duration drainDelay,
      Duration gracePeriod,
      LogFormat logFormat) {}

  /** When {@code /readyz} says ready: a live connection to any node, or to every node. */
  public enum Readiness {
    ANY,
    ALL
  }

  /** Log line format. */
  public enum LogFormat {
    TEXT,
    JSON
  }

  /** Which TLS implementation to use. */
  public enum TlsEngine {
    AUTO,
    OPENSSL,
    JDK
  }

  /** Which Netty transport to use. */
  public enum Transport {
    AUTO,
    EPOLL,
    NIO
  }
}
