package dev.mcmux.frontend;

import dev.mcmux.routing.ClusterView;
import dev.mcmux.upstream.UpstreamPool;
import java.util.HashSet;
import java.util.Set;

/**
 * What client channels need from their own event loop: the current cluster view and this loop's
 * pool for each of its nodes, so a client and every upstream connection it uses share one thread
 * and take no locks; and the loop's sessions, for graceful shutdown. Touched only on its loop.
 */
final class LoopContext {
  private ClusterView view;
  private UpstreamPool[] pools;
  private final Set<ClientSession> sessions = new HashSet<>();

  LoopContext(ClusterView view, UpstreamPool[] pools) {
    this.view = view;
    this.pools = pools;
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

  /** Switches to a new membership; the pools must match the view's nodes by index. */
  void update(ClusterView view, UpstreamPool[] pools) {
    this.view = view;
    this.pools = pools;
  }

  Set<ClientSession> sessions() {
    return sessions;
  }
}
