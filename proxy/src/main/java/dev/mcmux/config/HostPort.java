package dev.mcmux.config;

/** A host name or IP literal with a port, as written in the configuration. */
public record HostPort(String host, int port) {

  public HostPort {
    if (host == null || host.isEmpty()) {
      throw new IllegalArgumentException("host is empty");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is not in 1..65535");
    }
  }

  /**
   * Parses {@code host:port}, {@code [v6]:port}, or a bare host with {@code defaultPort}.
   *
   * @throws IllegalArgumentException with a message fit for a one-line configuration error
   */
  public static HostPort parse(String text, int defaultPort) {
    String s = text.trim();
    if (s.isEmpty()) {
      throw new IllegalArgumentException("empty address");
    }
    String host;
    String port = null;
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("'" + text + "' has no closing ']'");
      }
      host = s.substring(1, close);
      if (close + 1 < s.length()) {
        if (s.charAt(close + 1) != ':') {
          throw new IllegalArgumentException("'" + text + "' is not [host]:port");
        }
        port = s.substring(close + 2);
      }
    } else {
      int colon = s.lastIndexOf(':');
      if (colon >= 0 && s.indexOf(':') != colon) {
        throw new IllegalArgumentException("'" + text + "': write IPv6 addresses as [addr]:port");
      }
      host = colon < 0 ? s : s.substring(0, colon);
      port = colon < 0 ? null : s.substring(colon + 1);
    }
    int p = defaultPort;
    if (port != null) {
      try {
        p = Integer.parseInt(port);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("'" + text + "' has no valid port");
      }
    }
    return new HostPort(host, p);
  }

  // Written out, with the values the record's generated methods give, because the generated ones
  // bootstrap through invokedynamic: some 50 method-handle classes for this record alone, the
  // only one a running proxy compares or hashes.
  @Override
  public boolean equals(Object o) {
    return o instanceof HostPort other && port == other.port && host.equals(other.host);
  }

  @Override
  public int hashCode() {
    return 31 * host.hashCode() + Integer.hashCode(port);
  }

  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }
}
