package dev.mcmux.upstream;

import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.ResponseShape;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslHandler;
import io.netty.internal.tcnative.SSL;
import io.netty.resolver.AddressResolverGroup;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The persistent TLS connections one event loop keeps to one node: opened at start, replaced with
 * jittered backoff when they die, and handed to clients of the same event loop only, so no request
 * ever crosses threads.
 */
public final class UpstreamPool implements UpstreamConnection.Listener {
  private static final Logger log = LoggerFactory.getLogger(UpstreamPool.class);

  /** One line per distinct failure and 30 s, so a node that is down does not flood the log. */
  private static final RateLimitedLogger failureLog =
      new RateLimitedLogger(log, java.time.Duration.ofSeconds(30));

  private static final String TOO_MANY_CONNECTIONS_HEX =
      ByteBufUtil.hexDump("ERROR Too many open".getBytes(StandardCharsets.US_ASCII));

  private final EventLoop loop;
  private final UpstreamNode node;
  private final Settings.Upstream settings;
  private final SslHandlerFactory tls;
  private final ProxyMetrics metrics;
  private final long maxAgeNanos;
  private final Bootstrap bootstrap;
  private final UpstreamConnection[] connections;
  private final Backoff[] backoffs;
  private final boolean[] replacing;
  private final String loopName;
  private final String nodeTag;
  private boolean stopped;

  public UpstreamPool(
      EventLoop loop,
      int loopIndex,
      UpstreamNode node,
      Settings.Upstream settings,
      Settings.Tls tlsSettings,
      SslHandlerFactory tls,
      NettyTransport transport,
      AddressResolverGroup<InetSocketAddress> resolver,
      ProxyMetrics metrics,
      java.time.Duration maxConnectionAge) {
    this.loop = loop;
    this.metrics = metrics;
    this.maxAgeNanos = maxConnectionAge.toNanos();
    this.node = node;
    this.settings = settings;
    this.tls = tls;
    this.loopName = "loop" + loopIndex;
    this.nodeTag = node.address().toString();
    this.connections = new UpstreamConnection[settings.connectionsPerLoop()];
    this.backoffs = new Backoff[connections.length];
    this.replacing = new boolean[connections.length];
    for (int i = 0; i < backoffs.length; i++) {
      backoffs[i] = new Backoff(settings.reconnectBackoffMin(), settings.reconnectBackoffMax());
    }
    this.bootstrap = transport.clientBootstrap(loop, resolver, settings.connectTimeout());
  }

  /** The node this pool connects to. */
  public UpstreamNode node() {
    return node;
  }

  /** Opens every connection; call on any thread. */
  public void start() {
    loop.execute(
        () -> {
          for (int i = 0; i < connections.length; i++) {
            connect(i);
          }
          if (maxAgeNanos > 0) {
            long period =
                Math.max(
                    TimeUnit.SECONDS.toNanos(1), Math.min(maxAgeNanos / 10, 60L * 1_000_000_000L));
            loop.scheduleAtFixedRate(this::recycleOld, period, period, TimeUnit.NANOSECONDS);
          }
        });
  }

  /**
   * Replaces connections past the maximum age: a new connection takes the slot first (with the
   * current TLS context, after a certificate reload), the old one drains and closes.
   */
  private void recycleOld() {
    if (stopped) {
      return;
    }
    long now = System.nanoTime();
    for (int i = 0; i < connections.length; i++) {
      UpstreamConnection c = connections[i];
      if (c != null && !replacing[i] && now - c.openedAtNanos() > maxAgeNanos) {
        // The old connection keeps serving until its replacement is up: no gap for clients.
        replacing[i] = true;
        connect(i);
      }
    }
  }

  /**
   * The usable connection with the fewest requests in flight, or null when none is up. Must be
   * called on this pool's event loop.
   */
  public UpstreamConnection pick() {
    UpstreamConnection best = null;
    for (UpstreamConnection c : connections) {
      if (c != null && c.isUsable() && (best == null || c.pendingCount() < best.pendingCount())) {
        best = c;
      }
    }
    return best;
  }

  /** Live connections in this pool. */
  public int liveCount() {
    int n = 0;
    for (UpstreamConnection c : connections) {
      if (c != null && c.isUsable()) {
        n++;
      }
    }
    return n;
  }

  private void connect(int slot) {
    if (stopped) {
      return;
    }
    String host = node.address().host();
    int port = node.address().port();
    String tlsHost = node.address().host();
    SslHandler ssl = tls.newHandler(io.netty.buffer.ByteBufAllocator.DEFAULT, tlsHost, port);
    long startedAt = System.nanoTime();
    long startedAtMillis = System.currentTimeMillis();
    ChannelFuture cf =
        bootstrap
            .clone()
            .handler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    // Below the SslHandler: turns its per-record flushes into one syscall per
                    // event-loop iteration.
                    ch.pipeline().addLast("flush", new FlushConsolidationHandler(256, true));
                    ch.pipeline().addLast("tls", ssl);
                  }
                })
            .connect(host, port);
    cf.addListener(
        f -> {
          if (!f.isSuccess()) {
            ssl.engine().closeOutbound();
            failed(slot, "connect to " + node.address() + " failed: " + describe(f.cause()));
            return;
          }
          ssl.handshakeFuture()
              .addListener(
                  hf -> {
                    if (!hf.isSuccess()) {
                      cf.channel().close();
                      metrics.handshake(nodeTag, false, false, System.nanoTime() - startedAt);
                      failed(slot, handshakeFailure(hf.cause()));
                    } else {
                      boolean resumed = resumed(ssl.engine(), startedAtMillis);
                      metrics.handshake(nodeTag, true, resumed, System.nanoTime() - startedAt);
                      established(slot, cf.channel(), ssl, startedAt, resumed);
                    }
                  });
        });
  }

  private String handshakeFailure(Throwable cause) {
    String d = describe(cause);
    if (d.contains(TOO_MANY_CONNECTIONS_HEX)) {
      return "TLS handshake with "
          + node.address()
          + " failed: the server is at its connection"
          + " limit (it answered 'ERROR Too many open connections' in plaintext)";
    }
    return "TLS handshake with " + node.address() + " failed: " + d;
  }

  /** Whether the handshake resumed an earlier TLS session instead of doing a full one. */
  private static boolean resumed(SSLEngine engine, long startedAtMillis) {
    if (engine instanceof ReferenceCountedOpenSslEngine openSsl) {
      synchronized (openSsl) {
        long ssl = openSsl.sslPointer();
        return ssl != 0 && SSL.isSessionReused(ssl);
      }
    }
    // The JDK keeps a resumed session's original creation time.
    return engine.getSession().getCreationTime() < startedAtMillis;
  }

  private void established(int slot, Channel ch, SslHandler ssl, long startedAt, boolean resumed) {
    if (stopped) {
      ch.close();
      return;
    }
    String name = node.address() + "#" + loopName + "." + slot;
    UpstreamConnection conn =
        new UpstreamConnection(
            ch,
            this,
            metrics,
            name,
            settings.requestTimeout().toNanos(),
            settings.stallNudgeAfter().toNanos(),
            settings.keepaliveInterval().toNanos(),
            node.itemSizeMax());
    ch.pipeline().addLast("upstream", conn);
    UpstreamConnection old = connections[slot];
    connections[slot] = conn;
    replacing[slot] = false;
    if (old != null) {
      old.drain(settings.requestTimeout().toNanos() * 4);
    }
    backoffs[slot].reset();
    node.liveConnectionCounter().incrementAndGet();
    node.lastError("");
    node.connected();
    conn.startWatchdog();
    conn.probe();
    node.firstConnection().complete(null);
    SSLSession s = ssl.engine().getSession();
    log.info(
        "upstream {} connected: {} {}{} in {} ms",
        name,
        s.getProtocol(),
        s.getCipherSuite(),
        resumed ? " (session resumed)" : "",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt));
    if (node.wantsItemSizeMax()) {
      conn.write(
          Unpooled.copiedBuffer("stats settings\r\n", StandardCharsets.US_ASCII),
          new SettingsRequest(),
          false);
    }
  }

  private void failed(int slot, String reason) {
    node.lastError(reason);
    node.connectFailed();
    failureLog.warn(reason, "upstream {} ({}): {}", node.address(), loopName, reason);
    if (replacing[slot] && connections[slot] != null && connections[slot].isUsable()) {
      // The old connection still serves; the next age check tries the replacement again.
      replacing[slot] = false;
      return;
    }
    replacing[slot] = false;
    scheduleReconnect(slot);
  }

  private void scheduleReconnect(int slot) {
    if (stopped) {
      return;
    }
    long delay = backoffs[slot].nextDelayNanos();
    loop.schedule(() -> connect(slot), delay, TimeUnit.NANOSECONDS);
  }

  @Override
  public void closed(UpstreamConnection connection, String reason) {
    node.liveConnectionCounter().decrementAndGet();
    for (int i = 0; i < connections.length; i++) {
      if (connections[i] == connection) {
        connections[i] = null;
        if (!stopped) {
          node.lastError(reason);
          scheduleReconnect(i);
        }
      }
    }
  }

  @Override
  public void versionSeen(String version) {
    node.version(version);
  }

  /**
   * For a node that left the cluster: no reconnects, and each connection closes once the requests
   * it carries are answered. Call on the pool's event loop.
   */
  public void drainAndStop() {
    stopped = true;
    for (int i = 0; i < connections.length; i++) {
      if (connections[i] != null) {
        UpstreamConnection c = connections[i];
        connections[i] = null;
        c.drain(settings.requestTimeout().toNanos() * 4);
      }
    }
  }

  /** Like {@link #stop()}, from any thread. */
  public void stopOnItsLoop() {
    loop.execute(this::stop);
  }

  /** Closes every connection and stops reconnecting; call on the pool's event loop. */
  public void stop() {
    stopped = true;
    for (UpstreamConnection c : connections) {
      if (c != null) {
        c.close("mcmux is shutting down");
      }
    }
  }

  private static String describe(Throwable t) {
    return UpstreamConnection.describe(t);
  }

  /** Reads {@code item_size_max} from {@code stats settings} so oversized values fail locally. */
  private final class SettingsRequest extends PendingRequest {
    SettingsRequest() {
      super(ResponseShape.STATS);
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      try {
        String text = frame.toString(StandardCharsets.US_ASCII);
        int at = text.indexOf("STAT item_size_max ");
        if (at >= 0) {
          int eol = text.indexOf('\r', at);
          node.learnItemSizeMax(Long.parseLong(text.substring(at + 19, eol).trim()));
        }
      } catch (RuntimeException e) {
        log.debug("unparseable stats settings from {}", node.address(), e);
      } finally {
        frame.release();
      }
    }

    @Override
    protected void onFailure(String errorLine) {}
  }
}
