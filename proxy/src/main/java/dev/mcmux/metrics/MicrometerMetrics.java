package dev.mcmux.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@link ProxyMetrics} on a Micrometer Prometheus registry; every meter the hot path touches is
 * resolved once, up front, so recording is an array lookup and an add.
 */
public final class MicrometerMetrics implements ProxyMetrics {
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter opened;
  private final Counter[][] requests;
  private final Timer duration;
  private final Counter[] bytes;
  private final LongAdder pending = new LongAdder();
  private final ConcurrentHashMap<String, Counter> closed = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> handshakes = new ConcurrentHashMap<>();
  private final Timer handshakeDuration;
  private final Counter downNodeMisses;
  private final Counter nudges;
  private final Counter reloadOk;
  private final Counter reloadFailed;

  public MicrometerMetrics() {
    opened =
        Counter.builder("mcmux.client.connections.opened")
            .description("Client connections accepted")
            .register(registry);
    Result[] results = Result.values();
    requests = new Counter[COMMANDS.length][results.length];
    for (int c = 0; c < COMMANDS.length; c++) {
      for (Result r : results) {
        requests[c][r.ordinal()] =
            Counter.builder("mcmux.requests")
                .description("Client requests answered, by command and result")
                .tag("command", COMMANDS[c])
                .tag("result", lower(r))
                .register(registry);
      }
    }
    duration =
        Timer.builder("mcmux.request.duration")
            .description("Time from a request's arrival to its answer being queued to the client")
            .publishPercentileHistogram()
            .minimumExpectedValue(Duration.ofNanos(20_000))
            .maximumExpectedValue(Duration.ofSeconds(10))
            .register(registry);
    bytes = new Counter[Direction.values().length];
    for (Direction d : Direction.values()) {
      bytes[d.ordinal()] =
          Counter.builder("mcmux.bytes")
              .description("Bytes moved (upstream: before encryption / after decryption)")
              .tag("direction", lower(d))
              .register(registry);
    }
    registry.gauge("mcmux.pending.requests", pending, LongAdder::doubleValue);
    handshakeDuration =
        Timer.builder("mcmux.tls.handshake.duration")
            .description("Duration of TLS handshakes with nodes (TCP connect included)")
            .publishPercentileHistogram()
            .minimumExpectedValue(Duration.ofMillis(1))
            .maximumExpectedValue(Duration.ofSeconds(10))
            .register(registry);
    downNodeMisses =
        Counter.builder("mcmux.multiget.down.node.misses")
            .description("Keys of multi-key gets answered as misses because their node was down")
            .register(registry);
    nudges =
        Counter.builder("mcmux.upstream.nudges")
            .description("Extra requests sent to wake a node that was silent with requests pending")
            .register(registry);
    reloadOk = reloads("success");
    reloadFailed = reloads("failure");
  }

  private Counter reloads(String result) {
    return Counter.builder("mcmux.reloads")
        .description("Certificate and key reloads, by result")
        .tag("result", result)
        .register(registry);
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  /** The registry, for gauges the server registers and for {@code /metrics}. */
  public MeterRegistry registry() {
    return registry;
  }

  /** The Prometheus text exposition of every meter. */
  public String scrape() {
    return registry.scrape();
  }

  @Override
  public void clientOpened() {
    opened.increment();
  }

  @Override
  public void clientClosed(String reason) {
    closed
        .computeIfAbsent(
            reason,
            r ->
                Counter.builder("mcmux.client.connections.closed")
                    .description("Client connections closed, by reason")
                    .tag("reason", r)
                    .register(registry))
        .increment();
  }

  @Override
  public void request(int command, Result result, long nanos) {
    requests[command][result.ordinal()].increment();
    duration.record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void bytes(Direction direction, long count) {
    bytes[direction.ordinal()].increment(count);
  }

  @Override
  public void handshake(String node, boolean success, boolean resumed, long nanos) {
    String key = node + '|' + success + '|' + resumed;
    handshakes
        .computeIfAbsent(
            key,
            k ->
                Counter.builder("mcmux.tls.handshakes")
                    .description("TLS handshakes with nodes, by result and kind")
                    .tag("node", node)
                    .tag("result", success ? "success" : "failure")
                    .tag("kind", resumed ? "resumed" : "full")
                    .register(registry))
        .increment();
    handshakeDuration.record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void reload(boolean success) {
    (success ? reloadOk : reloadFailed).increment();
  }

  @Override
  public void nudge() {
    nudges.increment();
  }

  @Override
  public void downNodeMisses(int keys) {
    downNodeMisses.increment(keys);
  }

  @Override
  public void pendingDelta(int delta) {
    pending.add(delta);
  }
}
