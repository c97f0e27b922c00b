package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.Settings;
import dev.mcmux.testing.LeakDetection;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Property: a multi-key get, gets, gat or gats with any keys (duplicates included, long enough to
 * be split into several upstream lines) spread over any number of nodes with any hits and misses,
 * answered in any interleaving and chunking, reaches the client exactly as one memcached holding
 * every key would have answered it.
 */
@ExtendWith(LeakDetection.class)
class MultiGetMergeTest {

  private static final long SEED = Long.getLong("mcmux.merge.seed", 7L);
  private static final int RUNS = Integer.getInteger("mcmux.merge.runs", 100);

  @Test
  void mergedAnswerEqualsTheSingleNodeAnswer() {
    SessionWorld.CHECKED.clear();
    for (int i = 0; i < RUNS; i++) {
      long seed = SEED + i;
      Random random = new Random(seed);
      try {
        SessionWorld world =
            new SessionWorld(
                1 + random.nextInt(4),
                1 + random.nextInt(2),
                1 + random.nextInt(2),
                random.nextBoolean() ? 1000 : 2,
                Settings.DownNodeKeys.FAIL,
                random.nextInt());
        world.runMergeScenario(random::nextInt, 1 + random.nextInt(6));
      } catch (AssertionError e) {
        throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
      }
    }
    if (RUNS >= 100) {
      // Guards against scenarios that stopped splitting lines on one node.
      for (String what : List.of("merged", "line-split-get", "line-split-gets")) {
        assertTrue(
            SessionWorld.CHECKED.getOrDefault(what, 0) >= 10,
            what + " checked too rarely: " + SessionWorld.CHECKED);
      }
    }
  }
}
