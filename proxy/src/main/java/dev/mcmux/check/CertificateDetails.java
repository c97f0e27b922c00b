package dev.mcmux.check;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.EdECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import javax.security.auth.x500.X500Principal;

/** What an operator needs to see of one certificate, in printable form. */
public record CertificateDetails(
    String subject,
    List<String> subjectAltNames,
    String issuer,
    Instant notBefore,
    Instant notAfter,
    String key,
    String signatureAlgorithm,
    String sha256) {

  /** Type tags of {@link X509Certificate#getSubjectAlternativeNames()}. */
  static final int SAN_DNS = 2;

  static final int SAN_IP = 7;

  /** Reads the printable parts of {@code cert}. */
  public static CertificateDetails of(X509Certificate cert) {
    return new CertificateDetails(
        name(cert.getSubjectX500Principal()),
        subjectAltNames(cert),
        name(cert.getIssuerX500Principal()),
        cert.getNotBefore().toInstant(),
        cert.getNotAfter().toInstant(),
        describeKey(cert.getPublicKey()),
        cert.getSigAlgName(),
        fingerprint(cert));
  }

  /** A distinguished name in the RFC 2253 form operators know from OpenSSL's output. */
  static String name(X500Principal principal) {
    return principal.getName(X500Principal.RFC2253);
  }

  /** {@code DNS:name} and {@code IP:address} entries, in certificate order; others skipped. */
  static List<String> subjectAltNames(X509Certificate cert) {
    List<String> names = new ArrayList<>();
    Collection<List<?>> sans;
    try {
      sans = cert.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      names.add("(unreadable subjectAltName: " + e.getMessage() + ")");
      return names;
    }
    if (sans == null) {
      return names;
    }
    for (List<?> san : sans) {
      if (san.size() < 2 || !(san.get(0) instanceof Integer type)) {
        continue;
      }
      if (type == SAN_DNS) {
        names.add("DNS:" + san.get(1));
      } else if (type == SAN_IP) {
        names.add("IP:" + san.get(1));
      }
    }
    return names;
  }

  /** {@code RSA 2048 bits}, {@code EC P-256}, {@code Ed25519}, ... */
  static String describeKey(PublicKey key) {
    if (key instanceof RSAPublicKey rsa) {
      return "RSA " + rsa.getModulus().bitLength() + " bits";
    }
    if (key instanceof ECPublicKey ec) {
      String params = ec.getParams().toString();
      int nist = params.indexOf("NIST P-");
      if (nist >= 0) {
        int end = nist + "NIST P-".length();
        while (end < params.length() && Character.isDigit(params.charAt(end))) {
          end++;
        }
        return "EC " + params.substring(nist + "NIST ".length(), end);
      }
      return "EC " + ec.getParams().getCurve().getField().getFieldSize() + " bits";
    }
    if (key instanceof EdECPublicKey ed) {
      return ed.getParams().getName();
    }
    return key.getAlgorithm();
  }

  private static String fingerprint(X509Certificate cert) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
      return HexFormat.ofDelimiter(":").withUpperCase().formatHex(digest);
    } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
      return "";
    }
  }
}
