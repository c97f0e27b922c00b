/**
 * Key placement: which cluster node holds a key, computed exactly as the clients that talk to the
 * cluster directly compute it, so that mcmux and those clients share one cache. Pure code: no
 * channels, no DNS.
 */
package dev.mcmux.routing;
