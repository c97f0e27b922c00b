package dev.mcmux.upstream;

import dev.mcmux.config.Settings;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/** The Netty transport in use (epoll when it loads, NIO otherwise) and its channel classes. */
public record NettyTransport(
    String name,
    IoHandlerFactory ioHandlerFactory,
    Class<? extends SocketChannel> socketChannel,
    Class<? extends ServerChannel> serverSocketChannel,
    Class<? extends ServerChannel> serverDomainSocketChannel,
    Class<? extends DatagramChannel> datagramChannel) {

  /**
   * Picks the transport the settings ask for.
   *
   * @throws IllegalStateException when epoll is demanded but cannot load, with the reason
   */
  public static NettyTransport select(Settings.Transport wanted) {
    if (wanted != Settings.Transport.NIO && Epoll.isAvailable()) {
      return new NettyTransport(
          "epoll",
          EpollIoHandler.newFactory(),
          EpollSocketChannel.class,
          EpollServerSocketChannel.class,
          EpollServerDomainSocketChannel.class,
          EpollDatagramChannel.class);
    }
    if (wanted == Settings.Transport.EPOLL) {
      throw new IllegalStateException(
          "mcmux.transport: epoll is not available: " + Epoll.unavailabilityCause());
    }
    return new NettyTransport(
        "nio",
        NioIoHandler.newFactory(),
        NioSocketChannel.class,
        NioServerSocketChannel.class,
        NioServerDomainSocketChannel.class,
        NioDatagramChannel.class);
  }

  /** Why epoll is not in use, or null when it is. */
  public static Throwable epollUnavailabilityCause() {
    return Epoll.unavailabilityCause();
  }

  /**
   * A client bootstrap for connections to memcached nodes on {@code loop}: non-blocking DNS, a
   * connect timeout, no Nagle delay, TCP keepalive.
   */
  public io.netty.bootstrap.Bootstrap clientBootstrap(
      io.netty.channel.EventLoop loop,
      io.netty.resolver.AddressResolverGroup<java.net.InetSocketAddress> resolver,
      java.time.Duration connectTimeout) {
    return new io.netty.bootstrap.Bootstrap()
        .group(loop)
        .channel(socketChannel)
        .resolver(resolver)
        .option(
            io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS,
            (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()))
        .option(io.netty.channel.ChannelOption.TCP_NODELAY, true)
        .option(io.netty.channel.ChannelOption.SO_KEEPALIVE, true);
  }

  /** A group of {@code threads} event loops named {@code prefix-N}. */
  public EventLoopGroup newGroup(int threads, String prefix) {
    return new MultiThreadIoEventLoopGroup(
        threads, new DefaultThreadFactory(prefix, true), ioHandlerFactory);
  }
}
