package dev.mcmux.bench;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The part of one target run that lives on one event loop: its connections, its share of the keys
 * to set, its statistics and a ticker for timeouts, reconnects and the end of the run.
 *
 * <p>Every method runs on {@link #loop}; the main thread talks to it only by submitting tasks and
 * waiting on its futures, so nothing here is locked.
 */
final class LoopDriver {

  /** {@link #nextOp} has no request to give. */
  static final int NONE = Integer.MIN_VALUE;

  private static final int PRELOAD_DEPTH = 32;
  private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);

  enum Phase {
    CONNECTING,
    PRELOAD,
    IDLE,
    RUN,
    DRAIN,
    CLOSING,
    DONE
  }

  final TargetRun run;
  final EventLoop loop;
  final LoopStats stats = new LoopStats();

  private final int index;
  private final int loops;
  private final int keys;
  private final int partitionSize;
  private final double getRatio;
  private final long timeoutNanos;
  private final SplittableRandom random;

  private final LoadConnection[] slots;
  private final long[] retryAt;
  private final int[] failures;
  private final int workers;
  private final Set<LoadConnection> live = Collections.newSetFromMap(new IdentityHashMap<>());

  private Phase phase = Phase.CONNECTING;
  private boolean persistentWanted = true;
  private int slotsResolved;
  private int readyAtStart;
  private int preloadNext;
  private int preloadAcked;
  private long lastPreloadProgress;
  private ScheduledFuture<?> ticker;

  /** Requests sent before this instant are warmup; set when the run starts. */
  long warmupEnd = Long.MAX_VALUE;

  /** No request is sent from this instant on; set when the run starts. */
  long end = Long.MAX_VALUE;

  /** Completes with the number of connections that became ready at the first attempt. */
  final CompletableFuture<Integer> connected = new CompletableFuture<>();

  /** Completes when every key of this loop's share was stored. */
  final CompletableFuture<Void> preloaded = new CompletableFuture<>();

  /** Completes when nothing is in flight after the end of the run. */
  final CompletableFuture<Void> drained = new CompletableFuture<>();

  /** Completes, with the statistics, once every connection is closed. */
  final CompletableFuture<LoopStats> closed = new CompletableFuture<>();

  LoopDriver(TargetRun run, EventLoop loop, int index, int loops, int connections, int workers) {
    this.run = run;
    this.loop = loop;
    this.index = index;
    this.loops = loops;
    this.keys = run.keys().size();
    this.partitionSize = (keys - index + loops - 1) / loops;
    BenchConfig config = run.config();
    this.getRatio = config.getRatio();
    this.timeoutNanos = config.timeout().toNanos();
    this.random = new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L + index);
    this.slots = new LoadConnection[connections];
    this.retryAt = new long[connections];
    this.failures = new int[connections];
    this.workers = workers;
    this.preloadNext = index;
  }

  // ---- called by the main thread through loop tasks ----

  void connectAll() {
    long tick = Math.max(10, Math.min(100, run.config().timeout().toMillis() / 4));
    ticker = loop.scheduleAtFixedRate(this::tick, tick, tick, TimeUnit.MILLISECONDS);
    if (slots.length == 0) {
      connected.complete(0);
    }
    for (int i = 0; i < slots.length; i++) {
      open(i);
    }
  }

  void startPreload() {
    phase = Phase.PRELOAD;
    lastPreloadProgress = System.nanoTime();
    if (partitionSize == 0) {
      finishPreload();
      return;
    }
    fillAll();
  }

  /** Closes the persistent connections before a connect-per-request run. */
  void closePersistent(CompletableFuture<Void> done) {
    persistentWanted = false;
    for (LoadConnection c : slots) {
      if (c != null && !c.isClosed()) {
        c.close();
      }
    }
    awaitNoPersistent(done);
  }

  private void awaitNoPersistent(CompletableFuture<Void> done) {
    for (LoadConnection c : live) {
      if (!c.oneShot()) {
        loop.schedule(() -> awaitNoPersistent(done), 5, TimeUnit.MILLISECONDS);
        return;
      }
    }
    done.complete(null);
  }

  void start(long warmupEnd, long end) {
    this.warmupEnd = warmupEnd;
    this.end = end;
    phase = Phase.RUN;
    if (run.config().connectPerRequest()) {
      for (int i = 0; i < workers; i++) {
        startWorker();
      }
    } else {
      fillAll();
    }
  }

  void closeAll() {
    phase = Phase.CLOSING;
    persistentWanted = false;
    for (LoadConnection c : new ArrayList<>(live)) {
      c.close();
    }
    maybeClosed();
  }

  // ---- called by connections ----

  /** The most requests a connection may have in flight in the current phase. */
  int depthLimit() {
    return phase == Phase.PRELOAD
        ? Math.max(PRELOAD_DEPTH, run.config().pipeline())
        : run.config().pipeline();
  }

  /**
   * The next request: a key id {@code k >= 0} to get, {@code ~k} to set, or {@link #NONE}. Sets
   * only touch this loop's share of the keys (see {@link KeyVersions}); gets touch all.
   */
  int nextOp(long now) {
    switch (phase) {
      case PRELOAD:
        if (preloadNext >= keys) {
          return NONE;
        }
        int key = preloadNext;
        preloadNext += loops;
        return ~key;
      case RUN:
        if (now >= end) {
          return NONE;
        }
        if (random.nextDouble() < getRatio) {
          return random.nextInt(keys);
        }
        return ~(index + loops * random.nextInt(partitionSize));
      default:
        return NONE;
    }
  }

  void onReady(LoadConnection c) {
    stats.connectionsOpened++;
    if (!c.oneShot()) {
      for (int i = 0; i < slots.length; i++) {
        if (slots[i] == c) {
          failures[i] = 0;
        }
      }
    }
    if (phase == Phase.CONNECTING) {
      readyAtStart++;
      slotResolved();
    } else if (phase == Phase.CLOSING || (!c.oneShot() && !persistentWanted)) {
      c.close();
    } else {
      c.fill(System.nanoTime());
    }
  }

  void onConnectFailed(LoadConnection c, Throwable cause) {
    live.remove(c);
    stats.error(ErrorKind.CONNECT, describe(cause));
    if (c.oneShot()) {
      if (phase == Phase.RUN) {
        // A short pause so that a refusing target does not turn this into a busy loop.
        loop.schedule(this::startWorker, 10, TimeUnit.MILLISECONDS);
      }
    } else {
      for (int i = 0; i < slots.length; i++) {
        if (slots[i] == c) {
          failures[i]++;
          retryAt[i] =
              System.nanoTime()
                  + Math.min(MAX_BACKOFF_NANOS, 50_000_000L << Math.min(failures[i], 5));
        }
      }
      if (phase == Phase.CONNECTING) {
        slotResolved();
      }
    }
    maybeClosed();
  }

  void onClosed(LoadConnection c) {
    live.remove(c);
    if (c.oneShot() && phase == Phase.RUN && System.nanoTime() < end) {
      startWorker();
    }
    maybeClosed();
  }

  /** Counts the outcome of a set; during the preload a failure stops the target run. */
  void onSetDone(boolean ok, String failure) {
    if (phase != Phase.PRELOAD) {
      return;
    }
    if (!ok) {
      phase = Phase.IDLE;
      preloaded.completeExceptionally(new BenchFailure("preload failed: " + failure));
      return;
    }
    preloadAcked++;
    lastPreloadProgress = System.nanoTime();
    if (preloadAcked == partitionSize) {
      finishPreload();
    }
  }

  void mismatch(int key, String description) {
    String where = phase == Phase.RUN && System.nanoTime() < warmupEnd ? " during warmup" : "";
    stats.mismatch(run.keys().name(key) + where + ": " + description);
  }

  // ---- internals ----

  private void finishPreload() {
    phase = Phase.IDLE;
    preloaded.complete(null);
  }

  private void open(int i) {
    LoadConnection c = new LoadConnection(this, false, depthCapacity(), System.nanoTime());
    slots[i] = c;
    live.add(c);
    run.connect(loop, c)
        .addListener(
            f -> {
              if (!f.isSuccess()) {
                c.connectFailed(f.cause());
              }
            });
  }

  private void startWorker() {
    if (phase != Phase.RUN || System.nanoTime() >= end) {
      return;
    }
    LoadConnection c = new LoadConnection(this, true, 1, System.nanoTime());
    live.add(c);
    run.connect(loop, c)
        .addListener(
            f -> {
              if (!f.isSuccess()) {
                c.connectFailed(f.cause());
              }
            });
  }

  private int depthCapacity() {
    return Math.max(PRELOAD_DEPTH, run.config().pipeline());
  }

  private void fillAll() {
    long now = System.nanoTime();
    for (LoadConnection c : slots) {
      if (c != null && c.isReady()) {
        c.fill(now);
      }
    }
  }

  private void slotResolved() {
    if (++slotsResolved == slots.length) {
      phase = phase == Phase.CONNECTING ? Phase.IDLE : phase;
      connected.complete(readyAtStart);
    }
  }

  private void tick() {
    long now = System.nanoTime();
    for (LoadConnection c : new ArrayList<>(live)) {
      if (c.isReady() && c.inFlight() > 0 && now - c.oldestStart() > timeoutNanos) {
        c.timeout();
      }
    }
    switch (phase) {
      case PRELOAD -> {
        reconnect(now);
        long stall = Math.max(TimeUnit.SECONDS.toNanos(10), 2 * timeoutNanos);
        if (now - lastPreloadProgress > stall) {
          phase = Phase.IDLE;
          preloaded.completeExceptionally(
              new BenchFailure(
                  "preload made no progress for "
                      + TimeUnit.NANOSECONDS.toSeconds(stall)
                      + " s"
                      + firstErrorSuffix()));
        }
      }
      case RUN -> {
        if (now >= end) {
          phase = Phase.DRAIN;
          checkDrained(now);
        } else if (!run.config().connectPerRequest()) {
          reconnect(now);
        }
      }
      case DRAIN -> checkDrained(now);
      default -> {}
    }
  }

  private void reconnect(long now) {
    if (!persistentWanted) {
      return;
    }
    for (int i = 0; i < slots.length; i++) {
      if (slots[i].isClosed() && !live.contains(slots[i]) && now >= retryAt[i]) {
        stats.reconnects++;
        open(i);
      }
    }
  }

  private void checkDrained(long now) {
    boolean idle = true;
    for (LoadConnection c : live) {
      if (c.oneShot() || !c.isReady() || c.inFlight() > 0) {
        idle = false;
        break;
      }
    }
    if (idle || now - end > timeoutNanos) {
      // Whatever is still in flight now has had its full timeout.
      for (LoadConnection c : new ArrayList<>(live)) {
        if (c.inFlight() > 0) {
          c.timeout();
        }
      }
      phase = Phase.IDLE;
      drained.complete(null);
    }
  }

  private void maybeClosed() {
    if (phase == Phase.CLOSING && live.isEmpty()) {
      phase = Phase.DONE;
      if (ticker != null) {
        ticker.cancel(false);
      }
      closed.complete(stats);
    }
  }

  private String firstErrorSuffix() {
    for (String e : stats.firstError) {
      if (e != null) {
        return " (first error: " + e + ")";
      }
    }
    return "";
  }

  static String describe(Throwable cause) {
    Throwable root = cause;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String m = root.getMessage();
    return m == null ? root.getClass().getSimpleName() : root.getClass().getSimpleName() + ": " + m;
  }
}
