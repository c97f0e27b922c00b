package dev.mcmux.cli;

import dev.mcmux.bench.Bench;
import dev.mcmux.bench.BenchConfig;
import dev.mcmux.bench.DurationParser;
import dev.mcmux.bench.Target;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code mcmux bench}: measures plain memcached, TLS memcached and mcmux side by side with a
 * verifying load generator; the work is in {@link dev.mcmux.bench}.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
      "Run the same memcached get/set workload against each target in turn and print a"
          + " side-by-side table. Every value read back is verified.",
      "Exit codes: 0 ok, 1 a target could not be measured, 2 bad options,"
          + " 3 a value read back was wrong (mismatch), 4 errors with --fail-on-errors."
    })
final class BenchCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(
      names = "--target",
      required = true,
      paramLabel = "NAME=ADDR",
      description =
          "A server to measure, repeatable: host:port (plaintext) or tls://host:port."
              + " The first one is the baseline of the '%% of first' column.")
  List<String> targets = new ArrayList<>();

  @Option(
      names = "--ca-file",
      paramLabel = "FILE",
      description = "PEM CA certificates that TLS targets must chain to (default: system).")
  Path caFile;

  @Option(
      names = "--insecure",
      description = "Do not verify TLS certificates or host names. Benchmarking only.")
  boolean insecure;

  @Option(
      names = "--connections",
      defaultValue = "50",
      description = "Persistent connections per target (default: ${DEFAULT-VALUE}).")
  int connections;

  @Option(
      names = "--pipeline",
      defaultValue = "1",
      paramLabel = "D",
      description = "Requests in flight per connection (default: ${DEFAULT-VALUE}).")
  int pipeline;

  @Option(
      names = "--get-ratio",
      defaultValue = "0.9",
      description = "Share of gets; the rest are sets (default: ${DEFAULT-VALUE}).")
  double getRatio;

  @Option(
      names = "--value-size",
      defaultValue = "100",
      paramLabel = "BYTES",
      description = "Bytes per value, at least 37 (default: ${DEFAULT-VALUE}).")
  int valueSize;

  @Option(
      names = "--keys",
      defaultValue = "10000",
      description = "Distinct keys key:0..key:N-1, all preloaded (default: ${DEFAULT-VALUE}).")
  int keys;

  @Option(
      names = "--duration",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "Measured time per target (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(
      names = "--warmup",
      defaultValue = "10s",
      converter = DurationConverter.class,
      description = "Unmeasured load before each measurement (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--connect-per-request",
      description =
          "Open a new connection for every request, as PHP-style apps do;"
              + " latency includes connecting and the TLS handshake.")
  boolean connectPerRequest;

  @Option(
      names = "--workers",
      defaultValue = "50",
      description =
          "With --connect-per-request: concurrent connect-request-close loops"
              + " (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(
      names = "--threads",
      defaultValue = "1",
      description = "Event loops of the generator (default: ${DEFAULT-VALUE}).")
  int threads;

  @Option(
      names = "--timeout",
      defaultValue = "2s",
      converter = DurationConverter.class,
      description =
          "A request or connect unanswered this long is an error (default: ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(
      names = "--hgrm-dir",
      paramLabel = "DIR",
      description = "Write each target's HdrHistogram percentile distribution as NAME.hgrm.")
  Path hgrmDir;

  @Option(
      names = "--svg",
      paramLabel = "FILE",
      description = "Write an SVG chart of all targets' latency by percentile.")
  Path svg;

  @Option(
      names = "--seed",
      defaultValue = "1",
      description = "Seed of the key and operation sequence (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--progress",
      description = "Show the live progress line even when stderr is not a terminal.")
  boolean progress;

  @Option(
      names = "--rounds",
      defaultValue = "1",
      description =
          "Run every target this many times, in reverse order every other round, and report each"
              + " target's rounds combined (with the rate of each round): on a machine whose speed"
              + " drifts, the order then favours no target (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(
      names = "--proxy-pid",
      paramLabel = "NAME=PID[,PID]",
      description =
          "Also measure the CPU time of the processes serving target NAME (a proxy; several PIDs"
              + " add up, and children are not counted: name every worker of a forking proxy)"
              + " over its measured windows, and report it per request beside the generator's"
              + " own. Repeatable; reads /proc.")
  List<String> proxyPids = new ArrayList<>();

  @Option(
      names = "--fail-on-errors",
      description = "Exit with 4 when any request failed (mismatches always exit with 3).")
  boolean failOnErrors;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    BenchConfig config;
    try {
      List<Target> parsed = new ArrayList<>();
      for (String t : targets) {
        parsed.add(Target.parse(t));
      }
      if (caFile != null && !Files.isReadable(caFile)) {
        throw new IllegalArgumentException("--ca-file " + caFile + " cannot be read");
      }
      Map<String, List<Long>> pids = BenchConfig.parseProxyPids(proxyPids);
      for (Map.Entry<String, List<Long>> e : pids.entrySet()) {
        for (long pid : e.getValue()) {
          if (!Bench.processCpuReadable(pid)) {
            throw new IllegalArgumentException(
                "--proxy-pid "
                    + e.getKey()
                    + "="
                    + pid
                    + ": no CPU time can be read for process "
                    + pid
                    + " (no such process, or no /proc)");
          }
        }
      }
      config =
          new BenchConfig(
              parsed,
              Optional.ofNullable(caFile),
              insecure,
              connections,
              pipeline,
              getRatio,
              valueSize,
              keys,
              duration,
              warmup,
              connectPerRequest,
              workers,
              threads,
              timeout,
              Optional.ofNullable(hgrmDir),
              Optional.ofNullable(svg),
              seed,
              progress || stderrIsTerminal(),
              failOnErrors,
              rounds,
              pids);
    } catch (IllegalArgumentException e) {
      return Main.fail(err, e.getMessage() + " (see 'mcmux bench --help')", Main.EXIT_USAGE);
    }
    Main.noSampledLeakTrackingUnlessAsked();
    try {
      return Bench.run(config, out, err);
    } catch (IllegalArgumentException e) {
      return Main.fail(err, e.getMessage(), Main.EXIT_USAGE);
    }
  }

  /** Whether file descriptor 2 is a terminal (Java 17 has no direct way to ask). */
  private static boolean stderrIsTerminal() {
    try {
      String where = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
      return where.startsWith("/dev/pts/") || where.startsWith("/dev/tty");
    } catch (Exception e) {
      return false;
    }
  }

  /** Reads {@code 30s}, {@code 500ms}, {@code 2m}. */
  static final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      return DurationParser.parse(value);
    }
  }
}
