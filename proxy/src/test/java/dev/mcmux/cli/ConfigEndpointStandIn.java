package dev.mcmux.cli;

import dev.mcmux.testing.TestPki.CertPair;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * A TLS server that answers {@code version} and {@code config get cluster} like an ElastiCache
 * configuration endpoint, which a local memcached cannot do; everything else gets {@code ERROR}.
 */
final class ConfigEndpointStandIn implements AutoCloseable {

  /** What the stand-in says to {@code version}. */
  static final String VERSION = "1.6.22";

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel server;

  /**
   * Serves {@code cert}; answers {@code config get cluster} with {@code CONFIG cluster 0 <len>},
   * {@code body}, {@code END}, or with {@code ERROR} when {@code body} is null.
   */
  ConfigEndpointStandIn(CertPair cert, String body) throws SSLException {
    this(cert, body, null);
  }

  /** Like the other, and requires a client certificate issued by {@code clientCa} if not null. */
  ConfigEndpointStandIn(CertPair cert, String body, Path clientCa) throws SSLException {
    SslContextBuilder builder =
        SslContextBuilder.forServer(cert.cert().toFile(), cert.key().toFile());
    if (clientCa != null) {
      builder.trustManager(clientCa.toFile()).clientAuth(ClientAuth.REQUIRE);
    }
    SslContext tls = builder.build();
    String configReply =
        body == null
            ? "ERROR\r\n"
            : "CONFIG cluster 0 "
                + body.getBytes(StandardCharsets.UTF_8).length
                + "\r\n"
                + body
                + "\r\nEND\r\n";
    server =
        new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ch.pipeline()
                        .addLast(tls.newHandler(ch.alloc()))
                        .addLast(new LineBasedFrameDecoder(2048))
                        .addLast(new Answers(configReply));
                  }
                })
            .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .syncUninterruptibly()
            .channel();
  }

  int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** One reply per request line. */
  private static final class Answers extends SimpleChannelInboundHandler<ByteBuf> {
    private final String configReply;

    Answers(String configReply) {
      this.configReply = configReply;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) {
      String command = line.toString(StandardCharsets.US_ASCII).strip();
      String reply =
          switch (command) {
            case "version" -> "VERSION " + VERSION + "\r\n";
            case "config get cluster" -> configReply;
            default -> "ERROR\r\n";
          };
      ctx.writeAndFlush(Unpooled.copiedBuffer(reply, StandardCharsets.UTF_8));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      // A client that gives up on the handshake (the point of some tests) is no error here.
      ctx.close();
    }
  }
}
