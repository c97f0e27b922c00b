package dev.mcmux.frontend;

import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.TtlCap;
import dev.mcmux.upstream.UpstreamPool;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.function.IntPredicate;

/**
 * What client channels need from their own event loop: the current cluster view and this loop's
 * pool for each of its nodes, so a client and every upstream connection it uses share one thread
 * and take no locks; where each key goes (failover included); and the loop's sessions, for graceful
 * shutdown. Touched only on its loop.
 */
final class LoopContext {
  private ClusterView view;
  private UpstreamPool[] pools;
  private final Set<ClientSession> sessions;
  private final boolean failover;
  private final int ttlCapSeconds;
  private final IntPredicate down = this::isDown;

  LoopContext(ClusterView view, UpstreamPool[] pools) {
    this(view, pools, false, Duration.ZERO, new HashSet<>());
  }

  /**
   * @param failover whether a down node's keys go to the next live node on the ring
   * @param ttlCap the longest expiry of a write that failover redirected
   * @param sessions the loop's client sessions, shared by the contexts of one loop
   */
  LoopContext(
      ClusterView view,
      UpstreamPool[] pools,
      boolean failover,
      Duration ttlCap,
      Set<ClientSession> sessions) {
    this.view = view;
    this.pools = pools;
    this.failover = failover;
    this.ttlCapSeconds = (int) ttlCap.toSeconds();
    this.sessions = sessions;
  }

  ClusterView view() {
    return view;
  }

  /** The pool for node {@code index} of {@link #view()}. */
  UpstreamPool pool(int index) {
    return pools[index];
  }

  UpstreamPool[] pools() {
    return pools;
  }

  /**
   * Where a request for {@code key} goes, the one routing decision of the data path: the node index
   * shifted left by one, plus 1 when failover sent it away from the key's own node (then writes
   * must have their expiry capped with {@link #capTtl}).
   */
  int target(byte[] key) {
    int own = view.nodeFor(key);
    if (!failover || !isDown(own)) {
      return own << 1;
    }
    int other = view.placement().nodeFor(key, down);
    return other < 0 ? own << 1 : other << 1 | 1;
  }

  /** The node index of a {@link #target}. */
  static int node(int target) {
    return target >> 1;
  }

  /** Whether a {@link #target} was redirected by failover. */
  static boolean redirected(int target) {
    return (target & 1) != 0;
  }

  /** An exptime capped for a redirected write. */
  int capTtl(int exptime) {
    return TtlCap.cap(exptime, ttlCapSeconds, System.currentTimeMillis() / 1000);
  }

  /** The request with its expiry capped, for commands that carry one; others unchanged. */
  AsciiRequest capTtl(AsciiRequest r) {
    return switch (r.command()) {
      case SET, ADD, REPLACE, CAS, TOUCH, GAT, GATS ->
          new AsciiRequest(
              r.command(),
              r.keys(),
              r.flags(),
              capTtl(r.exptime()),
              r.cas(),
              r.delta(),
              r.noreply(),
              r.hasDelay(),
              r.data(),
              r.arguments());
      default -> r;
    };
  }

  /** Down for routing: no usable connection on this loop and the node is marked down. */
  private boolean isDown(int index) {
    return pools[index].pick() == null && view.nodes().get(index).isDown();
  }

  /** Switches to a new membership; the pools must match the view's nodes by index. */
  void update(ClusterView view, UpstreamPool[] pools) {
    this.view = view;
    this.pools = pools;
  }

  Set<ClientSession> sessions() {
    return sessions;
  }
}
