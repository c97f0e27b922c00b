package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.Settings;
import dev.mcmux.upstream.NettyTransport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The options mcmux's client listener gives the connections it accepts. */
class ListenerOptionsTest {

  @Test
  void acceptedTcpConnectionsHaveNagleOffAndMayHalfClose() throws Exception {
    NettyTransport transport = NettyTransport.select(Settings.Transport.AUTO);
    EventLoopGroup group = transport.newGroup(1, "listener-options-test");
    CompletableFuture<boolean[]> seen = new CompletableFuture<>();
    InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    try {
      ServerBootstrap b =
          McmuxServer.listenerOptions(
                  new ServerBootstrap().group(group).channel(transport.serverSocketChannel()),
                  any,
                  16)
              .childHandler(
                  new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                      seen.complete(
                          new boolean[] {
                            ch.config().getOption(ChannelOption.TCP_NODELAY),
                            ch.config().getOption(ChannelOption.ALLOW_HALF_CLOSURE)
                          });
                      ch.close();
                    }
                  });
      Channel listener = b.bind(any).sync().channel();
      int port = ((InetSocketAddress) listener.localAddress()).getPort();
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
          InputStream in = s.getInputStream()) {
        boolean[] options = seen.get(10, TimeUnit.SECONDS);
        assertTrue(options[0], "TCP_NODELAY on the accepted socket (" + transport.name() + ")");
        assertTrue(options[1], "ALLOW_HALF_CLOSURE on the accepted channel");
        assertEquals(-1, in.read(), "the test's channel closed");
      } finally {
        listener.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
    }
  }
}
