package dev.mcmux.config;

/**
 * A setting that cannot be used, reported as one line that names it, such as {@code
 * mcmux.tls.ca-file: /x/ca.pem does not exist}.
 */
public final class InvalidSettingException extends RuntimeException {

  private final String path;

  /**
   * Creates the error for {@code path} (a HOCON path such as {@code mcmux.listen}, or {@code
   * --config} for the file itself).
   */
  public InvalidSettingException(String path, String problem) {
    this(path, problem, null);
  }

  /** Creates the error and keeps the exception that revealed it, for debugging. */
  public InvalidSettingException(String path, String problem, Throwable cause) {
    super(path + ": " + oneLine(problem), cause);
    this.path = path;
  }

  /** The setting at fault. */
  public String path() {
    return path;
  }

  // Operators read these in journald and kubectl output, where a line break splits the story.
  private static String oneLine(String s) {
    return s == null ? "invalid" : s.strip().replaceAll("\\s*\\R\\s*", " ");
  }
}
