package dev.mcmux.check;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.Arrays;

/**
 * Sits below the {@code SslHandler} and keeps a copy of the first bytes the server sent, so that a
 * failed handshake can be explained by what actually arrived (plain text, a TLS alert, an old TLS
 * version) instead of by an engine's error string.
 */
final class WireRecorder extends ChannelInboundHandlerAdapter {

  private static final int KEEP = 512;

  private final byte[] first = new byte[KEEP];
  private int length;

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof ByteBuf buf) {
      synchronized (this) {
        int n = Math.min(buf.readableBytes(), KEEP - length);
        if (n > 0) {
          buf.getBytes(buf.readerIndex(), first, length, n);
          length += n;
        }
      }
    }
    ctx.fireChannelRead(msg);
  }

  /** The first bytes received (up to 512), possibly none. */
  synchronized byte[] firstBytes() {
    return Arrays.copyOf(first, length);
  }
}
