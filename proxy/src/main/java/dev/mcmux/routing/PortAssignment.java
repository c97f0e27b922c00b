package dev.mcmux.routing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Per-node mode's map from local ports to nodes, kept stable as membership changes: a node keeps
 * its port while it is a member, a departed node's port becomes free, and a new node takes the
 * lowest free port. Nodes beyond the number of ports get none until a port frees up.
 */
public final class PortAssignment {
  private PortAssignment() {}

  /**
   * The next assignment.
   *
   * @param previous what each port served so far (null: nothing), one entry per port
   * @param members the current members in configuration order
   * @return one entry per port: its node, or null when no member has it
   */
  public static <N> List<N> assign(List<N> previous, List<N> members) {
    List<N> next = new ArrayList<>(previous);
    for (int i = 0; i < next.size(); i++) {
      if (next.get(i) != null && !members.contains(next.get(i))) {
        next.set(i, null);
      }
    }
    for (N member : members) {
      if (!next.contains(member)) {
        int free = next.indexOf(null);
        if (free < 0) {
          break;
        }
        next.set(free, member);
      }
    }
    return next;
  }

  /** An assignment with nothing on any of {@code ports} ports. */
  public static <N> List<N> empty(int ports) {
    return new ArrayList<>(Arrays.asList(newArray(ports)));
  }

  @SuppressWarnings("unchecked")
  private static <N> N[] newArray(int n) {
    return (N[]) new Object[n];
  }
}
