package dev.mcmux.frontend;

import dev.mcmux.admin.JsonWriter;
import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.metrics.MicrometerMetrics;
import dev.mcmux.routing.ClusterConfig;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.ConfigPoller;
import dev.mcmux.routing.DiscoveredNode;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementFlavour;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.routing.PortAssignment;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.SslHandlerFactory;
import dev.mcmux.upstream.TlsContextFactory;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.dns.DnsAddressResolverGroup;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.PlatformDependent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running mcmux: listeners, event loops and upstream pools, started from {@link Settings}. The
 * instance {@link #start} returns serves the default cluster and owns what every cluster shares
 * (event loops, resolver, metrics, the global buffer budget, the background thread); each named
 * cluster of {@code mcmux.clusters} is a further instance over the same shared parts.
 */
public final class McmuxServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(McmuxServer.class);

  private final Settings settings;
  private final Shared shared;
  private final NettyTransport transport;
  private final EventLoopGroup group;
  private final AddressResolverGroup<InetSocketAddress> resolver;
  private final MicrometerMetrics metrics;
  private final FrontendContext frontend;

  /** The named clusters' servers; empty in a named cluster's own instance. */
  private final List<McmuxServer> clusters = new ArrayList<>();

  private volatile ClusterView view;
  private final Map<EventExecutor, LoopContext> loops = new IdentityHashMap<>();
  private final List<UpstreamPool> pools = new java.util.concurrent.CopyOnWriteArrayList<>();
  private ConfigPoller poller;
  private final CountDownLatch firstConfig = new CountDownLatch(1);
  private final List<Channel> listeners = new ArrayList<>();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final AtomicReference<TlsContextFactory> tls;
  private final ScheduledExecutorService background;
  private final Instant startedAt = Instant.now();
  private volatile byte[] tlsFileFingerprint;
  private volatile boolean draining;
  private volatile boolean closed;

  /** Per-node mode: one local port per node instead of one routed listener. */
  private final boolean perNode;

  /** Per-node mode: per event loop, the context of each local port (null: never had a node). */
  private final Map<EventExecutor, LoopContext[]> portContexts = new IdentityHashMap<>();

  private volatile String advertisedIp;

  /** Per-node mode: the node each local port serves, null when none; changed only in apply. */
  private volatile List<UpstreamNode> portNodes = List.of();

  /** What every cluster of one process uses together; made by the default cluster's server. */
  private static final class Shared {
    final NettyTransport transport;
    final EventLoopGroup group;
    final AddressResolverGroup<InetSocketAddress> resolver;
    final MicrometerMetrics metrics = new MicrometerMetrics();
    final BufferBudget budget;
    final java.util.concurrent.atomic.AtomicInteger clients =
        new java.util.concurrent.atomic.AtomicInteger();
    final ScheduledExecutorService background =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "mcmux-background");
              t.setDaemon(true);
              return t;
            });

    /** Whether mcmux.clusters names clusters: only then do per-cluster meters carry the tag. */
    final boolean several;

    Shared(Settings settings) {
      several = !settings.clusters().isEmpty();
      transport = NettyTransport.select(settings.runtime().transport());
      group = transport.newGroup(settings.runtime().eventLoops(), "mcmux-io");
      resolver =
          new DnsAddressResolverGroup(
              new DnsNameResolverBuilder()
                  .datagramChannelType(transport.datagramChannel())
                  .socketChannelType(transport.socketChannel()));
      budget = new BufferBudget(settings.limits().globalBufferBudget());
    }
  }

  private McmuxServer(
      Settings settings, TlsContextFactory tlsContext, SslHandlerFactory handlers, Shared shared) {
    this.settings = settings;
    this.shared = shared == null ? new Shared(settings) : shared;
    this.tls = new AtomicReference<>(tlsContext);
    this.transport = this.shared.transport;
    this.group = this.shared.group;
    this.resolver = this.shared.resolver;
    this.metrics = this.shared.metrics;
    this.background = this.shared.background;
    this.frontend =
        new FrontendContext(
            settings.limits(),
            settings.cluster(),
            this.shared.several ? settings.name() : null,
            this.shared.budget,
            this.shared.clients,
            metrics,
            metrics.registry());
    this.handlers = handlers;
    List<UpstreamNode> nodes = new ArrayList<>();
    for (HostPort endpoint : settings.upstream().endpoints()) {
      nodes.add(
          new UpstreamNode(
              endpoint, settings.upstream().itemSizeMax(), settings.cluster().failureThreshold()));
    }
    this.view = staticView(nodes);
    int index = 0;
    for (EventExecutor e : group) {
      UpstreamPool[] loopPools = new UpstreamPool[nodes.size()];
      for (int n = 0; n < nodes.size(); n++) {
        loopPools[n] = newPool((EventLoop) e, index, nodes.get(n));
      }
      index++;
      loops.put(
          e,
          new LoopContext(
              view,
              loopPools,
              settings.cluster().failover(),
              settings.cluster().failoverTtlCap(),
              new java.util.HashSet<>()));
    }
    this.perNode = settings.cluster().mode() == Settings.Mode.PER_NODE;
    if (perNode) {
      int ports =
          settings.cluster().perNodePorts() == 0 ? nodes.size() : settings.cluster().perNodePorts();
      portNodes = PortAssignment.assign(PortAssignment.empty(ports), nodes);
      warnUnassigned(nodes, portNodes);
      for (Map.Entry<EventExecutor, LoopContext> e : loops.entrySet()) {
        LoopContext[] contexts = new LoopContext[ports];
        updatePortContexts(contexts, e.getValue(), portNodes);
        portContexts.put(e.getKey(), contexts);
      }
    }
    Gauge.builder("mcmux.discovery.config.version", this, s -> s.view.configVersion())
        .description("Cluster configuration version in use, -1 for a static node list")
        .tags(clusterTag())
        .register(metrics.registry());
    registerGauges(metrics.registry());
  }

  /**
   * The {@code cluster} tag of per-cluster meters, only when several clusters are configured, so a
   * single-cluster setup keeps the label sets dashboards already use.
   */
  private io.micrometer.core.instrument.Tags clusterTag() {
    return shared.several
        ? io.micrometer.core.instrument.Tags.of("cluster", settings.name())
        : io.micrometer.core.instrument.Tags.empty();
  }

  /** Whether this instance serves the default cluster and owns the shared parts. */
  private boolean owner() {
    return settings.name().equals(Settings.DEFAULT_CLUSTER);
  }

  /**
   * Builds the TLS context from the settings, opens the pools and binds the listeners.
   *
   * @throws dev.mcmux.config.InvalidSettingException when a TLS file or setting is unusable
   * @throws Exception when a listener cannot bind; nothing stays bound then
   */
  public static McmuxServer start(Settings settings) throws Exception {
    // Every cluster's TLS material loads before anything starts: a bad file stops nothing half-up.
    List<TlsContextFactory> contexts = new ArrayList<>();
    contexts.add(TlsContextFactory.create(settings.tls()));
    for (Settings named : settings.clusters()) {
      try {
        contexts.add(TlsContextFactory.create(named.tls()));
      } catch (dev.mcmux.config.InvalidSettingException e) {
        throw dev.mcmux.config.SettingsLoader.inCluster(named.name(), e);
      }
    }
    McmuxServer server = withReloadableTls(settings, contexts.get(0), null);
    try {
      for (int i = 0; i < settings.clusters().size(); i++) {
        server.clusters.add(
            withReloadableTls(settings.clusters().get(i), contexts.get(i + 1), server.shared));
      }
    } catch (RuntimeException e) {
      server.close();
      throw e;
    }
    return server.open();
  }

  private static McmuxServer withReloadableTls(
      Settings settings, TlsContextFactory context, Shared shared) {
    AtomicReference<TlsContextFactory> holder = new AtomicReference<>();
    // Every new connection asks for the current context, so a reload applies to the next one.
    McmuxServer server =
        new McmuxServer(
            settings,
            context,
            (alloc, host, port) -> holder.get().newHandler(alloc, host, port),
            shared);
    holder.set(context);
    server.tls.set(context);
    server.tlsHolder = holder;
    server.tlsFileFingerprint = server.fingerprint();
    return server;
  }

  /**
   * Opens the pools and binds the listeners, with TLS handlers from {@code tls}; certificate
   * reloads are not available on a server started this way.
   *
   * @param handlers makes the {@code SslHandler} of every upstream connection
   * @throws Exception when a listener cannot bind; nothing stays bound then
   */
  public static McmuxServer start(Settings settings, SslHandlerFactory handlers) throws Exception {
    McmuxServer server = new McmuxServer(settings, null, handlers, null);
    for (Settings named : settings.clusters()) {
      server.clusters.add(new McmuxServer(named, null, handlers, server.shared));
    }
    return server.open();
  }

  private AtomicReference<TlsContextFactory> tlsHolder;

  private final SslHandlerFactory handlers;

  private UpstreamPool newPool(EventLoop loop, int loopIndex, UpstreamNode node) {
    UpstreamPool pool =
        new UpstreamPool(
            loop,
            loopIndex,
            node,
            settings.upstream(),
            settings.tls(),
            handlers,
            transport,
            resolver,
            metrics,
            settings.operations().maxConnectionAge());
    pools.add(pool);
    return pool;
  }

  /**
   * The view of a static node list. Flavours that hash IP addresses get them resolved here, once,
   * at start, off the event loops.
   */
  private ClusterView staticView(List<UpstreamNode> nodes) {
    PlacementFlavour flavour = PlacementFlavour.byName(settings.cluster().placement());
    List<PlacementNode> placed = new ArrayList<>();
    for (UpstreamNode n : nodes) {
      String ip = null;
      if (flavour != PlacementFlavour.LIBMEMCACHED) {
        try {
          ip = java.net.InetAddress.getByName(n.address().host()).getHostAddress();
        } catch (java.net.UnknownHostException e) {
          throw new dev.mcmux.config.InvalidSettingException(
              "mcmux.upstream.endpoints",
              n.address().host()
                  + " does not resolve, and placement "
                  + flavour.configName()
                  + " hashes its IP address");
        }
      }
      placed.add(PlacementNode.of(n.address(), ip));
    }
    return new ClusterView(nodes, KeyPlacement.create(flavour, placed), -1);
  }

  private McmuxServer open() throws Exception {
    try {
      for (McmuxServer cluster : clusters) {
        cluster.connect();
      }
      connect();
      bind();
      for (McmuxServer cluster : clusters) {
        cluster.bind();
        cluster.scheduleReload();
      }
    } catch (Exception e) {
      close();
      throw e;
    }
    scheduleReload();
    return this;
  }

  /** Starts the pools and discovery and gives them one connect period. */
  private void connect() throws InterruptedException {
    pools.forEach(UpstreamPool::start);
    if (settings.cluster().discovery() == Settings.Discovery.ELASTICACHE) {
      startDiscovery();
    }
    awaitFirstConnection();
  }

  private void scheduleReload() {
    long reload = settings.operations().tlsReloadInterval().toMillis();
    if (tlsHolder != null && reload > 0) {
      background.scheduleWithFixedDelay(
          this::reloadIfFilesChanged, reload, reload, TimeUnit.MILLISECONDS);
    }
    log.info(
        "mcmux serving {}{} node(s) with {} placement, {} event loop(s) on the {} transport",
        owner() ? "" : "cluster " + settings.name() + ": ",
        view.size(),
        settings.cluster().placement(),
        settings.runtime().eventLoops(),
        transport.name());
  }

  private void registerGauges(MeterRegistry registry) {
    Gauge.builder("mcmux.client.connections", frontend, FrontendContext::clientCount)
        .description("Client connections open now")
        .tags(clusterTag())
        .register(registry);
    for (UpstreamNode node : view.nodes()) {
      registerNodeGauges(registry, node);
    }
    if (owner()) {
      Gauge.builder("mcmux.buffered.response", frontend, f -> f.budget().used())
          .description("Response bytes held for clients, against the global buffer budget")
          .baseUnit("bytes")
          .register(registry);
    }
    settings
        .tls()
        .caFile()
        .ifPresent(
            f ->
                Gauge.builder("mcmux.certificate.expiry", this, s -> s.secondsToExpiry(true))
                    .description("Seconds until the first certificate in the file expires")
                    .baseUnit("seconds")
                    .tags(clusterTag())
                    .tag("file", "ca")
                    .register(registry));
    settings
        .tls()
        .certFile()
        .ifPresent(
            f ->
                Gauge.builder("mcmux.certificate.expiry", this, s -> s.secondsToExpiry(false))
                    .description("Seconds until the first certificate in the file expires")
                    .baseUnit("seconds")
                    .tags(clusterTag())
                    .tag("file", "client")
                    .register(registry));
  }

  private void registerNodeGauges(MeterRegistry registry, UpstreamNode node) {
    String nodeTag = node.address().toString();
    Gauge.builder("mcmux.upstream.connections", node, UpstreamNode::liveConnections)
        .description("TLS connections to each node, by state")
        .tags(clusterTag())
        .tag("node", nodeTag)
        .tag("state", "up")
        .register(registry);
    Gauge.builder("mcmux.node.up", node, n -> n.liveConnections() > 0 ? 1 : 0)
        .description("1 when the node has at least one live TLS connection")
        .tags(clusterTag())
        .tag("node", nodeTag)
        .register(registry);
  }

  private double secondsToExpiry(boolean ca) {
    TlsContextFactory t = tls.get();
    if (t == null) {
      return Double.NaN;
    }
    var certs = ca ? t.caCertificates() : t.clientCertificates();
    return certs.stream().mapToLong(c -> c.notAfter().getEpochSecond()).min().stream()
        .mapToDouble(s -> s - Instant.now().getEpochSecond())
        .findFirst()
        .orElse(Double.NaN);
  }

  /**
   * Polls the configuration endpoint. Until the first configuration arrives the endpoint itself
   * serves as the only node (an ElastiCache configuration endpoint is also one of the nodes).
   */
  private void startDiscovery() throws InterruptedException {
    HostPort endpoint = settings.upstream().endpoints().get(0);
    poller =
        new ConfigPoller(
            endpoint,
            (EventLoop) group.next(),
            transport,
            resolver,
            handlers,
            ConfigPoller.Options.from(settings.upstream(), settings.cluster()),
            new ConfigPoller.Listener() {
              @Override
              public void onConfig(ClusterConfig config) {
                apply(config);
              }

              @Override
              public void onError(String reason) {}
            });
    poller.start();
    long millis =
        settings.upstream().connectTimeout().toMillis()
            + settings.tls().handshakeTimeout().toMillis();
    // One period to get the configuration, one for its new nodes to connect.
    if (!firstConfig.await(2 * millis, TimeUnit.MILLISECONDS)) {
      log.warn(
          "no cluster configuration from {} yet ({}); serving it as the only node until one"
              + " arrives",
          endpoint,
          poller.lastError().isEmpty() ? "still polling" : poller.lastError());
    }
  }

  /**
   * Switches to a new membership: nodes that stay keep their connections, new nodes get pools on
   * every event loop, departed nodes' connections finish what they carry and then close. In-flight
   * requests are never dropped by a membership change.
   */
  private synchronized void apply(ClusterConfig config) {
    if (closed) {
      return;
    }
    ClusterView old = view;
    Map<HostPort, UpstreamNode> known = new java.util.HashMap<>();
    for (UpstreamNode n : old.nodes()) {
      known.put(n.address(), n);
    }
    List<UpstreamNode> nodes = new ArrayList<>();
    List<PlacementNode> placed = new ArrayList<>();
    int added = 0;
    for (DiscoveredNode d : config.nodes()) {
      UpstreamNode n = known.get(d.address());
      if (n == null) {
        n =
            new UpstreamNode(
                d.address(),
                settings.upstream().itemSizeMax(),
                settings.cluster().failureThreshold());
        registerNodeGauges(metrics.registry(), n);
        added++;
      }
      nodes.add(n);
      placed.add(d.placementNode());
    }
    ClusterView next;
    try {
      next =
          new ClusterView(
              nodes, KeyPlacement.create(settings.cluster().placement(), placed), config.version());
    } catch (IllegalArgumentException e) {
      log.warn("cluster config version {} not applied: {}", config.version(), e.getMessage());
      return;
    }
    int removed = 0;
    for (UpstreamNode n : old.nodes()) {
      if (!nodes.contains(n)) {
        removed++;
      }
    }
    // New nodes get their pools first; clients are switched once the new nodes are connected
    // (or a connect period has passed), so a joining node never answers "no connection".
    Map<LoopContext, Map<UpstreamNode, UpstreamPool>> prepared = new IdentityHashMap<>();
    List<java.util.concurrent.CompletableFuture<Void>> ready = new ArrayList<>();
    int loopIndex = 0;
    for (Map.Entry<EventExecutor, LoopContext> e : loops.entrySet()) {
      Map<UpstreamNode, UpstreamPool> fresh = new IdentityHashMap<>();
      for (UpstreamNode n : nodes) {
        if (!old.nodes().contains(n)) {
          UpstreamPool p = newPool((EventLoop) e.getKey(), loopIndex, n);
          p.start();
          fresh.put(n, p);
          ready.add(n.firstConnection());
        }
      }
      prepared.put(e.getValue(), fresh);
      loopIndex++;
    }
    List<UpstreamNode> assignment = perNode ? PortAssignment.assign(portNodes, nodes) : List.of();
    if (perNode) {
      portNodes = assignment;
      warnUnassigned(nodes, assignment);
    }
    long generation = ++viewGeneration;
    java.util.concurrent.CompletableFuture.allOf(
            ready.toArray(new java.util.concurrent.CompletableFuture<?>[0]))
        .completeOnTimeout(
            null,
            settings.upstream().connectTimeout().plus(settings.tls().handshakeTimeout()).toMillis(),
            TimeUnit.MILLISECONDS)
        .whenComplete(
            (ok, error) -> {
              if (generation == viewGeneration) {
                view = next;
              }
              firstConfig.countDown();
              for (Map.Entry<EventExecutor, LoopContext> e : loops.entrySet()) {
                LoopContext context = e.getValue();
                e.getKey()
                    .execute(
                        () ->
                            switchLoop(
                                e.getKey(), context, next, prepared.get(context), generation));
              }
              if (perNode) {
                advertisePorts(assignment);
              }
              frontend.configVersion(config.version());
            });
    log.info(
        "cluster config version {}: {} node(s) (+{} -{})",
        config.version(),
        nodes.size(),
        added,
        removed);
  }

  private volatile long viewGeneration;

  /**
   * On the context's loop: pools for the new view, reusing those of nodes that stay and the ones
   * prepared for new nodes; pools of departed nodes drain. A switch overtaken by a newer
   * configuration only discards what it prepared.
   */
  private void switchLoop(
      EventExecutor loop,
      LoopContext context,
      ClusterView next,
      Map<UpstreamNode, UpstreamPool> prepared,
      long generation) {
    if (generation != viewGeneration || closed) {
      prepared.values().forEach(this::discard);
      return;
    }
    UpstreamPool[] current = context.pools();
    UpstreamPool[] fresh = new UpstreamPool[next.size()];
    java.util.Set<UpstreamPool> kept = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (int i = 0; i < fresh.length; i++) {
      UpstreamNode node = next.nodes().get(i);
      fresh[i] = prepared.get(node);
      for (UpstreamPool p : current) {
        if (fresh[i] == null && p.node() == node) {
          fresh[i] = p;
          kept.add(p);
        }
      }
    }
    context.update(next, fresh);
    if (perNode) {
      updatePortContexts(portContexts.get(loop), context, portNodes);
    }
    for (UpstreamPool p : current) {
      if (!kept.contains(p)) {
        discard(p);
      }
    }
  }

  /**
   * Points each local port's context at its node's pool on this loop. A port whose node left keeps
   * the departed node's drained pool, so its clients get {@code SERVER_ERROR} until a new node
   * takes the port. Runs on the routed context's loop (or before the loops start).
   */
  private static void updatePortContexts(
      LoopContext[] contexts, LoopContext routed, List<UpstreamNode> assignment) {
    ClusterView v = routed.view();
    for (int port = 0; port < contexts.length; port++) {
      UpstreamNode node = assignment.get(port);
      int index = node == null ? -1 : v.nodes().indexOf(node);
      if (index < 0) {
        continue;
      }
      ClusterView single =
          new ClusterView(
              List.of(node),
              KeyPlacement.create(
                  PlacementFlavour.LIBMEMCACHED,
                  List.of(new PlacementNode(node.address().host(), node.address().port()))),
              v.configVersion());
      UpstreamPool[] pool = {routed.pool(index)};
      if (contexts[port] == null) {
        contexts[port] = new LoopContext(single, pool, false, Duration.ZERO, routed.sessions());
      } else {
        contexts[port].update(single, pool);
      }
    }
  }

  private static void warnUnassigned(List<UpstreamNode> members, List<UpstreamNode> assignment) {
    for (UpstreamNode n : members) {
      if (!assignment.contains(n)) {
        log.warn(
            "node {} has no local port: all {} per-node ports are taken (mcmux.per-node-ports);"
                + " clients cannot reach it until a port frees up",
            n.address(),
            assignment.size());
      }
    }
  }

  private void discard(UpstreamPool p) {
    p.drainAndStop();
    pools.remove(p);
  }

  /**
   * Gives the pools one connect-and-handshake period before clients arrive, so the first requests
   * after start are served instead of refused; a node that is down does not block start.
   */
  private void awaitFirstConnection() throws InterruptedException {
    long millis =
        settings.upstream().connectTimeout().toMillis()
            + settings.tls().handshakeTimeout().toMillis();
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    for (UpstreamNode node : view.nodes()) {
      try {
        long left = Math.max(0, deadline - System.nanoTime());
        node.firstConnection().get(left, TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
        log.warn(
            "no TLS connection to {} yet ({}); its keys get SERVER_ERROR until one is up",
            node.address(),
            node.lastError().isEmpty() ? "still connecting" : node.lastError());
      }
    }
  }

  private void bind() throws Exception {
    Settings.Listen listen = settings.listen();
    if (perNode) {
      HostPort hp = listen.tcp().orElseThrow();
      // Resolved once here: later membership changes re-advertise from an event loop.
      advertisedIp = new InetSocketAddress(hp.host(), hp.port()).getAddress().getHostAddress();
      for (int i = 0; i < portNodes.size(); i++) {
        listeners.add(
            bind(
                transport.serverSocketChannel(),
                new InetSocketAddress(hp.host(), hp.port() + i),
                i));
      }
      advertisePorts(portNodes);
      frontend.configVersion(view.configVersion());
      return;
    }
    if (listen.tcp().isPresent()) {
      HostPort hp = listen.tcp().get();
      Channel ch =
          bind(transport.serverSocketChannel(), new InetSocketAddress(hp.host(), hp.port()), -1);
      listeners.add(ch);
      InetSocketAddress bound = (InetSocketAddress) ch.localAddress();
      frontend.ownAddress(hp.host(), bound.getAddress().getHostAddress(), bound.getPort());
      frontend.configVersion(view.configVersion());
    }
    if (listen.unixSocket().isPresent()) {
      Path path = listen.unixSocket().get();
      // A stale socket file from a crashed run would make bind fail; it holds no data.
      Files.deleteIfExists(path);
      SocketAddress address =
          transport.name().equals("epoll")
              ? new DomainSocketAddress(path.toString())
              : UnixDomainSocketAddress.of(path);
      listeners.add(bind(transport.serverDomainSocketChannel(), address, -1));
      Files.setPosixFilePermissions(path, permissions(listen.unixSocketMode()));
    }
  }

  private static java.util.Set<java.nio.file.attribute.PosixFilePermission> permissions(int mode) {
    var all = java.nio.file.attribute.PosixFilePermission.values();
    var out = java.util.EnumSet.noneOf(java.nio.file.attribute.PosixFilePermission.class);
    // values() runs OWNER_READ .. OTHERS_EXECUTE, i.e. from bit 8 down to bit 0.
    for (int i = 0; i < all.length; i++) {
      if ((mode & (1 << (8 - i))) != 0) {
        out.add(all[i]);
      }
    }
    return out;
  }

  /** {@code config get cluster} in per-node mode: the local ports that have a node. */
  private void advertisePorts(List<UpstreamNode> assignment) {
    HostPort hp = settings.listen().tcp().orElseThrow();
    List<Integer> ports = new ArrayList<>();
    for (int i = 0; i < assignment.size(); i++) {
      if (assignment.get(i) != null) {
        ports.add(hp.port() + i);
      }
    }
    frontend.ownAddresses(hp.host(), advertisedIp, ports);
  }

  /**
   * Binds one listener.
   *
   * @param portIndex per-node mode: which local port (node slot) this is; -1 for a routed listener
   */
  private Channel bind(Class<? extends ServerChannel> type, SocketAddress address, int portIndex)
      throws Exception {
    ServerBootstrap b =
        listenerOptions(
                new ServerBootstrap().group(group, group).channel(type),
                address,
                settings.listen().backlog())
            .childHandler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    initClient(ch, portIndex);
                  }
                });
    Channel ch = b.bind(address).sync().channel();
    log.info("listening on {}", ch.localAddress());
    return ch;
  }

  /**
   * The socket options of a client listener on {@code address} and of the connections it accepts:
   * half-closure (an {@code echo ... | nc} client is still answered), and on TCP no Nagle delay.
   */
  static ServerBootstrap listenerOptions(ServerBootstrap b, SocketAddress address, int backlog) {
    b.option(ChannelOption.SO_BACKLOG, backlog).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
    if (address instanceof InetSocketAddress) {
      b.option(ChannelOption.SO_REUSEADDR, true);
      // Netty already turns Nagle off on every accepted socket wherever it can (all but Android);
      // asking again would cost one more setsockopt per connection, which connect-per-request
      // clients pay on every request.
      if (!PlatformDependent.canEnableTcpNoDelayByDefault()) {
        b.childOption(ChannelOption.TCP_NODELAY, true);
      }
    }
    return b;
  }

  private void initClient(Channel ch, int portIndex) {
    LoopContext loop =
        portIndex < 0 ? loops.get(ch.eventLoop()) : portContexts.get(ch.eventLoop())[portIndex];
    if (loop == null) {
      ch.writeAndFlush(
              Unpooled.copiedBuffer(
                  "SERVER_ERROR no memcached node on this port\r\n", StandardCharsets.US_ASCII))
          .addListener(ChannelFutureListener.CLOSE);
      return;
    }
    if (closed || !frontend.tryOpenClient()) {
      ch.writeAndFlush(
              Unpooled.copiedBuffer(
                  "SERVER_ERROR too many client connections\r\n", StandardCharsets.US_ASCII))
          .addListener(ChannelFutureListener.CLOSE);
      return;
    }
    ch.pipeline().addLast("client", new ClientSession(frontend, loop));
  }

  /** The addresses the listeners are bound to (useful when port 0 was configured). */
  public List<SocketAddress> localAddresses() {
    List<SocketAddress> out = new ArrayList<>();
    for (Channel c : listeners) {
      out.add(c.localAddress());
    }
    for (McmuxServer cluster : clusters) {
      out.addAll(cluster.localAddresses());
    }
    return out;
  }

  /** The server of the named cluster {@code name} of {@code mcmux.clusters}. */
  public McmuxServer cluster(String name) {
    for (McmuxServer cluster : clusters) {
      if (cluster.settings.name().equals(name)) {
        return cluster;
      }
    }
    throw new IllegalArgumentException("no cluster named " + name);
  }

  /** The first upstream node (the only one of a single-endpoint setup). */
  public UpstreamNode node() {
    return view.nodes().get(0);
  }

  /** The current cluster view. */
  public ClusterView view() {
    return view;
  }

  /** The Netty transport the listeners and upstream connections use: epoll or nio. */
  public String transportName() {
    return transport.name();
  }

  /** Clients currently connected, to every cluster. */
  public int clientCount() {
    return shared.clients.get();
  }

  /** Bytes of responses currently held for clients, across all of them. */
  public long heldResponseBytes() {
    return frontend.budget().used();
  }

  /** The metrics of this server, in Prometheus text format. */
  public String scrapeMetrics() {
    return metrics.scrape();
  }

  /** True when every event loop runs a task within a second: the process is alive and well. */
  public boolean healthy() {
    if (closed) {
      return false;
    }
    List<Future<?>> probes = new ArrayList<>();
    for (EventExecutor e : group) {
      probes.add(e.submit(() -> {}));
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
    for (Future<?> f : probes) {
      long left = deadline - System.nanoTime();
      if (left <= 0 || !f.awaitUninterruptibly(left, TimeUnit.NANOSECONDS)) {
        return false;
      }
    }
    return true;
  }

  /**
   * True when clients can be served: not draining for shutdown, and the readiness policy holds (any
   * node, or every node, with a live TLS connection) in every cluster.
   */
  public boolean ready() {
    if (closed || draining) {
      return false;
    }
    for (McmuxServer cluster : clusters) {
      if (!cluster.ready()) {
        return false;
      }
    }
    boolean all = settings.operations().readiness() == Settings.Readiness.ALL;
    for (UpstreamNode node : view.nodes()) {
      boolean up = node.liveConnections() > 0;
      if (up && !all) {
        return true;
      }
      if (!up && all) {
        return false;
      }
    }
    return all;
  }

  /** What an operator wants to see after a port-forward, as JSON. */
  public String statusJson() {
    JsonWriter j = JsonWriter.pretty().beginObject();
    j.field("version", mcmuxVersion());
    j.field("started", startedAt.toString());
    j.field("transport", transportName());
    TlsContextFactory t = tls.get();
    j.field("tls_engine", t == null ? "custom" : t.engineName());
    j.field("ready", ready());
    j.field("draining", draining);
    j.field("client_connections", clientCount());
    j.field("held_response_bytes", frontend.budget().used());
    clusterFields(j);
    if (!clusters.isEmpty()) {
      j.name("clusters").beginArray();
      for (McmuxServer cluster : clusters) {
        j.beginObject().field("name", cluster.settings.name());
        j.field("ready", cluster.ready());
        j.field("client_connections", cluster.frontend.clientCount());
        cluster.clusterFields(j);
        j.endObject();
      }
      j.endArray();
    }
    return j.endObject().toString();
  }

  /** One cluster's part of {@code /status}: routing, nodes and certificates. */
  private void clusterFields(JsonWriter j) {
    TlsContextFactory t = tls.get();
    ClusterView v = view;
    j.field("placement", settings.cluster().placement());
    j.field("discovery", settings.cluster().discovery().name().toLowerCase(java.util.Locale.ROOT));
    j.field("config_version", v.configVersion());
    j.field("mode", perNode ? "per-node" : "routed");
    if (perNode) {
      j.name("ports").beginArray();
      List<UpstreamNode> assignment = portNodes;
      int first = settings.listen().tcp().orElseThrow().port();
      for (int i = 0; i < assignment.size(); i++) {
        UpstreamNode n = assignment.get(i);
        j.beginObject()
            .field("port", first + i)
            .field("node", n == null ? null : n.address().toString())
            .endObject();
      }
      j.endArray();
    }
    j.name("nodes").beginArray();
    for (UpstreamNode node : v.nodes()) {
      j.beginObject()
          .field("address", node.address().toString())
          .field("state", node.state())
          .field("connections", node.liveConnections())
          .field("in_flight", node.inFlight())
          .field("server_version", node.version())
          .field("item_size_max", node.itemSizeMax())
          .field("last_error", node.lastError().isEmpty() ? null : node.lastError())
          .endObject();
    }
    j.endArray();
    j.name("certificates").beginArray();
    if (t != null) {
      for (var c : t.caCertificates()) {
        certificate(j, "ca", c);
      }
      for (var c : t.clientCertificates()) {
        certificate(j, "client", c);
      }
    }
    j.endArray();
  }

  private static void certificate(JsonWriter j, String file, TlsContextFactory.CertificateInfo c) {
    j.beginObject()
        .field("file", file)
        .field("subject", c.subject())
        .field("not_after", c.notAfter().toString())
        .endObject();
  }

  private static String mcmuxVersion() {
    String v = McmuxServer.class.getPackage().getImplementationVersion();
    return v == null ? "dev" : v;
  }

  /**
   * Re-reads the CA bundle, client certificate and key; on success new connections use them, on
   * failure the old ones stay and the reason is logged. Runs on a background thread.
   */
  public void reloadTls() {
    background.execute(this::reloadNow);
    clusters.forEach(McmuxServer::reloadTls);
  }

  private void reloadNow() {
    if (tlsHolder == null || closed) {
      return;
    }
    try {
      TlsContextFactory fresh = TlsContextFactory.create(settings.tls());
      tlsHolder.set(fresh);
      tls.set(fresh);
      tlsFileFingerprint = fingerprint();
      metrics.reload(true);
      log.info(
          "TLS material reloaded: {} CA certificate(s), {} client certificate(s); new"
              + " connections use it, existing ones are recycled after"
              + " mcmux.upstream.max-connection-age",
          fresh.caCertificates().size(),
          fresh.clientCertificates().size());
    } catch (RuntimeException e) {
      metrics.reload(false);
      log.warn("TLS reload failed, keeping the previous certificates: {}", e.getMessage());
    }
  }

  private void reloadIfFilesChanged() {
    try {
      byte[] now = fingerprint();
      if (!Arrays.equals(now, tlsFileFingerprint)) {
        log.info("TLS files changed on disk; reloading");
        tlsFileFingerprint = now;
        reloadNow();
      }
    } catch (RuntimeException e) {
      log.warn("checking TLS files failed: {}", e.toString());
    }
  }

  /** The content of every TLS file, hashed, so a Secret's symlink swap is noticed too. */
  private byte[] fingerprint() {
    try {
      var digest = java.security.MessageDigest.getInstance("SHA-256");
      Settings.Tls t = settings.tls();
      for (Optional<Path> p : List.of(t.caFile(), t.certFile(), t.keyFile())) {
        if (p.isPresent()) {
          try {
            digest.update(Files.readAllBytes(p.get()));
          } catch (IOException e) {
            digest.update(("missing:" + e.getClass().getSimpleName()).getBytes());
          }
        }
        digest.update((byte) 0);
      }
      return digest.digest();
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Stops gracefully: keeps serving for {@code drainDelay} (readiness turns false), stops
   * accepting, lets clients finish what they sent, closes idle clients, and closes everything after
   * {@code grace} at the latest. Blocks until done.
   */
  public void shutdownGracefully(Duration drainDelay, Duration grace) {
    draining = true;
    log.info(
        "shutting down: serving for {} ms more, then up to {} ms for in-flight requests",
        drainDelay.toMillis(),
        grace.toMillis());
    clusters.forEach(c -> c.draining = true);
    sleepQuietly(drainDelay.toMillis());
    List<McmuxServer> all = new ArrayList<>(clusters);
    all.add(this);
    for (McmuxServer server : all) {
      for (Channel c : server.listeners) {
        c.close().syncUninterruptibly();
      }
      for (Map.Entry<EventExecutor, LoopContext> e : server.loops.entrySet()) {
        LoopContext loop = e.getValue();
        e.getKey()
            .execute(() -> List.copyOf(loop.sessions()).forEach(ClientSession::closeWhenIdle));
      }
    }
    long deadline = System.nanoTime() + grace.toNanos();
    while (clientCount() > 0 && System.nanoTime() < deadline) {
      // A shutdown thread, not an event loop: waiting here blocks nobody.
      sleepQuietly(20);
    }
    if (clientCount() > 0) {
      log.warn("grace period over with {} client(s) still busy; closing", clientCount());
    }
    close();
  }

  private static void sleepQuietly(long millis) {
    if (millis <= 0) {
      return;
    }
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Blocks until the server has stopped. */
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /** Stops accepting, closes clients and upstream connections, and releases the event loops. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    clusters.forEach(McmuxServer::close);
    if (owner()) {
      background.shutdownNow();
    }
    if (poller != null) {
      poller.close();
    }
    for (Channel c : listeners) {
      c.close().syncUninterruptibly();
    }
    for (UpstreamPool p : List.copyOf(pools)) {
      p.stopOnItsLoop();
    }
    settings.listen().unixSocket().ifPresent(p -> p.toFile().delete());
    if (!owner()) {
      return;
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    resolver.close();
    terminated.countDown();
    log.info("mcmux stopped");
  }
}
