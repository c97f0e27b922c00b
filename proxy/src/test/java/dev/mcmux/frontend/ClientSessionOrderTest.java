package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementFlavour;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.upstream.EmbeddedUpstreams;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Property: whatever the interleaving of upstream answers across nodes and connections, whatever
 * the chunking, failures and departures, every client receives exactly its answers in its order
 * (see {@link SessionWorld} for the oracle). Runs the real {@link ClientSession} and upstream
 * classes over embedded channels, for many seeded random scenarios.
 *
 * <p>Reproduce a failure with {@code -Dmcmux.order.seed=<seed> -Dmcmux.order.runs=1}; explore more
 * with a larger {@code mcmux.order.runs}, or fuzz {@link ClientSessionFuzzTest} (docs/fuzzing.md).
 */
@ExtendWith(LeakDetection.class)
class ClientSessionOrderTest {

  private static final long SEED = Long.getLong("mcmux.order.seed", 20260714L);
  private static final int RUNS = Integer.getInteger("mcmux.order.runs", 300);

  @Test
  void everyClientGetsExactlyItsAnswersInItsOrder() {
    SessionWorld.CHECKED.clear();
    for (int i = 0; i < RUNS; i++) {
      long seed = SEED + i;
      Random random = new Random(seed);
      try {
        SessionWorld.draw(random::nextInt).runScenario(random::nextInt, 20 + random.nextInt(100));
      } catch (AssertionError e) {
        throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
      }
    }
    if (RUNS >= 300) {
      // Guards against scenarios that stopped reaching the interesting paths.
      for (String what :
          List.of(
              "connection-lost",
              "timeout",
              "no-upstream",
              "noreply-silent",
              "merged",
              "flush_all",
              "set_too_large",
              "quit",
              "after-quit",
              "verbosity",
              "budget-close")) {
        assertTrue(
            SessionWorld.CHECKED.getOrDefault(what, 0) >= 10,
            what + " checked too rarely: " + SessionWorld.CHECKED);
      }
    }
  }

  /**
   * The same property with meta commands among the classic ones: {@code mg ms md}, quiet or not,
   * with or without the client's own opaque, and {@code mn} barriers. Upstream every meta request
   * must carry mcmux's tag and neither {@code q} nor the client's opaque; each client gets its own
   * opaque back, quiet mode applied per command, {@code MN} in its turn.
   */
  @Test
  void everyClientGetsExactlyItsMetaAnswersInItsOrder() {
    SessionWorld.CHECKED.clear();
    for (int i = 0; i < RUNS; i++) {
      long seed = SEED + 1_000_000 + i;
      Random random = new Random(seed);
      try {
        SessionWorld.draw(random::nextInt)
            .withMeta()
            .runScenario(random::nextInt, 20 + random.nextInt(100));
      } catch (AssertionError e) {
        throw new AssertionError("seed " + seed + " (meta): " + e.getMessage(), e);
      }
    }
    if (RUNS >= 300) {
      for (String what :
          List.of(
              "mg",
              "ms",
              "md",
              "mn",
              "meta-quiet-hidden",
              "meta-opaque",
              "connection-lost",
              "timeout",
              "no-upstream",
              "merged",
              "after-quit")) {
        assertTrue(
            SessionWorld.CHECKED.getOrDefault(what, 0) >= 10,
            what + " checked too rarely: " + SessionWorld.CHECKED);
      }
    }
  }

  /**
   * The same property with binary clients beside ASCII and meta ones: every odd-numbered client
   * pipelines binary gets, sets and deletes, loud and quiet, and {@code noop} barriers. Each gets
   * exactly the packets memcached's binary protocol would send, in its order: quiet misses and
   * successes left out, errors and failures always sent, {@code noop} after every earlier answer.
   */
  @Test
  void everyBinaryClientGetsExactlyItsPacketsInItsOrder() {
    SessionWorld.CHECKED.clear();
    for (int i = 0; i < RUNS; i++) {
      long seed = SEED + 2_000_000 + i;
      Random random = new Random(seed);
      try {
        SessionWorld.draw(random::nextInt)
            .withMeta()
            .withBinary()
            .runScenario(random::nextInt, 20 + random.nextInt(100));
      } catch (AssertionError e) {
        throw new AssertionError("seed " + seed + " (binary): " + e.getMessage(), e);
      }
    }
    if (RUNS >= 300) {
      for (String what :
          List.of(
              "b_get",
              "b_set",
              "b_delete",
              "binary-noop",
              "binary-quiet-hidden",
              "binary-failure")) {
        assertTrue(
            SessionWorld.CHECKED.getOrDefault(what, 0) >= 10,
            what + " checked too rarely: " + SessionWorld.CHECKED);
      }
    }
  }

  /**
   * Found by the property above (seed 20260720): with no upstream connection, a noreply request was
   * answered {@code SERVER_ERROR no upstream connection available}; the client, which reads no
   * reply to it, took that line as the answer to its next request.
   */
  @Test
  void longPipelineOfLocalAnswersUnderASmallOutstandingLimit() {
    String request = "version\r\n";
    int count = 20_000;
    String received = exchange(2, 8 << 20, request.repeat(count));
    assertEquals("VERSION 1.6.0\r\n".repeat(count).length(), received.length());
  }

  @Test
  void noreplyRequestWithoutUpstreamStaysSilent() {
    String received =
        exchange(
            100,
            8 << 20,
            "set k 0 0 1 noreply\r\nx\r\n"
                + "delete k noreply\r\n"
                + "incr k 1 noreply\r\n"
                + "touch k 1 noreply\r\n"
                + "flush_all noreply\r\n"
                + "get k\r\n");
    assertEquals("SERVER_ERROR no upstream connection available\r\n", received);
  }

  /**
   * Any per-client buffer size the settings accept works: below 2048 bytes, or past 2 GiB (cut to
   * an int), ClientSession's constructor threw, so every client connection failed while its
   * connection count was never given back.
   */
  @Test
  void anyAcceptedBufferLimitWorks() {
    for (long limit : new long[] {1, 2047, 2048, 3L << 30, 4L << 30, Long.MAX_VALUE}) {
      assertEquals("VERSION 1.6.0\r\n", exchange(100, limit, "version\r\n"), "limit " + limit);
    }
  }

  /**
   * Sends {@code input} in one read to a session whose only node has no connection, so that every
   * request is answered by mcmux itself, and returns what the client received.
   */
  private static String exchange(int maxOutstanding, long maxBufferedBytes, String input) {
    EmbeddedChannel loop = new EmbeddedChannel();
    HostPort address = new HostPort("node0.test", 11211);
    UpstreamNode node = new UpstreamNode(address, UpstreamNode.DEFAULT_ITEM_SIZE_MAX, 3);
    ClusterView view =
        new ClusterView(
            List.of(node),
            KeyPlacement.create(
                PlacementFlavour.LIBMEMCACHED,
                List.of(new PlacementNode(address.host(), address.port()))),
            -1);
    // A pool whose only connection slot is empty: no upstream is available.
    UpstreamPool pool = EmbeddedUpstreams.pool(node, 1, loop.eventLoop());
    FrontendContext frontend =
        new FrontendContext(
            new Settings.Limits(10, maxOutstanding, maxBufferedBytes, 8 << 20, Duration.ofHours(1)),
            Settings.DownNodeKeys.MISS,
            ProxyMetrics.NOOP);
    EmbeddedChannel client =
        new EmbeddedChannel(
            new ClientSession(frontend, new LoopContext(view, new UpstreamPool[] {pool})));
    try {
      client.writeInbound(Unpooled.copiedBuffer(input, StandardCharsets.US_ASCII));
      StringBuilder received = new StringBuilder();
      for (ByteBuf b; (b = client.readOutbound()) != null; ) {
        received.append(b.toString(StandardCharsets.US_ASCII));
        b.release();
      }
      assertTrue(client.isActive(), "the client was closed");
      return received.toString();
    } finally {
      client.finishAndReleaseAll();
      loop.finishAndReleaseAll();
    }
  }
}
