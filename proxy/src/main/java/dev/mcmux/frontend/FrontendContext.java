package dev.mcmux.frontend;

import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.Command;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/** State every client session shares across event loops: limits, the buffer budget, counts. */
final class FrontendContext {
  private final Settings.Limits limits;
  private final BufferBudget budget;
  private final AtomicInteger clients = new AtomicInteger();

  /** Clients of every cluster of the process, against {@code limits.max-client-connections}. */
  private final AtomicInteger processClients;

  private final ProxyMetrics metrics;

  private final Settings.DownNodeKeys multigetOnDownNode;

  /** Per {@link Command} ordinal: the error line a denied command gets, or null when allowed. */
  private final byte[][] deniedReplies = new byte[Command.values().length][];

  private final Counter[] deniedCounters = new Counter[Command.values().length];

  /** For tests of the data path: no denied commands, its own budget, no registry. */
  FrontendContext(
      Settings.Limits limits, Settings.DownNodeKeys multigetOnDownNode, ProxyMetrics metrics) {
    this(
        limits,
        multigetOnDownNode,
        List.of(),
        null,
        new BufferBudget(limits.globalBufferBudget()),
        new AtomicInteger(),
        metrics,
        new SimpleMeterRegistry());
  }

  /**
   * The context of one cluster's clients.
   *
   * @param clusterName the {@code cluster} tag of this cluster's meters, or null for none
   * @param budget the process-wide response buffer budget, shared by every cluster
   * @param processClients every cluster's client count, against the process-wide client limit
   */
  FrontendContext(
      Settings.Limits limits,
      Settings.Cluster cluster,
      String clusterName,
      BufferBudget budget,
      AtomicInteger processClients,
      ProxyMetrics metrics,
      MeterRegistry registry) {
    this(
        limits,
        cluster.multigetOnDownNode(),
        cluster.denyCommands(),
        clusterName,
        budget,
        processClients,
        metrics,
        registry);
  }

  private FrontendContext(
      Settings.Limits limits,
      Settings.DownNodeKeys multigetOnDownNode,
      List<String> denyCommands,
      String clusterName,
      BufferBudget budget,
      AtomicInteger processClients,
      ProxyMetrics metrics,
      MeterRegistry registry) {
    this.processClients = processClients;
    this.limits = limits;
    this.multigetOnDownNode = multigetOnDownNode;
    this.metrics = metrics;
    this.budget = budget;
    for (String name : denyCommands) {
      for (Command c : Command.values()) {
        if (new String(c.wireName(), StandardCharsets.US_ASCII).equals(name)) {
          deniedReplies[c.ordinal()] =
              ("CLIENT_ERROR " + name + " is denied by mcmux configuration\r\n")
                  .getBytes(StandardCharsets.US_ASCII);
          deniedCounters[c.ordinal()] =
              Counter.builder("mcmux.denied.requests")
                  .description("Requests refused by upstream.deny-commands")
                  .tags(
                      clusterName == null
                          ? io.micrometer.core.instrument.Tags.empty()
                          : io.micrometer.core.instrument.Tags.of("cluster", clusterName))
                  .tag("command", name)
                  .register(registry);
        }
      }
    }
  }

  /**
   * The error line for a command the configuration denies, counted, or null when it may go
   * upstream. Like memcached's own error lines it is sent even for {@code noreply}.
   */
  byte[] deniedReply(Command command) {
    byte[] reply = deniedReplies[command.ordinal()];
    if (reply == null) {
      return null;
    }
    deniedCounters[command.ordinal()].increment();
    return reply.clone();
  }

  Settings.Limits limits() {
    return limits;
  }

  BufferBudget budget() {
    return budget;
  }

  /** Admits one more client, or returns false when at the connection limit. */
  boolean tryOpenClient() {
    if (processClients.incrementAndGet() > limits.maxClientConnections()) {
      processClients.decrementAndGet();
      metrics.clientClosed("limit");
      return false;
    }
    clients.incrementAndGet();
    metrics.clientOpened();
    return true;
  }

  void clientClosed(ClientSession.CloseReason reason) {
    clients.decrementAndGet();
    processClients.decrementAndGet();
    metrics.clientClosed(reason.name().toLowerCase(Locale.ROOT));
  }

  Settings.DownNodeKeys multigetOnDownNode() {
    return multigetOnDownNode;
  }

  private volatile byte[] configClusterReply = new byte[0];

  /**
   * Sets what {@code config get cluster} answers: mcmux's own TCP listener as the only node, so a
   * client doing ElastiCache auto discovery through mcmux keeps talking to mcmux.
   */
  void ownAddress(String host, String ip, int port) {
    ownAddresses(host, ip, List.of(port));
  }

  /**
   * Per-node mode: {@code config get cluster} lists every local port that has a node, so a client
   * doing auto discovery through mcmux hashes across them.
   */
  void ownAddresses(String host, String ip, List<Integer> ports) {
    StringBuilder nodes = new StringBuilder();
    for (int port : ports) {
      nodes.append(nodes.length() == 0 ? "" : " ").append(host).append('|').append(ip);
      nodes.append('|').append(port);
    }
    ownAddress = nodes.toString();
    configVersion(ownVersion);
  }

  /**
   * Follows the upstream configuration version, so a client polling mcmux sees a change (its node
   * list, mcmux itself, stays the same).
   */
  void configVersion(long version) {
    ownVersion = version;
    if (ownAddress == null) {
      return;
    }
    String body = Math.max(1, version) + "\n" + ownAddress + "\n";
    String reply = "CONFIG cluster 0 " + body.length() + "\r\n" + body + "\r\nEND\r\n";
    configClusterReply = reply.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }

  private volatile String ownAddress;
  private volatile long ownVersion = -1;

  /** {@code stats mcmux}: mcmux's own figures and each node's state, in STAT format. */
  byte[] ownStats(dev.mcmux.routing.ClusterView view) {
    StringBuilder s = new StringBuilder(256);
    s.append("STAT client_connections ").append(clientCount()).append("\r\n");
    s.append("STAT held_response_bytes ").append(budget.used()).append("\r\n");
    s.append("STAT config_version ").append(view.configVersion()).append("\r\n");
    s.append("STAT nodes ").append(view.size()).append("\r\n");
    for (int i = 0; i < view.size(); i++) {
      var n = view.nodes().get(i);
      String p = "STAT node" + i + "_";
      s.append(p).append("address ").append(n.address()).append("\r\n");
      s.append(p).append("state ").append(n.state()).append("\r\n");
      s.append(p).append("connections ").append(n.liveConnections()).append("\r\n");
      s.append(p).append("version ").append(n.version()).append("\r\n");
    }
    return s.append("END\r\n").toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }

  byte[] configClusterReply() {
    return configClusterReply.length == 0
        ? "ERROR\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII)
        : configClusterReply.clone();
  }

  ProxyMetrics metrics() {
    return metrics;
  }

  int clientCount() {
    return clients.get();
  }
}
