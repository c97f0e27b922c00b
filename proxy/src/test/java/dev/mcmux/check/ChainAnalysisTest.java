package dev.mcmux.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.TestPki;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChainAnalysisTest {

  @TempDir static Path dir;
  static TestPki pki;
  static List<X509Certificate> anchors;

  @BeforeAll
  static void certificates() {
    pki = TestPki.create(dir);
    anchors = TestPki.readCertificates(pki.caFile());
  }

  private static List<X509Certificate> chain(TestPki.Kind kind) {
    return TestPki.readCertificates(pki.server(kind).cert());
  }

  @Test
  void aGoodChainEndsAtTheAnchor() {
    ChainAnalysis.Result r =
        ChainAnalysis.analyze(chain(TestPki.Kind.LOCALHOST), anchors, "ca.pem", Instant.now());
    assertEquals(Optional.of("CN=mcmux test root CA"), r.anchor());
    assertEquals(Optional.empty(), r.problem());
  }

  @Test
  void anUnknownIssuerIsNamedWithTheFileItIsMissingFrom() {
    ChainAnalysis.Result r =
        ChainAnalysis.analyze(
            chain(TestPki.Kind.UNTRUSTED_CA), anchors, "/etc/ca.pem", Instant.now());
    assertEquals(Optional.of(ChainAnalysis.Problem.UNTRUSTED), r.problem());
    assertEquals(Optional.of("issuer CN=mcmux untrusted CA is not in /etc/ca.pem"), r.reason());
    assertTrue(r.hint().orElseThrow().contains("add the CA certificate"), r.hint().toString());
  }

  @Test
  void aCaWithTheRightNameButAnotherKeyIsCalledOut() {
    // A second test PKI names its root exactly like the first, with another key: as when a
    // private CA was re-created and the servers still carry certificates from the old one.
    List<X509Certificate> recreated =
        TestPki.readCertificates(TestPki.create(dir.resolve("recreated")).caFile());
    ChainAnalysis.Result r =
        ChainAnalysis.analyze(chain(TestPki.Kind.LOCALHOST), recreated, "ca.pem", Instant.now());
    assertEquals(Optional.of(ChainAnalysis.Problem.UNTRUSTED), r.problem());
    assertEquals(
        Optional.of(
            "ca.pem has a CA named CN=mcmux test root CA, but that certificate did not sign"
                + " CN=localhost (a different key: was the CA re-created?)"),
        r.reason());
  }

  @Test
  void aChainThatAlsoCarriesTheRootIsFine() {
    List<X509Certificate> withRoot = List.of(chain(TestPki.Kind.LOCALHOST).get(0), anchors.get(0));
    ChainAnalysis.Result r = ChainAnalysis.analyze(withRoot, anchors, "ca.pem", Instant.now());
    assertEquals(Optional.empty(), r.problem());
    assertEquals(List.of(), r.details());
  }

  @Test
  void anExpiredLeafIsExpired() {
    Instant now = Instant.now();
    ChainAnalysis.Result r =
        ChainAnalysis.analyze(chain(TestPki.Kind.EXPIRED), anchors, "ca.pem", now);
    assertEquals(Optional.of(ChainAnalysis.Problem.EXPIRED), r.problem());
    assertTrue(r.reason().orElseThrow().startsWith("certificate CN=localhost expired on "));
    assertTrue(r.reason().orElseThrow().endsWith("ago)"), r.reason().toString());
  }

  @Test
  void aCertificateFromTheFutureSaysToCheckTheClock() {
    ChainAnalysis.Result r =
        ChainAnalysis.analyze(
            chain(TestPki.Kind.LOCALHOST),
            anchors,
            "ca.pem",
            Instant.now().minus(Duration.ofDays(3)));
    assertEquals(Optional.of(ChainAnalysis.Problem.NOT_YET_VALID), r.problem());
    assertTrue(r.reason().orElseThrow().contains("is this machine's clock right?"));
  }

  @Test
  void spansReadNaturally() {
    assertEquals("3 days", ChainAnalysis.span(Duration.ofDays(3).plusHours(5)));
    assertEquals("30 hours", ChainAnalysis.span(Duration.ofHours(30)));
    assertEquals("1 minute", ChainAnalysis.span(Duration.ofSeconds(90)));
  }
}
