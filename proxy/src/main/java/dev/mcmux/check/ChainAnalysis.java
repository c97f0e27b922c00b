package dev.mcmux.check;

import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import javax.security.auth.x500.X500Principal;

/**
 * Walks a server's certificate chain towards the trust anchors to say in words why it is or is not
 * trusted: which issuer is missing, which certificate expired.
 *
 * <p>It explains the real trust manager's verdict; it never replaces it.
 */
public final class ChainAnalysis {

  /** The kind of the first problem found, most fundamental first. */
  public enum Problem {
    /** No trust anchor signed the chain. */
    UNTRUSTED,
    /** A certificate of the chain, or the anchor, is past its notAfter. */
    EXPIRED,
    /** A certificate of the chain, or the anchor, is before its notBefore. */
    NOT_YET_VALID
  }

  /**
   * The outcome.
   *
   * @param anchor the subject of the trust anchor the chain ends at, when one was found
   * @param problem the most fundamental problem, if any
   * @param reason one sentence on {@code problem}, fit for the FAILED line
   * @param details further sentences: every other problem, notes on the chain's order
   * @param hint what to do about {@code problem}
   */
  public record Result(
      Optional<String> anchor,
      Optional<Problem> problem,
      Optional<String> reason,
      List<String> details,
      Optional<String> hint) {}

  private ChainAnalysis() {}

  /**
   * Analyses {@code chain} (leaf first, as the server sent it) against {@code anchors}, the trust
   * manager's accepted issuers, which came from {@code trustSource}.
   */
  public static Result analyze(
      List<X509Certificate> chain, List<X509Certificate> anchors, String trustSource, Instant now) {
    List<String> details = new ArrayList<>();
    Problem problem = null;
    String reason = null;
    String hint = null;

    // Follow issuers from the leaf through what the server sent until an anchor signs.
    X509Certificate current = chain.get(0);
    Optional<X509Certificate> anchor = Optional.empty();
    List<X509Certificate> path = new ArrayList<>(List.of(current));
    while (true) {
      if (isAnchor(current, anchors)) {
        anchor = Optional.of(current);
        break;
      }
      anchor = signer(current, anchors);
      if (anchor.isPresent()) {
        break;
      }
      Optional<X509Certificate> next = signer(current, chain);
      if (next.isEmpty() || path.contains(next.get())) {
        break;
      }
      current = next.get();
      path.add(current);
    }

    if (anchor.isEmpty()) {
      problem = Problem.UNTRUSTED;
      String issuer = CertificateDetails.name(current.getIssuerX500Principal());
      boolean selfSigned =
          current.getIssuerX500Principal().equals(current.getSubjectX500Principal());
      List<X509Certificate> sameName = withSubject(current.getIssuerX500Principal(), anchors);
      if (selfSigned && signedBy(current, current)) {
        reason =
            "the chain ends at the self-signed "
                + CertificateDetails.name(current.getSubjectX500Principal())
                + ", which is not in "
                + trustSource;
      } else if (!sameName.isEmpty()) {
        reason =
            trustSource
                + " has a CA named "
                + issuer
                + ", but that certificate did not sign "
                + CertificateDetails.name(current.getSubjectX500Principal())
                + " (a different key: was the CA re-created?)";
      } else {
        reason = "issuer " + issuer + " is not in " + trustSource;
      }
      hint =
          trustSource.startsWith("the system")
              ? "the system trust store only knows public CAs; for a private CA (memcached -Z"
                  + " with your own certificates) pass --ca-file with the CA that signed the"
                  + " server's certificate"
              : "add the CA certificate "
                  + issuer
                  + " to "
                  + trustSource
                  + ", or check that the endpoint is the server you meant";
      if (chain.size() == 1 && !selfSigned) {
        details.add(
            "the server sent only its own certificate; if "
                + issuer
                + " is an intermediate CA the server must send it too (memcached: the full chain"
                + " in ssl_chain_cert)");
      }
    }

    List<X509Certificate> checked = new ArrayList<>(path);
    anchor.filter(a -> !path.contains(a)).ifPresent(checked::add);
    for (X509Certificate cert : checked) {
      String what =
          (cert == checked.get(0) ? "certificate " : "CA ")
              + CertificateDetails.name(cert.getSubjectX500Principal())
              + (anchor.isPresent() && cert == anchor.get() && !chain.contains(cert)
                  ? " (in " + trustSource + ")"
                  : "");
      Instant notAfter = cert.getNotAfter().toInstant();
      Instant notBefore = cert.getNotBefore().toInstant();
      String sentence = null;
      Problem kind = null;
      if (now.isAfter(notAfter)) {
        kind = Problem.EXPIRED;
        sentence = what + " expired on " + notAfter + " (" + ago(notAfter, now) + ")";
      } else if (now.isBefore(notBefore)) {
        kind = Problem.NOT_YET_VALID;
        sentence =
            what
                + " is not valid before "
                + notBefore
                + " ("
                + ahead(notBefore, now)
                + "; is this machine's clock right?)";
      }
      if (sentence == null) {
        continue;
      }
      if (problem == null) {
        problem = kind;
        reason = sentence;
        hint =
            kind == Problem.EXPIRED
                ? "renew the certificate on the server (memcached: replace the files and send"
                    + " refresh_certs, or restart it)"
                : "check the clocks of this machine and of the CA (timedatectl, chrony)";
      } else {
        details.add(sentence);
      }
    }

    for (int i = 0; i + 1 < chain.size(); i++) {
      if (!signedBy(chain.get(i), chain.get(i + 1))) {
        details.add(
            "certificate "
                + (i + 2)
                + " of the server's chain did not sign certificate "
                + (i + 1)
                + ": the chain is out of order or holds an unrelated certificate");
        break;
      }
    }

    return new Result(
        anchor.map(a -> CertificateDetails.name(a.getSubjectX500Principal())),
        Optional.ofNullable(problem),
        Optional.ofNullable(reason),
        details,
        Optional.ofNullable(hint));
  }

  private static boolean isAnchor(X509Certificate cert, List<X509Certificate> anchors) {
    for (X509Certificate a : anchors) {
      try {
        if (Arrays.equals(a.getEncoded(), cert.getEncoded())) {
          return true;
        }
      } catch (GeneralSecurityException e) {
        // An unencodable certificate matches nothing.
      }
    }
    return false;
  }

  private static Optional<X509Certificate> signer(
      X509Certificate cert, List<X509Certificate> candidates) {
    for (X509Certificate c : candidates) {
      if (c != cert
          && c.getSubjectX500Principal().equals(cert.getIssuerX500Principal())
          && signedBy(cert, c)) {
        return Optional.of(c);
      }
    }
    return Optional.empty();
  }

  private static List<X509Certificate> withSubject(
      X500Principal subject, List<X509Certificate> certs) {
    return certs.stream().filter(c -> c.getSubjectX500Principal().equals(subject)).toList();
  }

  private static boolean signedBy(X509Certificate cert, X509Certificate issuer) {
    try {
      cert.verify(issuer.getPublicKey());
      return true;
    } catch (GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  static String ago(Instant then, Instant now) {
    return span(Duration.between(then, now)) + " ago";
  }

  static String ahead(Instant then, Instant now) {
    return "in " + span(Duration.between(now, then));
  }

  /** A rough, readable length of time: {@code 3 days}, {@code 5 hours}, {@code 12 minutes}. */
  static String span(Duration d) {
    long days = d.toDays();
    if (days >= 2) {
      return days + " days";
    }
    long hours = d.toHours();
    if (hours >= 2) {
      return hours + " hours";
    }
    long minutes = Math.max(d.toMinutes(), 0);
    return minutes == 1 ? "1 minute" : minutes + " minutes";
  }
}
