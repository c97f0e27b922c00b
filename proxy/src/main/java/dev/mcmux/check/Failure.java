package dev.mcmux.check;

import java.util.Locale;

/**
 * Why a check failed: a kind that scripts can branch on, one line for the operator, and what to do.
 *
 * @param kind the class of failure
 * @param reason one line, fit for {@code mcmux check: FAILED: <reason>}
 * @param hint what to look at or change next; may be empty
 */
public record Failure(Kind kind, String reason, String hint) {

  /** Classes of failure, in the order the check meets them. */
  public enum Kind {
    /** The flags or settings are unusable (a missing CA file, a bad key password). */
    SETTINGS,
    /** The host name does not resolve. */
    DNS,
    /** Nothing listens on the port, or a firewall rejects the connection. */
    CONNECTION_REFUSED,
    /** TCP connect got no answer in time. */
    CONNECT_TIMEOUT,
    /** Another network error before a connection was made. */
    NETWORK,
    /** The server answered with something that is not TLS. */
    NOT_TLS,
    /** memcached refused the connection at its connection limit, before TLS. */
    TOO_MANY_CONNECTIONS,
    /** The server does not speak TLS 1.2 or 1.3. */
    TLS_VERSION,
    /** The TLS handshake did not finish in time. */
    HANDSHAKE_TIMEOUT,
    /** The server's chain does not lead to a trusted CA. */
    UNTRUSTED,
    /** A certificate of the chain has expired. */
    EXPIRED,
    /** A certificate of the chain is not valid yet. */
    NOT_YET_VALID,
    /** The certificate is not valid for the name mcmux verifies. */
    WRONG_HOST,
    /** The server wants a client certificate that mcmux did not send or that it refused. */
    CLIENT_CERTIFICATE,
    /** Any other TLS handshake failure. */
    TLS_HANDSHAKE,
    /** TLS works but memcached did not answer properly. */
    MEMCACHED;

    /** The kind as written in JSON: lower case with dashes. */
    public String id() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
  }
}
