package dev.mcmux.frontend;

import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.protocol.AsciiResponseFramer;
import dev.mcmux.protocol.BinaryDecodeResult;
import dev.mcmux.protocol.BinaryMeta;
import dev.mcmux.protocol.BinaryProtocol;
import dev.mcmux.protocol.BinaryRequest;
import dev.mcmux.protocol.BinaryRequestDecoder;
import dev.mcmux.protocol.BinaryResponses;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.DecodeResult;
import dev.mcmux.protocol.MetaRequest;
import dev.mcmux.protocol.MetaResponse;
import dev.mcmux.protocol.NoReplyFilter;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.protocol.StatsMerger;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.upstream.PendingRequest;
import dev.mcmux.upstream.ResponseCopy;
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
  private static final int COPY_BELOW = ResponseCopy.COPY_BELOW;

  private static final byte[] END = "END\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] MN = "MN\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final String NO_UPSTREAM_TEXT = "SERVER_ERROR no upstream connection available";
  private static final byte[] NO_UPSTREAM =
      (NO_UPSTREAM_TEXT + "\r\n").getBytes(StandardCharsets.US_ASCII);

  private final FrontendContext shared;
  private final ProxyMetrics metrics;
  private final LoopContext loop;
  private boolean closeWhenIdle;
  private final AsciiRequestDecoder decoder;

  /** Set when the client's first byte is the binary magic: memcached then serves it as binary. */
  private BinaryRequestDecoder binaryDecoder;

  private final ArrayDeque<Slot> slots = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private ByteBuf cumulation;

  /**
   * Per upstream pool the client used: the connection it is pinned to and how many of its requests
   * are outstanding there (invariant 3). A handful of entries, scanned linearly.
   */
  private UpstreamPool[] pinPools = new UpstreamPool[2];

  private UpstreamConnection[] pinConns = new UpstreamConnection[2];
  private int[] pinOutstanding = new int[2];
  private int pinCount;

  /** Response bytes held for this client: completed but behind an earlier slot, or unwritten. */
  private long heldBytes;

  private boolean stopDecoding;
  private boolean sawFirstByte;
  private boolean inputShutdown;
  private boolean paused;

  /** The unread input is complete requests waiting for the outstanding limit, not the client. */
  private boolean heldBack;

  private boolean closed;

  /** True while {@link #processInput} runs; a nested call only asks it to go round again. */
  private boolean processing;

  private boolean processAgain;
  private ScheduledFuture<?> partialTimer;
  private long partialSinceNanos;

  ClientSession(FrontendContext shared, LoopContext loop) {
    this.shared = shared;
    this.metrics = shared.metrics();
    this.loop = loop;
    this.decoder =
        new AsciiRequestDecoder(
            itemSizeMax(), getLineLimit(shared.limits().maxBufferedBytesPerClient()));
  }

  /**
   * get and gets lines may be as long as the client's buffer, but never shorter than the lines
   * memcached always reads, and the decoder takes an int: any buffer size the settings accept must
   * give a valid limit.
   */
  private static int getLineLimit(long maxBufferedBytes) {
    return (int)
        Math.max(AsciiRequestDecoder.MAX_LINE_BYTES, Math.min(Integer.MAX_VALUE, maxBufferedBytes));
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
    if (!sawFirstByte && in.isReadable()) {
      sawFirstByte = true;
      if (in.getByte(in.readerIndex()) == BinaryProtocol.REQUEST_MAGIC) {
        // As memcached does: the first byte decides the protocol for the whole connection.
        binaryDecoder = new BinaryRequestDecoder(itemSizeMax());
      }
    }
    cumulation =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    processInput();
  }

  private void processInput() {
    if (processing) {
      // Reached again through drain(), e.g. when answers mcmux makes itself free the outstanding
      // limit at once: recursing here once per batch overflowed the stack on long pipelines.
      processAgain = true;
      return;
    }
    processing = true;
    try {
      do {
        processAgain = false;
        decodeAvailable();
      } while (processAgain && !closed);
    } finally {
      processing = false;
    }
  }

  private void decodeAvailable() {
    // The server's item_size_max may be learned after this client connected.
    decoder.maxValueBytes(itemSizeMax());
    if (binaryDecoder != null) {
      binaryDecoder.maxValueBytes(itemSizeMax());
    }
    boolean progressed = false;
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
      if (binaryDecoder != null) {
        BinaryDecodeResult binary = binaryDecoder.decode(cumulation);
        if (binary instanceof BinaryDecodeResult.NeedMore) {
          break;
        }
        progressed = true;
        handleBinary(binary);
        continue;
      }
      DecodeResult result = decoder.decode(cumulation);
      if (result instanceof DecodeResult.NeedMore) {
        break;
      }
      progressed = true;
      if (result instanceof DecodeResult.Request r) {
        handle(r.request());
      } else if (result instanceof DecodeResult.Meta m) {
        handleMeta(m.request(), m.replyInstead());
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
      // After the client's end of input, a request still incomplete can never be completed:
      // memcached drops it too. Complete requests held back by the outstanding limit stay.
      if (!cumulation.isReadable() || stopDecoding || (inputShutdown && !atLimit)) {
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
    byte[] denied = shared.deniedReply(c);
    if (denied != null) {
      r.release();
      local(denied, false, c);
      return;
    }
    switch (c) {
      case QUIT -> {
        r.release();
        local(new byte[0], true, c);
      }
      case VERSION -> {
        r.release();
        local(
            ("VERSION " + loop.view().nodes().get(0).version() + "\r\n")
                .getBytes(StandardCharsets.US_ASCII),
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
        } else if (r.arguments() == null && loop.view().size() > 1) {
          r.release();
          statsFromEveryNode();
        } else if (r.arguments() != null && "mcmux".equals(argument(r))) {
          r.release();
          local(shared.ownStats(loop.view()), false, c);
        } else {
          forward(r);
        }
      }
      case FLUSH_ALL -> broadcast(r);
      case CONFIG_GET_CLUSTER -> {
        r.release();
        local(shared.configClusterReply(), false, c);
      }
      default -> {
        if (c.isRetrieval() && !fitsOneUpstreamLine(r)) {
          forwardSplitRetrieval(r);
        } else {
          forward(r);
        }
      }
    }
  }

  private static String argument(AsciiRequest r) {
    return new String(r.arguments(), StandardCharsets.US_ASCII);
  }

  private static boolean statsArgumentAllowed(byte[] args) {
    if (args == null || args.length == 0) {
      return true;
    }
    String a = new String(args, StandardCharsets.US_ASCII);
    return a.equals("mcmux")
        || a.equals("settings")
        || a.equals("items")
        || a.equals("slabs")
        || a.equals("sizes")
        || a.equals("conns");
  }

  /**
   * True when a retrieval can go upstream as it is: every key on one node, and the line short
   * enough. Then the node's answer is the client's answer, with no merge.
   */
  private boolean fitsOneUpstreamLine(AsciiRequest r) {
    List<byte[]> keys = r.keys();
    ClusterView view = loop.view();
    if (view.size() > 1) {
      int first = loop.target(keys.get(0));
      for (int k = 1; k < keys.size(); k++) {
        if (loop.target(keys.get(k)) != first) {
          return false;
        }
      }
    }
    return AsciiRequestEncoder.retrievalLineLength(r.command(), r.exptime(), keys, 0, keys.size())
        <= AsciiRequestEncoder.maxUpstreamLineBytes(r.command());
  }

  /** The largest value every node accepts. */
  private long itemSizeMax() {
    long min = Long.MAX_VALUE;
    for (var n : loop.view().nodes()) {
      min = Math.min(min, n.itemSizeMax());
    }
    return min;
  }

  /** The pool of the node that holds the request's key (or of the first node, without a key). */
  private UpstreamPool poolFor(AsciiRequest r) {
    return r.keys().isEmpty() ? loop.pool(0) : loop.pool(LoopContext.node(target(r)));
  }

  private int target(AsciiRequest r) {
    return r.keys().isEmpty() ? 0 : loop.target(r.keys().get(0));
  }

  private int pinIndex(UpstreamPool pool) {
    for (int i = 0; i < pinCount; i++) {
      if (pinPools[i] == pool) {
        return i;
      }
    }
    return -1;
  }

  /**
   * The connection of {@code pool} for this client's next request, honouring invariant 3: while
   * requests are outstanding on a connection, the next ones go to the same connection. The caller
   * must call {@link #sent} after writing.
   */
  private UpstreamConnection upstreamFor(UpstreamPool pool) {
    int i = pinIndex(pool);
    if (i >= 0 && pinOutstanding[i] > 0 && pinConns[i].isUsable()) {
      return pinConns[i];
    }
    UpstreamConnection c = pool.pick();
    if (c == null) {
      return null;
    }
    if (i < 0) {
      i = addPin(pool);
    }
    pinConns[i] = c;
    pinOutstanding[i] = 0;
    return c;
  }

  private int addPin(UpstreamPool pool) {
    if (pinCount == pinPools.length) {
      // Forget pools with nothing outstanding (e.g. of nodes that left) before growing.
      int kept = 0;
      for (int j = 0; j < pinCount; j++) {
        if (pinOutstanding[j] > 0) {
          pinPools[kept] = pinPools[j];
          pinConns[kept] = pinConns[j];
          pinOutstanding[kept] = pinOutstanding[j];
          kept++;
        }
      }
      for (int j = kept; j < pinCount; j++) {
        pinPools[j] = null;
        pinConns[j] = null;
      }
      pinCount = kept;
      if (pinCount == pinPools.length) {
        pinPools = java.util.Arrays.copyOf(pinPools, pinCount * 2);
        pinConns = java.util.Arrays.copyOf(pinConns, pinCount * 2);
        pinOutstanding = java.util.Arrays.copyOf(pinOutstanding, pinCount * 2);
      }
    }
    pinPools[pinCount] = pool;
    return pinCount++;
  }

  /** Counts a request written to {@code conn} (which {@link #upstreamFor} just returned). */
  private void sent(UpstreamConnection conn) {
    int i = pinIndex(conn.pool());
    if (i >= 0 && pinConns[i] == conn) {
      pinOutstanding[i]++;
    }
  }

  private void forward(AsciiRequest r) {
    int target = target(r);
    if (LoopContext.redirected(target)) {
      r = loop.capTtl(r);
    }
    UpstreamConnection conn = upstreamFor(loop.pool(LoopContext.node(target)));
    if (conn == null) {
      r.release();
      noUpstream(r.command(), r.noreply());
      return;
    }
    Slot slot = new Slot(r.command().shape(), r.command(), r.noreply());
    slots.addLast(slot);
    sent(conn);
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

  /**
   * A meta request: {@code mn} is answered here in its turn; the others go to their key's node
   * tagged with the connection's sequence number, and the slot gives the client its own opaque back
   * and applies quiet mode as memcached would.
   */
  private void handleMeta(MetaRequest r, byte[] replyInstead) {
    Command c = r.command();
    if (c == Command.MN) {
      local(MN.clone(), false, c);
      return;
    }
    byte[] denied = shared.deniedReply(c);
    if (denied != null) {
      r.release();
      local(denied, false, c);
      return;
    }
    int target =
        c == Command.ME ? loop.view().nodeFor(r.routingKey()) << 1 : loop.target(r.routingKey());
    if (LoopContext.redirected(target)) {
      MetaRequest capped = r.withExpiryCap(loop::capTtl);
      // No room for the capping token: the request goes to its own (down) node and fails fast.
      target = capped == null ? LoopContext.node(target) << 1 : target;
      r = capped == null ? r : capped;
    }
    UpstreamConnection conn = upstreamFor(loop.pool(LoopContext.node(target)));
    if (conn == null) {
      r.release();
      // Quiet mode never hides an error, so unlike noreply the client hears about it.
      local(NO_UPSTREAM.clone(), false, c).failed = true;
      return;
    }
    Slot slot =
        replyInstead != null
            ? new ReplyAfterSlot(replyInstead, ResponseShape.META, Command.MS)
            : new MetaSlot(r);
    slots.addLast(slot);
    sent(conn);
    conn.writeMeta(r, slot);
  }

  /**
   * A retrieval whose keys live on several nodes, or whose line is too long for one upstream line:
   * validated whole by the decoder, split by node and into lines under the limit, sent in parallel,
   * and merged back in the client's key order.
   */
  private void forwardSplitRetrieval(AsciiRequest r) {
    List<byte[]> keys = r.keys();
    ClusterView view = loop.view();
    // Per failover target (node and whether redirected), so redirected gat parts get the cap.
    int[] nodeOf = new int[keys.size()];
    int[] perNode = new int[view.size() * 2];
    for (int k = 0; k < keys.size(); k++) {
      nodeOf[k] = loop.target(keys.get(k));
      perNode[nodeOf[k]]++;
    }
    int nodesUsed = 0;
    for (int count : perNode) {
      nodesUsed += count > 0 ? 1 : 0;
    }
    MultiSlot multi = new MultiSlot(r.command(), keys, nodesUsed == 1);
    slots.addLast(multi);
    int max = AsciiRequestEncoder.maxUpstreamLineBytes(r.command());
    for (int n = 0; n < perNode.length; n++) {
      if (perNode[n] == 0) {
        continue;
      }
      int exptime = LoopContext.redirected(n) ? loop.capTtl(r.exptime()) : r.exptime();
      List<byte[]> nodeKeys = new java.util.ArrayList<>(perNode[n]);
      int[] positions = new int[perNode[n]];
      for (int k = 0, m = 0; k < keys.size(); k++) {
        if (nodeOf[k] == n) {
          positions[m++] = k;
          nodeKeys.add(keys.get(k));
        }
      }
      UpstreamConnection conn = upstreamFor(loop.pool(LoopContext.node(n)));
      int from = 0;
      while (from < nodeKeys.size()) {
        int to = AsciiRequestEncoder.retrievalPartEnd(r.command(), exptime, nodeKeys, from, max);
        Part part = new Part(multi, java.util.Arrays.copyOfRange(positions, from, to), multi.parts);
        multi.parts++;
        if (conn == null) {
          multi.unreachable.add(part);
        } else {
          ByteBuf line =
              ctx.alloc()
                  .ioBuffer(
                      AsciiRequestEncoder.retrievalLineLength(
                          r.command(), exptime, nodeKeys, from, to));
          AsciiRequestEncoder.writeRetrieval(r.command(), exptime, nodeKeys, from, to, line);
          conn.write(line, part, false);
          sent(conn);
        }
        from = to;
      }
    }
    r.release();
    // Parts for nodes without a connection fail now, after every other part was sent.
    for (Part p : List.copyOf(multi.unreachable)) {
      p.onFailure(NO_UPSTREAM_TEXT + "\r\n");
    }
  }

  /** Bare {@code stats} on a cluster: every node is asked, the answers are summed. */
  private void statsFromEveryNode() {
    ClusterView view = loop.view();
    StatsSlot slot = new StatsSlot(view.size());
    slots.addLast(slot);
    for (int n = 0; n < view.size(); n++) {
      StatsPart part = new StatsPart(slot);
      UpstreamConnection conn = upstreamFor(loop.pool(n));
      if (conn == null) {
        part.onFailure(NO_UPSTREAM_TEXT + "\r\n");
      } else {
        conn.write(
            Unpooled.wrappedBuffer("stats\r\n".getBytes(StandardCharsets.US_ASCII)), part, false);
        sent(conn);
      }
    }
  }

  /**
   * {@code flush_all} goes to every node; the client hears {@code OK} only if every node said so,
   * otherwise the first other answer.
   */
  private void broadcast(AsciiRequest r) {
    ClusterView view = loop.view();
    if (view.size() == 1) {
      forward(r);
      return;
    }
    BroadcastSlot b = new BroadcastSlot(r.command(), r.noreply(), view.size());
    slots.addLast(b);
    ByteBuf line = ctx.alloc().ioBuffer(64);
    AsciiRequestEncoder.writeLine(r, line);
    r.release();
    for (int n = 0; n < view.size(); n++) {
      BroadcastPart part = new BroadcastPart(b);
      UpstreamConnection conn = upstreamFor(loop.pool(n));
      if (conn == null) {
        part.onFailure(NO_UPSTREAM_TEXT + "\r\n");
      } else {
        conn.write(line.retainedDuplicate(), part, false);
        sent(conn);
      }
    }
    line.release();
  }

  /**
   * memcached unlinks the key of a rejected oversized {@code set} so no stale value survives; the
   * same delete runs upstream before the error goes out in this slot.
   */
  private void deleteThenReply(AsciiRequest delete, byte[] reply) {
    UpstreamConnection conn = upstreamFor(poolFor(delete));
    if (conn == null) {
      delete.release();
      local(reply, false, Command.SET);
      return;
    }
    Slot slot = new ReplyAfterSlot(reply);
    slots.addLast(slot);
    sent(conn);
    ByteBuf line = ctx.alloc().ioBuffer(64 + totalKeyBytes(delete));
    AsciiRequestEncoder.writeLine(delete, line);
    delete.release();
    conn.write(line, slot, false);
  }

  private static int totalKeyBytes(AsciiRequest r) {
    List<byte[]> keys = r.keys();
    int n = 0;
    for (int i = 0; i < keys.size(); i++) { // no iterator object per request
      n += keys.get(i).length + 1;
    }
    return n;
  }

  private void noUpstream(Command command, boolean noreply) {
    // A noreply client reads no answer to this request: a line here would be taken as the answer
    // to its next one. Slot.onFailure keeps the same silence for a lost connection.
    local(noreply ? new byte[0] : NO_UPSTREAM.clone(), false, command).failed = true;
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
      frame = ResponseCopy.compact(ctx.alloc(), frame);
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
        } else if (binaryDecoder != null
            ? BinaryResponses.isError(r)
            : AsciiResponseFramer.isErrorLine(r, r.readerIndex(), r.readableBytes())) {
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
      if (!inputShutdown) {
        // Never after the end of input: on a half-closed socket Netty's epoll channel fails to
        // re-arm reading (epoll_ctl ENOENT) and closes, losing the answers still queued.
        ctx.channel().config().setAutoRead(true);
      }
      processInput();
      return;
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
      int i = pinIndex(from.pool());
      if (i >= 0 && pinConns[i] == from && pinOutstanding[i] > 0) {
        pinOutstanding[i]--;
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

  // ---- Binary protocol: each keyed request becomes one meta request upstream (BinaryMeta). ----

  private void handleBinary(BinaryDecodeResult result) {
    if (result instanceof BinaryDecodeResult.Request q) {
      handleBinaryRequest(q.request());
    } else if (result instanceof BinaryDecodeResult.LocalReply l) {
      if (l.deleteKeyFirst() != null) {
        binaryDeleteThenReply(l.deleteKeyFirst(), l.reply());
      } else {
        local(l.reply(), false, null);
      }
    } else if (result instanceof BinaryDecodeResult.Close c) {
      local(c.reply(), true, null);
    }
  }

  private void handleBinaryRequest(BinaryRequest r) {
    int op = r.opcode();
    Command asAscii = binaryMetricCommand(r.loudOpcode());
    byte[] denied = asAscii == null ? null : shared.deniedReply(asAscii);
    if (denied != null) {
      r.release();
      // memcached's status for a command it does not permit (a flush under -F), with mcmux's
      // reason.
      String reason = new String(denied, StandardCharsets.US_ASCII).strip();
      local(
          BinaryResponses.withStatus(
              op,
              r.opaque(),
              BinaryProtocol.AUTH_ERROR,
              reason.substring(reason.indexOf(' ') + 1).getBytes(StandardCharsets.US_ASCII)),
          false,
          asAscii);
      return;
    }
    switch (r.loudOpcode()) {
      case BinaryProtocol.NOOP ->
          // A barrier: its slot is answered only after every earlier slot went out.
          local(BinaryResponses.empty(op, r.opaque(), 0), false, null);
      case BinaryProtocol.VERSION ->
          local(
              BinaryResponses.withBody(
                  op,
                  r.opaque(),
                  new byte[0],
                  loop.view().nodes().get(0).version().getBytes(StandardCharsets.US_ASCII)),
              false,
              Command.VERSION);
      case BinaryProtocol.QUIT ->
          local(
              r.quiet() ? new byte[0] : BinaryResponses.empty(op, r.opaque(), 0),
              true,
              Command.QUIT);
      case BinaryProtocol.FLUSH -> binaryFlush(r);
      case BinaryProtocol.STAT -> binaryStat(r);
      default -> forwardBinary(r);
    }
  }

  private static Command binaryMetricCommand(int loudOpcode) {
    return switch (loudOpcode) {
      case BinaryProtocol.GET, BinaryProtocol.GETK -> Command.GET;
      case BinaryProtocol.GAT, BinaryProtocol.GATK -> Command.GAT;
      case BinaryProtocol.TOUCH -> Command.TOUCH;
      case BinaryProtocol.SET -> Command.SET;
      case BinaryProtocol.ADD -> Command.ADD;
      case BinaryProtocol.REPLACE -> Command.REPLACE;
      case BinaryProtocol.APPEND -> Command.APPEND;
      case BinaryProtocol.PREPEND -> Command.PREPEND;
      case BinaryProtocol.DELETE -> Command.DELETE;
      case BinaryProtocol.INCREMENT -> Command.INCR;
      case BinaryProtocol.DECREMENT -> Command.DECR;
      case BinaryProtocol.FLUSH -> Command.FLUSH_ALL;
      case BinaryProtocol.STAT -> Command.STATS;
      default -> null;
    };
  }

  private void forwardBinary(BinaryRequest r) {
    Command metric = binaryMetricCommand(r.loudOpcode());
    MetaRequest meta;
    try {
      meta = BinaryMeta.toMeta(r);
    } catch (IllegalArgumentException e) {
      // A key with separator bytes too long for base64 within memcached's 250-byte token.
      local(BinaryResponses.error(r.opcode(), r.opaque(), BinaryProtocol.EINVAL), false, metric);
      return;
    }
    int target = loop.target(r.key());
    if (LoopContext.redirected(target)) {
      MetaRequest capped = meta.withExpiryCap(loop::capTtl);
      // No room for the capping token: the request goes to its own (down) node and fails fast.
      target = capped == null ? LoopContext.node(target) << 1 : target;
      meta = capped == null ? meta : capped;
    }
    UpstreamConnection conn = upstreamFor(loop.pool(LoopContext.node(target)));
    if (conn == null) {
      meta.release();
      local(BinaryMeta.failure(r.opcode(), r.opaque(), NO_UPSTREAM_TEXT), false, metric).failed =
          true;
      return;
    }
    BinarySlot slot = new BinarySlot(r, metric);
    slots.addLast(slot);
    sent(conn);
    conn.writeMeta(meta, slot);
  }

  /** Like {@link #deleteThenReply}, for a binary set over the size limit. */
  private void binaryDeleteThenReply(byte[] key, byte[] reply) {
    UpstreamConnection conn = upstreamFor(loop.pool(LoopContext.node(loop.target(key))));
    MetaRequest delete;
    try {
      delete = MetaRequest.of(Command.MD, key, BinaryMeta.needsBase64(key), List.of(), null);
    } catch (IllegalArgumentException e) {
      delete = null;
    }
    if (conn == null || delete == null) {
      local(reply, false, Command.SET);
      return;
    }
    Slot slot = new ReplyAfterSlot(reply, ResponseShape.META, Command.SET);
    slots.addLast(slot);
    sent(conn);
    conn.writeMeta(delete, slot);
  }

  /** Binary flush: {@code flush_all [delay]} to every node, answered once all have answered. */
  private void binaryFlush(BinaryRequest r) {
    ClusterView view = loop.view();
    BinaryFlushSlot slot = new BinaryFlushSlot(r, view.size());
    slots.addLast(slot);
    String line =
        r.hasExptime() && r.exptime() != 0
            // Binary delays are unsigned; the ASCII command reads a signed 32-bit number.
            ? "flush_all " + (r.exptime() < 0 ? Integer.MAX_VALUE : r.exptime()) + "\r\n"
            : "flush_all\r\n";
    for (int n = 0; n < view.size(); n++) {
      BroadcastPart part = new BroadcastPart(slot);
      UpstreamConnection conn = upstreamFor(loop.pool(n));
      if (conn == null) {
        part.onFailure(NO_UPSTREAM_TEXT);
      } else {
        conn.write(Unpooled.copiedBuffer(line, StandardCharsets.US_ASCII), part, false);
        sent(conn);
      }
    }
  }

  /**
   * Binary stat: bare, summed over every node as ASCII {@code stats} is; a group asked of the first
   * node; answered as one packet per statistic and an empty packet.
   */
  private void binaryStat(BinaryRequest r) {
    String group = new String(r.key(), StandardCharsets.ISO_8859_1);
    if (group.equals("mcmux")) {
      local(
          toArray(
              BinaryMeta.statPackets(
                  Unpooled.wrappedBuffer(shared.ownStats(loop.view())),
                  r.opcode(),
                  r.opaque(),
                  ctx.alloc())),
          false,
          Command.STATS);
      return;
    }
    if (!group.isEmpty() && !statsArgumentAllowed(group.getBytes(StandardCharsets.ISO_8859_1))) {
      // memcached's answer to a group it does not know; mcmux refuses reset and detail too.
      local(
          BinaryResponses.error(r.opcode(), r.opaque(), BinaryProtocol.KEY_ENOENT),
          false,
          Command.STATS);
      return;
    }
    ClusterView view = loop.view();
    int nodes = group.isEmpty() ? view.size() : 1;
    BinaryStatsSlot slot = new BinaryStatsSlot(r, nodes);
    slots.addLast(slot);
    String line = group.isEmpty() ? "stats\r\n" : "stats " + group + "\r\n";
    for (int n = 0; n < nodes; n++) {
      StatsPart part = new StatsPart(slot);
      UpstreamConnection conn = upstreamFor(loop.pool(n));
      if (conn == null) {
        part.onFailure(NO_UPSTREAM_TEXT);
      } else {
        conn.write(Unpooled.copiedBuffer(line, StandardCharsets.US_ASCII), part, false);
        sent(conn);
      }
    }
  }

  private static byte[] toArray(ByteBuf b) {
    byte[] a = new byte[b.readableBytes()];
    b.readBytes(a);
    b.release();
    return a;
  }

  /** The slot of one keyed binary request, answered from its meta response. */
  private final class BinarySlot extends Slot {
    final BinaryRequest request;

    BinarySlot(BinaryRequest request, Command metric) {
      super(ResponseShape.META, metric, false);
      this.request = request;
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      answered(connection());
      ByteBuf packet;
      try {
        packet = BinaryMeta.fromMeta(request, MetaResponse.parse(frame), ctx.alloc());
      } catch (IllegalArgumentException e) {
        packet =
            Unpooled.wrappedBuffer(
                BinaryMeta.failure(request.opcode(), request.opaque(), e.getMessage()));
      } finally {
        frame.release();
      }
      if (packet == null) {
        completeSilently();
      } else {
        accept(this, packet);
      }
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      failed = true;
      accept(
          this,
          Unpooled.wrappedBuffer(
              BinaryMeta.failure(request.opcode(), request.opaque(), errorLine)));
    }
  }

  /** The client's slot for a binary flush sent to every node. */
  private final class BinaryFlushSlot extends Slot implements BroadcastSink {
    final BinaryRequest request;
    final int parts;
    int completed;
    String firstOther;

    BinaryFlushSlot(BinaryRequest request, int parts) {
      super(ResponseShape.LINE, Command.FLUSH_ALL, false);
      this.request = request;
      this.parts = parts;
    }

    @Override
    public void partDone(ByteBuf frame, boolean upstreamFailed) {
      String line = frame.toString(StandardCharsets.US_ASCII).strip();
      frame.release();
      if (!line.equals("OK") && firstOther == null) {
        firstOther = line;
        failed |= upstreamFailed;
      }
      if (++completed < parts) {
        return;
      }
      byte[] answer;
      if (firstOther == null) {
        answer =
            request.quiet() ? null : BinaryResponses.empty(request.opcode(), request.opaque(), 0);
      } else if (firstOther.startsWith("CLIENT_ERROR flush_all not allowed")) {
        // memcached started with -F answers a binary flush with an auth error.
        answer =
            BinaryResponses.error(request.opcode(), request.opaque(), BinaryProtocol.AUTH_ERROR);
      } else {
        answer = BinaryMeta.failure(request.opcode(), request.opaque(), firstOther);
      }
      if (closed || answer == null) {
        completeSilently();
        return;
      }
      accept(this, Unpooled.wrappedBuffer(answer));
    }
  }

  /** The client's slot for a binary stat; several nodes' answers are summed. */
  private final class BinaryStatsSlot extends Slot implements StatsSink {
    final BinaryRequest request;
    final List<ByteBuf> answers = new java.util.ArrayList<>();
    final int parts;
    int completed;

    BinaryStatsSlot(BinaryRequest request, int parts) {
      super(ResponseShape.STATS, Command.STATS, false);
      this.request = request;
      this.parts = parts;
    }

    @Override
    public void partDone(ByteBuf frame) {
      if (frame != null) {
        answers.add(frame);
      }
      if (++completed < parts) {
        return;
      }
      ByteBuf text;
      if (answers.isEmpty()) {
        text = Unpooled.copiedBuffer(NO_UPSTREAM_TEXT + "\r\n", StandardCharsets.US_ASCII);
      } else if (answers.size() == 1) {
        text = answers.get(0);
        answers.clear();
      } else {
        text = Unpooled.copiedBuffer(StatsMerger.merge(answers), StandardCharsets.US_ASCII);
      }
      answers.forEach(ByteBuf::release);
      answers.clear();
      ByteBuf packets =
          BinaryMeta.statPackets(text, request.opcode(), request.opaque(), ctx.alloc());
      text.release();
      if (closed) {
        packets.release();
        return;
      }
      accept(this, packets);
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
      this(reply, ResponseShape.LINE, Command.SET);
    }

    ReplyAfterSlot(byte[] reply, ResponseShape shape, Command command) {
      super(shape, command, false);
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

  /** The slot of a forwarded meta request: restores the client's opaque, applies quiet mode. */
  private final class MetaSlot extends Slot {
    private final Command command;
    private final byte[] opaque;
    private final boolean quiet;

    MetaSlot(MetaRequest r) {
      super(ResponseShape.META, r.command(), false);
      this.command = r.command();
      this.opaque = r.opaque();
      this.quiet = r.quiet();
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      answered(connection());
      if (metaTag() != 0) {
        frame = MetaResponse.restoreOpaque(frame, metaTag(), opaque, ctx.alloc());
      }
      if (quiet && NoReplyFilter.suppressedInQuietMode(command, frame)) {
        frame.release();
        completeSilently();
        return;
      }
      accept(this, frame);
    }
  }

  /** The client's slot for a multi-get split across nodes and lines, merged by key position. */
  private final class MultiSlot extends Slot {
    final List<byte[]> keys;

    /** The VALUE block of each key position, or null for a miss. */
    final ByteBuf[] blocks;

    final List<Part> unreachable = new java.util.ArrayList<>(0);

    /**
     * One node, lines split in key order: each part's answer is already in order, so parts are
     * concatenated instead of merged key by key.
     */
    final boolean sequential;

    final List<ByteBuf> inOrder = new java.util.ArrayList<>();
    int parts;
    int completed;
    ByteBuf error;

    MultiSlot(Command command, List<byte[]> keys, boolean sequential) {
      super(ResponseShape.RETRIEVAL, command, false);
      this.keys = keys;
      this.sequential = sequential;
      this.blocks = sequential ? new ByteBuf[0] : new ByteBuf[keys.size()];
    }

    /** Takes one part's answer: its VALUE blocks by position, or why it has none. */
    void partDone(Part part, ByteBuf frame, String failure) {
      if (frame != null && sequential) {
        if (AsciiResponseFramer.isErrorLine(frame, frame.readerIndex(), frame.readableBytes())
            || !endsWithEnd(frame)) {
          if (error == null) {
            error =
                Unpooled.copiedBuffer(
                    "SERVER_ERROR upstream answered a get with an error\r\n",
                    StandardCharsets.US_ASCII);
          }
          frame.release();
        } else {
          while (inOrder.size() <= part.index) {
            inOrder.add(null);
          }
          // Without its END: the merged answer gets exactly one, at the end.
          inOrder.set(part.index, frame.writerIndex(frame.writerIndex() - END.length));
        }
      } else if (frame != null) {
        if (error == null) {
          String bad = place(part, frame);
          if (bad != null) {
            error =
                Unpooled.copiedBuffer("SERVER_ERROR " + bad + "\r\n", StandardCharsets.US_ASCII);
          }
        }
        frame.release();
      } else if (failure != null && error == null) {
        if (shared.multigetOnDownNode() == Settings.DownNodeKeys.FAIL) {
          error = Unpooled.copiedBuffer(failure, StandardCharsets.US_ASCII);
        } else {
          metrics.downNodeMisses(part.positions.length);
        }
      }
      if (++completed < parts) {
        return;
      }
      ByteBuf merged;
      if (error != null) {
        merged = error;
        releaseBlocks();
      } else if (sequential) {
        CompositeByteBuf all = ctx.alloc().compositeBuffer(inOrder.size() + 1);
        for (ByteBuf f : inOrder) {
          if (f != null) {
            all.addComponent(true, f);
          }
        }
        inOrder.clear();
        all.addComponent(true, Unpooled.wrappedBuffer(END));
        merged = all;
      } else {
        CompositeByteBuf all = ctx.alloc().compositeBuffer(blocks.length + 1);
        for (int k = 0; k < blocks.length; k++) {
          if (blocks[k] != null) {
            all.addComponent(true, blocks[k]);
            blocks[k] = null;
          }
        }
        all.addComponent(true, Unpooled.wrappedBuffer(END));
        merged = all;
      }
      if (closed) {
        merged.release();
        return;
      }
      accept(this, merged);
    }

    /**
     * Assigns each VALUE block of {@code frame} to the next position of {@code part} with the same
     * key (memcached answers hits in request order and leaves misses out). Returns why the frame
     * cannot be that answer, or null.
     */
    private String place(Part part, ByteBuf frame) {
      int pos = frame.readerIndex();
      int end = frame.writerIndex();
      int cursor = 0;
      while (pos < end) {
        int lf = frame.indexOf(pos, end, (byte) '\n');
        int lineLen = lf + 1 - pos;
        if (AsciiResponseFramer.isErrorLine(frame, pos, lineLen)) {
          return "upstream answered a get with an error";
        }
        if (lineLen == 5 && frame.getByte(pos) == 'E') {
          return null; // END
        }
        int keyStart = pos + 6;
        int keyEnd = frame.indexOf(keyStart, lf, (byte) ' ');
        int lenStart = frame.indexOf(keyEnd + 1, lf, (byte) ' ') + 1;
        int lenEnd = frame.indexOf(lenStart, lf, (byte) ' ');
        if (lenEnd < 0) {
          lenEnd = lf - 1;
        }
        int dataLen =
            Integer.parseInt(
                frame.toString(lenStart, lenEnd - lenStart, StandardCharsets.US_ASCII));
        int blockEnd = lf + 1 + dataLen + 2;
        while (cursor < part.positions.length
            && !sameKey(keys.get(part.positions[cursor]), frame, keyStart, keyEnd)) {
          cursor++;
        }
        if (cursor == part.positions.length) {
          return "upstream answered a key that was not asked for";
        }
        blocks[part.positions[cursor++]] = frame.retainedSlice(pos, blockEnd - pos);
        pos = blockEnd;
      }
      return null;
    }

    private void releaseBlocks() {
      inOrder.forEach(
          f -> {
            if (f != null) {
              f.release();
            }
          });
      inOrder.clear();
      for (int k = 0; k < blocks.length; k++) {
        if (blocks[k] != null) {
          blocks[k].release();
          blocks[k] = null;
        }
      }
    }
  }

  private static boolean endsWithEnd(ByteBuf f) {
    int w = f.writerIndex();
    return f.readableBytes() >= END.length
        && f.getByte(w - 5) == 'E'
        && f.getByte(w - 4) == 'N'
        && f.getByte(w - 3) == 'D'
        && f.getByte(w - 2) == '\r';
  }

  private static boolean sameKey(byte[] key, ByteBuf buf, int from, int to) {
    if (to - from != key.length) {
      return false;
    }
    for (int i = 0; i < key.length; i++) {
      if (buf.getByte(from + i) != key[i]) {
        return false;
      }
    }
    return true;
  }

  /** One upstream line of a split multi-get. */
  private final class Part extends PendingRequest {
    final MultiSlot owner;
    final int[] positions;
    final int index;

    Part(MultiSlot owner, int[] positions, int index) {
      super(ResponseShape.RETRIEVAL);
      this.owner = owner;
      this.positions = positions;
      this.index = index;
    }

    @Override
    protected void onResponse(ByteBuf f) {
      answered(connection());
      owner.partDone(this, f, null);
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      owner.partDone(this, null, errorLine);
    }
  }

  /** The client's slot for a command every node must run ({@code flush_all}). */
  private final class BroadcastSlot extends Slot implements BroadcastSink {
    final int parts;
    int completed;
    ByteBuf firstOther;

    BroadcastSlot(Command command, boolean noreply, int parts) {
      super(ResponseShape.LINE, command, noreply);
      this.parts = parts;
    }

    @Override
    public void partDone(ByteBuf frame, boolean upstreamFailed) {
      boolean ok = frame.readableBytes() == 4 && frame.getByte(frame.readerIndex()) == 'O';
      if (!ok && firstOther == null) {
        firstOther = frame;
        failed |= upstreamFailed;
      } else {
        frame.release();
      }
      if (++completed < parts) {
        return;
      }
      ByteBuf answer =
          firstOther != null
              ? firstOther
              : Unpooled.copiedBuffer("OK\r\n", StandardCharsets.US_ASCII);
      if (closed || (noreply != null && NoReplyFilter.suppressed(noreply, answer))) {
        answer.release();
        completeSilently();
        return;
      }
      accept(this, answer);
    }
  }

  /** The client's slot for a bare {@code stats} asked of every node. */
  private final class StatsSlot extends Slot implements StatsSink {
    final List<ByteBuf> answers = new java.util.ArrayList<>();
    final int parts;
    int completed;

    StatsSlot(int parts) {
      super(ResponseShape.STATS, Command.STATS, false);
      this.parts = parts;
    }

    @Override
    public void partDone(ByteBuf frame) {
      if (frame != null) {
        answers.add(frame);
      }
      if (++completed < parts) {
        return;
      }
      String merged = StatsMerger.merge(answers);
      answers.forEach(ByteBuf::release);
      answers.clear();
      if (closed) {
        return;
      }
      accept(this, Unpooled.copiedBuffer(merged, StandardCharsets.US_ASCII));
    }
  }

  /** Where the per-node answers of a cluster-wide stats request are gathered (ASCII or binary). */
  private interface StatsSink {
    /** One node's STAT lines, or null when that node could not answer. */
    void partDone(ByteBuf frame);
  }

  /** One node's part of a cluster-wide {@code stats}; a node that cannot answer is left out. */
  private final class StatsPart extends PendingRequest {
    final StatsSink owner;

    StatsPart(StatsSink owner) {
      super(ResponseShape.STATS);
      this.owner = owner;
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      answered(connection());
      owner.partDone(frame);
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      owner.partDone(null);
    }
  }

  /** Where the per-node answers of a command every node runs are gathered (ASCII or binary). */
  private interface BroadcastSink {
    /** One node's answer line, or mcmux's error line when {@code upstreamFailed}; owned here. */
    void partDone(ByteBuf frame, boolean upstreamFailed);
  }

  /** One node's part of a broadcast. */
  private final class BroadcastPart extends PendingRequest {
    final BroadcastSink owner;

    BroadcastPart(BroadcastSink owner) {
      super(ResponseShape.LINE);
      this.owner = owner;
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      answered(connection());
      owner.partDone(frame, false);
    }

    @Override
    protected void onFailure(String errorLine) {
      answered(connection());
      owner.partDone(Unpooled.copiedBuffer(errorLine, StandardCharsets.US_ASCII), true);
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
