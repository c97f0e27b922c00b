package dev.mcmux.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Per-node ports stay with their node while it is a member. */
class PortAssignmentTest {

  @Test
  void firstAssignmentFollowsListOrder() {
    assertEquals(
        Arrays.asList("a", "b", "c", null),
        PortAssignment.assign(PortAssignment.empty(4), List.of("a", "b", "c")));
  }

  @Test
  void aDepartedNodesPortIsFreeAndANewNodeTakesTheLowestFreePort() {
    List<String> start = PortAssignment.assign(PortAssignment.empty(3), List.of("a", "b", "c"));
    List<String> bLeft = PortAssignment.assign(start, List.of("a", "c"));
    assertEquals(Arrays.asList("a", null, "c"), bLeft);
    // Membership listed in another order changes nothing for the nodes that stay.
    assertEquals(
        Arrays.asList("a", "d", "c"), PortAssignment.assign(bLeft, List.of("d", "c", "a")));
  }

  @Test
  void nodesBeyondThePortsWaitForOneToFreeUp() {
    List<String> full = PortAssignment.assign(PortAssignment.empty(2), List.of("a", "b", "c"));
    assertEquals(List.of("a", "b"), full);
    assertEquals(List.of("c", "b"), PortAssignment.assign(full, List.of("b", "c")));
  }
}
