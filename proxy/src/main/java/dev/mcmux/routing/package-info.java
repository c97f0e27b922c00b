/**
 * Routing: which cluster node holds a key, computed exactly as the clients that talk to the cluster
 * directly compute it, so that mcmux and those clients share one cache; and which nodes the cluster
 * has, followed by polling an ElastiCache configuration endpoint ({@link
 * dev.mcmux.routing.ConfigPoller}). Key placement is pure code (no channels, no DNS); discovery
 * runs on an event loop and never blocks it.
 */
package dev.mcmux.routing;
