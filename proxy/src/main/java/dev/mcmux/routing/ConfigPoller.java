package dev.mcmux.routing;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.upstream.Backoff;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.SslHandlerFactory;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.resolver.AddressResolverGroup;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows an ElastiCache cluster's membership the way the ElastiCache cluster clients do: polls the
 * configuration endpoint over one persistent, verified TLS connection and tells a {@link Listener}
 * about each cluster description that should be applied.
 *
 * <p><b>Polling.</b> At {@link #start()} and then every {@link Options#interval()} after the
 * previous answer, it sends {@code config get cluster}; an endpoint that answers {@code ERROR}
 * (engines before 1.4.14) is asked {@code get AmazonElastiCache:cluster} instead, for the rest of
 * that connection. A request unanswered after {@link Options#requestTimeout()} closes the
 * connection, since a late answer would be taken for the next one's. A lost connection is reopened
 * with jittered exponential {@link Backoff}, which is reset only by an answer, so an endpoint that
 * accepts connections and then drops them is not hammered. Name resolution goes through the given
 * (non-blocking) resolver; nothing here ever blocks the event loop.
 *
 * <p><b>Which configs are applied.</b> The endpoint increases the version on every change, and a
 * node that has not caught up with a change can briefly answer an older one, so normally only a
 * version strictly greater than the applied one is delivered. That alone would freeze mcmux on a
 * dead node list forever when a cluster is deleted and recreated under the same name, because the
 * new cluster counts from 1 again. The rule is therefore:
 *
 * <ol>
 *   <li>The first config after start is applied whatever its version.
 *   <li>A greater version is applied at once.
 *   <li>The applied config itself (same version, same nodes) changes nothing.
 *   <li>Anything else (a lower version, or the same version with other nodes) is applied only once
 *       it has been the answer to {@link Options#lowerVersionConfirmations()} consecutive polls
 *       (default 3), identical each time. Any other answer restarts the count; failed polls neither
 *       count nor restart it.
 * </ol>
 *
 * <p>Why consecutive answers and not a reconnect or a timer: a node lagging behind a change is a
 * transient that catches up, so it should not answer the same stale config over several whole
 * intervals, while a recreated cluster answers its lower version on every poll from then on. A
 * reconnect proves nothing (after one, DNS may well lead to exactly the lagging node), and time
 * alone would let a single odd answer through. The cost is a recovery delay of (N-1) intervals, two
 * minutes with the defaults, during which the old node list (which is dead anyway) stays in use.
 *
 * <p><b>Threads.</b> All state lives on the given event loop; {@link #start()}, {@link #close()}
 * and the getters may be called from any thread. The listener is called on that event loop, one
 * call at a time, and must not block it: hand anything slow to another thread.
 */
public final class ConfigPoller implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConfigPoller.class);

  private static final long LOG_REPEAT_NANOS = TimeUnit.SECONDS.toNanos(30);
  private static final long CLOSE_WAIT_SECONDS = 5;

  /** Receives the configs to apply and every failure, on the poller's event loop. */
  public interface Listener {
    /** A config that should be applied now; see {@link ConfigPoller} for which ones are. */
    void onConfig(ClusterConfig config);

    /** A poll failed (every time, for metrics and status; the log is rate-limited). */
    void onError(String reason);
  }

  /**
   * How often and how patiently the poller works.
   *
   * @param interval the pause between an answer and the next poll
   * @param connectTimeout how long a TCP connect may take
   * @param requestTimeout how long an answer may take before the connection is given up
   * @param backoffMin the least pause before a reconnect
   * @param backoffMax the longest pause before a reconnect
   * @param lowerVersionConfirmations consecutive identical answers needed before a config that is
   *     not newer than the applied one replaces it (1 applies it at once)
   */
  public record Options(
      Duration interval,
      Duration connectTimeout,
      Duration requestTimeout,
      Duration backoffMin,
      Duration backoffMax,
      int lowerVersionConfirmations) {

    /** Three answers: two full intervals after the first sighting. */
    public static final int DEFAULT_LOWER_VERSION_CONFIRMATIONS = 3;

    public Options {
      requirePositive(interval, "interval");
      requirePositive(connectTimeout, "connectTimeout");
      requirePositive(requestTimeout, "requestTimeout");
      requirePositive(backoffMin, "backoffMin");
      requirePositive(backoffMax, "backoffMax");
      if (lowerVersionConfirmations < 1) {
        throw new IllegalArgumentException(
            "lowerVersionConfirmations " + lowerVersionConfirmations + " is less than 1");
      }
    }

    /** The options mcmux's settings give: the discovery interval, the upstream timeouts. */
    public static Options from(Settings.Upstream upstream, Settings.Cluster cluster) {
      return new Options(
          cluster.discoveryInterval(),
          upstream.connectTimeout(),
          upstream.requestTimeout(),
          upstream.reconnectBackoffMin(),
          upstream.reconnectBackoffMax(),
          DEFAULT_LOWER_VERSION_CONFIRMATIONS);
    }

    private static void requirePositive(Duration d, String name) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, not " + d);
      }
    }
  }

  /** The two ways of asking; the legacy one only after the endpoint rejected the first. */
  private enum Request {
    CONFIG_GET("config get cluster"),
    LEGACY_GET("get AmazonElastiCache:cluster");

    final String text;
    final byte[] bytes;

    Request(String text) {
      this.text = text;
      this.bytes = (text + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }
  }

  private final HostPort endpoint;
  private final EventLoop loop;
  private final SslHandlerFactory tls;
  private final Options options;
  private final Listener listener;
  private final Bootstrap bootstrap;
  private final Backoff backoff;

  // Event-loop state.
  private boolean started;
  private boolean closed;
  private Connection current;
  private Future<?> pollTimer;
  private Future<?> reconnectTimer;
  private long lastPollNanos;
  private boolean pollEver;
  private ClusterConfig applied;
  private ClusterConfig candidate;
  private int candidateAnswers;
  private boolean failing;
  private boolean legacyLogged;
  private String lastWarned = "";
  private long lastWarnedAt;
  private int warningsSuppressed;

  // Read by other threads (status pages, metrics, tests).
  private volatile long lastVersion = -1;
  private volatile String lastError = "";
  private volatile ClusterConfig lastConfig;

  /**
   * A poller of {@code endpoint}; nothing happens until {@link #start()}.
   *
   * @param endpoint the configuration endpoint; its host name is what TLS verifies
   * @param loop the event loop that owns the connection, the timers and the listener calls
   * @param transport the channel classes to use
   * @param resolver a non-blocking resolver (Netty's DNS resolver in production)
   * @param tls makes the handler that sends SNI for and verifies {@code endpoint}'s host name
   * @param options the interval, timeouts, backoff and lower-version rule
   * @param listener gets the configs to apply and the failures
   */
  public ConfigPoller(
      HostPort endpoint,
      EventLoop loop,
      NettyTransport transport,
      AddressResolverGroup<InetSocketAddress> resolver,
      SslHandlerFactory tls,
      Options options,
      Listener listener) {
    this.endpoint = endpoint;
    this.loop = loop;
    this.tls = tls;
    this.options = options;
    this.listener = listener;
    this.backoff = new Backoff(options.backoffMin(), options.backoffMax());
    this.bootstrap = transport.clientBootstrap(loop, resolver, options.connectTimeout());
  }

  /** Connects and polls for the first time; later calls do nothing. Any thread. */
  public void start() {
    loop.execute(
        () -> {
          if (!started && !closed) {
            started = true;
            connect();
          }
        });
  }

  /**
   * Stops polling and closes the connection. Any thread; off the event loop it waits (a few seconds
   * at most) until the connection is closed, so no buffer outlives the call.
   */
  @Override
  public void close() {
    Promise<Void> done = loop.newPromise();
    try {
      loop.execute(
          () -> {
            closed = true;
            cancel(pollTimer);
            cancel(reconnectTimer);
            Connection c = current;
            current = null;
            if (c == null) {
              done.setSuccess(null);
            } else {
              c.cancelTimeout();
              c.channel.close().addListener(f -> done.setSuccess(null));
            }
          });
    } catch (RejectedExecutionException e) {
      return; // The event loop is gone, and the connection with it.
    }
    if (!loop.inEventLoop()) {
      done.awaitUninterruptibly(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS);
    }
  }

  /** The version of the config delivered last, or -1 before the first. */
  public long lastVersion() {
    return lastVersion;
  }

  /** The config delivered last, or null before the first. */
  public ClusterConfig lastConfig() {
    return lastConfig;
  }

  /** Why the last poll failed, or the empty string when it succeeded (or none ran yet). */
  public String lastError() {
    return lastError;
  }

  /** The configuration endpoint. */
  public HostPort endpoint() {
    return endpoint;
  }

  // ---- connection ----

  private void connect() {
    reconnectTimer = null;
    if (closed || current != null) {
      return;
    }
    // Current before connecting: with epoll a refused connect can complete inside connect().
    Connection conn = new Connection();
    current = conn;
    ChannelFuture cf =
        bootstrap
            .clone()
            .handler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    // Made here, inside the pipeline, so closing the channel always frees it.
                    conn.ssl = tls.newHandler(ch.alloc(), endpoint.host(), endpoint.port());
                    ch.pipeline().addLast("tls", conn.ssl);
                    ch.pipeline().addLast("decoder", new ConfigReplyDecoder());
                    ch.pipeline().addLast("poller", conn);
                  }
                })
            .connect(endpoint.host(), endpoint.port());
    conn.channel = cf.channel();
    // Each stage reports its own failure, in order: the connect; then the handshake, which also
    // fails when the channel closes during it (Netty completes the connect future before the
    // channel becomes active, so the handshake future is never done before it); then the
    // established connection.
    cf.addListener(
        f -> {
          if (!f.isSuccess()) {
            conn.fail("connect failed: " + describe(f.cause()));
            return;
          }
          conn.ssl
              .handshakeFuture()
              .addListener(
                  hf -> {
                    if (hf.isSuccess()) {
                      ready(conn);
                    } else {
                      conn.fail("TLS handshake failed: " + describe(hf.cause()));
                    }
                  });
        });
    conn.channel
        .closeFuture()
        .addListener(
            f -> {
              if (conn.ready) {
                conn.fail("connection closed by the endpoint");
              }
            });
  }

  private void ready(Connection conn) {
    if (closed || conn != current) {
      conn.channel.close();
      return;
    }
    conn.ready = true;
    // Poll at once after a first connect or an outage, but a connection that keeps dropping
    // must not make the endpoint answer more often than once per interval.
    long sinceLast = System.nanoTime() - lastPollNanos;
    long wait = pollEver ? Math.max(0, options.interval().toNanos() - sinceLast) : 0;
    schedulePoll(wait);
  }

  /** Called once per connection, for whatever ended it first; schedules the next attempt. */
  private void connectionLost(Connection conn, String reason) {
    if (closed || conn != current) {
      return;
    }
    current = null;
    cancel(pollTimer);
    pollTimer = null;
    failed(reason);
    long delay = backoff.nextDelayNanos();
    reconnectTimer = loop.schedule(this::connect, delay, TimeUnit.NANOSECONDS);
  }

  // ---- polling ----

  private void schedulePoll(long delayNanos) {
    cancel(pollTimer);
    pollTimer = loop.schedule(this::poll, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void poll() {
    pollTimer = null;
    Connection conn = current;
    if (closed || conn == null || !conn.ready || conn.inFlight != null) {
      return;
    }
    lastPollNanos = System.nanoTime();
    pollEver = true;
    send(conn, conn.legacy ? Request.LEGACY_GET : Request.CONFIG_GET);
  }

  private void send(Connection conn, Request request) {
    conn.inFlight = request;
    conn.timeout =
        loop.schedule(
            () ->
                conn.fail(
                    "no answer to '"
                        + request.text
                        + "' within "
                        + options.requestTimeout().toMillis()
                        + " ms"),
            options.requestTimeout().toNanos(),
            TimeUnit.NANOSECONDS);
    conn.channel
        .writeAndFlush(Unpooled.wrappedBuffer(request.bytes))
        .addListener(
            f -> {
              if (!f.isSuccess()) {
                conn.fail("cannot send '" + request.text + "': " + describe(f.cause()));
              }
            });
  }

  private void answered(Connection conn, ConfigReply reply) {
    if (closed || conn != current) {
      return;
    }
    Request request = conn.inFlight;
    conn.inFlight = null;
    conn.cancelTimeout();
    if (request == null) {
      // Nothing was asked: the stream is out of step, and the next answer could be this one's.
      conn.fail("unsolicited reply: " + reply.describe());
      return;
    }
    if (request == Request.CONFIG_GET
        && reply instanceof ConfigReply.ErrorLine e
        && e.unknownCommand()) {
      conn.legacy = true;
      if (!legacyLogged) {
        legacyLogged = true;
        log.info(
            "cluster config endpoint {} does not know 'config get cluster'; asking"
                + " 'get AmazonElastiCache:cluster' instead (engine before 1.4.14)",
            endpoint);
      }
      send(conn, Request.LEGACY_GET);
      return;
    }
    // Any well-framed answer shows the endpoint works; only then may reconnects be quick again.
    backoff.reset();
    if (reply instanceof ConfigReply.Config c) {
      if (request == Request.CONFIG_GET) {
        legacyLogged = false;
      }
      succeeded();
      accept(c.config());
    } else {
      failed(reply.describe() + " (to '" + request.text + "')");
    }
    schedulePoll(options.interval().toNanos());
  }

  // ---- what to apply ----

  private void accept(ClusterConfig config) {
    if (applied == null || config.version() > applied.version()) {
      apply(config, "");
      return;
    }
    if (config.version() == applied.version() && config.sameNodesAs(applied)) {
      candidate = null;
      candidateAnswers = 0;
      return;
    }
    if (candidate != null
        && candidate.version() == config.version()
        && candidate.sameNodesAs(config)) {
      candidateAnswers++;
    } else {
      candidate = config;
      candidateAnswers = 1;
    }
    int needed = options.lowerVersionConfirmations();
    if (candidateAnswers >= needed) {
      apply(
          config,
          ", replacing version "
              + applied.version()
              + " after "
              + candidateAnswers
              + " consecutive answers (cluster recreated?)");
    } else if (candidateAnswers == 1) {
      log.info(
          "cluster config version {} ({} nodes) from {} is not newer than the applied version {};"
              + " applying it only if the next {} polls answer it too (cluster recreated?)",
          config.version(),
          config.nodes().size(),
          endpoint,
          applied.version(),
          needed - 1);
    }
  }

  private void apply(ClusterConfig config, String note) {
    ClusterConfig previous = applied;
    applied = config;
    candidate = null;
    candidateAnswers = 0;
    lastConfig = config;
    lastVersion = config.version();
    log.info(
        "cluster config version {}: {} nodes (+{} -{}){}",
        config.version(),
        config.nodes().size(),
        config.addedSince(previous),
        config.removedSince(previous),
        note);
    try {
      listener.onConfig(config);
    } catch (RuntimeException e) {
      // The poller must outlive a broken listener; the next change gets another chance.
      log.error("cluster config listener failed on version {}", config.version(), e);
    }
  }

  // ---- status ----

  private void succeeded() {
    if (failing) {
      failing = false;
      log.info("cluster config endpoint {} answers again", endpoint);
    }
    lastError = "";
    lastWarned = "";
    warningsSuppressed = 0;
  }

  private void failed(String reason) {
    failing = true;
    lastError = reason;
    long now = System.nanoTime();
    if (!reason.equals(lastWarned) || now - lastWarnedAt >= LOG_REPEAT_NANOS) {
      if (warningsSuppressed > 0) {
        log.warn(
            "cluster config endpoint {}: {} ({} similar failures not logged)",
            endpoint,
            reason,
            warningsSuppressed);
      } else {
        log.warn("cluster config endpoint {}: {}", endpoint, reason);
      }
      lastWarned = reason;
      lastWarnedAt = now;
      warningsSuppressed = 0;
    } else {
      warningsSuppressed++;
    }
    try {
      listener.onError(reason);
    } catch (RuntimeException e) {
      log.error("cluster config listener failed on an error report", e);
    }
  }

  private static void cancel(Future<?> timer) {
    if (timer != null) {
      timer.cancel(false);
    }
  }

  /**
   * The innermost message: TLS failures arrive wrapped ("General OpenSslEngine problem" around "No
   * subject alternative DNS name matching ...").
   */
  static String describe(Throwable cause) {
    String message = null;
    for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t.getMessage() != null && !(t instanceof DecoderException)) {
        message = t.getMessage();
      }
    }
    return message != null ? message : cause.getClass().getSimpleName();
  }

  /** One TLS connection to the endpoint: the pipeline's last handler and its request state. */
  private final class Connection extends ChannelInboundHandlerAdapter {
    Channel channel;
    SslHandler ssl;
    boolean ready;
    boolean legacy;
    boolean ended;
    Request inFlight;
    Future<?> timeout;

    /** Ends this connection once, whatever noticed the problem first. */
    void fail(String reason) {
      if (ended) {
        return;
      }
      ended = true;
      cancelTimeout();
      if (channel != null) {
        channel.close();
      }
      connectionLost(this, reason);
    }

    void cancelTimeout() {
      cancel(timeout);
      timeout = null;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ConfigReply reply) {
        answered(this, reply);
      } else {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (ready) {
        fail(describe(cause));
      } else {
        // The failed handshake's listener reports it.
        ctx.close();
      }
    }
  }
}
