package dev.mcmux.frontend;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.SslHandlerFactory;
import dev.mcmux.upstream.TlsContextFactory;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
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
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running mcmux: listeners, event loops and upstream pools, started from {@link Settings}. */
public final class McmuxServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(McmuxServer.class);

  private final Settings settings;
  private final NettyTransport transport;
  private final EventLoopGroup group;
  private final AddressResolverGroup<InetSocketAddress> resolver;
  private final FrontendContext frontend;
  private final UpstreamNode node;
  private final Map<EventExecutor, LoopContext> loops = new IdentityHashMap<>();
  private final List<UpstreamPool> pools = new ArrayList<>();
  private final List<Channel> listeners = new ArrayList<>();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private volatile boolean closed;

  private McmuxServer(Settings settings, SslHandlerFactory tls) {
    this.settings = settings;
    this.transport = NettyTransport.select(settings.runtime().transport());
    this.group = transport.newGroup(settings.runtime().eventLoops(), "mcmux-io");
    this.resolver =
        new DnsAddressResolverGroup(
            new DnsNameResolverBuilder()
                .datagramChannelType(transport.datagramChannel())
                .socketChannelType(transport.socketChannel()));
    this.frontend = new FrontendContext(settings.limits());
    HostPort endpoint = settings.upstream().endpoints().get(0);
    this.node = new UpstreamNode(endpoint, settings.upstream().itemSizeMax());
    int index = 0;
    for (EventExecutor e : group) {
      UpstreamPool pool =
          new UpstreamPool(
              (EventLoop) e,
              index++,
              node,
              settings.upstream(),
              settings.tls(),
              tls,
              transport,
              resolver);
      pools.add(pool);
      loops.put(e, new LoopContext(pool));
    }
  }

  /**
   * Builds the TLS context from the settings, opens the pools and binds the listeners.
   *
   * @throws dev.mcmux.config.InvalidSettingException when a TLS file or setting is unusable
   * @throws Exception when a listener cannot bind; nothing stays bound then
   */
  public static McmuxServer start(Settings settings) throws Exception {
    TlsContextFactory tls = TlsContextFactory.create(settings.tls());
    return start(settings, tls::newHandler);
  }

  /**
   * Opens the pools and binds the listeners, with TLS handlers from {@code tls}.
   *
   * @param tls makes the {@code SslHandler} of every upstream connection
   * @throws Exception when a listener cannot bind; nothing stays bound then
   */
  public static McmuxServer start(Settings settings, SslHandlerFactory tls) throws Exception {
    McmuxServer server = new McmuxServer(settings, tls);
    server.pools.forEach(UpstreamPool::start);
    server.awaitFirstConnection();
    try {
      server.bind();
    } catch (Exception e) {
      server.close();
      throw e;
    }
    log.info(
        "mcmux serving {} with {} event loop(s) on the {} transport",
        server.node.address(),
        settings.runtime().eventLoops(),
        server.transport.name());
    return server;
  }

  /**
   * Gives the pools one connect-and-handshake period before clients arrive, so the first requests
   * after start are served instead of refused; a node that is down does not block start.
   */
  private void awaitFirstConnection() throws InterruptedException {
    long millis =
        settings.upstream().connectTimeout().toMillis()
            + settings.tls().handshakeTimeout().toMillis();
    try {
      node.firstConnection().get(millis, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
      log.warn(
          "no TLS connection to {} yet ({}); clients get SERVER_ERROR until one is up",
          node.address(),
          node.lastError().isEmpty() ? "still connecting" : node.lastError());
    }
  }

  private void bind() throws Exception {
    Settings.Listen listen = settings.listen();
    if (listen.tcp().isPresent()) {
      HostPort hp = listen.tcp().get();
      listeners.add(
          bind(transport.serverSocketChannel(), new InetSocketAddress(hp.host(), hp.port())));
    }
    if (listen.unixSocket().isPresent()) {
      Path path = listen.unixSocket().get();
      // A stale socket file from a crashed run would make bind fail; it holds no data.
      Files.deleteIfExists(path);
      SocketAddress address =
          transport.name().equals("epoll")
              ? new DomainSocketAddress(path.toString())
              : UnixDomainSocketAddress.of(path);
      listeners.add(bind(transport.serverDomainSocketChannel(), address));
    }
  }

  private Channel bind(Class<? extends ServerChannel> type, SocketAddress address)
      throws Exception {
    ServerBootstrap b =
        new ServerBootstrap()
            .group(group, group)
            .channel(type)
            .option(ChannelOption.SO_BACKLOG, settings.listen().backlog())
            .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
            .childHandler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    initClient(ch);
                  }
                });
    if (address instanceof InetSocketAddress) {
      b.option(ChannelOption.SO_REUSEADDR, true).childOption(ChannelOption.TCP_NODELAY, true);
    }
    Channel ch = b.bind(address).sync().channel();
    log.info("listening on {}", ch.localAddress());
    return ch;
  }

  private void initClient(Channel ch) {
    if (closed || !frontend.tryOpenClient()) {
      ch.writeAndFlush(
              Unpooled.copiedBuffer(
                  "SERVER_ERROR too many client connections\r\n", StandardCharsets.US_ASCII))
          .addListener(ChannelFutureListener.CLOSE);
      return;
    }
    LoopContext loop = loops.get(ch.eventLoop());
    ch.pipeline().addLast("client", new ClientSession(frontend, loop.pool()));
  }

  /** The addresses the listeners are bound to (useful when port 0 was configured). */
  public List<SocketAddress> localAddresses() {
    List<SocketAddress> out = new ArrayList<>();
    for (Channel c : listeners) {
      out.add(c.localAddress());
    }
    return out;
  }

  /** The upstream node (single endpoint in this version). */
  public UpstreamNode node() {
    return node;
  }

  /** Clients currently connected. */
  public int clientCount() {
    return frontend.clientCount();
  }

  /** Bytes of responses currently held for clients, across all of them. */
  public long heldResponseBytes() {
    return frontend.budget().used();
  }

  /** Blocks until the server has stopped. */
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /** Stops accepting, closes clients and upstream connections, and releases the event loops. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Channel c : listeners) {
      c.close().syncUninterruptibly();
    }
    for (Map.Entry<EventExecutor, LoopContext> e : loops.entrySet()) {
      e.getKey().execute(() -> e.getValue().pool().stop());
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    resolver.close();
    settings.listen().unixSocket().ifPresent(p -> p.toFile().delete());
    terminated.countDown();
    log.info("mcmux stopped");
  }
}
