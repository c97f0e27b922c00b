package dev.mcmux.upstream;

import dev.mcmux.upstream.HandshakeObserver.ServerCertificates;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Passes every check to the real trust manager unchanged and tells a {@link HandshakeObserver} what
 * was checked and what the real one decided, including the chain it refused.
 */
final class ObservingTrustManager extends X509ExtendedTrustManager {

  private final X509TrustManager delegate;
  private final HandshakeObserver observer;

  ObservingTrustManager(X509TrustManager delegate, HandshakeObserver observer) {
    this.delegate = delegate;
    this.observer = observer;
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    CertificateException rejection = null;
    try {
      if (delegate instanceof X509ExtendedTrustManager extended) {
        extended.checkServerTrusted(chain, authType, engine);
      } else {
        delegate.checkServerTrusted(chain, authType);
      }
    } catch (CertificateException e) {
      rejection = e;
    }
    report(chain, authType, engine == null ? null : engine.getHandshakeSession(), rejection);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    CertificateException rejection = null;
    try {
      if (delegate instanceof X509ExtendedTrustManager extended) {
        extended.checkServerTrusted(chain, authType, socket);
      } else {
        delegate.checkServerTrusted(chain, authType);
      }
    } catch (CertificateException e) {
      rejection = e;
    }
    report(chain, authType, null, rejection);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    CertificateException rejection = null;
    try {
      delegate.checkServerTrusted(chain, authType);
    } catch (CertificateException e) {
      rejection = e;
    }
    report(chain, authType, null, rejection);
  }

  private void report(
      X509Certificate[] chain, String authType, SSLSession session, CertificateException rejection)
      throws CertificateException {
    CertificateException chainRejection = null;
    if (rejection != null) {
      // The variant without engine or socket checks the chain only: tells chain from host name.
      try {
        delegate.checkServerTrusted(chain, authType);
      } catch (CertificateException e) {
        chainRejection = e;
      }
    }
    observer.serverCertificates(
        new ServerCertificates(
            List.of(chain),
            sessionValue(session, true),
            sessionValue(session, false),
            Optional.ofNullable(rejection),
            Optional.ofNullable(chainRejection)));
    if (rejection != null) {
      throw rejection;
    }
  }

  private static Optional<String> sessionValue(SSLSession session, boolean protocol) {
    if (session == null) {
      return Optional.empty();
    }
    try {
      String value = protocol ? session.getProtocol() : session.getCipherSuite();
      return value == null || value.isEmpty() || value.startsWith("NONE") || value.contains("NULL")
          ? Optional.empty()
          : Optional.of(value);
    } catch (RuntimeException e) {
      // An engine that cannot say yet during the handshake: the caller reads it afterwards.
      return Optional.empty();
    }
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    if (delegate instanceof X509ExtendedTrustManager extended) {
      extended.checkClientTrusted(chain, authType, engine);
    } else {
      delegate.checkClientTrusted(chain, authType);
    }
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    if (delegate instanceof X509ExtendedTrustManager extended) {
      extended.checkClientTrusted(chain, authType, socket);
    } else {
      delegate.checkClientTrusted(chain, authType);
    }
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    delegate.checkClientTrusted(chain, authType);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return delegate.getAcceptedIssuers();
  }
}
