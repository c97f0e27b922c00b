package dev.mcmux.upstream;

import dev.mcmux.config.InvalidSettingException;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509TrustManager;

/** Builds the JDK trust and key managers that both TLS engines use to verify and authenticate. */
final class TrustManagers {

  // Only protects the in-memory key store below, which never leaves this class.
  private static final char[] IN_MEMORY_PASSWORD = "mcmux".toCharArray();

  private TrustManagers() {}

  /**
   * The JDK's PKIX trust manager over {@code caCerts}, or over the system trust store when there
   * are none: the same one Netty would build from the certificates, or use by default, for either
   * engine.
   */
  static X509TrustManager verifying(List<X509Certificate> caCerts) {
    try {
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      if (caCerts.isEmpty()) {
        tmf.init((KeyStore) null);
      } else {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        for (int i = 0; i < caCerts.size(); i++) {
          store.setCertificateEntry("ca-" + i, caCerts.get(i));
        }
        tmf.init(store);
      }
      for (TrustManager tm : tmf.getTrustManagers()) {
        if (tm instanceof X509TrustManager x509) {
          return x509;
        }
      }
      throw new IllegalStateException("the JDK's TrustManagerFactory made no X509TrustManager");
    } catch (GeneralSecurityException | IOException e) {
      throw new InvalidSettingException(
          "mcmux.tls.ca-file", "cannot build a trust store: " + e.getMessage(), e);
    }
  }

  /**
   * The JDK's key manager for {@code key} and {@code chain}, which picks the certificate only when
   * its issuer is one the server accepts, as Netty's own key material does; null without a key.
   */
  static X509ExtendedKeyManager keyManager(PrivateKey key, List<X509Certificate> chain) {
    if (key == null) {
      return null;
    }
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      store.setKeyEntry("client", key, IN_MEMORY_PASSWORD, chain.toArray(new X509Certificate[0]));
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(store, IN_MEMORY_PASSWORD);
      for (KeyManager km : kmf.getKeyManagers()) {
        if (km instanceof X509ExtendedKeyManager x509) {
          return x509;
        }
      }
      throw new IllegalStateException("the JDK's KeyManagerFactory made no X509ExtendedKeyManager");
    } catch (GeneralSecurityException | IOException e) {
      throw new InvalidSettingException(
          "mcmux.tls.cert-file", "cannot use the client certificate: " + e.getMessage(), e);
    }
  }
}
