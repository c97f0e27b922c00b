package dev.mcmux.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The ring walk failover uses: the next distinct node clockwise that is not skipped. */
class FailoverPlacementTest {
  private final KeyPlacement ring =
      KeyPlacement.create(
          "libmemcached",
          List.of(
              new PlacementNode("a.example", 11211),
              new PlacementNode("b.example", 11211),
              new PlacementNode("c.example", 11211)));

  @Test
  void skippingNothingIsOrdinaryPlacement() {
    for (int i = 0; i < 500; i++) {
      byte[] key = ("k" + i).getBytes(StandardCharsets.UTF_8);
      assertEquals(ring.nodeFor(key), ring.nodeFor(key, n -> false));
    }
  }

  @Test
  void aSkippedNodesKeysSpreadOverTheOthersAndOtherKeysStay() {
    int[] movedTo = new int[3];
    for (int i = 0; i < 3000; i++) {
      byte[] key = ("k" + i).getBytes(StandardCharsets.UTF_8);
      int own = ring.nodeFor(key);
      int next = ring.nodeFor(key, n -> n == 1);
      if (own == 1) {
        assertNotEquals(1, next);
        movedTo[next]++;
      } else {
        assertEquals(own, next, "keys of live nodes never move");
      }
    }
    // 160 points per node interleave, so both survivors take a share of the down node's keys.
    assertEquals(0, movedTo[1]);
    assertNotEquals(0, movedTo[0]);
    assertNotEquals(0, movedTo[2]);
  }

  @Test
  void everyNodeSkippedMeansNone() {
    assertEquals(-1, ring.nodeFor("k".getBytes(StandardCharsets.UTF_8), n -> true));
  }
}
