package dev.mcmux.bench;

/** A target run that could not go on, with a one-line reason for the report. */
public final class BenchFailure extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** A failure with a message fit for one line of output. */
  public BenchFailure(String message) {
    super(message, null, false, false);
  }
}
