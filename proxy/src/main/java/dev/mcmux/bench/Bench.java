package dev.mcmux.bench;

import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.TlsContextFactory;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs the same workload against every target in turn and prints the comparison; the entry point
 * behind {@code mcmux bench}.
 */
public final class Bench {

  /** Exit code when every target ran without mismatches (and, if asked, without errors). */
  public static final int EXIT_OK = 0;

  /** Exit code when a target could not be measured at all. */
  public static final int EXIT_FAILED = 1;

  /** Exit code when any value read back was not what was written: the worst outcome. */
  public static final int EXIT_MISMATCH = 3;

  /** Exit code with {@code --fail-on-errors} when any request failed. */
  public static final int EXIT_ERRORS = 4;

  // An event loop busier than this is likely to delay responses it has already received.
  private static final double SATURATED = 0.9;

  private Bench() {}

  /**
   * Measures every target of {@code config}; the report goes to {@code out}, progress and warnings
   * to {@code err}.
   *
   * @throws IllegalArgumentException when the TLS files cannot be used, before anything runs
   * @return the exit code: {@link #EXIT_MISMATCH} wins over {@link #EXIT_FAILED}, which wins over
   *     {@link #EXIT_ERRORS}
   */
  public static int run(BenchConfig config, PrintWriter out, PrintWriter err) {
    NettyTransport transport = NettyTransport.select(Settings.Transport.AUTO);
    if (!transport.name().equals("epoll")) {
      err.println(
          "mcmux bench: WARNING: epoll is not available ("
              + NettyTransport.epollUnavailabilityCause()
              + "); NIO is slower and the numbers are not comparable with epoll runs");
    }
    TlsContextFactory tls = config.anyTls() ? tlsContext(config, err) : null;
    List<TargetResult> results = new ArrayList<>();
    Map<String, List<TargetResult>> runs = new LinkedHashMap<>();
    EventLoopGroup group = transport.newGroup(config.threads(), "mcmux-bench");
    try {
      List<EventLoop> loops = new ArrayList<>();
      for (EventExecutor e : group) {
        loops.add((EventLoop) e);
      }
      long[] loopThreads = new long[loops.size()];
      for (int i = 0; i < loopThreads.length; i++) {
        loopThreads[i] =
            loops
                .get(i)
                .submit(() -> Thread.currentThread().getId())
                .syncUninterruptibly()
                .getNow();
      }
      KeySpace keys = new KeySpace(config.keys());
      Progress progress = new Progress(err, config.progress());
      for (Target target : config.targets()) {
        runs.put(target.name(), new ArrayList<>());
      }
      for (int round = 1; round <= config.rounds(); round++) {
        List<Target> order = new ArrayList<>(config.targets());
        if (round % 2 == 0) {
          // Whatever drifts during a run (other jobs, caches, clocks) then favours no target.
          Collections.reverse(order);
        }
        for (Target target : order) {
          String label =
              config.rounds() == 1 ? target.name() : target.name() + " (round " + round + ")";
          TargetResult r =
              new TargetRun(config, target, keys, transport, tls).run(loops, loopThreads, progress);
          runs.get(target.name()).add(r);
          r.failure().ifPresent(f -> err.println("mcmux bench: " + label + ": " + f));
          if (r.mismatches() > 0) {
            err.print(Report.mismatchBanner(r));
          }
          if (r.busiestLoopCores() > SATURATED) {
            err.printf(
                "mcmux bench: WARNING: %s: a generator event loop was busy %.0f %% of the time;"
                    + " the generator may be the bottleneck: add --threads or give it its own"
                    + " core%n",
                label, 100 * r.busiestLoopCores());
          }
          err.flush();
        }
      }
      for (List<TargetResult> targetRuns : runs.values()) {
        results.add(TargetResult.combine(targetRuns));
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    String generator =
        String.format(
            "%d event loop%s (%s), TLS %s, seed %d, timeout %s",
            config.threads(),
            config.threads() == 1 ? "" : "s",
            transport.name(),
            tls == null
                ? "not used"
                : tls.engineName() + (tls.verifying() ? ", verified" : ", NOT VERIFIED"),
            config.seed(),
            DurationParser.format(config.timeout()));
    out.print(Report.render(config, results, runs, generator));
    out.flush();
    int code = writeFiles(config, results, err);

    boolean mismatch = results.stream().anyMatch(r -> r.mismatches() > 0);
    boolean failed = results.stream().anyMatch(r -> r.failure().isPresent());
    boolean errors = results.stream().anyMatch(r -> r.errorCount() > 0);
    if (mismatch) {
      return EXIT_MISMATCH;
    }
    if (failed || code != EXIT_OK) {
      return EXIT_FAILED;
    }
    return config.failOnErrors() && errors ? EXIT_ERRORS : EXIT_OK;
  }

  private static TlsContextFactory tlsContext(BenchConfig config, PrintWriter err) {
    if (config.insecure()) {
      err.println(
          "mcmux bench: WARNING: --insecure: TLS certificates and host names are NOT verified."
              + " Use this for benchmarking only, never to judge a deployment's security.");
    }
    Settings.Tls settings =
        new Settings.Tls(
            config.caFile(),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            !config.insecure(),
            config.timeout(),
            Settings.TlsEngine.AUTO,
            List.of("TLSv1.3", "TLSv1.2"),
            List.of());
    TlsContextFactory factory;
    try {
      factory = TlsContextFactory.create(settings);
    } catch (InvalidSettingException e) {
      throw new IllegalArgumentException(
          e.getMessage().replace("mcmux.tls.ca-file", "--ca-file"), e);
    }
    // Every new connection pays a full handshake, as a freshly started app process would: a
    // resumed session would flatter direct TLS in --connect-per-request runs.
    if (factory.context().sessionContext() instanceof OpenSslSessionContext openSsl) {
      openSsl.setSessionCacheEnabled(false);
    }
    return factory;
  }

  private static int writeFiles(BenchConfig config, List<TargetResult> results, PrintWriter err) {
    int code = EXIT_OK;
    if (config.hgrmDir().isPresent()) {
      Path dir = config.hgrmDir().get();
      try {
        Files.createDirectories(dir);
        for (TargetResult r : results) {
          Path file = dir.resolve(r.target().name() + ".hgrm");
          try (PrintStream ps =
              new PrintStream(Files.newOutputStream(file), false, StandardCharsets.US_ASCII)) {
            if (r.latency().getTotalCount() > 0) {
              // Microseconds recorded, milliseconds written: what HdrHistogram's plotter expects.
              r.latency().outputPercentileDistribution(ps, 5, 1000.0);
            }
          }
        }
      } catch (IOException e) {
        err.println("mcmux bench: cannot write " + dir + ": " + e.getMessage());
        code = EXIT_FAILED;
      }
    }
    if (config.svg().isPresent()) {
      Path file = config.svg().get();
      List<SvgChart.Series> series = new ArrayList<>();
      for (TargetResult r : results) {
        series.add(new SvgChart.Series(r.target().name(), r.latency()));
      }
      try {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
          Files.createDirectories(parent);
        }
        Files.writeString(
            file,
            SvgChart.render("mcmux bench: latency by percentile", Report.workload(config), series),
            StandardCharsets.UTF_8);
      } catch (IOException e) {
        err.println("mcmux bench: cannot write " + file + ": " + e.getMessage());
        code = EXIT_FAILED;
      }
    }
    return code;
  }

  /** Whether the CPU time of process {@code pid} can be read, as {@code --proxy-pid} needs. */
  public static boolean processCpuReadable(long pid) {
    return ProcessCpu.nanos(pid) != null;
  }
}
