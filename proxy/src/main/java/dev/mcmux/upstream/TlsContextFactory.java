package dev.mcmux.upstream;

import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.X509TrustManager;
import javax.security.auth.x500.X500Principal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the one client {@link SslContext} of the process from {@link Settings.Tls} and makes the
 * {@link SslHandler} of every upstream connection from it.
 */
public final class TlsContextFactory {

  private static final Logger log = LoggerFactory.getLogger(TlsContextFactory.class);

  /** What {@link #engineName()} says when BoringSSL from netty-tcnative is in use. */
  public static final String OPENSSL = "OpenSSL (BoringSSL)";

  /** What {@link #engineName()} says when the JDK's own TLS is in use. */
  public static final String JDK = "JDK";

  /** A certificate mcmux trusts or presents, as shown on {@code /status}. */
  public record CertificateInfo(String subject, Instant notAfter) {

    static CertificateInfo of(X509Certificate cert) {
      return new CertificateInfo(
          cert.getSubjectX500Principal().getName(X500Principal.RFC2253),
          cert.getNotAfter().toInstant());
    }
  }

  private final SslContext context;
  private final String engineName;
  private final Optional<String> serverName;
  private final long handshakeTimeoutMillis;
  private final boolean verify;
  private final List<CertificateInfo> caCertificates;
  private final List<CertificateInfo> clientCertificates;
  private final List<X509Certificate> trustAnchors;
  private final String trustSource;

  private TlsContextFactory(
      SslContext context,
      String engineName,
      Settings.Tls tls,
      List<CertificateInfo> caCertificates,
      List<CertificateInfo> clientCertificates,
      List<X509Certificate> trustAnchors,
      String trustSource) {
    this.context = context;
    this.engineName = engineName;
    this.serverName = tls.serverName();
    this.handshakeTimeoutMillis = tls.handshakeTimeout().toMillis();
    this.verify = tls.verify();
    this.caCertificates = caCertificates;
    this.clientCertificates = clientCertificates;
    this.trustAnchors = trustAnchors;
    this.trustSource = trustSource;
  }

  /**
   * Reads the certificate files and builds the context; call once at start, never per connection.
   *
   * @throws InvalidSettingException naming the setting when a file, the engine or a cipher is
   *     unusable
   */
  public static TlsContextFactory create(Settings.Tls tls) {
    return create(tls, null);
  }

  /**
   * Like {@link #create(Settings.Tls)}, with every server certificate chain, trust verdict and
   * client certificate request of handshakes made with this context reported to {@code observer}
   * (for {@code mcmux check}); the verdicts themselves are exactly those of {@link #create}.
   */
  public static TlsContextFactory create(Settings.Tls tls, HandshakeObserver observer) {
    SslProvider provider = provider(tls.engine());
    String engineName = provider == SslProvider.OPENSSL ? OPENSSL : JDK;
    SslContextBuilder builder =
        SslContextBuilder.forClient().sslProvider(provider).protocols(tls.protocols());

    List<CertificateInfo> cas = List.of();
    X509TrustManager trust;
    if (!tls.verify()) {
      trust = (X509TrustManager) InsecureTrustManagerFactory.INSTANCE.getTrustManagers()[0];
      // Without this the JDK engine would still check the host name against a chain that
      // nobody verified, which protects nothing and only confuses.
      builder.endpointIdentificationAlgorithm(null);
    } else {
      builder.endpointIdentificationAlgorithm("HTTPS");
      List<X509Certificate> caCerts = List.of();
      if (tls.caFile().isPresent()) {
        caCerts = PemFiles.certificates(tls.caFile().get(), "mcmux.tls.ca-file");
        cas = caCerts.stream().map(CertificateInfo::of).toList();
        warnIfExpired(caCerts, "mcmux.tls.ca-file");
      }
      trust = TrustManagers.verifying(caCerts);
    }
    // mcmux check sees the verdict of this very trust manager, never a copy of its logic.
    builder.trustManager(observer == null ? trust : new ObservingTrustManager(trust, observer));
    builder.ciphers(ciphers(tls, provider, engineName, trust));

    List<CertificateInfo> clientCerts = List.of();
    PrivateKey clientKey = null;
    List<X509Certificate> clientChain = List.of();
    if (tls.certFile().isPresent() && tls.keyFile().isPresent()) {
      Path certFile = tls.certFile().get();
      Path keyFile = tls.keyFile().get();
      clientChain = PemFiles.certificates(certFile, "mcmux.tls.cert-file");
      clientKey = PemFiles.privateKey(keyFile, "mcmux.tls.key-file", tls.keyPassword());
      if (!PemFiles.matches(clientKey, clientChain.get(0))) {
        throw new InvalidSettingException(
            "mcmux.tls.key-file", keyFile + " does not match the certificate in " + certFile);
      }
      clientCerts = clientChain.stream().map(CertificateInfo::of).toList();
      warnIfExpired(clientChain.subList(0, 1), "mcmux.tls.cert-file");
    }
    if (observer != null) {
      // Always a key manager, so a certificate request is seen even when there is nothing to send.
      builder.keyManager(
          new ObservingKeyManager(TrustManagers.keyManager(clientKey, clientChain), observer));
    } else if (clientKey != null) {
      // Netty's own key material path for a key and chain caches the encoded key for OpenSSL.
      builder.keyManager(clientKey, clientChain);
    }

    SslContext context;
    try {
      context = builder.build();
    } catch (SSLException | RuntimeException e) {
      throw new InvalidSettingException(
          "mcmux.tls", "cannot set up " + engineName + " TLS: " + e.getMessage(), e);
    }
    // A resumed session spares a reconnect (node restart, network blip) the certificate chain
    // and signature checks, the costliest part of a reconnect storm on both sides.
    if (context.sessionContext() instanceof OpenSslSessionContext openSsl) {
      openSsl.setSessionCacheEnabled(true);
    }
    logEngine(tls, provider);
    String trustSource = trustSource(tls);
    if (tls.verify()) {
      log.info(
          "TLS trust: {}, host names verified",
          tls.caFile().isPresent()
              ? trustSource + " (" + cas.size() + " certificates)"
              : trustSource + " (the JDK's cacerts or javax.net.ssl.trustStore)");
    } else {
      log.warn(
          "mcmux.tls.verify = false: upstream certificates are NOT verified; anyone on the"
              + " network path can intercept and alter memcached traffic");
    }
    List<X509Certificate> anchors =
        tls.verify() ? List.of(trust.getAcceptedIssuers()) : List.<X509Certificate>of();
    return new TlsContextFactory(context, engineName, tls, cas, clientCerts, anchors, trustSource);
  }

  private static String trustSource(Settings.Tls tls) {
    if (!tls.verify()) {
      return "nothing (mcmux.tls.verify = false)";
    }
    return tls.caFile().map(Path::toString).orElse("the system trust store");
  }

  /**
   * A handler for a new connection to {@code host:port}, sending SNI and verifying {@code
   * mcmux.tls.server-name} when set, else {@code host}; the peer identity also keys the session
   * cache, so a reconnect to the same endpoint can resume.
   */
  public SslHandler newHandler(ByteBufAllocator alloc, String host, int port) {
    SslHandler handler = context.newHandler(alloc, serverName.orElse(host), port);
    handler.setHandshakeTimeoutMillis(handshakeTimeoutMillis);
    return handler;
  }

  /** The shared context, for callers that need its session context or cipher list. */
  public SslContext context() {
    return context;
  }

  /** {@value #OPENSSL} or {@value #JDK}. */
  public String engineName() {
    return engineName;
  }

  /** Whether peer certificates and host names are verified. */
  public boolean verifying() {
    return verify;
  }

  /** The certificates of {@code mcmux.tls.ca-file}; empty when the system trust store is used. */
  public List<CertificateInfo> caCertificates() {
    return caCertificates;
  }

  /** The client certificate chain presented to servers, leaf first; empty when none is set. */
  public List<CertificateInfo> clientCertificates() {
    return clientCertificates;
  }

  /**
   * The CA certificates the trust manager accepts as issuers: those of {@code mcmux.tls.ca-file},
   * or of the system trust store; empty when certificates are not verified.
   */
  public List<X509Certificate> trustAnchors() {
    return trustAnchors;
  }

  /**
   * Where trust comes from, for messages: the CA file's path, {@code the system trust store}, or
   * {@code nothing (mcmux.tls.verify = false)}.
   */
  public String trustSource() {
    return trustSource;
  }

  /** The host name sent as SNI and verified for a connection to {@code host}. */
  public String serverNameFor(String host) {
    return serverName.orElse(host);
  }

  /** How long a handshake may take before the handler fails it. */
  public long handshakeTimeoutMillis() {
    return handshakeTimeoutMillis;
  }

  private static SslProvider provider(Settings.TlsEngine engine) {
    return switch (engine) {
      case JDK -> SslProvider.JDK;
      case AUTO -> OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
      case OPENSSL -> {
        if (!OpenSsl.isAvailable()) {
          throw new InvalidSettingException(
              "mcmux.tls.engine",
              "openssl is not available: "
                  + rootCause(OpenSsl.unavailabilityCause())
                  + " (a noexec or read-only /tmp prevents loading it; set"
                  + " -Dio.netty.native.workdir to a writable, executable directory)");
        }
        yield SslProvider.OPENSSL;
      }
    };
  }

  private static List<String> ciphers(
      Settings.Tls tls, SslProvider provider, String engineName, X509TrustManager trust) {
    if (tls.ciphers().isEmpty()) {
      return preferAes128Gcm(defaultCiphers(provider, tls.protocols(), trust));
    }
    Set<String> supported = supportedCiphers(provider);
    for (String cipher : tls.ciphers()) {
      if (!supported.contains(cipher)) {
        throw new InvalidSettingException(
            "mcmux.tls.ciphers", "'" + cipher + "' is not supported by " + engineName);
      }
    }
    return tls.ciphers();
  }

  // The engines' defaults are sound but put AES-256 first; AES-128-GCM is as safe in practice
  // and cheaper for the server, whose CPU is the scarce one. A stable sort keeps the rest as is.
  static List<String> preferAes128Gcm(List<String> ciphers) {
    List<String> sorted = new ArrayList<>(ciphers);
    sorted.sort(Comparator.comparingInt(c -> c.contains("_AES_128_GCM_") ? 0 : 1));
    return List.copyOf(sorted);
  }

  // The probe gets the trust manager already built: without one, Netty would build the JDK's
  // default trust manager, parsing the whole system trust store at start even with a CA file.
  private static List<String> defaultCiphers(
      SslProvider provider, List<String> protocols, X509TrustManager trust) {
    SslContext probe = null;
    try {
      probe =
          SslContextBuilder.forClient()
              .sslProvider(provider)
              .protocols(protocols)
              .trustManager(trust)
              .build();
      return probe.cipherSuites();
    } catch (SSLException e) {
      throw new InvalidSettingException(
          "mcmux.tls.protocols", "cannot set up TLS with " + protocols + ": " + e.getMessage(), e);
    } finally {
      ReferenceCountUtil.release(probe);
    }
  }

  private static Set<String> supportedCiphers(SslProvider provider) {
    if (provider == SslProvider.OPENSSL) {
      Set<String> names = new HashSet<>(OpenSsl.availableJavaCipherSuites());
      names.addAll(OpenSsl.availableOpenSslCipherSuites());
      return names;
    }
    try {
      return new HashSet<>(
          Arrays.asList(SSLContext.getDefault().getSupportedSSLParameters().getCipherSuites()));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no default TLS context", e);
    }
  }

  private static void logEngine(Settings.Tls tls, SslProvider provider) {
    if (provider == SslProvider.OPENSSL) {
      log.info("TLS engine: {}, protocols {}", OPENSSL, tls.protocols());
    } else if (tls.engine() == Settings.TlsEngine.JDK) {
      log.warn(
          "TLS engine: JDK, as mcmux.tls.engine = jdk asks; it is slower than OpenSSL, most"
              + " with large values, protocols {}",
          tls.protocols());
    } else {
      log.warn(
          "TLS engine: JDK, because OpenSSL is not available ({}); it is slower, most with"
              + " large values, protocols {}",
          rootCause(OpenSsl.unavailabilityCause()),
          tls.protocols());
    }
  }

  // One line per file: a system bundle often carries a few expired roots next to valid ones.
  private static void warnIfExpired(List<X509Certificate> certs, String setting) {
    Instant now = Instant.now();
    List<String> expired = new ArrayList<>();
    for (X509Certificate cert : certs) {
      if (cert.getNotAfter().toInstant().isBefore(now)) {
        expired.add(
            cert.getSubjectX500Principal().getName(X500Principal.RFC2253)
                + " on "
                + cert.getNotAfter().toInstant());
      }
    }
    if (expired.isEmpty()) {
      return;
    }
    log.warn(
        "{}: {} of {} certificates expired{}: {}",
        setting,
        expired.size(),
        certs.size(),
        expired.size() == certs.size() ? " (handshakes will fail)" : "",
        String.join("; ", expired.subList(0, Math.min(3, expired.size())))
            + (expired.size() > 3 ? "; ..." : ""));
  }

  private static String rootCause(Throwable t) {
    if (t == null) {
      return "unknown reason";
    }
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root.getMessage() == null ? root.toString() : root.getMessage();
  }
}
