package dev.mcmux.upstream;

import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import javax.security.auth.x500.X500Principal;

/**
 * Sees what the handshakes of an observed {@link TlsContextFactory} saw and decided, so that {@code
 * mcmux check} can explain a verdict it did not make itself. Called on I/O threads.
 */
public interface HandshakeObserver {

  /**
   * The server's chain, with the trust manager's verdict on it; called before that verdict acts.
   */
  void serverCertificates(ServerCertificates seen);

  /**
   * The server asked for a client certificate issued by one of {@code acceptedIssuers} (empty: by
   * anyone); {@code sent} says whether mcmux chose one to present.
   */
  void clientCertificateRequested(List<X500Principal> acceptedIssuers, boolean sent);

  /**
   * One server certificate check.
   *
   * @param chain the certificates as the server sent them, leaf first
   * @param protocol the TLS version being negotiated, or empty when the engine does not say yet
   * @param cipherSuite the cipher suite being negotiated, or empty when the engine does not say yet
   * @param rejection why the trust manager refused the chain and host name together, if it did
   * @param chainRejection why it refused the chain alone, ignoring the host name, if it did; asked
   *     only when {@code rejection} is present, so a rejection without it is about the host name
   */
  record ServerCertificates(
      List<X509Certificate> chain,
      Optional<String> protocol,
      Optional<String> cipherSuite,
      Optional<CertificateException> rejection,
      Optional<CertificateException> chainRejection) {}
}
