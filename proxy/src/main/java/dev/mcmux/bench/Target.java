package dev.mcmux.bench;

import dev.mcmux.config.HostPort;
import java.util.regex.Pattern;

/**
 * One server to measure, from {@code --target NAME=ADDR}: {@code host:port} is plaintext, {@code
 * tls://host:port} is TLS.
 */
public record Target(String name, String host, int port, boolean tls) {

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,31}");
  private static final String TLS_SCHEME = "tls://";

  /** The memcached port when an address has none. */
  public static final int DEFAULT_PORT = 11211;

  public Target {
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "target name '" + name + "': use 1-32 letters, digits, '.', '_' or '-'");
    }
  }

  /**
   * Parses {@code NAME=ADDR}.
   *
   * @throws IllegalArgumentException with a one-line message
   */
  public static Target parse(String spec) {
    int eq = spec.indexOf('=');
    if (eq <= 0 || eq == spec.length() - 1) {
      throw new IllegalArgumentException(
          "--target '" + spec + "': expected NAME=host:port or NAME=tls://host:port");
    }
    String name = spec.substring(0, eq).trim();
    String address = spec.substring(eq + 1).trim();
    boolean tls = address.regionMatches(true, 0, TLS_SCHEME, 0, TLS_SCHEME.length());
    if (tls) {
      address = address.substring(TLS_SCHEME.length());
    } else if (address.contains("://")) {
      throw new IllegalArgumentException(
          "--target '" + spec + "': only tls:// or a bare host:port is understood");
    }
    HostPort hp;
    try {
      hp = HostPort.parse(address, DEFAULT_PORT);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--target '" + spec + "': " + e.getMessage());
    }
    return new Target(name, hp.host(), hp.port(), tls);
  }

  /** The address as given: {@code tls://host:port} or {@code host:port}. */
  public String address() {
    return (tls ? TLS_SCHEME : "") + new HostPort(host, port);
  }
}
