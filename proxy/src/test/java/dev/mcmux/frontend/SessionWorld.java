package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.protocol.Command;
import dev.mcmux.protocol.DecodeResult;
import dev.mcmux.protocol.MetaRequest;
import dev.mcmux.protocol.NoReplyFilter;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementFlavour;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.upstream.EmbeddedUpstreams;
import dev.mcmux.upstream.UpstreamConnection;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The real {@link ClientSession}s of one event loop, the real upstream pools and connections of a
 * cluster of several nodes, all over {@link EmbeddedChannel}s, and a test double of memcached that
 * reads what mcmux writes upstream and answers it.
 *
 * <p>A scenario, drawn from a {@link Choices} (random or fuzzer-driven), interleaves clients
 * sending pipelined requests (possibly split mid-request), upstream answers arriving on any
 * connection in pieces of any size, upstream connections dying, clients leaving, half-closing or
 * quitting, and clients closed by mcmux for their buffer budget. At the end every client that
 * stayed must have received exactly the answer to each of its requests, in its order, as a single
 * memcached holding all keys would have answered, where each answer is derived from what the
 * memcached double observed (which parts of a request reached which node, which completed and which
 * died with their connection) and the documented rules for noreply, multi-get merging, broadcasts
 * and failures. Along the way it checks that no request is forwarded with noreply, that a client's
 * requests to a node stay on one connection while any are outstanding there (DESIGN.md invariant
 * 3), that no connection is closed by mcmux for a desync, and that every byte held for a client is
 * given back to the budget.
 */
final class SessionWorld {

  /** A source of choices: a seeded {@link java.util.Random}, or the fuzzer's data. */
  interface Choices {
    /** A value in {@code [0, bound)}. */
    int next(int bound);

    default boolean percent(int p) {
      return next(100) < p;
    }
  }

  static final String LOST = "SERVER_ERROR upstream connection lost\r\n";
  static final String TIMEOUT = "SERVER_ERROR upstream timeout\r\n";
  static final String NO_UPSTREAM = "SERVER_ERROR no upstream connection available\r\n";
  private static final byte[] OK = ascii("OK\r\n");

  /**
   * How often each kind of outcome was checked, across worlds, so a test can tell that its
   * scenarios really reach failures, merges, broadcasts and the rest.
   */
  static final Map<String, Integer> CHECKED = new TreeMap<>();

  /** A small item size, so values over it are cheap to send. */
  private static final long ITEM_SIZE_MAX = 64;

  /** The kinds of client request a scenario sends. */
  enum Kind {
    GET(Command.GET),
    GETS(Command.GETS),
    GAT(Command.GAT),
    GATS(Command.GATS),
    SET(Command.SET),
    DELETE(Command.DELETE),
    INCR(Command.INCR),
    FLUSH_ALL(Command.FLUSH_ALL),
    VERSION(Command.VERSION),
    /** A set over the item size: mcmux deletes the key upstream, then answers too large. */
    SET_TOO_LARGE(Command.DELETE),
    VERBOSITY(Command.VERBOSITY),
    QUIT(Command.QUIT),
    BOGUS(null),
    /** Meta get, set and delete, each possibly quiet and with the client's own opaque. */
    MG(Command.MG),
    MS(Command.MS),
    MD(Command.MD),
    /** The meta barrier, answered by mcmux in the client's order. */
    MN(Command.MN),
    /** Binary get, getq, getk, getkq: one mg upstream each. */
    B_GET(Command.MG),
    /** Binary set and setq: one ms upstream. */
    B_SET(Command.MS),
    /** Binary delete and deleteq: one md upstream. */
    B_DELETE(Command.MD),
    /** Binary noop: a barrier answered by mcmux after every earlier answer. */
    B_NOOP(null);

    final Command command;

    Kind(Command command) {
      this.command = command;
    }
  }

  private final int salt;
  private final Settings.DownNodeKeys downNodeKeys;
  private final ClusterView view;
  private final EmbeddedChannel loopChannel;
  private final List<Upstream> upstreams = new ArrayList<>();
  private final List<Client> clients = new ArrayList<>();
  private final StringBuilder trace = new StringBuilder();
  private final boolean longLines;

  /** Whether clients also send meta commands ({@link #withMeta}). */
  private boolean meta;

  /** Whether every other client speaks the binary protocol ({@link #withBinary}). */
  private boolean binary;

  SessionWorld(
      int nodes,
      int connectionsPerNode,
      int clientCount,
      int maxOutstanding,
      Settings.DownNodeKeys downNodeKeys,
      int salt) {
    this(
        nodes,
        connectionsPerNode,
        clientCount,
        maxOutstanding,
        downNodeKeys,
        salt,
        8L << 20,
        64L << 20);
  }

  /**
   * A world; each client has its own {@link FrontendContext} (so its own share of the global
   * budget), which tells whose budget closed a client.
   *
   * @param clientBudget max-buffered-bytes-per-client; under 1 MiB, clients may be closed for it
   *     and send no long get lines (the get-line limit is this budget)
   * @param globalBudget global-buffer-budget of each client's context
   */
  SessionWorld(
      int nodes,
      int connectionsPerNode,
      int clientCount,
      int maxOutstanding,
      Settings.DownNodeKeys downNodeKeys,
      int salt,
      long clientBudget,
      long globalBudget) {
    this.salt = salt;
    this.downNodeKeys = downNodeKeys;
    this.longLines = clientBudget >= 1 << 20;
    trace.append(
        String.format(
            "world: %d nodes x %d connections, %d clients, max outstanding %d, %s, salt %d,"
                + " budgets %d/%d%n",
            nodes,
            connectionsPerNode,
            clientCount,
            maxOutstanding,
            downNodeKeys,
            salt,
            clientBudget,
            globalBudget));
    List<UpstreamNode> nodeList = new ArrayList<>();
    List<PlacementNode> placed = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      HostPort address = new HostPort("node" + n + ".test", 11211);
      nodeList.add(new UpstreamNode(address, ITEM_SIZE_MAX, 3));
      placed.add(new PlacementNode(address.host(), address.port()));
    }
    view =
        new ClusterView(nodeList, KeyPlacement.create(PlacementFlavour.LIBMEMCACHED, placed), -1);
    // The pools schedule reconnects on this loop; its clock never reaches the hour-long backoff.
    loopChannel = new EmbeddedChannel();
    UpstreamPool[] pools = new UpstreamPool[nodes];
    for (int n = 0; n < nodes; n++) {
      pools[n] =
          EmbeddedUpstreams.pool(nodeList.get(n), connectionsPerNode, loopChannel.eventLoop());
      for (int s = 0; s < connectionsPerNode; s++) {
        EmbeddedChannel ch = new EmbeddedChannel();
        upstreams.add(new Upstream(n, s, ch, EmbeddedUpstreams.connect(pools[n], s, ch)));
      }
    }
    LoopContext loop = new LoopContext(view, pools);
    Settings.Limits limits =
        new Settings.Limits(1000, maxOutstanding, clientBudget, globalBudget, Duration.ofHours(1));
    for (int c = 0; c < clientCount; c++) {
      List<String> reasons = new ArrayList<>();
      FrontendContext frontend =
          new FrontendContext(limits, downNodeKeys, new RecordingMetrics(reasons));
      clients.add(
          new Client(c, new EmbeddedChannel(new ClientSession(frontend, loop)), frontend, reasons));
    }
  }

  /**
   * Lets clients mix meta commands into their pipelines: {@code mg ms md} with or without {@code q}
   * and an {@code O} opaque of their own, and {@code mn} barriers.
   */
  SessionWorld withMeta() {
    meta = true;
    trace.append("with meta commands\n");
    return this;
  }

  /**
   * Makes every odd-numbered client a binary-protocol client: gets, sets and deletes in their loud
   * and quiet forms, and {@code noop} barriers, all translated to meta requests upstream.
   */
  SessionWorld withBinary() {
    binary = true;
    trace.append("odd clients speak binary\n");
    return this;
  }

  /** A world whose shape is drawn from {@code ch}. */
  static SessionWorld draw(Choices ch) {
    int[] outstanding = {1000, 2, 3, 5};
    return new SessionWorld(
        1 + ch.next(3),
        1 + ch.next(2),
        1 + ch.next(3),
        outstanding[ch.next(outstanding.length)],
        ch.percent(50) ? Settings.DownNodeKeys.MISS : Settings.DownNodeKeys.FAIL,
        ch.next(1 << 16),
        ch.percent(20) ? 100 + ch.next(1500) : 8L << 20,
        ch.percent(10) ? 100 + ch.next(2000) : 64L << 20);
  }

  // ---------------------------------------------------------------- scenarios

  /**
   * Runs a scenario of up to {@code steps} actions drawn from {@code ch}, then checks everything.
   */
  void runScenario(Choices ch, int steps) {
    try {
      for (int i = 0; i < steps; i++) {
        int pick = ch.next(100);
        if (pick < 40) {
          sendBatch(ch, false);
        } else if (pick < 85) {
          deliver(ch.next(upstreams.size()), 1 + ch.next(ch.percent(30) ? 4000 : 60));
        } else if (pick < 88) {
          probe(ch.next(upstreams.size()));
        } else if (pick < 91) {
          kill(ch.next(upstreams.size()), ch.percent(30));
        } else if (pick < 95) {
          closeClient(ch.next(clients.size()));
        } else {
          halfCloseClient(ch.next(clients.size()));
        }
      }
      settleAndCheck();
    } catch (Throwable e) {
      throw new AssertionError(e + "\n--- scenario ---\n" + trace, e);
    } finally {
      dispose();
    }
  }

  /** Only multi-key retrievals, nothing fails: each merged answer must be the one-node answer. */
  void runMergeScenario(Choices ch, int requests) {
    try {
      for (int i = 0; i < requests; i++) {
        sendBatch(ch, true);
        while (ch.percent(60)) {
          deliver(ch.next(upstreams.size()), 1 + ch.next(ch.percent(50) ? 20000 : 100));
        }
      }
      settleAndCheck();
    } catch (Throwable e) {
      throw new AssertionError(e + "\n--- scenario ---\n" + trace, e);
    } finally {
      dispose();
    }
  }

  private void sendBatch(Choices ch, boolean retrievalsOnly) {
    Client c = clients.get(ch.next(clients.size()));
    if (c.closed || c.halfClosed || c.quit || c.evicted) {
      return;
    }
    int n = 1 + ch.next(3);
    ByteArrayOutputStream wire = new ByteArrayOutputStream();
    for (int i = 0; i < n; i++) {
      Req r = retrievalsOnly ? retrieval(ch, c, Kind.values()[ch.next(4)], true) : request(ch, c);
      // Whatever follows a quit is dropped unread, as memcached does.
      r.afterQuit = c.quit;
      c.quit |= r.kind == Kind.QUIT;
      c.requests.add(r);
      wire.writeBytes(r.wire);
      trace.append("client ").append(c.id).append(" sends ").append(r).append('\n');
    }
    byte[] bytes = wire.toByteArray();
    if (ch.percent(30) && bytes.length > 1) {
      // Split anywhere, even inside a value: the session must wait for the rest.
      int at = 1 + ch.next(bytes.length - 1);
      write(c, Arrays.copyOfRange(bytes, 0, at));
      write(c, Arrays.copyOfRange(bytes, at, bytes.length));
    } else {
      write(c, bytes);
    }
  }

  private Req request(Choices ch, Client c) {
    if (binary && c.id % 2 == 1) {
      return binaryRequest(ch, c);
    }
    if (meta && ch.percent(40)) {
      return metaRequest(ch, c);
    }
    int pick = ch.next(100);
    if (pick < 35) {
      return retrieval(ch, c, Kind.values()[ch.next(4)], longLines && ch.percent(10));
    }
    int seq = c.requests.size();
    String key = "c" + c.id + "s" + seq;
    boolean noreply = ch.percent(40);
    if (pick < 55) {
      String value = "v" + c.id + "." + seq + (ch.percent(20) ? "\r\nEND\r\n" : "");
      return new Req(
          c.id,
          seq,
          Kind.SET,
          List.of(key),
          noreply,
          ascii(
              "set "
                  + key
                  + " 0 0 "
                  + value.length()
                  + (noreply ? " noreply" : "")
                  + "\r\n"
                  + value
                  + "\r\n"));
    } else if (pick < 67) {
      return new Req(
          c.id,
          seq,
          Kind.DELETE,
          List.of(key),
          noreply,
          ascii("delete " + key + (noreply ? " noreply" : "") + "\r\n"));
    } else if (pick < 79) {
      return new Req(c.id, seq, Kind.INCR, List.of(key), false, ascii("incr " + key + " 7\r\n"));
    } else if (pick < 87) {
      return new Req(
          c.id,
          seq,
          Kind.FLUSH_ALL,
          List.of(),
          noreply,
          ascii("flush_all " + flushId(c.id, seq) + (noreply ? " noreply" : "") + "\r\n"));
    } else if (pick < 90) {
      return new Req(c.id, seq, Kind.VERSION, List.of(), false, ascii("version\r\n"));
    } else if (pick < 94) {
      String value = "z".repeat((int) ITEM_SIZE_MAX + 1 + ch.next(10));
      return new Req(
          c.id,
          seq,
          Kind.SET_TOO_LARGE,
          List.of(key),
          noreply,
          ascii(
              "set "
                  + key
                  + " 0 0 "
                  + value.length()
                  + (noreply ? " noreply" : "")
                  + "\r\n"
                  + value
                  + "\r\n"));
    } else if (pick < 96) {
      return new Req(
          c.id,
          seq,
          Kind.VERBOSITY,
          List.of(),
          noreply,
          ascii("verbosity 1" + (noreply ? " noreply" : "") + "\r\n"));
    } else if (pick < 98) {
      return new Req(c.id, seq, Kind.QUIT, List.of(), false, ascii("quit\r\n"));
    }
    return new Req(c.id, seq, Kind.BOGUS, List.of(), false, ascii("bogus\r\n"));
  }

  private static final int[] GET_OPCODES = {0x00, 0x09, 0x0c, 0x0d};

  /** A binary request with an opaque only it uses; quiet forms as often as loud ones. */
  private Req binaryRequest(Choices ch, Client c) {
    int seq = c.requests.size();
    String key = "c" + c.id + "s" + seq;
    int opaque = c.id * 100_000 + seq;
    int pick = ch.next(100);
    Kind kind;
    int opcode;
    byte[] extras = new byte[0];
    byte[] value = new byte[0];
    if (pick < 40) {
      kind = Kind.B_GET;
      opcode = GET_OPCODES[ch.next(4)];
    } else if (pick < 65) {
      kind = Kind.B_SET;
      opcode = ch.percent(50) ? 0x01 : 0x11;
      extras = java.nio.ByteBuffer.allocate(8).putInt(seq).putInt(0).array();
      value = ascii("m" + c.id + "." + seq + (ch.percent(20) ? "\r\nHD\r\n" : ""));
    } else if (pick < 85) {
      kind = Kind.B_DELETE;
      opcode = ch.percent(50) ? 0x04 : 0x14;
    } else {
      kind = Kind.B_NOOP;
      opcode = 0x0a;
      key = null;
    }
    byte[] k = key == null ? new byte[0] : ascii(key);
    java.nio.ByteBuffer b =
        java.nio.ByteBuffer.allocate(24 + extras.length + k.length + value.length)
            .put((byte) 0x80)
            .put((byte) opcode)
            .putShort((short) k.length)
            .put((byte) extras.length)
            .put((byte) 0)
            .putShort((short) 0)
            .putInt(extras.length + k.length + value.length)
            .putInt(opaque)
            .putLong(0)
            .put(extras)
            .put(k)
            .put(value);
    Req r = new Req(c.id, seq, kind, key == null ? List.of() : List.of(key), false, b.array());
    r.opcode = opcode;
    r.binaryOpaque = opaque;
    r.quiet = opcode == 0x09 || opcode == 0x0d || opcode == 0x11 || opcode == 0x14;
    return r;
  }

  /** A meta request; its opaque, if any, is one only this request uses, so a mix-up shows. */
  private Req metaRequest(Choices ch, Client c) {
    int seq = c.requests.size();
    String key = "c" + c.id + "s" + seq;
    Kind kind = new Kind[] {Kind.MG, Kind.MG, Kind.MS, Kind.MD, Kind.MN}[ch.next(5)];
    if (kind == Kind.MN) {
      return new Req(c.id, seq, kind, List.of(), false, ascii("mn\r\n"));
    }
    boolean quiet = ch.percent(50);
    String opaque =
        ch.percent(60) ? "O" + (ch.percent(50) ? "" + (c.id * 1000 + seq) : "x" + seq) : null;
    List<String> flags = new ArrayList<>();
    if (kind == Kind.MG) {
      flags.add("v");
      if (ch.percent(30)) {
        flags.add("f");
      }
    }
    if (kind == Kind.MS && ch.percent(30)) {
      flags.add("T0");
    }
    if (quiet) {
      flags.add(ch.next(flags.size() + 1), "q");
    }
    if (opaque != null) {
      flags.add(ch.next(flags.size() + 1), opaque);
    }
    StringBuilder line = new StringBuilder(kind.name().toLowerCase(Locale.ROOT)).append(' ');
    line.append(key);
    String value = null;
    if (kind == Kind.MS) {
      value = "m" + c.id + "." + seq + (ch.percent(20) ? "\r\nHD\r\n" : "");
      line.append(' ').append(value.length());
    }
    for (String f : flags) {
      line.append(' ').append(f);
    }
    line.append("\r\n");
    if (value != null) {
      line.append(value).append("\r\n");
    }
    Req r = new Req(c.id, seq, kind, List.of(key), false, ascii(line.toString()));
    r.quiet = quiet;
    r.opaque = opaque;
    return r;
  }

  private Req retrieval(Choices ch, Client c, Kind kind, boolean longKeys) {
    int seq = c.requests.size();
    // Up to 300 keys, two thirds of them near 250 bytes: a get line past 16 KiB is split.
    int count = longKeys ? 1 + ch.next(300) : 1 + ch.next(8);
    List<String> keys = new ArrayList<>(count);
    StringBuilder line = new StringBuilder(kind.command.name().toLowerCase(Locale.ROOT));
    int exptime = 0;
    if (kind == Kind.GAT || kind == Kind.GATS) {
      exptime = ch.percent(20) ? -1 - ch.next(1000) : ch.next(100_000);
      line.append(' ').append(exptime);
    }
    // memcached closes a connection on a gat line past 2048 bytes, so clients keep under it.
    int lineLimit = exptime != 0 || kind == Kind.GAT || kind == Kind.GATS ? 2049 : 1 << 20;
    for (int i = 0; i < count; i++) {
      // Few distinct keys per request, so duplicates are common; long ones force line splits.
      int k = ch.next(longKeys ? 40 : 6);
      String key = "c" + c.id + "s" + seq + "k" + k;
      if (longKeys && k % 3 != 0) {
        key += "x".repeat(230 + k % 10);
      }
      if (!keys.isEmpty() && line.length() + 1 + key.length() + 2 > lineLimit) {
        break;
      }
      keys.add(key);
      line.append(' ').append(key);
    }
    line.append("\r\n");
    Req r = new Req(c.id, seq, kind, keys, false, ascii(line.toString()));
    r.exptime = exptime;
    return r;
  }

  // ---------------------------------------------------------------- actions

  private void write(Client c, byte[] bytes) {
    if (!c.channel.isActive()) {
      // The first piece held a quit that has already closed the connection, or the client
      // went past a buffer budget.
      assertTrue(c.quit || c.evicted, "client " + c.id + " was closed by mcmux: " + c.reasons);
      return;
    }
    c.channel.writeInbound(Unpooled.wrappedBuffer(bytes));
    pump();
  }

  private void deliver(int index, int bytes) {
    Upstream u = upstreams.get(index);
    if (u.killed || !u.toSend.isReadable()) {
      return;
    }
    int n = Math.min(bytes, u.toSend.readableBytes());
    trace.append("node ").append(u.node).append('#').append(u.slot).append(" answers ");
    trace.append(n).append(" bytes\n");
    ByteBuf piece = Unpooled.buffer(n).writeBytes(u.toSend, n);
    u.toSend.discardReadBytes();
    u.delivered += n;
    u.channel.writeInbound(piece);
    while (!u.pending.isEmpty() && u.pending.peekFirst().end <= u.delivered) {
      Part p = u.pending.pollFirst();
      p.done = true;
      if (p.req != null) {
        p.req.events.add(new Event(p, null));
      }
    }
    pump();
  }

  /**
   * Ends a connection: the server goes away, or (when {@code timeout}) its watchdog gives up on the
   * head request, as {@code UpstreamConnection.checkTimers} does.
   */
  private void kill(int index, boolean timeout) {
    Upstream u = upstreams.get(index);
    if (u.killed) {
      return;
    }
    trace.append(u).append(timeout ? " times out\n" : " dies\n");
    u.killed = true;
    // mcmux fails the pending requests in their FIFO order.
    for (Part p : u.pending) {
      p.done = true;
      if (p.req != null) {
        p.req.events.add(new Event(p, timeout ? TIMEOUT : LOST));
      }
    }
    u.pending.clear();
    if (timeout) {
      u.conn.close("request timed out after 1000 ms");
    } else {
      u.channel.close();
    }
    pump();
  }

  /** The connection's watchdog probe: one more request in its FIFO that belongs to no client. */
  private void probe(int index) {
    Upstream u = upstreams.get(index);
    if (u.killed) {
      return;
    }
    trace.append(u).append(" probed\n");
    EmbeddedUpstreams.probe(u.conn);
    pump();
  }

  private void closeClient(int index) {
    Client c = clients.get(index);
    if (c.closed) {
      return;
    }
    trace.append("client ").append(c.id).append(" leaves\n");
    c.closed = true;
    c.channel.close();
    pump();
  }

  private void halfCloseClient(int index) {
    Client c = clients.get(index);
    if (c.closed || c.halfClosed) {
      return;
    }
    trace.append("client ").append(c.id).append(" half-closes\n");
    c.halfClosed = true;
    c.channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    pump();
  }

  /**
   * Runs every queued event-loop task (the upstream flushes), lets the memcached double read what
   * was written, and collects what each client was sent, until nothing moves.
   */
  private void pump() {
    for (int round = 0; round < 1000; round++) {
      loopChannel.runPendingTasks();
      for (Client c : clients) {
        c.channel.runPendingTasks();
      }
      boolean moved = false;
      for (Upstream u : upstreams) {
        u.channel.runPendingTasks();
        for (Object m; (m = u.channel.readOutbound()) != null; ) {
          ByteBuf b = (ByteBuf) m;
          u.written.writeBytes(b);
          b.release();
          moved = true;
        }
        u.readRequests();
        if (!u.killed) {
          assertTrue(u.conn.isUsable(), "mcmux closed " + u + ": " + u.conn.closeReason());
        }
      }
      for (Client c : clients) {
        if (!c.closed && !c.evicted && !c.channel.isActive()) {
          closedByMcmux(c);
        }
        for (Object m; (m = c.channel.readOutbound()) != null; ) {
          ByteBuf b = (ByteBuf) m;
          c.received.writeBytes(ByteBufUtil.getBytes(b));
          b.release();
        }
      }
      if (!moved) {
        return;
      }
    }
    fail("the event loops never went idle");
  }

  /**
   * A client mcmux closed: after its quit or half-close that is the end of its answers; after it
   * went past a buffer budget it is legitimately cut off, and only the others are checked.
   */
  private void closedByMcmux(Client c) {
    if (c.reasons.contains("client_budget") || c.reasons.contains("global_budget")) {
      c.evicted = true;
      count("budget-close");
      trace.append("client ").append(c.id).append(" closed by mcmux: ").append(c.reasons);
      trace.append('\n');
    } else if (!c.halfClosed && !c.quit) {
      fail("mcmux closed client " + c.id + ": " + c.reasons);
    }
  }

  /** Remembers why one client was closed, so an unexpected close names its reason. */
  private static final class RecordingMetrics implements ProxyMetrics {
    private final List<String> reasons;

    RecordingMetrics(List<String> reasons) {
      this.reasons = reasons;
    }

    @Override
    public void nudge() {}

    @Override
    public void clientOpened() {}

    @Override
    public void clientClosed(String reason) {
      reasons.add(reason);
    }

    @Override
    public void request(int command, Result result, long nanos) {}

    @Override
    public void bytes(Direction direction, long count) {}

    @Override
    public void handshake(String node, boolean success, boolean resumed, long nanos) {}

    @Override
    public void reload(boolean success) {}

    @Override
    public void pendingDelta(int delta) {}

    @Override
    public void downNodeMisses(int keys) {}
  }

  // ---------------------------------------------------------------- memcached double

  private final class Upstream {
    final int node;
    final int slot;
    final EmbeddedChannel channel;
    final UpstreamConnection conn;
    final AsciiRequestDecoder decoder = new AsciiRequestDecoder(Long.MAX_VALUE, Integer.MAX_VALUE);
    final ByteBuf written = Unpooled.buffer();
    final ByteBuf toSend = Unpooled.buffer();
    final ArrayDeque<Part> pending = new ArrayDeque<>();
    long queued;
    long delivered;
    boolean killed;

    Upstream(int node, int slot, EmbeddedChannel channel, UpstreamConnection conn) {
      this.node = node;
      this.slot = slot;
      this.channel = channel;
      this.conn = conn;
    }

    /** Reads each complete request mcmux wrote and queues memcached's answer to it. */
    void readRequests() {
      while (written.isReadable()) {
        DecodeResult r = decoder.decode(written);
        if (r instanceof DecodeResult.NeedMore) {
          break;
        }
        if (r instanceof DecodeResult.Meta m) {
          MetaRequest q = m.request();
          try {
            assertEquals(null, m.replyInstead(), "not a request: " + r);
            acceptMeta(q);
          } finally {
            q.release();
          }
          continue;
        }
        if (!(r instanceof DecodeResult.Request req)) {
          fail("mcmux wrote upstream what memcached does not take as a request: " + r);
          return;
        }
        AsciiRequest q = req.request();
        try {
          // Invariant 2: every frame written upstream expects exactly one answer.
          assertFalse(q.noreply(), "noreply forwarded upstream");
          accept(q);
        } finally {
          q.release();
        }
      }
      written.discardReadBytes();
    }

    private void accept(AsciiRequest q) {
      if (q.command() == Command.VERSION) {
        // mcmux's own probe; the version it reports is what local version answers say.
        byte[] answer = ascii("VERSION " + view.nodes().get(0).version() + "\r\n");
        toSend.writeBytes(answer);
        queued += answer.length;
        Part probe = new Part(null, this, List.of());
        probe.end = queued;
        pending.addLast(probe);
        return;
      }
      Req req = owner(q);
      assertFalse(req.afterQuit, req + " came after a quit, yet it was forwarded");
      if (q.command() == Command.GAT || q.command() == Command.GATS) {
        assertEquals(req.exptime, q.exptime(), "exptime of " + req);
      }
      Part p = new Part(req, this, keyStrings(q));
      checkPinned(req);
      req.parts.add(p);
      byte[] answer = answer(q, req);
      toSend.writeBytes(answer);
      queued += answer.length;
      p.end = queued;
      pending.addLast(p);
    }

    /**
     * A meta request as memcached reads it: never quiet and never {@code mn} (mcmux keeps both to
     * itself), tagged with mcmux's opaque, which the answer echoes as memcached does.
     */
    private void acceptMeta(MetaRequest q) {
      assertFalse(q.quiet(), "q forwarded upstream");
      assertTrue(q.command() != Command.MN, "mn forwarded upstream");
      assertTrue(q.opaque() != null && q.opaque().length > 1 && q.opaque()[0] == 'O', "no tag");
      String tag = new String(q.opaque(), StandardCharsets.US_ASCII).substring(1);
      String id = new String(q.routingKey(), StandardCharsets.US_ASCII);
      int s = id.indexOf('s');
      Req req =
          clients
              .get(Integer.parseInt(id.substring(1, s)))
              .requests
              .get(Integer.parseInt(id.substring(s + 1)));
      assertEquals(req.kind.command, q.command(), "upstream command of " + req);
      assertFalse(req.afterQuit, req + " came after a quit, yet it was forwarded");
      for (int i = 0; i < q.flagCount(); i++) {
        String f = new String(q.flag(i), StandardCharsets.US_ASCII);
        assertFalse(f.startsWith("O") || f.equals("q"), "client's " + f + " forwarded");
      }
      if (req.kind == Kind.MS) {
        String value = new String(ByteBufUtil.getBytes(q.value()), StandardCharsets.US_ASCII);
        assertEquals("m" + req.client + "." + req.seq, value.replace("\r\nHD\r\n", ""));
      }
      Part p = new Part(req, this, List.of(id));
      p.tag = tag;
      checkPinned(req);
      req.parts.add(p);
      byte[] answer = metaAnswer(req, tag);
      toSend.writeBytes(answer);
      queued += answer.length;
      p.end = queued;
      pending.addLast(p);
    }

    /** Invariant 3: while a client has requests outstanding at a node, it uses one connection. */
    private void checkPinned(Req req) {
      for (Req other : clients.get(req.client).requests) {
        for (Part o : other.parts) {
          if (o.upstream.node == node && !o.done && o.upstream != this) {
            fail(
                "client "
                    + req.client
                    + " has "
                    + other
                    + " outstanding on "
                    + o.upstream
                    + " yet "
                    + req
                    + " went to "
                    + this);
          }
        }
      }
    }

    /**
     * memcached's answer to a meta request, a pure function of the request and its tag: hits,
     * misses, not-stored and errors (which carry no opaque), the tag anywhere among the flags, and
     * values that look like meta lines.
     */
    byte[] metaAnswer(Req r, String tag) {
      String key = r.keys.get(0);
      int h = hash("meta" + key);
      String o = "O" + tag;
      String line =
          switch (r.kind) {
            case MG, B_GET -> {
              int v = h % 8;
              String cas = r.kind == Kind.B_GET ? " c" + (h % 1000 + 1) : "";
              if (v < 4) {
                String data = "d" + key + (v == 0 ? "\r\nEN\r\n" : "");
                yield (h % 3 == 0
                        ? "VA " + data.length() + " " + o + " f" + v + cas
                        : "VA " + data.length() + " f" + v + cas + " " + o)
                    + "\r\n"
                    + data;
              }
              // A binary get asks for the value, so a hit is never HD.
              yield v < 6 || (v == 6 && r.kind == Kind.B_GET)
                  ? "EN " + o
                  : v == 6 ? "HD " + o + " f1" : "SERVER_ERROR out of memory";
            }
            case MS, B_SET -> {
              int v = h % 8;
              String cas = r.kind == Kind.B_SET ? " c" + (h % 1000 + 1) : "";
              yield v < 5
                  ? "HD " + o + cas
                  : v == 5 ? "NS " + o : v == 6 ? "EX c7 " + o : "CLIENT_ERROR bad data chunk";
            }
            case MD, B_DELETE -> {
              int v = h % 8;
              yield v < 4
                  ? "HD " + o
                  : v < 6 ? "NF " + o : v == 6 ? "EX " + o : "SERVER_ERROR busy";
            }
            default -> fail("no meta answer for " + r);
          };
      return ascii(line + "\r\n");
    }

    /** The client request an upstream line belongs to, from its key or flush_all delay. */
    private Req owner(AsciiRequest q) {
      if (q.command() == Command.FLUSH_ALL) {
        assertTrue(q.hasDelay(), "flush_all lost its delay");
        int e = q.exptime();
        return clients.get(e / 100_000).requests.get(e % 100_000);
      }
      String id = new String(q.keys().get(0), StandardCharsets.US_ASCII);
      int s = id.indexOf('s');
      int k = id.indexOf('k');
      int c = Integer.parseInt(id.substring(1, s));
      int seq = Integer.parseInt(id.substring(s + 1, k < 0 ? id.length() : k));
      Req r = clients.get(c).requests.get(seq);
      assertEquals(r.kind.command, q.command(), "upstream command of " + r);
      return r;
    }

    private byte[] answer(AsciiRequest q, Req r) {
      return switch (q.command()) {
        case GET, GETS, GAT, GATS -> {
          ByteArrayOutputStream out = new ByteArrayOutputStream();
          for (byte[] k : q.keys()) {
            String key = new String(k, StandardCharsets.US_ASCII);
            if (hit(key)) {
              out.writeBytes(valueBlock(q.command(), key));
            }
          }
          out.writeBytes(ascii("END\r\n"));
          yield out.toByteArray();
        }
        case SET -> {
          int h = hash(r.keys.get(0)) % 8;
          yield ascii(
              h < 5
                  ? "STORED\r\n"
                  : h == 5
                      ? "NOT_STORED\r\n"
                      : h == 6 ? "SERVER_ERROR out of memory storing object\r\n" : "ERROR\r\n");
        }
        case DELETE -> {
          int h = hash(r.keys.get(0)) % 8;
          yield ascii(h < 5 ? "DELETED\r\n" : h < 7 ? "NOT_FOUND\r\n" : "ERROR\r\n");
        }
        case INCR -> {
          int h = hash(r.keys.get(0)) % 4;
          yield ascii(
              h == 0
                  ? "NOT_FOUND\r\n"
                  : h == 1
                      ? "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                      : (r.client * 100_000 + r.seq) + "\r\n");
        }
        case FLUSH_ALL ->
            ascii(hash("flush" + r + node) % 5 == 0 ? "SERVER_ERROR flush refused\r\n" : "OK\r\n");
        default -> {
          fail("unexpected upstream command " + q.command());
          yield null;
        }
      };
    }

    @Override
    public String toString() {
      return "node" + node + "#" + slot;
    }
  }

  private static List<String> keyStrings(AsciiRequest q) {
    List<String> keys = new ArrayList<>();
    for (byte[] k : q.keys()) {
      keys.add(new String(k, StandardCharsets.US_ASCII));
    }
    return keys;
  }

  private static int flushId(int client, int seq) {
    return client * 100_000 + seq;
  }

  private int hash(String s) {
    int h = s.hashCode() * 0x9E3779B1 + salt;
    h ^= h >>> 15;
    h *= 0x85EBCA6B;
    h ^= h >>> 13;
    return h & 0x7FFFFFFF;
  }

  private boolean hit(String key) {
    return hash(key) % 4 != 0;
  }

  /** The VALUE block memcached sends for {@code key}; some values look like protocol lines. */
  private byte[] valueBlock(Command c, String key) {
    int h = hash("value" + key);
    String data = key.substring(0, Math.min(key.length(), 12)) + "=" + "d".repeat(h % 20);
    if (h % 7 == 0) {
      data += "\r\nEND\r\nVALUE x 0 1\r\n";
    }
    boolean cas = c == Command.GETS || c == Command.GATS;
    return ascii(
        "VALUE "
            + key
            + " "
            + (h % 65536)
            + " "
            + data.length()
            + (cas ? " " + (h % 100_000) : "")
            + "\r\n"
            + data
            + "\r\n");
  }

  // ---------------------------------------------------------------- clients and requests

  private static final class Client {
    final int id;
    final EmbeddedChannel channel;
    final FrontendContext frontend;
    final List<String> reasons;
    boolean evicted;
    final List<Req> requests = new ArrayList<>();
    final ByteArrayOutputStream received = new ByteArrayOutputStream();
    boolean closed;
    boolean halfClosed;
    boolean quit;

    Client(int id, EmbeddedChannel channel, FrontendContext frontend, List<String> reasons) {
      this.id = id;
      this.channel = channel;
      this.frontend = frontend;
      this.reasons = reasons;
    }
  }

  /** One client request and what became of it upstream. */
  private static final class Req {
    final int client;
    final int seq;
    final Kind kind;
    final List<String> keys;
    final boolean noreply;
    final byte[] wire;

    /** The exptime of a gat or gats, else 0. */
    int exptime;

    /** Sent after a quit in the same connection: must never be read. */
    boolean afterQuit;

    /** A meta request's quiet mode and the client's own opaque token (null if none). */
    boolean quiet;

    /** A binary request's opcode and opaque. */
    int opcode;

    int binaryOpaque;

    String opaque;

    /** Each upstream line written for it, in the order memcached read them. */
    final List<Part> parts = new ArrayList<>();

    /** How its parts ended, in the order mcmux learned of it. */
    final List<Event> events = new ArrayList<>();

    Req(int client, int seq, Kind kind, List<String> keys, boolean noreply, byte[] wire) {
      this.client = client;
      this.seq = seq;
      this.kind = kind;
      this.keys = keys;
      this.noreply = noreply;
      this.wire = wire;
    }

    @Override
    public String toString() {
      String w = new String(wire, StandardCharsets.US_ASCII).replace("\r\n", "\\r\\n");
      return "#" + seq + " " + (w.length() > 120 ? w.substring(0, 120) + "..." : w);
    }
  }

  /** One line memcached read for a request: a part of a split get, or the whole request. */
  private static final class Part {
    final Req req;
    final Upstream upstream;
    final List<String> keys;
    long end;
    boolean done;

    /** mcmux's opaque on a meta request's upstream line. */
    String tag;

    Part(Req req, Upstream upstream, List<String> keys) {
      this.req = req;
      this.upstream = upstream;
      this.keys = keys;
    }
  }

  /** A part's end as mcmux saw it: its whole answer arrived, or {@code failure} was made up. */
  private record Event(Part part, String failure) {}

  // ---------------------------------------------------------------- the end, and the oracle

  private void settleAndCheck() {
    trace.append("settle\n");
    for (int round = 0; ; round++) {
      assertTrue(round < 10_000, "answers never settle");
      boolean any = false;
      for (int i = 0; i < upstreams.size(); i++) {
        Upstream u = upstreams.get(i);
        if (!u.killed && u.toSend.isReadable()) {
          deliver(i, u.toSend.readableBytes());
          any = true;
        }
      }
      if (!any) {
        break;
      }
    }
    for (Upstream u : upstreams) {
      if (!u.killed) {
        assertTrue(u.pending.isEmpty(), u + " still owes answers");
        assertEquals(0, u.conn.pendingCount(), u + " still waits for answers");
      }
    }
    for (Client c : clients) {
      // Every byte held for a client is given back, whether or not it stayed.
      assertEquals(0, c.frontend.budget().used(), "bytes still charged for client " + c.id);
      if (c.closed || c.evicted) {
        continue;
      }
      ByteArrayOutputStream expected = new ByteArrayOutputStream();
      for (Req r : c.requests) {
        expected.writeBytes(expected(r));
      }
      assertEquals(
          new String(expected.toByteArray(), StandardCharsets.ISO_8859_1),
          new String(c.received.toByteArray(), StandardCharsets.ISO_8859_1),
          "client " + c.id + " did not get exactly its answers in its order");
      if (c.halfClosed || c.quit) {
        assertFalse(c.channel.isActive(), "client " + c.id + " not closed after its last answer");
      } else {
        assertTrue(c.channel.isActive(), "client " + c.id + " was closed");
      }
    }
  }

  private boolean nodeAlive(int node) {
    for (Upstream u : upstreams) {
      if (u.node == node && !u.killed) {
        return true;
      }
    }
    return false;
  }

  /** What memcached, holding every key, would have answered, given what happened upstream. */
  private byte[] expected(Req r) {
    byte[] e = expectedAnswer(r);
    String kind = r.afterQuit ? "after-quit" : r.kind.name().toLowerCase(Locale.ROOT);
    count(kind);
    for (Event ev : r.events) {
      if (ev.failure != null) {
        count(ev.failure.equals(TIMEOUT) ? "timeout" : "connection-lost");
      }
    }
    if (new String(e, StandardCharsets.ISO_8859_1).equals(NO_UPSTREAM)) {
      count("no-upstream");
    }
    if (r.noreply && e.length == 0) {
      count("noreply-silent");
    }
    if (r.kind.command != null && r.kind.command.isRetrieval() && r.parts.size() > 1) {
      count("merged");
      if (r.parts.stream().map(p -> p.upstream.node).distinct().count() < r.parts.size()) {
        count("line-split-" + r.kind.name().toLowerCase(Locale.ROOT));
      }
    }
    return e;
  }

  private static void count(String what) {
    CHECKED.merge(what, 1, Integer::sum);
  }

  private byte[] expectedAnswer(Req r) {
    if (r.afterQuit) {
      return new byte[0];
    }
    switch (r.kind) {
      case VERSION:
        return ascii("VERSION " + view.nodes().get(0).version() + "\r\n");
      case BOGUS:
        return ascii("ERROR\r\n");
      case VERBOSITY:
        return r.noreply ? new byte[0] : OK;
      case QUIT:
        return new byte[0];
      case SET_TOO_LARGE:
        // Whatever became of the delete, the client hears only the too-large error.
        assertTrue(r.parts.size() <= 1, r + " deleted more than once");
        assertTrue(!r.parts.isEmpty() || !nodeAlive(nodeOf(r.keys.get(0))), r + " never deleted");
        return r.noreply ? new byte[0] : ascii("SERVER_ERROR object too large for cache\r\n");
      case GET, GETS, GAT, GATS:
        return passesThrough(r) ? single(r) : merged(r);
      case FLUSH_ALL:
        return view.size() == 1 ? single(r) : broadcast(r);
      case MN:
        assertTrue(r.parts.isEmpty(), r + " was forwarded");
        return ascii("MN\r\n");
      case MG, MS, MD:
        return metaExpected(r);
      case B_NOOP:
        assertTrue(r.parts.isEmpty(), r + " was forwarded");
        count("binary-noop");
        return binaryPacket(r, 0, new byte[0], new byte[0], new byte[0], 0);
      case B_GET, B_SET, B_DELETE:
        return binaryExpected(r);
      default:
        return single(r);
    }
  }

  /** Whether ClientSession forwards a retrieval as it is rather than split and merge it. */
  private boolean passesThrough(Req r) {
    List<byte[]> keys = new ArrayList<>();
    for (String k : r.keys) {
      keys.add(ascii(k));
    }
    int first = view.nodeFor(keys.get(0));
    for (byte[] k : keys) {
      if (view.nodeFor(k) != first) {
        return false;
      }
    }
    return AsciiRequestEncoder.retrievalLineLength(r.kind.command, r.exptime, keys, 0, keys.size())
        <= AsciiRequestEncoder.maxUpstreamLineBytes(r.kind.command);
  }

  private int nodeOf(String key) {
    return view.nodeFor(ascii(key));
  }

  /** A request with one upstream line, answered as it is (minus what noreply hides). */
  private byte[] single(Req r) {
    assertTrue(r.parts.size() <= 1, r + " was sent upstream " + r.parts.size() + " times");
    if (r.parts.isEmpty()) {
      int node = r.keys.isEmpty() ? 0 : nodeOf(r.keys.get(0));
      assertFalse(nodeAlive(node), r + " never reached node " + node + ", which is up");
      return r.noreply ? new byte[0] : ascii(NO_UPSTREAM);
    }
    assertEquals(1, r.events.size(), r + " did not end exactly once");
    Event e = r.events.get(0);
    if (e.failure != null) {
      return r.noreply ? new byte[0] : ascii(e.failure);
    }
    byte[] answer = answerOf(e.part);
    if (r.noreply && NoReplyFilter.suppressed(r.kind.command, Unpooled.wrappedBuffer(answer))) {
      return new byte[0];
    }
    return answer;
  }

  /**
   * A meta request's answer as memcached would give it to this client: the upstream answer with
   * mcmux's tag replaced by the client's opaque (or dropped), and nothing where quiet mode hides a
   * nominal answer ({@code EN} for mg, {@code HD} for ms and md). Failures are errors, which quiet
   * mode never hides.
   */
  private byte[] metaExpected(Req r) {
    assertTrue(r.parts.size() <= 1, r + " was sent upstream " + r.parts.size() + " times");
    if (r.parts.isEmpty()) {
      int node = nodeOf(r.keys.get(0));
      assertFalse(nodeAlive(node), r + " never reached node " + node + ", which is up");
      return ascii(NO_UPSTREAM);
    }
    assertEquals(1, r.events.size(), r + " did not end exactly once");
    Event e = r.events.get(0);
    if (e.failure != null) {
      return ascii(e.failure);
    }
    Part p = e.part;
    String answer = new String(p.upstream.metaAnswer(r, p.tag), StandardCharsets.ISO_8859_1);
    int lf = answer.indexOf("\r\n");
    String first = answer.substring(0, lf);
    String rest = answer.substring(lf);
    String o = " O" + p.tag;
    if (first.contains(o)) {
      first = first.replace(o, r.opaque == null ? "" : " " + r.opaque);
    }
    String status = first.substring(0, 2);
    boolean hidden =
        r.quiet
            && ((r.kind == Kind.MG && status.equals("EN"))
                || (r.kind != Kind.MG && status.equals("HD")));
    if (hidden) {
      count("meta-quiet-hidden");
      return new byte[0];
    }
    if (r.opaque != null) {
      count("meta-opaque");
    }
    return ascii(first + rest);
  }

  /**
   * A binary request's answer as memcached's binary protocol gives it, from the meta answer its
   * translation got: hits with flags, CAS and value (and the key for getk), misses (silent for
   * getq/getkq), success (silent for setq/deleteq), errors by status, and mcmux's temporary failure
   * (0x86 with the reason) when no answer could be had.
   */
  private byte[] binaryExpected(Req r) {
    assertTrue(r.parts.size() <= 1, r + " was sent upstream " + r.parts.size() + " times");
    String failure = null;
    if (r.parts.isEmpty()) {
      int node = nodeOf(r.keys.get(0));
      assertFalse(nodeAlive(node), r + " never reached node " + node + ", which is up");
      failure = NO_UPSTREAM;
    } else {
      assertEquals(1, r.events.size(), r + " did not end exactly once");
      failure = r.events.get(0).failure;
    }
    if (failure != null) {
      count("binary-failure");
      return binaryError(r, 0x86, failure.strip());
    }
    Part p = r.events.get(0).part;
    String answer = new String(p.upstream.metaAnswer(r, p.tag), StandardCharsets.ISO_8859_1);
    int lf = answer.indexOf("\r\n");
    String first = answer.substring(0, lf);
    String[] words = first.split(" ");
    String status = words[0];
    boolean getk = r.opcode == 0x0c || r.opcode == 0x0d;
    byte[] key = ascii(r.keys.get(0));
    if (first.startsWith("SERVER_ERROR out of memory")) {
      return binaryError(r, 0x82, "Out of memory");
    }
    if (status.endsWith("_ERROR") || status.equals("ERROR")) {
      return binaryError(r, 0x86, first);
    }
    long cas = 0;
    int flags = 0;
    for (String w : words) {
      if (w.startsWith("c") && w.length() > 1) {
        cas = Long.parseLong(w.substring(1));
      } else if (w.startsWith("f") && w.length() > 1) {
        flags = Integer.parseInt(w.substring(1));
      }
    }
    switch (r.kind) {
      case B_GET -> {
        if (status.equals("EN")) {
          if (r.quiet) {
            count("binary-quiet-hidden");
            return new byte[0];
          }
          return getk
              ? binaryPacket(r, 0x01, new byte[0], key, new byte[0], 0)
              : binaryError(r, 0x01, "Not found");
        }
        assertEquals("VA", status, r + ": the double answered a binary get with " + first);
        int length = Integer.parseInt(words[1]);
        byte[] value = ascii(answer.substring(lf + 2, lf + 2 + length));
        byte[] extras = java.nio.ByteBuffer.allocate(4).putInt(flags).array();
        return binaryPacket(r, 0, extras, getk ? key : new byte[0], value, cas);
      }
      case B_SET -> {
        return switch (status) {
          case "HD" -> hiddenOr(r, binaryPacket(r, 0, new byte[0], new byte[0], new byte[0], cas));
          case "NS" -> binaryError(r, 0x05, "Not stored.");
          case "EX" -> binaryError(r, 0x02, "Data exists for key.");
          default -> fail(r + ": " + first);
        };
      }
      default -> {
        return switch (status) {
          case "HD" -> hiddenOr(r, binaryPacket(r, 0, new byte[0], new byte[0], new byte[0], 0));
          case "NF" -> binaryError(r, 0x01, "Not found");
          case "EX" -> binaryError(r, 0x02, "Data exists for key.");
          default -> fail(r + ": " + first);
        };
      }
    }
  }

  private static byte[] hiddenOr(Req r, byte[] packet) {
    if (r.quiet) {
      count("binary-quiet-hidden");
      return new byte[0];
    }
    return packet;
  }

  private static byte[] binaryError(Req r, int status, String text) {
    return binaryPacket(r, status, new byte[0], new byte[0], ascii(text), 0);
  }

  /** A response packet laid out as memcached lays it out (datatype 0). */
  private static byte[] binaryPacket(
      Req r, int status, byte[] extras, byte[] key, byte[] value, long cas) {
    return java.nio.ByteBuffer.allocate(24 + extras.length + key.length + value.length)
        .put((byte) 0x81)
        .put((byte) r.opcode)
        .putShort((short) key.length)
        .put((byte) extras.length)
        .put((byte) 0)
        .putShort((short) status)
        .putInt(extras.length + key.length + value.length)
        .putInt(r.binaryOpaque)
        .putLong(cas)
        .put(extras)
        .put(key)
        .put(value)
        .array();
  }

  /** A multi-get split by node and line length, merged back by key position. */
  private byte[] merged(Req r) {
    int nodes = view.size();
    List<List<Part>> byNode = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      byNode.add(new ArrayList<>());
    }
    for (Part p : r.parts) {
      byNode.get(p.upstream.node).add(p);
    }
    // Position k goes to the part of its node that covers it, in order.
    Part[] partOf = new Part[r.keys.size()];
    boolean unreachable = false;
    for (int n = 0; n < nodes; n++) {
      List<Integer> positions = new ArrayList<>();
      for (int k = 0; k < r.keys.size(); k++) {
        if (nodeOf(r.keys.get(k)) == n) {
          positions.add(k);
        }
      }
      if (positions.isEmpty()) {
        assertTrue(byNode.get(n).isEmpty(), r + " sent to node " + n + " which holds none of it");
        continue;
      }
      if (byNode.get(n).isEmpty()) {
        assertFalse(nodeAlive(n), r + " never reached node " + n + ", which is up");
        unreachable = true;
        continue;
      }
      int i = 0;
      for (Part p : byNode.get(n)) {
        for (String key : p.keys) {
          assertTrue(i < positions.size(), r + ": node " + n + " was asked for extra keys");
          assertEquals(r.keys.get(positions.get(i)), key, r + ": keys out of order on node " + n);
          partOf[positions.get(i++)] = p;
        }
        int lineBytes =
            AsciiRequestEncoder.retrievalLineLength(
                r.kind.command,
                r.exptime,
                p.keys.stream().map(SessionWorld::ascii).toList(),
                0,
                p.keys.size());
        assertTrue(
            lineBytes <= AsciiRequestEncoder.maxUpstreamLineBytes(r.kind.command)
                || p.keys.size() == 1,
            r + ": upstream line of " + lineBytes + " bytes");
      }
      assertEquals(positions.size(), i, r + ": node " + n + " was not asked for every key");
    }
    String failure = unreachable ? NO_UPSTREAM : null;
    for (Event e : r.events) {
      if (failure == null && e.failure != null) {
        failure = e.failure;
      }
    }
    assertEquals(r.parts.size(), r.events.size(), r + ": parts and their ends");
    if (failure != null && downNodeKeys == Settings.DownNodeKeys.FAIL) {
      return ascii(failure);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int k = 0; k < r.keys.size(); k++) {
      Part p = partOf[k];
      if (p != null && answered(p) && hit(r.keys.get(k))) {
        out.writeBytes(valueBlock(r.kind.command, r.keys.get(k)));
      }
    }
    out.writeBytes(ascii("END\r\n"));
    return out.toByteArray();
  }

  /** flush_all on several nodes: OK if all said OK, otherwise the first other answer. */
  private byte[] broadcast(Req r) {
    byte[] answer = null;
    for (int n = 0; n < view.size(); n++) {
      final int node = n;
      if (r.parts.stream().noneMatch(p -> p.upstream.node == node)) {
        assertFalse(nodeAlive(n), r + " never reached node " + n + ", which is up");
        if (answer == null) {
          answer = ascii(NO_UPSTREAM);
        }
      }
    }
    for (Event e : r.events) {
      byte[] a = e.failure != null ? ascii(e.failure) : answerOf(e.part);
      if (answer == null && !Arrays.equals(a, OK)) {
        answer = a;
      }
    }
    if (answer == null) {
      answer = OK;
    }
    if (r.noreply && NoReplyFilter.suppressed(Command.FLUSH_ALL, Unpooled.wrappedBuffer(answer))) {
      return new byte[0];
    }
    return answer;
  }

  private boolean answered(Part p) {
    for (Event e : p.req.events) {
      if (e.part == p) {
        return e.failure == null;
      }
    }
    fail(p.req + ": a part never ended");
    return false;
  }

  /** The answer the memcached double sent for a part: recomputed, it is a pure function. */
  private byte[] answerOf(Part p) {
    Req r = p.req;
    if (r.kind.command.isRetrieval()) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      for (String k : p.keys) {
        if (hit(k)) {
          out.writeBytes(valueBlock(r.kind.command, k));
        }
      }
      out.writeBytes(ascii("END\r\n"));
      return out.toByteArray();
    }
    AsciiRequest q =
        new AsciiRequest(
            r.kind.command,
            r.keys.stream().map(SessionWorld::ascii).toList(),
            0,
            flushId(r.client, r.seq),
            0,
            0,
            false,
            true,
            null,
            null);
    return p.upstream.answer(q, r);
  }

  private void dispose() {
    for (Client c : clients) {
      c.channel.finishAndReleaseAll();
    }
    for (Upstream u : upstreams) {
      u.channel.finishAndReleaseAll();
      u.written.release();
      u.toSend.release();
    }
    loopChannel.finishAndReleaseAll();
  }

  String trace() {
    return trace.toString();
  }

  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }
}
