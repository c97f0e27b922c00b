package dev.mcmux.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Everything one {@code mcmux bench} invocation does, validated. */
public record BenchConfig(
    List<Target> targets,
    Optional<Path> caFile,
    boolean insecure,
    int connections,
    int pipeline,
    double getRatio,
    int valueSize,
    int keys,
    Duration duration,
    Duration warmup,
    boolean connectPerRequest,
    int workers,
    int threads,
    Duration timeout,
    Optional<Path> hgrmDir,
    Optional<Path> svg,
    long seed,
    boolean progress,
    boolean failOnErrors,
    int rounds,
    Map<String, List<Long>> proxyPids) {

  /** Largest key count: keys are held in memory as bytes, about 12 bytes each. */
  public static final int MAX_KEYS = 100_000_000;

  /** Largest value size accepted; memcached's own limit is usually 1 MiB. */
  public static final int MAX_VALUE_SIZE = 128 << 20;

  /**
   * Validates the combination.
   *
   * @throws IllegalArgumentException naming the option at fault, in one line
   */
  public BenchConfig {
    targets = List.copyOf(targets);
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("give at least one --target NAME=ADDR");
    }
    Set<String> names = new HashSet<>();
    for (Target t : targets) {
      if (!names.add(t.name())) {
        throw new IllegalArgumentException("--target name '" + t.name() + "' is used twice");
      }
    }
    require(threads >= 1 && threads <= 256, "--threads must be in 1..256");
    require(
        connections >= threads && connections <= 100_000,
        "--connections must be in --threads.." + 100_000);
    require(pipeline >= 1 && pipeline <= 4096, "--pipeline must be in 1..4096");
    require(getRatio >= 0 && getRatio <= 1, "--get-ratio must be in 0..1");
    require(
        valueSize >= ValueCodec.MIN_VALUE_SIZE && valueSize <= MAX_VALUE_SIZE,
        "--value-size must be in "
            + ValueCodec.MIN_VALUE_SIZE
            + ".."
            + MAX_VALUE_SIZE
            + " (each value carries a "
            + ValueCodec.HEADER_LENGTH
            + "-byte header)");
    require(keys >= threads && keys <= MAX_KEYS, "--keys must be in --threads.." + MAX_KEYS);
    require(!duration.isNegative() && !duration.isZero(), "--duration must be positive");
    require(!warmup.isNegative(), "--warmup must not be negative");
    require(!timeout.isNegative() && !timeout.isZero(), "--timeout must be positive");
    require(rounds >= 1 && rounds <= 100, "--rounds must be in 1..100");
    require(workers >= threads && workers <= 100_000, "--workers must be in --threads..100000");
    require(
        !connectPerRequest || pipeline == 1,
        "--pipeline does not apply to --connect-per-request (one request per connection)");
    require(
        caFile.isEmpty() || targets.stream().anyMatch(Target::tls),
        "--ca-file is given but no target is tls://");
    require(
        !(insecure && caFile.isPresent()),
        "--insecure and --ca-file contradict each other: verification is either off or on");
    proxyPids = Map.copyOf(proxyPids);
    for (String name : proxyPids.keySet()) {
      require(names.contains(name), "--proxy-pid names no --target '" + name + "'");
    }
  }

  /**
   * Parses the {@code --proxy-pid NAME=PID[,PID...]} options into the PIDs of each target.
   *
   * @throws IllegalArgumentException naming the option at fault, in one line
   */
  public static Map<String, List<Long>> parseProxyPids(List<String> specs) {
    Map<String, List<Long>> out = new LinkedHashMap<>();
    for (String spec : specs) {
      int eq = spec.indexOf('=');
      String usage = "--proxy-pid '" + spec + "': expected NAME=PID or NAME=PID,PID,...";
      require(eq > 0 && eq < spec.length() - 1, usage);
      String name = spec.substring(0, eq).trim();
      require(!out.containsKey(name), "--proxy-pid for '" + name + "' is given twice");
      List<Long> pids = new ArrayList<>();
      for (String part : spec.substring(eq + 1).split(",", -1)) {
        long pid;
        try {
          pid = Long.parseLong(part.trim());
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException(usage);
        }
        require(pid > 0, usage);
        pids.add(pid);
      }
      out.put(name, List.copyOf(pids));
    }
    return out;
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** Whether any target speaks TLS. */
  public boolean anyTls() {
    return targets.stream().anyMatch(Target::tls);
  }
}
