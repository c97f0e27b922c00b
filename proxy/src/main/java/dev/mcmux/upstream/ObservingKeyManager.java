package dev.mcmux.upstream;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.security.auth.x500.X500Principal;

/**
 * Chooses the client certificate exactly as the real key manager does (none when there is none) and
 * tells a {@link HandshakeObserver} that the server asked for one.
 */
final class ObservingKeyManager extends X509ExtendedKeyManager {

  private final X509ExtendedKeyManager delegate;
  private final HandshakeObserver observer;

  /** {@code delegate} may be null: no client certificate is configured. */
  ObservingKeyManager(X509ExtendedKeyManager delegate, HandshakeObserver observer) {
    this.delegate = delegate;
    this.observer = observer;
  }

  @Override
  public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
    String alias =
        delegate == null ? null : delegate.chooseEngineClientAlias(keyType, issuers, engine);
    observer.clientCertificateRequested(x500(issuers), alias != null);
    return alias;
  }

  @Override
  public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
    String alias = delegate == null ? null : delegate.chooseClientAlias(keyType, issuers, socket);
    observer.clientCertificateRequested(x500(issuers), alias != null);
    return alias;
  }

  private static List<X500Principal> x500(Principal[] issuers) {
    List<X500Principal> out = new ArrayList<>();
    if (issuers != null) {
      for (Principal p : issuers) {
        out.add(p instanceof X500Principal x ? x : new X500Principal(p.getName()));
      }
    }
    return out;
  }

  @Override
  public String[] getClientAliases(String keyType, Principal[] issuers) {
    return delegate == null ? null : delegate.getClientAliases(keyType, issuers);
  }

  @Override
  public X509Certificate[] getCertificateChain(String alias) {
    return delegate == null ? null : delegate.getCertificateChain(alias);
  }

  @Override
  public PrivateKey getPrivateKey(String alias) {
    return delegate == null ? null : delegate.getPrivateKey(alias);
  }

  @Override
  public String[] getServerAliases(String keyType, Principal[] issuers) {
    return null;
  }

  @Override
  public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
    return null;
  }

  @Override
  public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
    return null;
  }
}
