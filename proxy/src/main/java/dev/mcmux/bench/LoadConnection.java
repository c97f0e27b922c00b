package dev.mcmux.bench;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;

/**
 * One generator connection: keeps up to the pipeline depth of requests in flight, frames and
 * verifies each response, records its latency and sends the next request.
 *
 * <p>Runs on its {@link LoopDriver}'s event loop only. Requests written while handling one read are
 * flushed together; the {@code FlushConsolidationHandler} below turns the flushes of one read into
 * a single syscall. On TLS every set is flushed on its own so that its data block ends a TLS
 * record: memcached before 1.6.39 can otherwise leave the next command unread inside OpenSSL and
 * stall the connection (see the design notes).
 */
final class LoadConnection extends ChannelInboundHandlerAdapter {

  private enum State {
    OPENING,
    READY,
    CLOSED
  }

  private static final byte GET = 0;
  private static final byte SET = 1;

  private final LoopDriver driver;
  private final TargetRun run;
  private final boolean oneShot;
  private final boolean flushEachSet;
  private final ResponseParser parser = new ResponseParser();

  // The ring of requests in flight, oldest at head. aux is the version of a set, or the floor
  // version a get may return, read when the get was written.
  private final int mask;
  private final byte[] kinds;
  private final int[] keyIds;
  private final int[] aux;
  private final long[] starts;
  private int head;
  private int count;
  private int unstamped;

  private ChannelHandlerContext ctx;
  private Channel channel;
  private ByteBuf cumulation;
  private ByteBuf out;
  private State state = State.OPENING;
  private Throwable lastCause;
  private boolean issuedOneShot;

  /** For {@code --connect-per-request}: when connecting began; the latency counts from here. */
  final long openedAt;

  LoadConnection(LoopDriver driver, boolean oneShot, int capacity, long openedAt) {
    this.driver = driver;
    this.run = driver.run;
    this.oneShot = oneShot;
    this.flushEachSet = run.target().tls();
    this.openedAt = openedAt;
    int size = Integer.highestOneBit(Math.max(1, capacity - 1)) << 1;
    mask = size - 1;
    kinds = new byte[size];
    keyIds = new int[size];
    aux = new int[size];
    starts = new long[size];
  }

  boolean oneShot() {
    return oneShot;
  }

  boolean isReady() {
    return state == State.READY;
  }

  boolean isClosed() {
    return state == State.CLOSED;
  }

  int inFlight() {
    return count;
  }

  /** When the oldest request in flight was sent; only when {@link #inFlight()} is positive. */
  long oldestStart() {
    return starts[head];
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (!run.target().tls()) {
      becomeReady();
    }
    ctx.fireChannelActive();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof SslHandshakeCompletionEvent done) {
      if (done.isSuccess()) {
        run.noteTlsSession(ctx.pipeline());
        becomeReady();
      } else {
        // The SslHandler closes the channel; channelInactive reports the failure.
        lastCause = done.cause();
      }
    }
    ctx.fireUserEventTriggered(evt);
  }

  private void becomeReady() {
    if (state != State.OPENING) {
      return;
    }
    state = State.READY;
    driver.onReady(this);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (lastCause == null) {
      lastCause = cause;
    }
    ctx.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    State was = state;
    state = State.CLOSED;
    releaseBuffers();
    if (was == State.READY) {
      failAll(ErrorKind.DISCONNECT, "connection closed" + causeSuffix());
      driver.onClosed(this);
    } else if (was == State.OPENING) {
      driver.onConnectFailed(this, lastCause != null ? lastCause : new Exception("closed early"));
    }
  }

  /** Called by the driver when the connect attempt itself failed: no channel became active. */
  void connectFailed(Throwable cause) {
    if (state == State.OPENING) {
      state = State.CLOSED;
      driver.onConnectFailed(this, cause);
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseBuffers();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf in) || state != State.READY) {
      ReferenceCountUtil.release(msg);
      return;
    }
    cumulation =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    long now = System.nanoTime();
    boolean ok = drain(now);
    if (cumulation != null) {
      if (!cumulation.isReadable()) {
        cumulation.release();
        cumulation = null;
      } else {
        cumulation.discardSomeReadBytes();
      }
    }
    if (!ok) {
      return;
    }
    if (oneShot) {
      if (count == 0 && issuedOneShot) {
        ctx.close();
      }
      return;
    }
    fill(now);
  }

  /** Handles every complete response buffered; false when the connection had to be closed. */
  private boolean drain(long now) {
    ByteBuf in = cumulation;
    while (in.isReadable()) {
      if (count == 0) {
        fatal(ErrorKind.PROTOCOL, "bytes arrived with no request in flight");
        return false;
      }
      int slot = head;
      int key = keyIds[slot];
      boolean get = kinds[slot] == GET;
      int frame = get ? parser.parseGet(in, run.keys(), key) : parser.parseStore(in);
      if (frame == ResponseParser.INCOMPLETE) {
        return true;
      }
      if (frame == ResponseParser.UNEXPECTED) {
        fatal(ErrorKind.PROTOCOL, parser.problem());
        return false;
      }
      if (get) {
        completeGet(in, slot, key, now);
      } else {
        completeSet(in, slot, key, now);
      }
      in.skipBytes(frame);
      head = (head + 1) & mask;
      count--;
    }
    return true;
  }

  private void completeGet(ByteBuf in, int slot, int key, long now) {
    LoopStats stats = driver.stats;
    switch (parser.kind()) {
      case VALUE -> {
        if (!parser.keyMatches()) {
          driver.mismatch(key, "answer for another key: '" + parser.line(in) + "'");
          return;
        }
        ValueCodec.Verdict verdict =
            run.codec()
                .verify(
                    key,
                    parser.flags(),
                    in,
                    parser.valueIndex(),
                    parser.valueLength(),
                    aux[slot],
                    run.versions().latest(key));
        if (verdict != ValueCodec.Verdict.OK) {
          driver.mismatch(
              key,
              ValueCodec.describe(verdict, in, parser.valueIndex(), parser.valueLength())
                  + " (flags "
                  + parser.flags()
                  + ", versions allowed "
                  + aux[slot]
                  + ".."
                  + run.versions().latest(key)
                  + ")");
          return;
        }
        succeeded(slot, now, true);
      }
      case MISS -> {
        stats.misses++;
        succeeded(slot, now, true);
      }
      default -> stats.error(errorKind(parser.kind()), parser.line(in));
    }
  }

  private void completeSet(ByteBuf in, int slot, int key, long now) {
    if (parser.kind() == ResponseParser.Kind.STORED) {
      run.versions().stored(key);
      driver.onSetDone(true, null);
      succeeded(slot, now, false);
      return;
    }
    run.versions().failed(key);
    String line = parser.line(in);
    driver.stats.error(errorKind(parser.kind()), line);
    driver.onSetDone(false, run.keys().name(key) + ": " + line);
  }

  private void succeeded(int slot, long now, boolean get) {
    LoopStats stats = driver.stats;
    stats.completed();
    long start = starts[slot];
    if (start >= driver.warmupEnd && now <= driver.end) {
      stats.ops++;
      if (get) {
        stats.gets++;
      } else {
        stats.sets++;
      }
      stats.latency.recordValue(Math.max(0, (now - start + 500) / 1000));
    }
  }

  private static ErrorKind errorKind(ResponseParser.Kind kind) {
    return switch (kind) {
      case SERVER_ERROR -> ErrorKind.SERVER_ERROR;
      case CLIENT_ERROR -> ErrorKind.CLIENT_ERROR;
      case ERROR -> ErrorKind.ERROR;
      default -> ErrorKind.NOT_STORED;
    };
  }

  /** Writes requests until the pipeline is full or the driver has none to give, then flushes. */
  void fill(long now) {
    if (state != State.READY) {
      return;
    }
    if (oneShot) {
      if (issuedOneShot) {
        return;
      }
      issuedOneShot = true;
      int op = driver.nextOp(now);
      if (op == LoopDriver.NONE) {
        ctx.close();
        return;
      }
      enqueue(op);
      flushOut();
      // What a connect-per-request client waits for includes connecting and the handshake.
      stamp(openedAt);
      return;
    }
    int limit = driver.depthLimit();
    boolean wrote = false;
    while (count < limit) {
      int op = driver.nextOp(now);
      if (op == LoopDriver.NONE) {
        break;
      }
      enqueue(op);
      wrote = true;
    }
    if (wrote) {
      flushOut();
      stamp(System.nanoTime());
    }
  }

  private void enqueue(int op) {
    int slot = (head + count) & mask;
    if (out == null) {
      out = ctx.alloc().ioBuffer(256);
    }
    if (op >= 0) {
      kinds[slot] = GET;
      keyIds[slot] = op;
      aux[slot] = run.versions().floor(op);
      run.writer().get(out, op);
    } else {
      int key = ~op;
      int version = run.versions().issue(key);
      kinds[slot] = SET;
      keyIds[slot] = key;
      aux[slot] = version;
      run.writer().set(out, key, version);
    }
    count++;
    unstamped++;
    if (flushEachSet && op < 0) {
      flushOut();
    }
  }

  private void flushOut() {
    if (out != null) {
      ByteBuf buf = out;
      out = null;
      ctx.write(buf, ctx.voidPromise());
      ctx.flush();
    }
  }

  private void stamp(long now) {
    for (int i = count - unstamped; i < count; i++) {
      starts[(head + i) & mask] = now;
    }
    unstamped = 0;
  }

  /** Fails every request in flight as timed out and closes the connection. */
  void timeout() {
    fatal(ErrorKind.TIMEOUT, "no answer within " + run.config().timeout().toMillis() + " ms");
  }

  /** The channel, known as soon as the connect attempt starts. */
  void channel(Channel channel) {
    this.channel = channel;
  }

  /** Closes the connection; requests still in flight are counted as disconnects. */
  void close() {
    if (channel != null) {
      channel.close();
    }
  }

  private void fatal(ErrorKind kind, String message) {
    failAll(kind, message);
    ctx.close();
  }

  private void failAll(ErrorKind kind, String message) {
    while (count > 0) {
      int slot = head;
      driver.stats.error(kind, message);
      if (kinds[slot] == SET) {
        run.versions().failed(keyIds[slot]);
        driver.onSetDone(false, run.keys().name(keyIds[slot]) + ": " + message);
      }
      head = (head + 1) & mask;
      count--;
    }
    unstamped = 0;
  }

  private void releaseBuffers() {
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    if (out != null) {
      out.release();
      out = null;
    }
  }

  private String causeSuffix() {
    if (lastCause == null) {
      return "";
    }
    String m = lastCause.getMessage();
    return ": " + (m == null ? lastCause.getClass().getSimpleName() : m);
  }
}
