package dev.mcmux.upstream;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcaMiscPEMGenerator;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.bouncycastle.openssl.jcajce.JcePEMEncryptorBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemObjectGenerator;

/**
 * Makes short-lived certificates and PEM files for this package's TLS tests only (the shared PKI
 * fixture lives elsewhere; this one stays private so the two can change independently).
 */
final class TlsTestCerts {

  private static final BouncyCastleProvider BC = new BouncyCastleProvider();
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  /** A certificate and the key pair it certifies. */
  record Issued(X509Certificate cert, KeyPair keys) {}

  private TlsTestCerts() {}

  static KeyPair ecKeys() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  static KeyPair rsaKeys() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
      g.initialize(2048);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A self-signed CA. */
  static Issued ca(String commonName) {
    KeyPair keys = ecKeys();
    X500Name name = new X500Name("O=mcmux tests,CN=" + commonName);
    X509Certificate cert =
        sign(
            name,
            keys.getPrivate(),
            name,
            keys,
            true,
            new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign),
            null,
            List.of(),
            Duration.ofDays(1));
    return new Issued(cert, keys);
  }

  /** A server certificate for {@code localhost} and 127.0.0.1, signed by {@code ca}. */
  static Issued server(Issued ca) {
    return leaf(ca, "localhost", ecKeys(), KeyPurposeId.id_kp_serverAuth, "localhost", "127.0.0.1");
  }

  /** A client certificate with the given key pair, signed by {@code ca}. */
  static Issued client(Issued ca, KeyPair keys) {
    return leaf(ca, "mcmux-client", keys, KeyPurposeId.id_kp_clientAuth);
  }

  private static Issued leaf(
      Issued ca, String commonName, KeyPair keys, KeyPurposeId purpose, String... names) {
    List<GeneralName> alt = new ArrayList<>();
    for (String n : names) {
      alt.add(
          new GeneralName(
              Character.isDigit(n.charAt(0)) ? GeneralName.iPAddress : GeneralName.dNSName, n));
    }
    X509Certificate cert =
        sign(
            X500Name.getInstance(ca.cert().getSubjectX500Principal().getEncoded()),
            ca.keys().getPrivate(),
            new X500Name("O=mcmux tests,CN=" + commonName),
            keys,
            false,
            new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment),
            purpose,
            alt,
            Duration.ofHours(2));
    return new Issued(cert, keys);
  }

  private static X509Certificate sign(
      X500Name issuer,
      PrivateKey issuerKey,
      X500Name subject,
      KeyPair keys,
      boolean isCa,
      KeyUsage usage,
      KeyPurposeId purpose,
      List<GeneralName> altNames,
      Duration lifetime) {
    Instant now = Instant.now();
    try {
      var b =
          new JcaX509v3CertificateBuilder(
              issuer,
              BigInteger.valueOf(SERIAL.incrementAndGet()),
              Date.from(now.minus(Duration.ofMinutes(5))),
              Date.from(now.plus(lifetime)),
              subject,
              keys.getPublic());
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
      b.addExtension(Extension.keyUsage, true, usage);
      if (purpose != null) {
        b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
      }
      if (!altNames.isEmpty()) {
        b.addExtension(
            Extension.subjectAlternativeName,
            false,
            new GeneralNames(altNames.toArray(GeneralName[]::new)));
      }
      String algorithm =
          issuerKey.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
      return new JcaX509CertificateConverter()
          .getCertificate(b.build(new JcaContentSignerBuilder(algorithm).build(issuerKey)));
    } catch (GeneralSecurityException | IOException | OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Writes certificates as one PEM bundle. */
  static Path writeCerts(Path file, X509Certificate... certs) {
    return writePem(file, (Object[]) certs);
  }

  /** {@code BEGIN RSA PRIVATE KEY} (PKCS#1). */
  static Path writePkcs1(Path file, KeyPair rsa) {
    return writePem(file, rsa);
  }

  /**
   * {@code BEGIN EC PARAMETERS} then {@code BEGIN EC PRIVATE KEY} (SEC1 with curve and public key),
   * as {@code openssl ecparam -genkey} writes it. BouncyCastle's own writer drops the curve from a
   * JDK key, which real tools never do.
   */
  static Path writeSec1(Path file, KeyPair ec) {
    PrivateKeyInfo info = PrivateKeyInfo.getInstance(ec.getPrivate().getEncoded());
    ASN1Encodable curve = info.getPrivateKeyAlgorithm().getParameters();
    var sec1 =
        new org.bouncycastle.asn1.sec.ECPrivateKey(
            256,
            ((ECPrivateKey) ec.getPrivate()).getS(),
            SubjectPublicKeyInfo.getInstance(ec.getPublic().getEncoded()).getPublicKeyData(),
            curve);
    try {
      return writePem(
          file,
          new PemObject("EC PARAMETERS", curve.toASN1Primitive().getEncoded()),
          new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code BEGIN PRIVATE KEY} (PKCS#8). */
  static Path writePkcs8(Path file, PrivateKey key) {
    try {
      return writePem(file, new JcaPKCS8Generator(key, null));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code BEGIN ENCRYPTED PRIVATE KEY} (PKCS#8, AES-256-CBC with PBKDF2). */
  static Path writeEncryptedPkcs8(Path file, PrivateKey key, String password) {
    try {
      var encryptor =
          new JceOpenSSLPKCS8EncryptorBuilder(PKCS8Generator.AES_256_CBC)
              .setProvider(BC)
              .setRandom(new SecureRandom())
              .setPassword(password.toCharArray())
              .build();
      return writePem(file, new JcaPKCS8Generator(key, encryptor));
    } catch (IOException | OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An RSA PKCS#1 key with OpenSSL's legacy {@code Proc-Type: 4,ENCRYPTED} header. */
  static Path writeLegacyEncryptedKey(Path file, KeyPair rsa, String password) {
    try {
      var encryptor =
          new JcePEMEncryptorBuilder("AES-128-CBC").setProvider(BC).build(password.toCharArray());
      return writePem(file, new JcaMiscPEMGenerator(rsa, encryptor));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path writePem(Path file, Object... objects) {
    var text = new StringWriter();
    try (var w = new JcaPEMWriter(text)) {
      for (Object o : objects) {
        if (o instanceof PemObjectGenerator g) {
          w.writeObject(g);
        } else {
          w.writeObject(o);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      Files.writeString(file, text.toString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }
}
