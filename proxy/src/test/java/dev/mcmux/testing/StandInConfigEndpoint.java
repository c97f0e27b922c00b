package dev.mcmux.testing;

import dev.mcmux.testing.TestPki.CertPair;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;

/**
 * A stand-in for an ElastiCache configuration endpoint over TLS: answers {@code config get cluster}
 * and {@code get AmazonElastiCache:cluster} with a body the test sets, and can play an old engine,
 * a mute server, or one that is down and comes back on the same port.
 *
 * <p>It exists only because a local memcached cannot answer {@code config get cluster}; everything
 * memcached itself can do is tested against memcached.
 */
public final class StandInConfigEndpoint implements AutoCloseable {

  private final EventLoopGroup group;
  private final SslContext ssl;
  private final int port;
  private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final Queue<String> once = new ConcurrentLinkedQueue<>();
  private final AtomicInteger configGets = new AtomicInteger();
  private final AtomicInteger legacyGets = new AtomicInteger();
  private final AtomicInteger accepted = new AtomicInteger();
  private volatile String body = "";
  private volatile boolean legacyOnly;
  private volatile boolean mute;
  private Channel server;

  private StandInConfigEndpoint(CertPair cert) {
    try {
      ssl = SslContextBuilder.forServer(cert.cert().toFile(), cert.key().toFile()).build();
    } catch (SSLException e) {
      throw new IllegalStateException("cannot load " + cert, e);
    }
    group =
        new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("stand-in-config", true), NioIoHandler.newFactory());
    port = Ports.freeLoopbackPort();
  }

  /** Starts serving {@code cert} (use the WILDCARD one for {@code *.cluster.test} names). */
  public static StandInConfigEndpoint start(CertPair cert) {
    StandInConfigEndpoint endpoint = new StandInConfigEndpoint(cert);
    try {
      endpoint.restart();
    } catch (RuntimeException e) {
      endpoint.close();
      throw e;
    }
    return endpoint;
  }

  /** The body {@code <version>\n<node> <node>...\n} for nodes written {@code host|ip|port}. */
  public static String body(long version, String... nodes) {
    return version + "\n" + String.join(" ", nodes) + "\n";
  }

  /** Answers every later request with this version and these {@code host|ip|port} nodes. */
  public StandInConfigEndpoint config(long version, String... nodes) {
    return rawBody(body(version, nodes));
  }

  /** Answers every later request with exactly this body, well-formed or not. */
  public StandInConfigEndpoint rawBody(String newBody) {
    body = newBody;
    return this;
  }

  /**
   * Answers the next request (of either kind) with this config, once, before the one set by {@link
   * #config}; several calls queue up in order.
   */
  public StandInConfigEndpoint answerOnce(long version, String... nodes) {
    once.add(body(version, nodes));
    return this;
  }

  /** Plays an engine before 1.4.14: {@code config get cluster} gets {@code ERROR}. */
  public StandInConfigEndpoint legacyOnly(boolean on) {
    legacyOnly = on;
    return this;
  }

  /** Reads requests (and counts them) but answers none. */
  public StandInConfigEndpoint mute(boolean on) {
    mute = on;
    return this;
  }

  /** The TCP port, the same across {@link #stop()} and {@link #restart()}. */
  public int port() {
    return port;
  }

  /** {@code config get cluster} requests received so far. */
  public int configGets() {
    return configGets.get();
  }

  /** {@code get AmazonElastiCache:cluster} requests received so far. */
  public int legacyGets() {
    return legacyGets.get();
  }

  /** Requests of both kinds received so far. */
  public int requests() {
    return configGets.get() + legacyGets.get();
  }

  /** TCP connections accepted so far. */
  public int accepted() {
    return accepted.get();
  }

  /** Connections open right now. */
  public int openConnections() {
    return connections.size();
  }

  /** Closes the listening socket and every connection, as a deleted or failed endpoint would. */
  public synchronized void stop() {
    if (server != null) {
      server.close().syncUninterruptibly();
      server = null;
    }
    connections.close().awaitUninterruptibly();
  }

  /** Listens again on the same port; does nothing while listening. */
  public synchronized void restart() {
    if (server != null) {
      return;
    }
    server =
        new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            // The port was just in use: connections of the last run may still be in TIME_WAIT.
            .option(ChannelOption.SO_REUSEADDR, true)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    accepted.incrementAndGet();
                    connections.add(ch);
                    ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
                    ch.pipeline().addLast(new LineBasedFrameDecoder(4096));
                    ch.pipeline().addLast(new RequestHandler());
                  }
                })
            .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
            .syncUninterruptibly()
            .channel();
  }

  @Override
  public void close() {
    stop();
    group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    ReferenceCountUtil.release(ssl);
  }

  private String nextBody() {
    String b = once.poll();
    return b != null ? b : body;
  }

  /** Answers one request line as the configuration endpoint would. */
  private final class RequestHandler extends SimpleChannelInboundHandler<ByteBuf> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) {
      String request = line.toString(StandardCharsets.US_ASCII).strip();
      if (mute) {
        count(request);
        return;
      }
      String answer =
          switch (request) {
            case "config get cluster" ->
                legacyOnly ? "ERROR\r\n" : reply("CONFIG cluster 0 ", nextBody());
            case "get AmazonElastiCache:cluster" ->
                reply("VALUE AmazonElastiCache:cluster 0 ", nextBody());
            default -> "ERROR\r\n";
          };
      // Counted after the body was chosen: a test that reads the count and then changes the
      // body knows every answer with the new body is counted after what it read.
      count(request);
      ctx.writeAndFlush(Unpooled.copiedBuffer(answer, StandardCharsets.ISO_8859_1));
    }

    private void count(String request) {
      if (request.equals("config get cluster")) {
        configGets.incrementAndGet();
      } else if (request.equals("get AmazonElastiCache:cluster")) {
        legacyGets.incrementAndGet();
      }
    }

    private String reply(String header, String data) {
      return header
          + data.getBytes(StandardCharsets.ISO_8859_1).length
          + "\r\n"
          + data
          + "\r\nEND\r\n";
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      // Clients that give up mid-handshake are part of the tests; just drop the connection.
      ctx.close();
    }
  }
}
