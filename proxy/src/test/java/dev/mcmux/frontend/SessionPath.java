package dev.mcmux.frontend;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementFlavour;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.upstream.EmbeddedUpstreams;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * One production {@link ClientSession} and one production upstream connection over {@link
 * EmbeddedChannel}s, for measuring what a request costs from the client's bytes to the client's
 * answer (decode, route, encode, frame, order, metrics) without sockets or TLS.
 *
 * <p>Inputs are copied into buffers of the default allocator, as an epoll read or the TLS handler
 * would hand them over, so buffer allocation is counted the way it happens in production. Netty 4.2
 * recycles its objects (outbound entries, buffers) only on threads that clean up their fast
 * thread-locals, as event loops do: {@link #roundTrips} runs its loop as such a thread.
 */
public final class SessionPath implements AutoCloseable {
  private final EmbeddedChannel loopChannel = new EmbeddedChannel();
  private final EmbeddedChannel client;
  private final EmbeddedChannel upstream = new EmbeddedChannel();
  private final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;

  /** A client of one node, reporting to {@code metrics}. */
  public SessionPath(ProxyMetrics metrics) {
    HostPort address = new HostPort("node0.test", 11211);
    UpstreamNode node = new UpstreamNode(address, 1 << 20, 3);
    ClusterView view =
        new ClusterView(
            List.of(node),
            KeyPlacement.create(
                PlacementFlavour.LIBMEMCACHED,
                List.of(new PlacementNode(address.host(), address.port()))),
            -1);
    UpstreamPool pool = EmbeddedUpstreams.pool(node, 1, loopChannel.eventLoop());
    EmbeddedUpstreams.connect(pool, 0, upstream, metrics);
    LoopContext loop = new LoopContext(view, new UpstreamPool[] {pool});
    Settings.Limits limits =
        new Settings.Limits(1000, 1000, 8L << 20, 64L << 20, Duration.ofHours(1));
    client =
        new EmbeddedChannel(
            new ClientSession(
                new FrontendContext(limits, Settings.DownNodeKeys.MISS, metrics), loop));
  }

  /**
   * Sends {@code request} as one client read, answers every upstream request with {@code answer} as
   * one upstream read, and returns the bytes the client received.
   */
  public int roundTrip(byte[] request, byte[] answer) {
    return roundTrip(request, answer, null);
  }

  /**
   * {@link #roundTrip} for one meta request: the upstream answer is {@code before}, then the tag
   * mcmux put in the upstream line ({@code O<n>}, as memcached echoes it), then {@code after}.
   */
  public int metaRoundTrip(byte[] request, byte[] before, byte[] after) {
    return roundTrip(request, before, after);
  }

  private int roundTrip(byte[] request, byte[] answer, byte[] afterTag) {
    client.pipeline().fireChannelRead(alloc.directBuffer(request.length).writeBytes(request));
    client.pipeline().fireChannelReadComplete();
    client.runPendingTasks();
    upstream.runPendingTasks();
    int requests = 0;
    long tag = -1;
    for (Object m; (m = upstream.readOutbound()) != null; ) {
      ByteBuf sent = (ByteBuf) m;
      if (afterTag != null && sent.isReadable()) {
        tag = lastTag(sent);
      }
      sent.release();
      requests++;
    }
    if (requests > 0) {
      ByteBuf in = alloc.directBuffer(answer.length + 24).writeBytes(answer);
      if (afterTag != null) {
        in.writeByte('O');
        AsciiRequestEncoder.writeUnsigned(tag, in);
        in.writeBytes(afterTag);
      }
      upstream.pipeline().fireChannelRead(in);
      upstream.pipeline().fireChannelReadComplete();
    }
    int received = 0;
    for (Object m; (m = client.readOutbound()) != null; ) {
      ByteBuf b = (ByteBuf) m;
      received += b.readableBytes();
      b.release();
    }
    return received;
  }

  /**
   * {@link #roundTrip} {@code times} times, on this thread marked as an event loop's would be;
   * returns the bytes the client received in all.
   */
  public long roundTrips(int times, byte[] request, byte[] answer) {
    return repeat(times, () -> roundTrip(request, answer));
  }

  /** {@link #metaRoundTrip} {@code times} times, as {@link #roundTrips} does. */
  public long metaRoundTrips(int times, byte[] request, byte[] before, byte[] after) {
    return repeat(times, () -> metaRoundTrip(request, before, after));
  }

  private static long repeat(int times, java.util.function.IntSupplier roundTrip) {
    long[] received = {0};
    FastThreadLocalThread.runWithFastThreadLocal(
        () -> {
          for (int i = 0; i < times; i++) {
            received[0] += roundTrip.getAsInt();
          }
        });
    return received[0];
  }

  /** The number after the last {@code " O"} in an upstream meta line (mcmux's tag). */
  private static long lastTag(ByteBuf line) {
    int end = line.writerIndex();
    int at = end - 1;
    while (at > line.readerIndex() && !(line.getByte(at) == 'O' && line.getByte(at - 1) == ' ')) {
      at--;
    }
    long tag = 0;
    for (int i = at + 1; i < end && Character.isDigit(line.getByte(i)); i++) {
      tag = tag * 10 + (line.getByte(i) - '0');
    }
    return tag;
  }

  /** US-ASCII bytes of {@code s}. */
  public static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Override
  public void close() {
    client.finishAndReleaseAll();
    upstream.finishAndReleaseAll();
    loopChannel.finishAndReleaseAll();
  }
}
