package dev.mcmux.frontend;

import static dev.mcmux.testing.BinaryPackets.bytes;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.frontend.BinaryDifferentialIT.Answer;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.BinaryPackets;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Binary-protocol requests whose header, extras and key do not fit memcached's read buffer close
 * the connection as memcached closes it.
 */
@ExtendWith(LeakDetection.class)
class BinaryFuzzDifferentialIT {

  private static final int CASES = Integer.getInteger("mcmux.fuzz.cases", 400);
  private static final long SEED = Long.getLong("mcmux.fuzz.seed", System.nanoTime());
  private static final int ONLY = Integer.getInteger("mcmux.fuzz.only", -1);
  private static final int MAX_MUTATIONS = Integer.getInteger("mcmux.fuzz.max-mutations", 3);
  private static final Duration BUDGET =
      Duration.ofSeconds(Long.getLong("mcmux.fuzz.budget-seconds", 45));

  /** Streams stay below memcached's largest storable value here (964 bytes of 1 KiB items). */
  private static final int MAX_STREAM = 900;

  @TempDir static Path dir;
  static MemcachedProcess direct;
  static MemcachedProcess upstream;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    String[] args = {"-o", "slab_chunk_max=512"};
    int itemSize = BinaryDifferentialIT.ITEM_SIZE_MAX;
    direct = MemcachedProcess.plain().itemSizeMax(itemSize).args(args).start();
    upstream =
        MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST))
            .itemSizeMax(itemSize)
            .args(args)
            .start();
    mcmux = McmuxHarness.inFrontOf(upstream.port(), pki.caFile()).start();
    Await.until(
        "mcmux to learn item_size_max",
        Duration.ofSeconds(10),
        () -> mcmux.server().node().itemSizeMax() == itemSize);
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    if (upstream != null) {
      upstream.close();
    }
    if (direct != null) {
      direct.close();
    }
  }

  /**
   * Found by differential fuzzing: memcached reads a binary request's header, extras and key into
   * its 16 KiB read buffer, and closes the connection without an answer when they cannot fit and
   * more bytes arrive; mcmux waited for the whole key, then answered an error before closing.
   */
  @Test
  void keysTooLongForMemcachedsReadBufferCloseSilently() {
    List<String> differences = new ArrayList<>();
    int[][] cases = {
      {16360, 16360, 16360}, {16361, 16361, 16361}, {20000, 20100, 20000}, {65535, 70000, 3}
    };
    for (int[] c : cases) {
      byte[] packet = BinaryPackets.raw(0x00, c[0], 0, c[2], 1, 0, bytes("k".repeat(c[1])));
      for (boolean split : new boolean[] {false, true}) {
        if (split && packet.length > 17_000) {
          continue;
        }
        Answer expected = BinaryDifferentialIT.exchange(direct.port(), packet, split);
        Answer actual = BinaryDifferentialIT.exchange(mcmux.port(), packet, split);
        if (!expected.equals(actual)) {
          differences.add(
              "key of "
                  + c[0]
                  + " bytes, "
                  + c[1]
                  + " sent: memcached "
                  + expected
                  + ", mcmux "
                  + actual);
        }
      }
    }
    assertTrue(differences.isEmpty(), String.join("\n", differences));
  }
}
