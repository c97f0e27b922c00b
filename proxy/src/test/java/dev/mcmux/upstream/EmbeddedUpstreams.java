package dev.mcmux.upstream;

import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.List;

/**
 * Real {@link UpstreamPool}s and {@link UpstreamConnection}s over Netty {@link EmbeddedChannel}s
 * instead of TLS sockets, so the frontend's ordering logic can be driven deterministically by a
 * test that plays memcached: it reads what mcmux writes and chooses when and in what pieces each
 * answer arrives, or kills a connection.
 *
 * <p>The pool is the production class, but it never connects: its connection slots are filled here
 * (by reflection, as the production pool only fills them after a TLS handshake), and its reconnect
 * backoff is an hour, so a killed connection stays dead for the test.
 */
public final class EmbeddedUpstreams {

  private static final Duration LONG = Duration.ofHours(1);

  private EmbeddedUpstreams() {}

  /** A pool for {@code node} with {@code slots} empty connection slots, on {@code loop}. */
  public static UpstreamPool pool(UpstreamNode node, int slots, EventLoop loop) {
    Settings.Upstream settings =
        new Settings.Upstream(
            List.of(node.address()),
            slots,
            LONG,
            LONG,
            LONG,
            LONG,
            LONG.multipliedBy(2),
            0,
            LONG.dividedBy(2));
    NettyTransport transport =
        new NettyTransport(
            "nio",
            null,
            NioSocketChannel.class,
            NioServerSocketChannel.class,
            NioServerDomainSocketChannel.class,
            NioDatagramChannel.class);
    return new UpstreamPool(
        loop, 0, node, settings, null, null, transport, null, ProxyMetrics.NOOP, Duration.ZERO);
  }

  /**
   * Puts a production {@link UpstreamConnection} over {@code channel} into slot {@code slot} of
   * {@code pool}, as an established TLS connection would be. No request timeout or keepalive runs.
   */
  public static UpstreamConnection connect(UpstreamPool pool, int slot, EmbeddedChannel channel) {
    return connect(pool, slot, channel, ProxyMetrics.NOOP);
  }

  /** As {@link #connect(UpstreamPool, int, EmbeddedChannel)}, reporting to {@code metrics}. */
  public static UpstreamConnection connect(
      UpstreamPool pool, int slot, EmbeddedChannel channel, ProxyMetrics metrics) {
    UpstreamConnection conn =
        new UpstreamConnection(
            channel,
            pool,
            metrics,
            pool.node().address() + "#" + slot,
            LONG.toNanos(),
            LONG.toNanos(),
            LONG.toNanos(),
            pool.node().itemSizeMax());
    channel.pipeline().addLast("upstream", conn);
    pool.node().liveConnectionCounter().incrementAndGet();
    try {
      Field f = UpstreamPool.class.getDeclaredField("connections");
      f.setAccessible(true);
      ((UpstreamConnection[]) f.get(pool))[slot] = conn;
    } catch (ReflectiveOperationException e) {
      throw new AssertionError("UpstreamPool.connections changed; update this test seam", e);
    }
    return conn;
  }

  /** Sends the keepalive/nudge probe ({@code version}) as the connection's watchdog would. */
  public static void probe(UpstreamConnection conn) {
    conn.probe();
  }
}
