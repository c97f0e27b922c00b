package dev.mcmux.routing;

/** Thrown when a configuration endpoint's reply or cluster description cannot be trusted. */
public final class MalformedClusterConfigException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public MalformedClusterConfigException(String message) {
    super(message);
  }
}
