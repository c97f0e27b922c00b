/** The TLS side of mcmux: the client TLS context and, later, connections and pools per node. */
package dev.mcmux.upstream;
