package dev.mcmux.upstream;

import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiResponseFramer;
import dev.mcmux.protocol.MetaRequest;
import dev.mcmux.protocol.MetaResponse;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.protocol.UpstreamDesyncException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One persistent TLS connection to a memcached node, shared by many clients: requests are written
 * in order and a FIFO of {@link PendingRequest}s correlates each response frame with its request.
 *
 * <p>All methods run on the channel's event loop. The connection flushes at most once per
 * event-loop iteration for ordinary requests, so many clients' requests share TLS records and
 * syscalls; after every storage command's data block it flushes through the {@code SslHandler} at
 * once, which ends the TLS record there and avoids memcached's pipelined-set stall (DESIGN.md).
 */
public final class UpstreamConnection extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(UpstreamConnection.class);
  private static final byte[] CRLF = {'\r', '\n'};
  private static final ByteBuf PROBE =
      Unpooled.unreleasableBuffer(
          Unpooled.directBuffer(9).writeBytes("version\r\n".getBytes(StandardCharsets.US_ASCII)));

  /** Receives the connection's life events; implemented by the pool. */
  public interface Listener {
    /** The connection closed; every pending request has already been failed. */
    void closed(UpstreamConnection connection, String reason);

    /** A response to an internal probe arrived (the first line of {@code version}). */
    default void versionSeen(String version) {}
  }

  private final Channel channel;
  private final UpstreamPool pool;
  private final Listener listener;
  private final ProxyMetrics metrics;
  private final String name;
  private final long requestTimeoutNanos;
  private final long nudgeAfterNanos;
  private final long keepaliveNanos;
  private final ArrayDeque<PendingRequest> pending = new ArrayDeque<>();
  private final AsciiResponseFramer framer;
  private final Runnable flushTask = this::flushNow;
  private final List<ResponseSink> touchedSinks = new ArrayList<>();
  private ByteBuf cumulation;
  private boolean flushScheduled;

  /** The last opaque tag given to a meta request on this connection; tags only ever grow. */
  private long metaSequence;

  private boolean closed;
  private String closeReason = "closed";
  private long lastReadNanos;
  private long lastWriteNanos;
  private boolean nudged;
  private boolean draining;
  private ScheduledFuture<?> watchdog;
  private long watchdogPeriodNanos;
  private long lastCheckNanos;
  private final long openedAtNanos = System.nanoTime();

  /** Something that wants a flush once the current upstream read batch is processed. */
  public interface ResponseSink {
    /** Called once per upstream read batch in which this sink received a response. */
    void flushResponses();
  }

  UpstreamConnection(
      Channel channel,
      UpstreamPool pool,
      ProxyMetrics metrics,
      String name,
      long requestTimeoutNanos,
      long nudgeAfterNanos,
      long keepaliveNanos,
      long maxValueBytes) {
    this.channel = channel;
    this.pool = pool;
    this.listener = pool;
    this.metrics = metrics;
    this.name = name;
    this.requestTimeoutNanos = requestTimeoutNanos;
    this.nudgeAfterNanos = nudgeAfterNanos;
    this.keepaliveNanos = keepaliveNanos;
    this.framer = new AsciiResponseFramer(Math.max(maxValueBytes, 1L << 20) * 2);
    this.lastReadNanos = System.nanoTime();
    this.lastWriteNanos = lastReadNanos;
  }

  /** The pool this connection belongs to (one node, one event loop). */
  public UpstreamPool pool() {
    return pool;
  }

  /** The Netty channel (its event loop is the one every method must run on). */
  public Channel channel() {
    return channel;
  }

  /** A short name for logs: node and connection number. */
  public String name() {
    return name;
  }

  /** True while requests may be written. */
  public boolean isUsable() {
    return !closed && channel.isActive();
  }

  /** Requests written and not yet answered. */
  public int pendingCount() {
    return pending.size();
  }

  /** When this connection was established, for max-age recycling. */
  public long openedAtNanos() {
    return openedAtNanos;
  }

  /**
   * Writes one encoded request (its ownership passes to the channel) and queues {@code request} to
   * receive its response. {@code endOfStorageCommand} ends the TLS record after it.
   */
  public void write(ByteBuf encoded, PendingRequest request, boolean endOfStorageCommand) {
    if (closed) {
      encoded.release();
      request.onFailure("SERVER_ERROR upstream connection closed\r\n");
      return;
    }
    request.connection = this;
    request.writtenAtNanos = System.nanoTime();
    if (pending.isEmpty()) {
      // The timeout clock of a request starts when it becomes the head, not before.
      lastReadNanos = request.writtenAtNanos;
      nudged = false;
    }
    pending.addLast(request);
    metrics.pendingDelta(1);
    pool.node().inFlightDelta(1);
    metrics.bytes(ProxyMetrics.Direction.UPSTREAM_OUT, encoded.readableBytes());
    lastWriteNanos = request.writtenAtNanos;
    channel.write(encoded, channel.voidPromise());
    if (endOfStorageCommand) {
      channel.flush();
    } else {
      scheduleFlush();
    }
  }

  /**
   * Writes a storage command: header line, the value without copying, CRLF; then ends the record.
   */
  public void writeStorage(ByteBuf header, ByteBuf value, PendingRequest request) {
    if (closed) {
      header.release();
      value.release();
      request.onFailure("SERVER_ERROR upstream connection closed\r\n");
      return;
    }
    metrics.bytes(
        ProxyMetrics.Direction.UPSTREAM_OUT, header.readableBytes() + value.readableBytes());
    channel.write(header, channel.voidPromise());
    channel.write(value, channel.voidPromise());
    // A pooled buffer, recycled on the event loop; a wrapped array would be a new object per set.
    write(channel.alloc().ioBuffer(CRLF.length).writeBytes(CRLF), request, true);
  }

  /**
   * Writes a meta request with this connection's next sequence tag as its opaque (when it is {@link
   * MetaRequest#tagged()}), and queues {@code request}, whose response must then echo the tag or
   * the connection closes as out of step. Takes over the value of an {@code ms}, which ends the TLS
   * record like any storage command's data.
   */
  public void writeMeta(MetaRequest meta, PendingRequest request) {
    long tag = meta.tagged() ? ++metaSequence : 0;
    ByteBuf line = channel.alloc().ioBuffer(meta.lineLengthBound());
    meta.writeLine(tag, line);
    request.metaTag = tag;
    ByteBuf value = meta.takeValue();
    if (value != null) {
      writeStorage(line, value, request);
    } else {
      write(line, request, false);
    }
  }

  private void scheduleFlush() {
    if (!flushScheduled) {
      flushScheduled = true;
      channel.eventLoop().execute(flushTask);
    }
  }

  private void flushNow() {
    flushScheduled = false;
    channel.flush();
  }

  /** Asks the server for its version now (the answer updates the node's version). */
  void probe() {
    write(PROBE.duplicate(), new Probe(), false);
  }

  /**
   * Takes no new clients from now on (the pool no longer offers it); clients still pinned to it
   * finish their pipelines, then it closes. After {@code hardLimitNanos} it closes regardless.
   */
  void drain(long hardLimitNanos) {
    draining = true;
    if (pending.isEmpty()) {
      close("recycled after reaching its maximum age");
    } else {
      channel
          .eventLoop()
          .schedule(
              () -> close("recycled after reaching its maximum age (forced)"),
              hardLimitNanos,
              TimeUnit.NANOSECONDS);
    }
  }

  /** Starts the timer that watches the head request and keeps idle connections alive. */
  void startWatchdog() {
    long period =
        Math.max(
            TimeUnit.MILLISECONDS.toNanos(10),
            Math.min(requestTimeoutNanos / 4, nudgeAfterNanos / 2));
    watchdogPeriodNanos = period;
    lastCheckNanos = System.nanoTime();
    watchdog =
        channel
            .eventLoop()
            .scheduleAtFixedRate(this::checkTimers, period, period, TimeUnit.NANOSECONDS);
  }

  private void checkTimers() {
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    discountLoopStall(now);
    if (!pending.isEmpty()) {
      long waited = now - lastReadNanos;
      if (waited >= requestTimeoutNanos) {
        close("request timed out after " + TimeUnit.NANOSECONDS.toMillis(waited) + " ms");
      } else if (waited >= nudgeAfterNanos && !nudged) {
        // One extra write wakes a memcached stuck on bytes OpenSSL already decrypted (DESIGN.md).
        nudged = true;
        metrics.nudge();
        probe();
      }
    } else if (now - lastWriteNanos >= keepaliveNanos) {
      probe();
    }
  }

  /**
   * A check that runs late means this event loop was busy (thousands of clients speaking at once, a
   * long GC pause), and the node's answer may be sitting unread in the socket all that time. The
   * part of the silence that falls in the stall is the loop's, not the node's: without this, a
   * burst of clients made mcmux close a healthy connection and fail every request on it.
   */
  private void discountLoopStall(long now) {
    long stallStart = lastCheckNanos + watchdogPeriodNanos;
    lastCheckNanos = now;
    long stalled = now - Math.max(stallStart, lastReadNanos);
    if (stalled > 0) {
      lastReadNanos += stalled;
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ByteBuf in = (ByteBuf) msg;
    if (closed) {
      in.release();
      return;
    }
    lastReadNanos = System.nanoTime();
    nudged = false;
    metrics.bytes(ProxyMetrics.Direction.UPSTREAM_IN, in.readableBytes());
    cumulation =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    try {
      drainFrames();
    } catch (UpstreamDesyncException e) {
      close("protocol desync: " + e.getMessage());
    }
  }

  private void drainFrames() throws UpstreamDesyncException {
    while (cumulation != null && cumulation.isReadable()) {
      PendingRequest head = pending.peekFirst();
      if (head == null) {
        throw new UpstreamDesyncException("response with no request pending");
      }
      int len = framer.frameLength(cumulation, head.shape());
      if (len < 0) {
        break;
      }
      if (head.metaTag != 0
          && !MetaResponse.carriesTag(cumulation, cumulation.readerIndex(), len, head.metaTag)) {
        throw new UpstreamDesyncException("meta response without the opaque of its request");
      }
      pending.pollFirst();
      metrics.pendingDelta(-1);
      pool.node().inFlightDelta(-1);
      ByteBuf frame =
          len < ResponseCopy.COPY_BELOW
              ? ResponseCopy.readCopy(channel.alloc(), cumulation, len)
              : cumulation.readRetainedSlice(len);
      if (pending.isEmpty()) {
        nudged = false;
      }
      head.onResponse(frame);
      if (draining && pending.isEmpty()) {
        close("recycled after reaching its maximum age");
        return;
      }
    }
    if (cumulation != null && !cumulation.isReadable()) {
      cumulation.release();
      cumulation = null;
    }
  }

  /** Asks for {@link ResponseSink#flushResponses()} at the end of the current read batch. */
  public void flushAfterRead(ResponseSink sink) {
    if (!touchedSinks.contains(sink)) {
      touchedSinks.add(sink);
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    flushSinks();
    if (cumulation != null && cumulation.refCnt() == 1) {
      // Compacting moves bytes under any response slice still held, so only when none is.
      cumulation.discardSomeReadBytes();
    }
  }

  private void flushSinks() {
    for (int i = 0; i < touchedSinks.size(); i++) {
      touchedSinks.get(i).flushResponses();
    }
    touchedSinks.clear();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    close("connection closed by server");
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    close(describe(cause));
  }

  static String describe(Throwable cause) {
    Throwable root = cause;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String msg = root.getMessage();
    return root.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
  }

  /** Closes the connection and fails every pending request; idempotent. */
  public void close(String reason) {
    if (closed) {
      return;
    }
    closed = true;
    closeReason = reason;
    if (watchdog != null) {
      watchdog.cancel(false);
    }
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    String error = "SERVER_ERROR upstream " + failureWord(reason) + "\r\n";
    PendingRequest p;
    while ((p = pending.pollFirst()) != null) {
      metrics.pendingDelta(-1);
      pool.node().inFlightDelta(-1);
      p.onFailure(error);
    }
    flushSinks();
    channel.close();
    log.info("upstream {} closed: {}", name, reason);
    listener.closed(this, reason);
  }

  private static String failureWord(String reason) {
    return reason.startsWith("request timed out") ? "timeout" : "connection lost";
  }

  /** Why the connection closed, once it has. */
  public String closeReason() {
    return closeReason;
  }

  /** The keepalive and nudge request: its answer only proves the connection is alive. */
  private final class Probe extends PendingRequest {
    Probe() {
      super(ResponseShape.LINE);
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      try {
        if (frame.readableBytes() > 10 && frame.getByte(frame.readerIndex()) == 'V') {
          String line = frame.toString(StandardCharsets.US_ASCII).trim();
          if (line.startsWith("VERSION ")) {
            listener.versionSeen(line.substring(8));
          }
        }
      } finally {
        frame.release();
      }
    }

    @Override
    protected void onFailure(String errorLine) {}
  }
}
