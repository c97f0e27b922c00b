package dev.mcmux.frontend;

import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.protocol.AsciiResponseFramer;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.DecodeResult;
import dev.mcmux.protocol.NoReplyFilter;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.upstream.PendingRequest;
import dev.mcmux.upstream.UpstreamConnection;
import dev.mcmux.upstream.UpstreamPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One plaintext client connection: decodes its requests, sends each upstream on its own event
 * loop's pool, and writes responses back strictly in the order the client sent the requests.
 *
 * <p>Per-client order holds for execution too (DESIGN.md invariant 3): while the client has
 * requests outstanding on an upstream connection, its next requests use that same connection. A
 * client that departs or stops reading never pauses the shared upstream: its responses are still
 * read and dropped, and a client past its buffer budget is closed.
 */
final class ClientSession extends ChannelInboundHandlerAdapter
    implements UpstreamConnection.ResponseSink {

  /** Responses shorter than this are copied so they never pin a large upstream buffer. */
  private static final int COPY_BELOW = 16 * 1024;

  private static final byte[] END = "END\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] NO_UPSTREAM =
      "SERVER_ERROR no upstream connection available\r\n".getBytes(StandardCharsets.US_ASCII);

  private final FrontendContext shared;
  private final ProxyMetrics metrics;
  private final UpstreamPool pool;
  private final LoopContext loop;
  private boolean closeWhenIdle;
  private final AsciiRequestDecoder decoder;
  private final ArrayDeque<Slot> slots = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private ByteBuf cumulation;
  private UpstreamConnection pinned;
  private int pinnedOutstanding;

  /** Response bytes held for this client: completed but behind an earlier slot, or unwritten. */
  private long heldBytes;

  private boolean stopDecoding;
  private boolean inputShutdown;
  private boolean paused;
  private boolean closed;
  private ScheduledFuture<?> partialTimer;
  private long partialSinceNanos;

  ClientSession(FrontendContext shared, LoopContext loop) {
    this.shared = shared;
    this.metrics = shared.metrics();
    this.loop = loop;
    this.pool = loop.pool();
    this.decoder =
        new AsciiRequestDecoder(
            pool.node().itemSizeMax(), (int) shared.limits().maxBufferedBytesPerClient());
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    loop.sessions().add(this);
  }

  /**
   * For shutdown: reads nothing more, answers what was already sent, then closes. Must run on this
   * session's event loop.
   */
  void closeWhenIdle() {
    closeWhenIdle = true;
    stopDecoding = true;
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    if (slots.isEmpty()) {
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      closeNow(CloseReason.SHUTDOWN);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ByteBuf in = (ByteBuf) msg;
    if (stopDecoding || closed) {
      in.release();
      return;
    }
    metrics.bytes(ProxyMetrics.Direction.CLIENT_IN, in.readableBytes());
    cumulation =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    processInput();
  }

  private void processInput() {
    // The server's item_size_max may be learned after this client connected.
    decoder.maxValueBytes(pool.node().itemSizeMax());
    boolean progressed = false;
    while (!stopDecoding && !closed && cumulation != null && cumulation.isReadable()) {
      if (slots.size() >= shared.limits().maxOutstandingPerClient()) {
        // Backpressure on this client's socket only; upstream keeps flowing.
        if (!paused) {
          paused = true;
          ctx.channel().config().setAutoRead(false);
        }
        break;
      }
      DecodeResult result = decoder.decode(cumulation);
      if (result instanceof DecodeResult.NeedMore) {
        break;
      }
      progressed = true;
      if (result instanceof DecodeResult.Request r) {
        handle(r.request());
      } else if (result instanceof DecodeResult.LocalReply r) {
        if (r.deleteFirst() != null) {
          deleteThenReply(r.deleteFirst(), r.reply());
        } else {
          local(r.reply(), false, null);
        }
      } else if (result instanceof DecodeResult.Close c) {
        local(c.reply(), true, null);
      }
    }
    if (cumulation != null) {
      if (!cumulation.isReadable() || stopDecoding) {
        cumulation.release();
        cumulation = null;
      } else if (cumulation.refCnt() == 1) {
        // Compacting moves bytes under any value slice still held, so only when none is.
        cumulation.discardSomeReadBytes();
      }
    }
    if (progressed) {
      // The deadline is for one stalled request, not for a client that keeps pipelining.
      partialSinceNanos = 0;
    }
    watchPartialRequest();
    drain();
  }

  /** A client that sends half a value and stalls is closed after the value-read timeout. */
  private void watchPartialRequest() {
    boolean partial = cumulation != null && cumulation.isReadable();
    if (!partial) {
      partialSinceNanos = 0;
      return;
    }
    if (partialSinceNanos == 0) {
      partialSinceNanos = System.nanoTime();
    }
    if (partialTimer == null) {
      long timeout = shared.limits().valueReadTimeout().toNanos();
      partialTimer =
          ctx.executor()
              .schedule(
                  () -> {
                    partialTimer = null;
                    if (!closed
                        && partialSinceNanos != 0
                        && System.nanoTime() - partialSinceNanos >= timeout) {
                      closeNow(CloseReason.READ_TIMEOUT);
                    } else {
                      watchPartialRequest();
                    }
                  },
                  timeout,
                  TimeUnit.NANOSECONDS);
    }
  }

  private void handle(AsciiRequest r) {
    Command c = r.command();
    switch (c) {
      case QUIT -> {
        r.release();
        local(new byte[0], true, c);
      }
      case VERSION -> {
        r.release();
        local(
            ("VERSION " + pool.node().version() + "\r\n").getBytes(StandardCharsets.US_ASCII),
            false,
            c);
      }
      case VERBOSITY -> {
        r.release();
        local(r.noreply() ? new byte[0] : "OK\r\n".getBytes(StandardCharsets.US_ASCII), false, c);
      }
      case STATS -> {
        if (!statsArgumentAllowed(r.arguments())) {
          r.release();
          local(
              "CLIENT_ERROR this stats argument is not supported through mcmux\r\n"
                  .getBytes(StandardCharsets.US_ASCII),
              false,
              c);
        } else {
          forward(r);
        }
      }
      default -> {
        if (c.isRetrieval()
            && AsciiRequestEncoder.retrievalLineLength(c, r.exptime(), r.keys(), 0, r.keys().size())
                > AsciiRequestEncoder.maxUpstreamLineBytes(c)) {
          forwardSplitRetrieval(r);
        } else {
          forward(r);
        }
      }
    }
  }

  private static boolean statsArgumentAllowed(byte[] args) {
    if (args == null || args.length == 0) {
      return true;
    }
    String a = new String(args, StandardCharsets.US_ASCII);
    return a.equals("settings")
        || a.equals("items")
        || a.equals("slabs")
        || a.equals("sizes")
        || a.equals("conns");
  }

  /** The upstream connection for this client's next request, honouring invariant 3. */
  private UpstreamConnection upstreamFor() {
    if (pinned != null && pinnedOutstanding > 0 && pinned.isUsable()) {
      return pinned;
    }
    UpstreamConnection c = pool.pick();
    if (c != pinned) {
      pinned = c;
      pinnedOutstanding = 0;
    }
    return c;
  }

  private void forward(AsciiRequest r) {
    UpstreamConnection conn = upstreamFor();
    if (conn == null) {
      r.release();
      noUpstream(r.command());
      return;
    }
    Slot slot = new Slot(r.command().shape(), r.command(), r.noreply());
    slots.addLast(slot);
    pinnedOutstanding++;
    ByteBuf line = ctx.alloc().ioBuffer(64 + totalKeyBytes(r));
    AsciiRequestEncoder.writeLine(r, line);
    if (r.command().isStorage()) {
      // Ownership of the value passes to the upstream write; the request has nothing else to free.
      conn.writeStorage(line, r.data(), slot);
    } else {
      r.release();
      conn.write(line, slot, false);
    }
  }

  private void forwardSplitRetrieval(AsciiRequest r) {
    UpstreamConnection conn = upstreamFor();
    if (conn == null) {
      r.release();
      noUpstream(r.command());
      return;
    }
    List<byte[]> keys = r.keys();
    MultiSlot multi = new MultiSlot(r.command());
    slots.addLast(multi);
    int max = AsciiRequestEncoder.maxUpstreamLineBytes(r.command());
    int from = 0;
    while (from < keys.size()) {
      int to = AsciiRequestEncoder.retrievalPartEnd(r.command(), r.exptime(), keys, from, max);
      Part part = new Part(multi);
      multi.parts.add(part);
      pinnedOutstanding++;
      ByteBuf line =
          ctx.alloc()
              .ioBuffer(
                  AsciiRequestEncoder.retrievalLineLength(
                      r.command(), r.exptime(), keys, from, to));
      AsciiRequestEncoder.writeRetrieval(r.command(), r.exptime(), keys, from, to, line);
      conn.write(line, part, false);
      from = to;
    }
    r.release();
  }

  /**
   * memcached unlinks the key of a rejected oversized {@code set} so no stale value survives; the
   * same delete runs upstream before the error goes out in this slot.
   */
  private void deleteThenReply(AsciiRequest delete, byte[] reply) {
    UpstreamConnection conn = upstreamFor();
    if (conn == null) {
      delete.release();
      local(reply, false, Command.SET);
      return;
    }
    Slot slot = new ReplyAfterSlot(reply);
    slots.addLast(slot);
    pinnedOutstanding++;
    ByteBuf line = ctx.alloc().ioBuffer(64 + totalKeyBytes(delete));
    AsciiRequestEncoder.writeLine(delete, line);
    delete.release();
    conn.write(line, slot, false);
  }

  private static int totalKeyBytes(AsciiRequest r) {
    int n = 0;
    for (byte[] k : r.keys()) {
      n += k.length + 1;
    }
    return n;
  }

  private void noUpstream(Command command) {
    local(NO_UPSTREAM.clone(), false, command).failed = true;
  }

  /** Queues a reply mcmux makes itself, in its place in the client's order. */
  private Slot local(byte[] reply, boolean closeAfter, Command command) {
    Slot s = new Slot(ResponseShape.LINE, command, false);
    s.closeAfter = closeAfter;
    s.done = true;
    if (reply.length > 0) {
      s.response = Unpooled.wrappedBuffer(reply);
    }
    slots.addLast(s);
    if (closeAfter) {
      // memcached stops reading at quit or a fatal line: later requests are dropped unanswered.
      stopDecoding = true;
    }
    return s;
  }

  /** Takes a response for a slot: accounts for it, and sends whatever is now at the head. */
  private void accept(Slot slot, ByteBuf frame) {
    if (closed) {
      frame.release();
      return;
    }
    if (frame.readableBytes() < COPY_BELOW) {
      ByteBuf copy = ctx.alloc().buffer(frame.readableBytes());
      copy.writeBytes(frame);
      frame.release();
      frame = copy;
    }
    long bytes = frame.readableBytes();
    if (!shared.budget().tryAcquire(bytes)) {
      frame.release();
      closeNow(CloseReason.GLOBAL_BUDGET);
      return;
    }
    slot.charged = bytes;
    heldBytes += bytes;
    slot.response = frame;
    slot.done = true;
    if (heldBytes + outboundBytes() > shared.limits().maxBufferedBytesPerClient()) {
      closeNow(CloseReason.CLIENT_BUDGET);
      return;
    }
    if (slots.peekFirst() == slot) {
      drain();
    }
  }

  private long outboundBytes() {
    ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
    return out == null ? 0 : out.totalPendingWriteBytes();
  }

  /** Writes every completed response at the head of the order; flushing is batched by callers. */
  private void drain() {
    Slot s;
    boolean wrote = false;
    while (!closed && (s = slots.peekFirst()) != null && s.done) {
      slots.pollFirst();
      ProxyMetrics.Result result = ProxyMetrics.Result.OK;
      if (s.response != null) {
        ByteBuf r = s.response;
        s.response = null;
        release(s);
        if (s.failed) {
          result = ProxyMetrics.Result.FAILED;
        } else if (AsciiResponseFramer.isErrorLine(r, r.readerIndex(), r.readableBytes())) {
          result = ProxyMetrics.Result.ERROR;
        }
        metrics.bytes(ProxyMetrics.Direction.CLIENT_OUT, r.readableBytes());
        ctx.write(r, ctx.voidPromise());
        wrote = true;
      }
      metrics.request(s.metricCommand, result, System.nanoTime() - s.startNanos);
      if (s.closeAfter) {
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        closeNow(CloseReason.CLIENT_QUIT);
        return;
      }
    }
    if (wrote
        && !ctx.channel().isWritable()
        && outboundBytes() > shared.limits().maxBufferedBytesPerClient()) {
      closeNow(CloseReason.CLIENT_BUDGET);
      return;
    }
    if (paused && slots.size() < shared.limits().maxOutstandingPerClient() / 2 + 1) {
      paused = false;
      ctx.channel().config().setAutoRead(true);
      processInput();
    }
    if (closeWhenIdle && slots.isEmpty()) {
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      closeNow(CloseReason.SHUTDOWN);
      return;
    }
    if (inputShutdown && slots.isEmpty() && (cumulation == null || !cumulation.isReadable())) {
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      closeNow(CloseReason.CLIENT_EOF);
    }
  }

  private void release(Slot s) {
    if (s.charged > 0) {
      shared.budget().release(s.charged);
      heldBytes -= s.charged;
      s.charged = 0;
    }
  }

  /**
   * Notes that a request written to {@code from} has its answer: the pin count drops, and the
   * client is flushed once the upstream read batch ends.
   */
  private UpstreamConnection answered(UpstreamConnection from) {
    if (from != null) {
      if (from == pinned) {
        pinnedOutstanding--;
      }
      from.flushAfterRead(this);
    }
    return from;
  }

  @Override
  public void flushResponses() {
    if (!closed) {
      ctx.flush();
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    ctx.flush();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      // A client that half-closes after writing (echo ... | nc) still gets every answer.
      inputShutdown = true;
      if (cumulation != null) {
        cumulation.release();
        cumulation = null;
      }
      drain();
      ctx.flush();
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closeNow(CloseReason.CLIENT_EOF);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    closeNow(CloseReason.CLIENT_ERROR);
  }

  /**
   * Closes this client at once; responses still on their way are read from upstream and dropped.
   */
  private void closeNow(CloseReason reason) {
    if (closed) {
      return;
    }
    closed = true;
    loop.sessions().remove(this);
    shared.clientClosed(reason);
    if (partialTimer != null) {
      partialTimer.cancel(false);
    }
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    Slot s;
    while ((s = slots.pollFirst()) != null) {
      if (s.response != null) {
        s.response.release();
        s.response = null;
      }
      release(s);
    }
    if (reason != CloseReason.CLIENT_QUIT
        && reason != CloseReason.CLIENT_EOF
        && reason != CloseReason.SHUTDOWN) {
      ctx.close();
    }
  }

  /** A place in the client's response order; also the pending request of a single request. */
  private class Slot extends PendingRequest {
    ByteBuf response;
    boolean done;
    boolean closeAfter;
    long charged;

    /** The command when the client asked for noreply, so its reply can be filtered. */
    final Command noreply;

    /** Index into {@link ProxyMetrics#COMMANDS}. */
    final int metricCommand;

    final long startNanos = System.nanoTime();

    /** True when mcmux, not memcached, produced the answer because none could be had. */
    boolean failed;

    Slot(ResponseShape shape, Command command, boolean noreply) {
      super(shape);
      this.noreply = noreply ? command : null;
      this.metricCommand = command == null ? ProxyMetrics.OTHER : command.ordinal();
    }

    /** Marks the slot answered with nothing to send, and lets later answers out. */
    void completeSilently() {
      done = true;
      if (!closed && slots.peekFirst() == this) {
        drain();
      }
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      answered(connection());
      if (noreply != null && NoReplyFilter.suppressed(noreply, frame)) {
        frame.release();
        frame = Unpooled.EMPTY_BUFFER;
      }
      if (frame.isReadable()) {
        accept(this, frame);
      } else {
        completeSilently();
      }
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      failed = true;
      if (noreply != null) {
        // The client reads no reply to this request: an unexpected line would be taken as the
        // answer to its next request. memcached keeps its own errors quiet here too.
        completeSilently();
        return;
      }
      accept(this, Unpooled.copiedBuffer(errorLine, StandardCharsets.US_ASCII));
    }
  }

  /** A slot whose upstream answer is dropped and replaced by a reply mcmux fixed in advance. */
  private final class ReplyAfterSlot extends Slot {
    private final byte[] reply;

    ReplyAfterSlot(byte[] reply) {
      super(ResponseShape.LINE, Command.SET, false);
      this.reply = reply;
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      frame.release();
      complete();
    }

    @Override
    protected void onFailure(String errorLine) {
      complete();
    }

    private void complete() {
      answered(connection());
      if (reply.length > 0) {
        accept(this, Unpooled.wrappedBuffer(reply));
      } else {
        completeSilently();
      }
    }
  }

  /** The client's slot for a multi-get that was split into several upstream lines. */
  private final class MultiSlot extends Slot {
    final java.util.ArrayList<Part> parts = new java.util.ArrayList<>(2);
    int completed;

    MultiSlot(Command command) {
      super(ResponseShape.RETRIEVAL, command, false);
    }

    void partDone() {
      if (++completed < parts.size()) {
        return;
      }
      ByteBuf merged = null;
      for (Part p : parts) {
        if (p.error != null) {
          merged = releaseAllBut(p);
          break;
        }
      }
      if (merged == null) {
        CompositeByteBuf all = ctx.alloc().compositeBuffer(parts.size());
        for (int i = 0; i < parts.size(); i++) {
          ByteBuf f = parts.get(i).frame;
          parts.get(i).frame = null;
          if (i < parts.size() - 1) {
            f.writerIndex(f.writerIndex() - END.length);
          }
          all.addComponent(true, f);
        }
        merged = all;
      }
      if (closed) {
        merged.release();
        return;
      }
      accept(this, merged);
    }

    private ByteBuf releaseAllBut(Part failed) {
      ByteBuf err = failed.error;
      for (Part p : parts) {
        if (p.frame != null) {
          p.frame.release();
          p.frame = null;
        }
        if (p != failed && p.error != null) {
          p.error.release();
        }
      }
      return err;
    }
  }

  /** One upstream line of a split multi-get. */
  private final class Part extends PendingRequest {
    final MultiSlot owner;
    ByteBuf frame;
    ByteBuf error;

    Part(MultiSlot owner) {
      super(ResponseShape.RETRIEVAL);
      this.owner = owner;
    }

    @Override
    protected void onResponse(ByteBuf f) {
      answered(connection());
      boolean endsWithEnd =
          f.readableBytes() >= END.length
              && f.getByte(f.writerIndex() - 5) == 'E'
              && f.getByte(f.writerIndex() - 3) == 'D';
      if (endsWithEnd) {
        frame = f;
      } else {
        error = f;
      }
      owner.partDone();
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      error = Unpooled.copiedBuffer(errorLine, StandardCharsets.US_ASCII);
      owner.partDone();
    }
  }

  /** Bounded set of reasons a client connection ends, for metrics and logs. */
  enum CloseReason {
    CLIENT_EOF,
    CLIENT_QUIT,
    CLIENT_ERROR,
    CLIENT_BUDGET,
    GLOBAL_BUDGET,
    READ_TIMEOUT,
    SHUTDOWN
  }

  Channel channel() {
    return ctx.channel();
  }
}
