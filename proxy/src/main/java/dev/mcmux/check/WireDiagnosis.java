package dev.mcmux.check;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/** Explains a failed handshake from the first bytes the server sent, whatever the TLS engine. */
final class WireDiagnosis {

  private static final int ALERT = 21;
  private static final int HANDSHAKE = 22;
  private static final int SERVER_HELLO = 2;
  private static final int TLS_1_2 = 0x0303;
  private static final String TOO_MANY = "ERROR Too many open connections";

  private static final Map<Integer, String> ALERTS =
      Map.ofEntries(
          Map.entry(0, "close_notify"),
          Map.entry(10, "unexpected_message"),
          Map.entry(20, "bad_record_mac"),
          Map.entry(40, "handshake_failure"),
          Map.entry(42, "bad_certificate"),
          Map.entry(43, "unsupported_certificate"),
          Map.entry(44, "certificate_revoked"),
          Map.entry(45, "certificate_expired"),
          Map.entry(46, "certificate_unknown"),
          Map.entry(47, "illegal_parameter"),
          Map.entry(48, "unknown_ca"),
          Map.entry(49, "access_denied"),
          Map.entry(50, "decode_error"),
          Map.entry(51, "decrypt_error"),
          Map.entry(70, "protocol_version"),
          Map.entry(71, "insufficient_security"),
          Map.entry(80, "internal_error"),
          Map.entry(86, "inappropriate_fallback"),
          Map.entry(90, "user_canceled"),
          Map.entry(109, "missing_extension"),
          Map.entry(110, "unsupported_extension"),
          Map.entry(112, "unrecognized_name"),
          Map.entry(116, "certificate_required"),
          Map.entry(120, "no_application_protocol"));

  private WireDiagnosis() {}

  /** A failure explained by {@code first}, or empty when those bytes look like normal TLS. */
  static Optional<Failure> explain(byte[] first, String where) {
    if (first.length == 0) {
      return Optional.empty();
    }
    int type = first[0] & 0xff;
    if (type < 20 || type > 23) {
      String text = printable(first);
      if (text.startsWith(TOO_MANY)) {
        return Optional.of(
            new Failure(
                Failure.Kind.TOO_MANY_CONNECTIONS,
                "memcached at "
                    + where
                    + " is at its connection limit: it answered '"
                    + TOO_MANY
                    + "' in plain text before TLS",
                "raise memcached's -c (ElastiCache: the node type's maximum connections) or"
                    + " close idle clients; mcmux itself keeps a few connections per node and"
                    + " backs off when refused"));
      }
      return Optional.of(
          new Failure(
              Failure.Kind.NOT_TLS,
              "the server is not speaking TLS — is transit encryption enabled? (it answered "
                  + describe(first, text)
                  + ")",
              text.startsWith("ERROR")
                  ? "a plaintext memcached answers ERROR to a TLS ClientHello: enable TLS on the"
                      + " server (memcached -Z, ElastiCache transit encryption) or use its TLS"
                      + " port"
                  : "something other than a TLS server listens on this port; check the port"));
    }
    if (type == ALERT && first.length >= 7) {
      int description = first[6] & 0xff;
      String name = ALERTS.getOrDefault(description, "alert " + description);
      if (description == 70) {
        return Optional.of(
            versionMismatch("it refused TLS 1.2 and 1.3 with a protocol_version alert"));
      }
      return Optional.of(
          new Failure(
              description == 116 || description == 42 || description == 48
                  ? Failure.Kind.CLIENT_CERTIFICATE
                  : Failure.Kind.TLS_HANDSHAKE,
              "the server refused the TLS handshake with the alert " + name,
              hint(description)));
    }
    if (type == HANDSHAKE && first.length >= 11 && (first[5] & 0xff) == SERVER_HELLO) {
      int version = ((first[9] & 0xff) << 8) | (first[10] & 0xff);
      if (version < TLS_1_2) {
        return Optional.of(versionMismatch("it chose " + versionName(version)));
      }
    }
    return Optional.empty();
  }

  private static Failure versionMismatch(String what) {
    return new Failure(
        Failure.Kind.TLS_VERSION,
        "TLS version mismatch: the server offers only TLS 1.1 or older (" + what + ")",
        "mcmux speaks only TLS 1.2 and 1.3; upgrade the server's TLS settings (memcached:"
            + " -o ssl_min_version=tlsv1.2)");
  }

  private static String hint(int alert) {
    return switch (alert) {
      case 40 ->
          "no TLS version or cipher suite in common; compare mcmux.tls.protocols and"
              + " mcmux.tls.ciphers with the server's";
      case 112 ->
          "the server does not serve the name mcmux sent as SNI; check the endpoint or"
              + " --server-name";
      case 116, 42, 48 ->
          "the server wants a client certificate it trusts: give --cert-file and --key-file"
              + " (mcmux.tls.cert-file, mcmux.tls.key-file)";
      default -> "";
    };
  }

  private static String versionName(int version) {
    return switch (version) {
      case 0x0300 -> "SSL 3.0";
      case 0x0301 -> "TLS 1.0";
      case 0x0302 -> "TLS 1.1";
      default -> String.format("version 0x%04x", version);
    };
  }

  private static String describe(byte[] first, String text) {
    if (!text.isEmpty()) {
      return "'" + text + "'";
    }
    int n = Math.min(first.length, 16);
    return "bytes "
        + HexFormat.ofDelimiter(" ").formatHex(first, 0, n)
        + (first.length > n ? " ..." : "");
  }

  /** The first line of {@code bytes} when it is printable ASCII, else empty. */
  static String printable(byte[] bytes) {
    int end = 0;
    while (end < bytes.length && end < 200 && bytes[end] != '\r' && bytes[end] != '\n') {
      int b = bytes[end] & 0xff;
      if (b < 0x20 || b > 0x7e) {
        return "";
      }
      end++;
    }
    return new String(bytes, 0, end, StandardCharsets.US_ASCII);
  }
}
