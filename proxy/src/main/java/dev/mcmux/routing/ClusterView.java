package dev.mcmux.routing;

import dev.mcmux.upstream.UpstreamNode;
import java.util.List;

/**
 * One immutable picture of the cluster: its nodes in placement order and where each key lives.
 * Membership changes replace the whole view; nothing in it ever changes.
 *
 * @param nodes the nodes; a key's node index points into this list
 * @param placement the key placement over the same nodes, in the same order
 * @param configVersion the discovery configuration version, or -1 for a static node list
 */
public record ClusterView(List<UpstreamNode> nodes, KeyPlacement placement, long configVersion) {

  public ClusterView {
    nodes = List.copyOf(nodes);
    if (nodes.size() != placement.nodes().size()) {
      throw new IllegalArgumentException("placement and node list differ in size");
    }
  }

  /** The index of the node that holds {@code key}. */
  public int nodeFor(byte[] key) {
    return nodes.size() == 1 ? 0 : placement.nodeFor(key);
  }

  /** Number of nodes. */
  public int size() {
    return nodes.size();
  }
}
