package dev.mcmux.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.TestPki.CertPair;
import dev.mcmux.testing.TestPki.Kind;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8DecryptorProviderBuilder;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

// It builds Netty SSL contexts, so it is leak-checked like every test that touches Netty.
@ExtendWith(LeakDetection.class)
class TestPkiTest {

  @TempDir static Path dir;
  static TestPki pki;

  @BeforeAll
  static void createPki() {
    pki = TestPki.create(dir);
  }

  @Test
  void caIsASelfSignedAuthority() throws Exception {
    X509Certificate ca = only(pki.caFile());
    assertTrue(ca.getBasicConstraints() >= 0, "CA flag set");
    ca.verify(ca.getPublicKey());
    assertEquals(ca, pki.caCertificate());
  }

  @Test
  void localhostCertificateChainsToTheCaAndNamesLocalhostAndLoopback() throws Exception {
    X509Certificate leaf = only(pki.server(Kind.LOCALHOST).cert());
    validate(leaf, pki.caFile());
    assertEquals(List.of("localhost", "127.0.0.1"), subjectAltNames(leaf));
    assertTrue(leaf.getExtendedKeyUsage().contains("1.3.6.1.5.5.7.3.1"), "serverAuth");
    assertEquals(-1, leaf.getBasicConstraints(), "not a CA");
  }

  @Test
  void wildcardCertificateAlsoNamesLocalhost() throws Exception {
    X509Certificate leaf = only(pki.server(Kind.WILDCARD).cert());
    validate(leaf, pki.caFile());
    assertEquals(List.of("*.cluster.test", "localhost", "127.0.0.1"), subjectAltNames(leaf));
  }

  @Test
  void expiredCertificateFailsOnlyOnItsDates() throws Exception {
    X509Certificate leaf = only(pki.server(Kind.EXPIRED).cert());
    assertThrows(CertificateExpiredException.class, leaf::checkValidity);
    leaf.verify(pki.caCertificate().getPublicKey());
    assertEquals(List.of("localhost", "127.0.0.1"), subjectAltNames(leaf));
  }

  @Test
  void wrongHostCertificateIsValidButNamesOnlyWrongExample() throws Exception {
    X509Certificate leaf = only(pki.server(Kind.WRONG_HOST).cert());
    validate(leaf, pki.caFile());
    assertEquals(List.of("wrong.example"), subjectAltNames(leaf));
  }

  @Test
  void untrustedCertificateChainsOnlyToTheSecondCa() throws Exception {
    X509Certificate leaf = only(pki.server(Kind.UNTRUSTED_CA).cert());
    assertThrows(CertPathValidatorException.class, () -> validate(leaf, pki.caFile()));
    validate(leaf, pki.untrustedCaFile());
  }

  @Test
  void everyServerKeyMatchesItsCertificate() throws Exception {
    for (Kind kind : Kind.values()) {
      CertPair pair = pki.server(kind);
      assertPem(pair.key(), "PRIVATE KEY");
      assertKeyMatches(readPlainKey(pair.key()), only(pair.cert()).getPublicKey());
    }
  }

  @Test
  void clientKeysComeInThreeEncodingsThatMatchTheirCertificates() throws Exception {
    assertPem(pki.clientPkcs1().key(), "RSA PRIVATE KEY");
    assertPem(pki.clientPkcs8().key(), "PRIVATE KEY");
    assertPem(pki.clientEncryptedPkcs8().key(), "ENCRYPTED PRIVATE KEY");

    X509Certificate rsaCert = only(pki.clientPkcs1().cert());
    validate(rsaCert, pki.caFile());
    assertEquals("RSA", rsaCert.getPublicKey().getAlgorithm());
    assertTrue(rsaCert.getExtendedKeyUsage().contains("1.3.6.1.5.5.7.3.2"), "clientAuth");
    assertKeyMatches(readPlainKey(pki.clientPkcs1().key()), rsaCert.getPublicKey());

    X509Certificate ecCert = only(pki.clientPkcs8().cert());
    validate(ecCert, pki.caFile());
    assertEquals("EC", ecCert.getPublicKey().getAlgorithm());
    PrivateKey plain = readPlainKey(pki.clientPkcs8().key());
    PrivateKey decrypted =
        readEncryptedKey(pki.clientEncryptedPkcs8().key(), TestPki.CLIENT_KEY_PASSWORD);
    assertKeyMatches(plain, ecCert.getPublicKey());
    assertEquals(plain, decrypted, "same key in both PKCS#8 forms");
    assertEquals(pki.clientPkcs8().cert(), pki.clientEncryptedPkcs8().cert());
  }

  @Test
  void nettyLoadsEveryClientKeyWithBothProviders() throws Exception {
    for (SslProvider provider : List.of(SslProvider.JDK, SslProvider.OPENSSL)) {
      for (CertPair pair : List.of(pki.clientPkcs1(), pki.clientPkcs8())) {
        build(provider, pair, null);
      }
      build(provider, pki.clientEncryptedPkcs8(), TestPki.CLIENT_KEY_PASSWORD);
      assertThrows(
          Exception.class,
          () -> build(provider, pki.clientEncryptedPkcs8(), "not-the-password"),
          provider + " accepted a wrong password");
    }
  }

  @Test
  void opensslAgreesWithEveryVerdict() throws Exception {
    String ca = pki.caFile().toString();
    assertOk(
        openssl(
            "verify",
            "-CAfile",
            ca,
            "-verify_hostname",
            "localhost",
            "-verify_ip",
            "127.0.0.1",
            "-purpose",
            "sslserver",
            file(Kind.LOCALHOST)));
    assertOk(
        openssl(
            "verify",
            "-CAfile",
            ca,
            "-verify_hostname",
            "node-1.cluster.test",
            file(Kind.WILDCARD)));
    assertContains(openssl("verify", "-CAfile", ca, file(Kind.EXPIRED)), "certificate has expired");
    assertContains(
        openssl("verify", "-CAfile", ca, "-verify_hostname", "localhost", file(Kind.WRONG_HOST)),
        "hostname mismatch");
    assertContains(
        openssl("verify", "-CAfile", ca, file(Kind.UNTRUSTED_CA)), "unable to get local issuer");
    assertOk(openssl("rsa", "-check", "-noout", "-in", pki.clientPkcs1().key().toString()));
    assertOk(
        openssl(
            "pkey",
            "-noout",
            "-passin",
            "pass:" + TestPki.CLIENT_KEY_PASSWORD,
            "-in",
            pki.clientEncryptedPkcs8().key().toString()));
  }

  @Test
  void rotationMakesANewAuthorityThatTheOldOneDoesNotKnow() throws Exception {
    TestPki.Rotation rotation = pki.rotate();
    X509Certificate leaf = only(rotation.server().cert());
    validate(leaf, rotation.caFile());
    assertThrows(CertPathValidatorException.class, () -> validate(leaf, pki.caFile()));
    assertNotEquals(only(rotation.caFile()), pki.caCertificate());
    assertNotEquals(pki.rotate().caFile(), rotation.caFile());
  }

  @Test
  void issuesAdHocServerCertificates() throws Exception {
    CertPair pair = pki.issueServer("digit-node", "1node.cluster.test", "::1");
    X509Certificate leaf = only(pair.cert());
    validate(leaf, pki.caFile());
    assertEquals(List.of("1node.cluster.test", "0:0:0:0:0:0:0:1"), subjectAltNames(leaf));
  }

  private static String file(Kind kind) {
    return pki.server(kind).cert().toString();
  }

  private static void build(SslProvider provider, CertPair pair, String password) throws Exception {
    SslContext context =
        SslContextBuilder.forClient()
            .sslProvider(provider)
            .keyManager(pair.cert().toFile(), pair.key().toFile(), password)
            .trustManager(pki.caFile().toFile())
            .build();
    ReferenceCountUtil.release(context);
  }

  private static X509Certificate only(Path pem) {
    List<X509Certificate> certs = TestPki.readCertificates(pem);
    assertEquals(1, certs.size(), pem + " holds one certificate");
    return certs.get(0);
  }

  private static void validate(X509Certificate leaf, Path caFile) throws GeneralSecurityException {
    PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(only(caFile), null)));
    params.setRevocationEnabled(false);
    CertPathValidator.getInstance("PKIX")
        .validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(leaf)), params);
  }

  private static List<String> subjectAltNames(X509Certificate cert) throws Exception {
    List<String> names = new ArrayList<>();
    for (List<?> entry : cert.getSubjectAlternativeNames()) {
      names.add((String) entry.get(1));
    }
    return names;
  }

  private static void assertPem(Path file, String label) throws IOException {
    String text = Files.readString(file, StandardCharsets.US_ASCII);
    assertTrue(text.startsWith("-----BEGIN " + label + "-----\n"), file + ": " + text);
    assertTrue(text.endsWith("-----END " + label + "-----\n"), file + ": " + text);
  }

  private static PrivateKey readPlainKey(Path file) throws IOException {
    try (PEMParser parser = new PEMParser(Files.newBufferedReader(file))) {
      Object object = parser.readObject();
      JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
      return object instanceof PEMKeyPair pair
          ? converter.getKeyPair(pair).getPrivate()
          : converter.getPrivateKey((PrivateKeyInfo) object);
    }
  }

  private static PrivateKey readEncryptedKey(Path file, String password) throws Exception {
    try (PEMParser parser = new PEMParser(Files.newBufferedReader(file))) {
      PKCS8EncryptedPrivateKeyInfo info = (PKCS8EncryptedPrivateKeyInfo) parser.readObject();
      PrivateKeyInfo plain =
          info.decryptPrivateKeyInfo(
              new JceOpenSSLPKCS8DecryptorProviderBuilder()
                  .setProvider(new BouncyCastleProvider())
                  .build(password.toCharArray()));
      return new JcaPEMKeyConverter().getPrivateKey(plain);
    }
  }

  private static void assertKeyMatches(PrivateKey key, PublicKey publicKey) throws Exception {
    String algorithm = key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
    byte[] challenge = "mcmux".getBytes(StandardCharsets.US_ASCII);
    Signature signer = Signature.getInstance(algorithm);
    signer.initSign(key);
    signer.update(challenge);
    byte[] signature = signer.sign();
    Signature verifier = Signature.getInstance(algorithm);
    verifier.initVerify(publicKey);
    verifier.update(challenge);
    assertTrue(verifier.verify(signature), "key matches certificate");
  }

  private record Result(int exit, String output) {}

  private static Result openssl(String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add("openssl");
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    process.getOutputStream().close();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (InputStream in = process.getInputStream()) {
      in.transferTo(out);
    }
    assertTrue(process.waitFor(20, TimeUnit.SECONDS), "openssl finished");
    return new Result(process.exitValue(), out.toString(StandardCharsets.UTF_8));
  }

  private static void assertOk(Result result) {
    assertEquals(0, result.exit, result.output);
  }

  private static void assertContains(Result result, String expected) {
    assertNotEquals(0, result.exit, result.output);
    assertTrue(result.output.contains(expected), result.output);
  }
}
