package dev.mcmux.routing;

import io.netty.buffer.ByteBuf;
import java.util.List;

/**
 * Maps a key's bytes to the index of the node that holds it, exactly as one client library does.
 *
 * <p>Implementations are immutable and safe for concurrent use; a lookup allocates nothing.
 */
public interface KeyPlacement {

  /**
   * Builds the placement of {@code flavour} over {@code nodes}; node indexes are list positions.
   *
   * @throws IllegalArgumentException when the list is empty or a node lacks what the flavour hashes
   *     (an IP, for {@code spymemcached} names and for {@code elasticache})
   */
  static KeyPlacement create(PlacementFlavour flavour, List<PlacementNode> nodes) {
    return KetamaRing.build(flavour, nodes);
  }

  /**
   * Builds the placement named {@code flavourName} ({@code libmemcached}, {@code spymemcached} or
   * {@code elasticache}) over {@code nodes}.
   *
   * @throws IllegalArgumentException for an unknown name, or as {@link #create(PlacementFlavour,
   *     List)}
   */
  static KeyPlacement create(String flavourName, List<PlacementNode> nodes) {
    return create(PlacementFlavour.byName(flavourName), nodes);
  }

  /** The flavour this placement reproduces. */
  PlacementFlavour flavour();

  /** The nodes, in index order. */
  List<PlacementNode> nodes();

  /** The node index for a key. */
  default int nodeFor(byte[] key) {
    return nodeFor(key, 0, key.length);
  }

  /** The node index for the key in {@code key[offset, offset + length)}. */
  int nodeFor(byte[] key, int offset, int length);

  /**
   * The first node clockwise on the ring from the key's point for which {@code skip} is false, or
   * -1 when it is true for every node; with failover, the node that takes a down node's keys.
   */
  int nodeFor(byte[] key, java.util.function.IntPredicate skip);

  /** The node index for the key in {@code buf[index, index + length)}; indexes are untouched. */
  int nodeFor(ByteBuf buf, int index, int length);
}
