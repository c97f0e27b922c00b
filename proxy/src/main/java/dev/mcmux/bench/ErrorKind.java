package dev.mcmux.bench;

/** The kinds of failure counted as errors (mismatches are counted apart: they are worse). */
public enum ErrorKind {
  /** A connection or TLS handshake that did not succeed. */
  CONNECT("connect"),
  /** No response within {@code --timeout}; the connection is closed. */
  TIMEOUT("timeout"),
  /** A request in flight when its connection closed. */
  DISCONNECT("disconnect"),
  /** Bytes that are not an answer to the request; the connection is closed. */
  PROTOCOL("protocol"),
  /** {@code SERVER_ERROR ...} from the server. */
  SERVER_ERROR("SERVER_ERROR"),
  /** {@code CLIENT_ERROR ...} from the server. */
  CLIENT_ERROR("CLIENT_ERROR"),
  /** {@code ERROR} from the server. */
  ERROR("ERROR"),
  /** {@code NOT_STORED}, {@code EXISTS} or {@code NOT_FOUND} to a set. */
  NOT_STORED("not stored");

  private final String label;

  ErrorKind(String label) {
    this.label = label;
  }

  /** The name used in reports. */
  public String label() {
    return label;
  }
}
