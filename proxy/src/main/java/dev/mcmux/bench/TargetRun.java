package dev.mcmux.bench;

import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.TlsContextFactory;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.SslHandler;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLSession;
import org.HdrHistogram.Histogram;

/**
 * One target measured once: connect, preload every key, warm up, measure, drain, close. The main
 * thread runs {@link #run}; everything else happens on the event loops.
 */
final class TargetRun {

  private static final long SLACK_NANOS = TimeUnit.SECONDS.toNanos(5);
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private final BenchConfig config;
  private final Target target;
  private final KeySpace keys;
  private final ValueCodec codec;
  private final RequestWriter writer;
  private final KeyVersions versions;
  private final TlsContextFactory tls;
  private final Bootstrap bootstrap;
  private volatile InetSocketAddress address;
  private volatile String tlsSession;

  TargetRun(
      BenchConfig config,
      Target target,
      KeySpace keys,
      NettyTransport transport,
      TlsContextFactory tls) {
    this.config = config;
    this.target = target;
    this.keys = keys;
    // A fresh run id per target: a value left by an earlier run or another process is caught.
    this.codec = new ValueCodec(config.valueSize(), ThreadLocalRandom.current().nextInt());
    this.writer = new RequestWriter(keys, codec);
    this.versions = new KeyVersions(keys.size());
    this.tls = tls;
    this.bootstrap =
        new Bootstrap()
            .channel(transport.socketChannel())
            // Pooled explicitly: a load generator must not spend its core on allocation.
            .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(
                ChannelOption.CONNECT_TIMEOUT_MILLIS,
                (int) Math.min(Integer.MAX_VALUE, config.timeout().toMillis()));
  }

  BenchConfig config() {
    return config;
  }

  Target target() {
    return target;
  }

  KeySpace keys() {
    return keys;
  }

  ValueCodec codec() {
    return codec;
  }

  RequestWriter writer() {
    return writer;
  }

  KeyVersions versions() {
    return versions;
  }

  /** Starts a connection on {@code loop} with {@code handler} at the top of its pipeline. */
  ChannelFuture connect(EventLoop loop, LoadConnection handler) {
    ChannelFuture f =
        bootstrap
            .clone(loop)
            .handler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    ChannelPipeline p = ch.pipeline();
                    // Below the SslHandler: the flushes of one read become one syscall.
                    p.addLast(new FlushConsolidationHandler(256, false));
                    if (target.tls()) {
                      p.addLast(tls.newHandler(ch.alloc(), target.host(), target.port()));
                    }
                    p.addLast(handler);
                  }
                })
            .connect(address);
    handler.channel(f.channel());
    return f;
  }

  /** Remembers protocol and cipher of the first TLS session, for the report. */
  void noteTlsSession(ChannelPipeline pipeline) {
    if (tlsSession == null) {
      SslHandler ssl = pipeline.get(SslHandler.class);
      if (ssl != null) {
        SSLSession session = ssl.engine().getSession();
        tlsSession = session.getProtocol() + " " + session.getCipherSuite();
      }
    }
  }

  TargetResult run(List<EventLoop> loops, long[] loopThreads, Progress progress) {
    try {
      address = new InetSocketAddress(InetAddress.getByName(target.host()), target.port());
    } catch (UnknownHostException e) {
      return failed(List.of(), "cannot resolve " + target.host());
    }
    List<LoopDriver> drivers = new ArrayList<>();
    int n = loops.size();
    for (int i = 0; i < n; i++) {
      int connections = share(config.connections(), n, i);
      int workers = share(config.workers(), n, i);
      drivers.add(new LoopDriver(this, loops.get(i), i, n, connections, workers));
    }
    String name = target.name();
    try {
      progress.show(
          "[%s] connecting %d connections to %s", name, config.connections(), target.address());
      drivers.forEach(d -> d.loop.execute(d::connectAll));
      long deadline = System.nanoTime() + config.timeout().toNanos() + SLACK_NANOS;
      int ready = 0;
      for (LoopDriver d : drivers) {
        ready += await(d.connected, deadline, "connecting");
      }
      if (ready == 0) {
        throw new BenchFailure("no connection could be opened" + firstConnectError(drivers));
      }

      progress.show("[%s] preloading %,d keys", name, keys.size());
      drivers.forEach(d -> d.loop.execute(d::startPreload));
      for (LoopDriver d : drivers) {
        // The drivers time out a stalled preload themselves; this bound is a backstop.
        await(d.preloaded, Long.MAX_VALUE, "preloading");
      }
      if (config.connectPerRequest()) {
        List<CompletableFuture<Void>> closing = new ArrayList<>();
        for (LoopDriver d : drivers) {
          CompletableFuture<Void> done = new CompletableFuture<>();
          closing.add(done);
          d.loop.execute(() -> d.closePersistent(done));
        }
        long closeDeadline = System.nanoTime() + SLACK_NANOS;
        for (CompletableFuture<Void> done : closing) {
          await(done, closeDeadline, "closing the preload connections");
        }
      }

      long start = System.nanoTime();
      long warmupEnd = start + config.warmup().toNanos();
      long end = warmupEnd + config.duration().toNanos();
      drivers.forEach(d -> d.loop.execute(() -> d.start(warmupEnd, end)));
      WindowCpu cpu = measure(drivers, loopThreads, start, warmupEnd, end, progress);

      progress.show("[%s] draining", name);
      long drainDeadline = end + config.timeout().toNanos() + SLACK_NANOS;
      for (LoopDriver d : drivers) {
        await(d.drained, drainDeadline, "draining");
      }
      List<LoopStats> stats = closeAll(drivers);
      return result(stats, Optional.empty(), config.duration().toNanos() / 1e9, cpu);
    } catch (BenchFailure e) {
      List<LoopStats> stats;
      try {
        stats = closeAll(drivers);
      } catch (BenchFailure again) {
        stats = List.of();
      }
      return failed(stats, e.getMessage());
    } finally {
      progress.done();
    }
  }

  /** CPU time counters read at one moment: this process's, its event loops', the proxy's. */
  private record CpuReading(long process, long[] own, long[] loops, long[] proxy) {

    static CpuReading take(long[] loopThreads, List<Long> proxyPids) {
      long[] loops = new long[loopThreads.length];
      for (int i = 0; i < loopThreads.length; i++) {
        loops[i] = THREADS.getThreadCpuTime(loopThreads[i]);
      }
      return new CpuReading(
          processCpuNanos(),
          ProcessCpu.nanos(ProcessHandle.current().pid()),
          loops,
          proxyPids.isEmpty() ? null : ProcessCpu.nanos(proxyPids));
    }
  }

  /**
   * What the processes used in the measured window.
   *
   * @param processCores this process, CPU seconds per second
   * @param busiestLoopCores the busiest generator event loop, the same way
   * @param ownSystemSeconds this process's system (kernel) time
   * @param proxyUserSeconds the proxy's user time, NaN unless {@code --proxy-pid} named it
   * @param proxySystemSeconds the proxy's system time, the same way
   */
  private record WindowCpu(
      double processCores,
      double busiestLoopCores,
      double ownSystemSeconds,
      double proxyUserSeconds,
      double proxySystemSeconds) {

    static final WindowCpu UNKNOWN =
        new WindowCpu(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);

    static WindowCpu between(CpuReading start, CpuReading end, double windowNanos) {
      if (start == null) {
        return UNKNOWN;
      }
      double busiest = Double.NaN;
      for (int i = 0; i < start.loops().length; i++) {
        if (start.loops()[i] >= 0 && end.loops()[i] >= 0) {
          double cores = (end.loops()[i] - start.loops()[i]) / windowNanos;
          busiest = Double.isNaN(busiest) ? cores : Math.max(busiest, cores);
        }
      }
      boolean process = start.process() >= 0 && end.process() >= 0;
      boolean own = start.own() != null && end.own() != null;
      boolean proxy = start.proxy() != null && end.proxy() != null;
      return new WindowCpu(
          process ? (end.process() - start.process()) / windowNanos : Double.NaN,
          busiest,
          own ? (end.own()[1] - start.own()[1]) / 1e9 : Double.NaN,
          proxy ? (end.proxy()[0] - start.proxy()[0]) / 1e9 : Double.NaN,
          proxy ? (end.proxy()[1] - start.proxy()[1]) / 1e9 : Double.NaN);
    }
  }

  /** Waits out warmup and measurement, showing progress; returns what the window cost in CPU. */
  private WindowCpu measure(
      List<LoopDriver> drivers,
      long[] loopThreads,
      long start,
      long warmupEnd,
      long end,
      Progress progress) {
    List<Long> proxyPids = config.proxyPids().getOrDefault(target.name(), List.of());
    // Without warmup the window has already begun: read the counters before the first sleep.
    CpuReading atStart =
        System.nanoTime() >= warmupEnd ? CpuReading.take(loopThreads, proxyPids) : null;
    long opsAtWarmupEnd = 0;
    long step = TimeUnit.MILLISECONDS.toNanos(500);
    long now;
    while ((now = System.nanoTime()) < end) {
      boolean warming = now < warmupEnd;
      long next = Math.min(now + step, warming ? warmupEnd : end);
      sleepUntil(next);
      now = System.nanoTime();
      long ops = 0;
      long mismatches = 0;
      for (LoopDriver d : drivers) {
        ops += d.stats.progressOps.get();
        mismatches += d.stats.progressMismatches.get();
      }
      if (atStart == null && now >= warmupEnd) {
        atStart = CpuReading.take(loopThreads, proxyPids);
        opsAtWarmupEnd = ops;
      }
      if (now >= warmupEnd && now - warmupEnd < step / 10) {
        // The measurement just began: no rate to show yet.
        continue;
      }
      String phase;
      double rate;
      if (now < warmupEnd) {
        phase =
            String.format(
                Locale.ROOT, "warmup %.1f/%d s", (now - start) / 1e9, seconds(warmupEnd - start));
        rate = ops / Math.max(1e-9, (now - start) / 1e9);
      } else {
        phase =
            String.format(
                Locale.ROOT,
                "measuring %.1f/%d s",
                (now - warmupEnd) / 1e9,
                seconds(end - warmupEnd));
        rate = (ops - opsAtWarmupEnd) / Math.max(1e-9, (now - warmupEnd) / 1e9);
      }
      progress.show(
          "[%s] %s  %,.0f ops/s  mismatches %d%s",
          target.name(), phase, rate, mismatches, mismatches > 0 ? "  !!! MISMATCH !!!" : "");
    }
    return WindowCpu.between(atStart, CpuReading.take(loopThreads, proxyPids), end - warmupEnd);
  }

  private List<LoopStats> closeAll(List<LoopDriver> drivers) {
    drivers.forEach(d -> d.loop.execute(d::closeAll));
    long deadline = System.nanoTime() + config.timeout().toNanos() + SLACK_NANOS;
    List<LoopStats> stats = new ArrayList<>();
    for (LoopDriver d : drivers) {
      stats.add(await(d.closed, deadline, "closing connections"));
    }
    return stats;
  }

  private TargetResult failed(List<LoopStats> stats, String reason) {
    return result(stats, Optional.of(reason), 0, WindowCpu.UNKNOWN);
  }

  private TargetResult result(
      List<LoopStats> perLoop, Optional<String> failure, double seconds, WindowCpu cpu) {
    LoopStats total = new LoopStats();
    perLoop.forEach(total::add);
    Map<ErrorKind, Long> errors = new EnumMap<>(ErrorKind.class);
    Map<ErrorKind, String> first = new EnumMap<>(ErrorKind.class);
    for (ErrorKind kind : ErrorKind.values()) {
      if (total.errors[kind.ordinal()] > 0) {
        errors.put(kind, total.errors[kind.ordinal()]);
        if (total.firstError[kind.ordinal()] != null) {
          first.put(kind, total.firstError[kind.ordinal()]);
        }
      }
    }
    Histogram latency = total.latency.copy();
    return new TargetResult(
        target,
        failure,
        total.ops,
        total.gets,
        total.sets,
        total.misses,
        total.mismatches,
        List.copyOf(total.mismatchSamples),
        errors,
        first,
        latency,
        seconds,
        cpu.processCores(),
        cpu.busiestLoopCores(),
        Optional.ofNullable(tlsSession),
        total.connectionsOpened,
        total.reconnects,
        cpu.ownSystemSeconds(),
        cpu.proxyUserSeconds(),
        cpu.proxySystemSeconds());
  }

  private static String firstConnectError(List<LoopDriver> drivers) {
    for (LoopDriver d : drivers) {
      // The drivers are idle here and their futures completed: their fields are visible.
      String e = d.stats.firstError[ErrorKind.CONNECT.ordinal()];
      if (e != null) {
        return ": " + e;
      }
    }
    return "";
  }

  private static <T> T await(CompletableFuture<T> future, long deadline, String what) {
    try {
      if (deadline == Long.MAX_VALUE) {
        return future.get();
      }
      return future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof BenchFailure f) {
        throw f;
      }
      throw new BenchFailure(what + " failed: " + LoopDriver.describe(cause));
    } catch (TimeoutException e) {
      throw new BenchFailure(what + " did not finish in time");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BenchFailure("interrupted while " + what);
    }
  }

  private static void sleepUntil(long deadline) {
    long left;
    while ((left = deadline - System.nanoTime()) > 0) {
      try {
        TimeUnit.NANOSECONDS.sleep(left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new BenchFailure("interrupted");
      }
    }
  }

  private static long seconds(long nanos) {
    return Math.round(nanos / 1e9);
  }

  /** This share of {@code total} for loop {@code i} of {@code n}, spread as evenly as possible. */
  static int share(int total, int n, int i) {
    return total / n + (i < total % n ? 1 : 0);
  }

  private static long processCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return -1;
  }
}
