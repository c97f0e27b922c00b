package dev.mcmux.frontend;

import dev.mcmux.upstream.UpstreamPool;
import java.util.HashSet;
import java.util.Set;

/**
 * What a client channel needs from its own event loop: the upstream pool of that loop, so the
 * client and every upstream connection it uses share one thread and take no locks; and the set of
 * that loop's sessions, touched only on that loop, for graceful shutdown.
 */
record LoopContext(UpstreamPool pool, Set<ClientSession> sessions) {
  LoopContext(UpstreamPool pool) {
    this(pool, new HashSet<>());
  }
}
