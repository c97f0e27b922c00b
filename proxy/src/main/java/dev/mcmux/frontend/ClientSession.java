package dev.mcmux.frontend;

import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
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

  /** Keep upstream get lines under this many bytes: some services reject longer ones. */
  static final int MAX_UPSTREAM_GET_LINE = 16 * 1024 - 64;

  /** Responses shorter than this are copied so they never pin a large upstream buffer. */
  private static final int COPY_BELOW = 16 * 1024;

  private static final byte[] END = "END\r\n".getBytes(StandardCharsets.US_ASCII);

  private final FrontendContext shared;
  private final UpstreamPool pool;
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

  /** The unread input is complete requests waiting for the outstanding limit, not the client. */
  private boolean heldBack;

  private boolean closed;
  private ScheduledFuture<?> partialTimer;
  private long partialSinceNanos;

  ClientSession(FrontendContext shared, UpstreamPool pool) {
    this.shared = shared;
    this.pool = pool;
    this.decoder =
        new AsciiRequestDecoder(
            pool.node().itemSizeMax(), (int) shared.limits().maxBufferedBytesPerClient());
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ByteBuf in = (ByteBuf) msg;
    if (stopDecoding || closed) {
      in.release();
      return;
    }
    cumulation =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    processInput();
  }

  private void processInput() {
    boolean atLimit = false;
    while (!stopDecoding && !closed && cumulation != null && cumulation.isReadable()) {
      if (slots.size() >= shared.limits().maxOutstandingPerClient()) {
        // Backpressure on this client's socket only; upstream keeps flowing.
        atLimit = true;
        if (!paused) {
          paused = true;
          if (!inputShutdown) {
            ctx.channel().config().setAutoRead(false);
          }
        }
        break;
      }
      DecodeResult result = decoder.decode(cumulation);
      if (result instanceof DecodeResult.NeedMore) {
        break;
      } else if (result instanceof DecodeResult.Request r) {
        handle(r.request());
      } else if (result instanceof DecodeResult.LocalReply r) {
        if (r.deleteFirst() != null) {
          deleteThenReply(r.deleteFirst(), r.reply());
        } else {
          local(r.reply(), false);
        }
      } else if (result instanceof DecodeResult.Close c) {
        local(c.reply(), true);
      }
    }
    if (cumulation != null) {
      // After the client's end of input, a request still incomplete can never be completed:
      // memcached drops it too. Complete requests held back by the outstanding limit stay.
      if (!cumulation.isReadable() || stopDecoding || (inputShutdown && !atLimit)) {
        cumulation.release();
        cumulation = null;
      } else {
        cumulation.discardSomeReadBytes();
      }
    }
    heldBack = atLimit;
    watchPartialRequest();
    drain();
  }

  /** A client that sends half a value and stalls is closed after the value-read timeout. */
  private void watchPartialRequest() {
    // Input held back by the outstanding limit is waiting for mcmux, not for the client.
    boolean partial = !heldBack && cumulation != null && cumulation.isReadable();
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
        local(new byte[0], true);
      }
      case VERSION -> {
        r.release();
        local(
            ("VERSION " + pool.node().version() + "\r\n").getBytes(StandardCharsets.US_ASCII),
            false);
      }
      case VERBOSITY -> {
        r.release();
        local(r.noreply() ? new byte[0] : "OK\r\n".getBytes(StandardCharsets.US_ASCII), false);
      }
      case STATS -> {
        if (!statsArgumentAllowed(r.arguments())) {
          r.release();
          local(
              "CLIENT_ERROR this stats argument is not supported through mcmux\r\n"
                  .getBytes(StandardCharsets.US_ASCII),
              false);
        } else {
          forward(r);
        }
      }
      default -> {
        if (c.isRetrieval() && retrievalLineLength(r, 0, r.keys().size()) > MAX_UPSTREAM_GET_LINE) {
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
      local(noUpstream(), false);
      return;
    }
    Slot slot = new Slot(r.command().shape(), r.noreply() ? r.command() : null);
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
      local(noUpstream(), false);
      return;
    }
    List<byte[]> keys = r.keys();
    MultiSlot multi = new MultiSlot();
    slots.addLast(multi);
    int from = 0;
    while (from < keys.size()) {
      int to = from + 1;
      while (to < keys.size() && retrievalLineLength(r, from, to + 1) <= MAX_UPSTREAM_GET_LINE) {
        to++;
      }
      Part part = new Part(multi);
      multi.parts.add(part);
      pinnedOutstanding++;
      ByteBuf line = ctx.alloc().ioBuffer(retrievalLineLength(r, from, to));
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
      local(reply, false);
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

  private static int retrievalLineLength(AsciiRequest r, int from, int to) {
    int n = r.command().name().length() + 2 + 12;
    for (int i = from; i < to; i++) {
      n += r.keys().get(i).length + 1;
    }
    return n;
  }

  private static int totalKeyBytes(AsciiRequest r) {
    int n = 0;
    for (byte[] k : r.keys()) {
      n += k.length + 1;
    }
    return n;
  }

  private static byte[] noUpstream() {
    return "SERVER_ERROR no upstream connection available\r\n".getBytes(StandardCharsets.US_ASCII);
  }

  /** Queues a reply mcmux makes itself, in its place in the client's order. */
  private void local(byte[] reply, boolean closeAfter) {
    Slot s = new Slot(ResponseShape.LINE, null);
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
      if (s.response != null) {
        ByteBuf r = s.response;
        s.response = null;
        release(s);
        ctx.write(r, ctx.voidPromise());
        wrote = true;
      }
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
      if (!inputShutdown) {
        // Never after the end of input: on a half-closed socket Netty's epoll channel fails to
        // re-arm reading (epoll_ctl ENOENT) and closes, losing the answers still queued.
        ctx.channel().config().setAutoRead(true);
      }
      processInput();
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
      // Requests held back by the outstanding limit are still answered; processInput drops only
      // an incomplete last one, and drain closes once every answer is out.
      processInput();
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
    if (reason != CloseReason.CLIENT_QUIT && reason != CloseReason.CLIENT_EOF) {
      ctx.close();
    } else if (reason == CloseReason.CLIENT_EOF && ctx.channel().isActive()) {
      // Closed after the final flush (listener above) or already inactive.
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

    Slot(ResponseShape shape, Command noreply) {
      super(shape);
      this.noreply = noreply;
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
      super(ResponseShape.LINE, null);
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

    MultiSlot() {
      super(ResponseShape.RETRIEVAL, null);
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
