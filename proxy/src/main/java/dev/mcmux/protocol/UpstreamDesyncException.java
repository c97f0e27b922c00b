package dev.mcmux.protocol;

/**
 * The upstream sent bytes that cannot be the response the head request expects; the connection is
 * out of step and must be closed, failing everything pending on it.
 */
public final class UpstreamDesyncException extends Exception {
  public UpstreamDesyncException(String message) {
    super(message, null, false, false);
  }
}
