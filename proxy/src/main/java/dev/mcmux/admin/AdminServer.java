package dev.mcmux.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP listener for operators and orchestrators: {@code /metrics}, {@code /healthz}, {@code
 * /readyz} and {@code /status}, served on its own thread so rendering never runs on (or waits for)
 * the proxy's event loops.
 */
public final class AdminServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

  /** What the endpoints report; each supplier runs on the admin thread. */
  public record Endpoints(
      Supplier<String> metrics,
      BooleanSupplier healthy,
      BooleanSupplier ready,
      Supplier<String> statusJson) {}

  private final EventLoopGroup group;
  private final Channel channel;

  private AdminServer(EventLoopGroup group, Channel channel) {
    this.group = group;
    this.channel = channel;
  }

  /** Binds {@code host:port} and serves {@code endpoints}. */
  public static AdminServer start(String host, int port, Endpoints endpoints)
      throws InterruptedException {
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("mcmux-admin", true), NioIoHandler.newFactory());
    try {
      Channel ch =
          new ServerBootstrap()
              .group(group)
              .channel(NioServerSocketChannel.class)
              .childHandler(
                  new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                      ch.pipeline()
                          .addLast(new HttpServerCodec(4096, 8192, 8192))
                          .addLast(new HttpObjectAggregator(8192))
                          .addLast(new Handler(endpoints));
                    }
                  })
              .bind(new InetSocketAddress(host, port))
              .sync()
              .channel();
      InetSocketAddress bound = (InetSocketAddress) ch.localAddress();
      log.info("admin listening on http://{}:{}", bound.getHostString(), bound.getPort());
      return new AdminServer(group, ch);
    } catch (InterruptedException | RuntimeException e) {
      group.shutdownGracefully();
      throw e;
    }
  }

  /** The bound port (useful when port 0 was asked for). */
  public int port() {
    return ((InetSocketAddress) channel.localAddress()).getPort();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final Endpoints endpoints;

    Handler(Endpoints endpoints) {
      this.endpoints = endpoints;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      FullHttpResponse res;
      if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
        res = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "GET only\n");
      } else {
        res = route(new QueryStringDecoder(req.uri()).path());
      }
      boolean keepAlive = HttpUtil.isKeepAlive(req);
      HttpUtil.setKeepAlive(res, keepAlive);
      var f = ctx.writeAndFlush(res);
      if (!keepAlive) {
        f.addListener(ChannelFutureListener.CLOSE);
      }
    }

    private FullHttpResponse route(String path) {
      try {
        return switch (path) {
          case "/metrics" -> {
            FullHttpResponse r = text(HttpResponseStatus.OK, endpoints.metrics().get());
            r.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            yield r;
          }
          case "/healthz" ->
              endpoints.healthy().getAsBoolean()
                  ? text(HttpResponseStatus.OK, "ok\n")
                  : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "event loops not responding\n");
          case "/readyz" ->
              endpoints.ready().getAsBoolean()
                  ? text(HttpResponseStatus.OK, "ready\n")
                  : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n");
          case "/status" -> {
            FullHttpResponse r = text(HttpResponseStatus.OK, endpoints.statusJson().get());
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            yield r;
          }
          default ->
              text(HttpResponseStatus.NOT_FOUND, "try /metrics, /healthz, /readyz or /status\n");
        };
      } catch (RuntimeException e) {
        log.warn("admin {} failed", path, e);
        return text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error\n");
      }
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
      ByteBuf content = Unpooled.copiedBuffer(body, StandardCharsets.UTF_8);
      FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
      r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
      return r;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
