package dev.mcmux.frontend;

import dev.mcmux.upstream.UpstreamPool;

/**
 * What a client channel needs from its own event loop: the upstream pool of that loop, so the
 * client and every upstream connection it uses share one thread and take no locks.
 */
record LoopContext(UpstreamPool pool) {}
