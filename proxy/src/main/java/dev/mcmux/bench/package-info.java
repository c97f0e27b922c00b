/**
 * {@code mcmux bench}: a memcached load generator that verifies every value it reads and compares
 * targets (plain memcached, TLS memcached, mcmux) side by side.
 */
package dev.mcmux.bench;
