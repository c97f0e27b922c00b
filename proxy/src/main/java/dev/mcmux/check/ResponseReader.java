package dev.mcmux.check;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Hands the decrypted bytes of a connection to the checking thread, which reads memcached's replies
 * line by line with a deadline; the I/O thread never waits.
 */
final class ResponseReader extends ChannelInboundHandlerAdapter {

  private static final Object CLOSED = new Object();

  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  // Owned by the checking thread.
  private byte[] buffer = new byte[0];
  private long lastArrivalNanos;

  /** Bytes as they arrived, stamped on the I/O thread so round trips are timed without lag. */
  private record Chunk(byte[] bytes, long arrivedNanos) {}

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof ByteBuf buf) {
      try {
        byte[] bytes = new byte[buf.readableBytes()];
        buf.readBytes(bytes);
        events.add(new Chunk(bytes, System.nanoTime()));
      } finally {
        buf.release();
      }
    } else {
      ctx.fireChannelRead(msg);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    events.add(CLOSED);
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // Kept for the checking thread rather than logged: the check explains it.
    events.add(cause);
  }

  /** The next line, without its CR LF (or bare LF). */
  String readLine(long deadlineNanos) throws IOException, TimeoutException {
    while (true) {
      for (int i = 0; i < buffer.length; i++) {
        if (buffer[i] == '\n') {
          int end = i > 0 && buffer[i - 1] == '\r' ? i - 1 : i;
          String line = new String(buffer, 0, end, StandardCharsets.ISO_8859_1);
          buffer = Arrays.copyOfRange(buffer, i + 1, buffer.length);
          return line;
        }
      }
      more(deadlineNanos);
    }
  }

  /** When the bytes last taken from the connection arrived, in {@link System#nanoTime()} terms. */
  long lastArrivalNanos() {
    return lastArrivalNanos;
  }

  /** Exactly {@code n} bytes. */
  byte[] readExactly(int n, long deadlineNanos) throws IOException, TimeoutException {
    while (buffer.length < n) {
      more(deadlineNanos);
    }
    byte[] out = Arrays.copyOf(buffer, n);
    buffer = Arrays.copyOfRange(buffer, n, buffer.length);
    return out;
  }

  private void more(long deadlineNanos) throws IOException, TimeoutException {
    Object event;
    try {
      long wait = deadlineNanos - System.nanoTime();
      event = wait > 0 ? events.poll(wait, TimeUnit.NANOSECONDS) : events.poll();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    if (event == null) {
      throw new TimeoutException();
    }
    if (event == CLOSED) {
      events.add(CLOSED);
      throw new EOFException("the server closed the connection");
    }
    if (event instanceof Throwable t) {
      events.add(t);
      throw new IOException(t.getMessage() == null ? t.toString() : t.getMessage(), t);
    }
    Chunk chunk = (Chunk) event;
    lastArrivalNanos = chunk.arrivedNanos();
    byte[] bytes = chunk.bytes();
    byte[] joined = Arrays.copyOf(buffer, buffer.length + bytes.length);
    System.arraycopy(bytes, 0, joined, buffer.length, bytes.length);
    buffer = joined;
  }
}
