package dev.mcmux.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.OutputEncryptor;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;

/**
 * A throwaway public-key infrastructure written as PEM files: a trusted root, server and client
 * certificates of every kind the TLS tests need, and a second, untrusted root.
 *
 * <p>Creating one costs about a quarter of a second (one RSA key); share it per test class.
 */
public final class TestPki {

  /** The server certificates every instance holds. */
  public enum Kind {
    /** Signed by the trusted CA for DNS {@code localhost} and IP {@code 127.0.0.1}. */
    LOCALHOST,
    /** Signed by the trusted CA for {@code *.cluster.test}, {@code localhost}, 127.0.0.1. */
    WILDCARD,
    /** Signed by the trusted CA for localhost and 127.0.0.1, but no longer valid. */
    EXPIRED,
    /** Signed by the trusted CA for {@code wrong.example} only. */
    WRONG_HOST,
    /** For localhost and 127.0.0.1, but signed by a second CA that clients do not trust. */
    UNTRUSTED_CA
  }

  /** A certificate file and the file with its private key. */
  public record CertPair(Path cert, Path key) {}

  /** A new root CA and a localhost server certificate it signed, for rotation tests. */
  public record Rotation(Path caFile, CertPair server) {}

  /** The password of {@link #clientEncryptedPkcs8()}'s key. */
  public static final String CLIENT_KEY_PASSWORD = "mcmux-test-password";

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Duration VALIDITY = Duration.ofDays(2);
  // Backdated so a clock a little behind the test machine's still accepts the certificates.
  private static final Duration BACKDATE = Duration.ofHours(1);

  private final Path dir;
  private final Authority trusted;
  private final Authority untrusted;
  private final Map<Kind, CertPair> servers = new EnumMap<>(Kind.class);
  private final CertPair clientPkcs1;
  private final CertPair clientPkcs8;
  private final CertPair clientEncryptedPkcs8;
  private final AtomicInteger rotations = new AtomicInteger();

  private TestPki(Path dir) throws IOException, GeneralSecurityException {
    this.dir = Files.createDirectories(dir);
    Instant now = Instant.now();
    trusted = Authority.create("mcmux test root CA", dir.resolve("ca.pem"), now);
    untrusted = Authority.create("mcmux untrusted CA", dir.resolve("untrusted-ca.pem"), now);

    servers.put(
        Kind.LOCALHOST, trusted.issueServer(dir, "localhost", now, "localhost", "127.0.0.1"));
    servers.put(
        Kind.WILDCARD,
        trusted.issueServer(dir, "wildcard", now, "*.cluster.test", "localhost", "127.0.0.1"));
    servers.put(
        Kind.EXPIRED,
        trusted.issueServer(
            dir, "expired", now.minus(Duration.ofDays(3)), "localhost", "127.0.0.1"));
    servers.put(Kind.WRONG_HOST, trusted.issueServer(dir, "wrong-host", now, "wrong.example"));
    servers.put(
        Kind.UNTRUSTED_CA,
        untrusted.issueServer(dir, "untrusted-ca", now, "localhost", "127.0.0.1"));

    // PKCS#1 can only hold an RSA key; the other encodings get a cheaper EC key.
    KeyPair rsa = rsaKeyPair();
    Path rsaCert = dir.resolve("client-rsa.pem");
    trusted.issue(rsa, "mcmux-client-rsa", now, false, List.of(), rsaCert);
    clientPkcs1 =
        new CertPair(rsaCert, writePkcs1(rsa.getPrivate(), dir.resolve("client-rsa.pkcs1.key")));

    KeyPair ec = ecKeyPair();
    Path ecCert = dir.resolve("client-ec.pem");
    trusted.issue(ec, "mcmux-client-ec", now, false, List.of(), ecCert);
    clientPkcs8 =
        new CertPair(ecCert, writePkcs8(ec.getPrivate(), dir.resolve("client-ec.pkcs8.key")));
    clientEncryptedPkcs8 =
        new CertPair(
            ecCert,
            writeEncryptedPkcs8(
                ec.getPrivate(),
                CLIENT_KEY_PASSWORD,
                dir.resolve("client-ec.pkcs8-encrypted.key")));
  }

  /** Generates every file into {@code dir}, which is created if needed. */
  public static TestPki create(Path dir) {
    try {
      return new TestPki(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot generate test certificates", e);
    }
  }

  /** The directory holding the files. */
  public Path dir() {
    return dir;
  }

  /** The PEM file of the root CA that signed everything except {@link Kind#UNTRUSTED_CA}. */
  public Path caFile() {
    return trusted.certFile;
  }

  /** The PEM file of the second root CA, which signed {@link Kind#UNTRUSTED_CA}. */
  public Path untrustedCaFile() {
    return untrusted.certFile;
  }

  /** The trusted root CA's certificate. */
  public X509Certificate caCertificate() {
    return trusted.cert;
  }

  /** A server certificate (leaf only, PEM) and its EC P-256 key (unencrypted PKCS#8 PEM). */
  public CertPair server(Kind kind) {
    return servers.get(kind);
  }

  /** A client certificate with an RSA 2048 key in PKCS#1 PEM ({@code RSA PRIVATE KEY}). */
  public CertPair clientPkcs1() {
    return clientPkcs1;
  }

  /** A client certificate with an EC P-256 key in unencrypted PKCS#8 PEM ({@code PRIVATE KEY}). */
  public CertPair clientPkcs8() {
    return clientPkcs8;
  }

  /**
   * The certificate of {@link #clientPkcs8()} with the same key in encrypted PKCS#8 PEM (PBES2,
   * AES-256-CBC, PBKDF2 with HMAC-SHA256: what OpenSSL writes by default), password {@link
   * #CLIENT_KEY_PASSWORD}.
   */
  public CertPair clientEncryptedPkcs8() {
    return clientEncryptedPkcs8;
  }

  /** Issues another server certificate from the trusted CA for the given DNS names and IPs. */
  public CertPair issueServer(String fileStem, String... subjectAltNames) {
    try {
      return trusted.issueServer(dir, fileStem, Instant.now(), subjectAltNames);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Creates a brand-new root CA and a localhost/127.0.0.1 server certificate signed by it, in a
   * fresh subdirectory, as a certificate rotation to a new authority would look.
   */
  public Rotation rotate() {
    try {
      Path sub = Files.createDirectories(dir.resolve("rotation-" + rotations.incrementAndGet()));
      Instant now = Instant.now();
      Authority ca =
          Authority.create(
              "mcmux rotated root CA " + sub.getFileName(), sub.resolve("ca.pem"), now);
      return new Rotation(
          ca.certFile, ca.issueServer(sub, "localhost", now, "localhost", "127.0.0.1"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An {@link SSLContext} for JDK clients that trusts exactly the given PEM CA files. */
  public static SSLContext sslContextTrusting(Path... caFiles) {
    try {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int n = 0;
      for (Path caFile : caFiles) {
        for (X509Certificate cert : readCertificates(caFile)) {
          store.setCertificateEntry("ca-" + n++, cert);
        }
      }
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(store);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, tmf.getTrustManagers(), null);
      return context;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads every certificate in a PEM file. */
  public static List<X509Certificate> readCertificates(Path pemFile) {
    try (InputStream in = Files.newInputStream(pemFile)) {
      List<X509Certificate> certs = new ArrayList<>();
      for (var cert : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        certs.add((X509Certificate) cert);
      }
      return certs;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(pemFile + " is not a PEM certificate file", e);
    }
  }

  /** One certificate authority: its key signs, its certificate file is what clients trust. */
  private static final class Authority {
    private final KeyPair keys;
    private final X509Certificate cert;
    private final Path certFile;
    private final X500Name name;

    private Authority(KeyPair keys, X509Certificate cert, Path certFile) {
      this.keys = keys;
      this.cert = cert;
      this.certFile = certFile;
      this.name = X500Name.getInstance(cert.getSubjectX500Principal().getEncoded());
    }

    static Authority create(String commonName, Path certFile, Instant now)
        throws IOException, GeneralSecurityException {
      KeyPair keys = ecKeyPair();
      X500Name name = new X500Name("CN=" + commonName);
      X509v3CertificateBuilder builder =
          new JcaX509v3CertificateBuilder(
              name,
              serial(),
              Date.from(now.minus(BACKDATE)),
              Date.from(now.plus(VALIDITY)),
              name,
              keys.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
      builder.addExtension(
          Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      builder.addExtension(
          Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(keys.getPublic()));
      X509Certificate cert = sign(builder, keys.getPrivate());
      writePem(certFile, new PemObject("CERTIFICATE", cert.getEncoded()));
      return new Authority(keys, cert, certFile);
    }

    CertPair issueServer(Path dir, String fileStem, Instant validFrom, String... sans)
        throws IOException, GeneralSecurityException {
      KeyPair keys = ecKeyPair();
      Path certFile = dir.resolve("server-" + fileStem + ".pem");
      issue(keys, sans[0], validFrom, true, List.of(sans), certFile);
      return new CertPair(
          certFile, writePkcs8(keys.getPrivate(), dir.resolve("server-" + fileStem + ".key")));
    }

    /**
     * Signs a leaf certificate valid from {@code validFrom} for {@link #VALIDITY}: an "expired"
     * certificate is simply one whose window lies wholly in the past.
     */
    void issue(
        KeyPair subject,
        String commonName,
        Instant validFrom,
        boolean server,
        List<String> sans,
        Path certFile)
        throws IOException, GeneralSecurityException {
      X509v3CertificateBuilder builder =
          new JcaX509v3CertificateBuilder(
              name,
              serial(),
              Date.from(validFrom.minus(BACKDATE)),
              Date.from(validFrom.plus(VALIDITY)),
              new X500Name("CN=" + commonName),
              subject.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      int usage = KeyUsage.digitalSignature;
      if (subject.getPublic().getAlgorithm().equals("RSA")) {
        usage |= KeyUsage.keyEncipherment;
      }
      builder.addExtension(Extension.keyUsage, true, new KeyUsage(usage));
      builder.addExtension(
          Extension.extendedKeyUsage,
          false,
          new ExtendedKeyUsage(
              server ? KeyPurposeId.id_kp_serverAuth : KeyPurposeId.id_kp_clientAuth));
      builder.addExtension(
          Extension.subjectKeyIdentifier,
          false,
          ext.createSubjectKeyIdentifier(subject.getPublic()));
      builder.addExtension(
          Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(cert));
      if (!sans.isEmpty()) {
        GeneralName[] names = new GeneralName[sans.size()];
        for (int i = 0; i < names.length; i++) {
          String san = sans.get(i);
          names[i] =
              new GeneralName(isIpLiteral(san) ? GeneralName.iPAddress : GeneralName.dNSName, san);
        }
        builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names));
      }
      writePem(
          certFile, new PemObject("CERTIFICATE", sign(builder, keys.getPrivate()).getEncoded()));
    }
  }

  private static boolean isIpLiteral(String name) {
    return name.indexOf(':') >= 0 || name.matches("\\d{1,3}(\\.\\d{1,3}){3}");
  }

  private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey issuerKey)
      throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter()
          .getCertificate(
              builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static BigInteger serial() {
    return new BigInteger(63, RANDOM).add(BigInteger.ONE);
  }

  private static KeyPair ecKeyPair() throws GeneralSecurityException {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
    return generator.generateKeyPair();
  }

  private static KeyPair rsaKeyPair() throws GeneralSecurityException {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048, RANDOM);
    return generator.generateKeyPair();
  }

  private static Path writePkcs1(PrivateKey rsaKey, Path file) throws IOException {
    // PKCS#8 wraps the PKCS#1 structure; unwrapping it gives the "traditional" OpenSSL form.
    byte[] pkcs1 =
        PrivateKeyInfo.getInstance(rsaKey.getEncoded())
            .parsePrivateKey()
            .toASN1Primitive()
            .getEncoded();
    writePem(file, new PemObject("RSA PRIVATE KEY", pkcs1));
    return file;
  }

  private static Path writePkcs8(PrivateKey key, Path file) throws IOException {
    writePem(file, new PemObject("PRIVATE KEY", key.getEncoded()));
    return file;
  }

  private static Path writeEncryptedPkcs8(PrivateKey key, String password, Path file)
      throws IOException, GeneralSecurityException {
    try {
      OutputEncryptor encryptor =
          new JceOpenSSLPKCS8EncryptorBuilder(PKCS8Generator.AES_256_CBC)
              .setPRF(PKCS8Generator.PRF_HMACSHA256)
              .setRandom(RANDOM)
              .setPassword(password.toCharArray())
              // A private provider instance: nothing is registered JVM-wide behind the tests' back.
              .setProvider(new BouncyCastleProvider())
              .build();
      writePem(file, new JcaPKCS8Generator(key, encryptor).generate());
      return file;
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static void writePem(Path file, PemObject object) throws IOException {
    try (Writer out = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
        PemWriter pem = new PemWriter(out)) {
      pem.writeObject(object);
    }
  }
}
