/**
 * {@code mcmux check}: connects to one endpoint the way mcmux would, step by step, and explains in
 * plain words what works and, when something does not, why.
 */
package dev.mcmux.check;
