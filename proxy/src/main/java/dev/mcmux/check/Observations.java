package dev.mcmux.check;

import dev.mcmux.upstream.HandshakeObserver;
import java.util.ArrayList;
import java.util.List;
import javax.security.auth.x500.X500Principal;

/** Collects what the observed handshake reported; written on the I/O thread, read afterwards. */
final class Observations implements HandshakeObserver {

  private ServerCertificates server;
  private boolean clientCertificateRequested;
  private boolean clientCertificateSent;
  private final List<String> acceptedIssuers = new ArrayList<>();

  @Override
  public synchronized void serverCertificates(ServerCertificates seen) {
    server = seen;
  }

  @Override
  public synchronized void clientCertificateRequested(List<X500Principal> issuers, boolean sent) {
    clientCertificateRequested = true;
    clientCertificateSent |= sent;
    for (X500Principal p : issuers) {
      String name = CertificateDetails.name(p);
      if (!acceptedIssuers.contains(name)) {
        acceptedIssuers.add(name);
      }
    }
  }

  synchronized ServerCertificates server() {
    return server;
  }

  synchronized boolean clientCertificateRequested() {
    return clientCertificateRequested;
  }

  synchronized boolean clientCertificateSent() {
    return clientCertificateSent;
  }

  synchronized List<String> acceptedIssuers() {
    return List.copyOf(acceptedIssuers);
  }
}
