package dev.mcmux.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.TestPki;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostNameCheckTest {

  @TempDir static Path dir;
  static TestPki pki;
  static X509Certificate wildcard;
  static X509Certificate wrongHost;
  static X509Certificate localhost;

  @BeforeAll
  static void certificates() {
    pki = TestPki.create(dir);
    wildcard = leaf(TestPki.Kind.WILDCARD);
    wrongHost = leaf(TestPki.Kind.WRONG_HOST);
    localhost = leaf(TestPki.Kind.LOCALHOST);
  }

  private static X509Certificate leaf(TestPki.Kind kind) {
    return TestPki.readCertificates(pki.server(kind).cert()).get(0);
  }

  @ParameterizedTest
  @CsvSource({
    "node-1.cluster.test, true",
    "NODE-1.Cluster.Test., true",
    "0001.cluster.test, true",
    "a.b.cluster.test, false",
    "cluster.test, false",
    "node-1.cluster.test.evil, false",
    "localhost, true",
    "127.0.0.1, true",
    "127.0.0.2, false"
  })
  void wildcardCoversExactlyOneLabel(String name, boolean matches) {
    assertEquals(matches, HostNameCheck.check(name, wildcard).matches(), name);
  }

  @Test
  void explainsWhyAWildcardDoesNotCoverTwoLabels() {
    HostNameCheck.Result r = HostNameCheck.check("a.b.cluster.test", wildcard);
    assertFalse(r.matches());
    assertEquals(List.of("DNS:*.cluster.test", "DNS:localhost", "IP:127.0.0.1"), r.validFor());
    assertEquals(
        List.of(
            "*.cluster.test matches exactly one label: it covers b.cluster.test but not"
                + " a.b.cluster.test (2 labels below cluster.test)"),
        r.reasons());
  }

  @Test
  void explainsThatAWildcardDoesNotCoverItsBase() {
    HostNameCheck.Result r = HostNameCheck.check("cluster.test", wildcard);
    assertEquals(
        List.of("*.cluster.test does not cover cluster.test itself, only one label below it"),
        r.reasons());
  }

  @Test
  void anIpIsOnlyMatchedByAnIpEntry() {
    HostNameCheck.Result r = HostNameCheck.check("10.0.0.7", wrongHost);
    assertFalse(r.matches());
    assertTrue(r.reasons().get(0).contains("this certificate has none"), r.reasons().toString());
    assertTrue(r.reasons().get(1).endsWith("e.g. wrong.example"), r.reasons().toString());
  }

  @Test
  void matchesNameTheEntryThatCoveredIt() {
    assertEquals(
        Optional.of("DNS:localhost"), HostNameCheck.check("localhost", localhost).matchedBy());
    assertEquals(
        Optional.of("IP:127.0.0.1"), HostNameCheck.check("127.0.0.1", localhost).matchedBy());
    assertEquals(
        Optional.of("DNS:*.cluster.test"),
        HostNameCheck.check("x.cluster.test", wildcard).matchedBy());
  }

  @Test
  void aCommonNameIsIgnoredWhenThereAreDnsNames() {
    // CN=cache.example with a DNS SAN for another name only.
    var pair = pki.issueServer("cn-only", "cache.example", "other.example");
    X509Certificate cert = TestPki.readCertificates(pair.cert()).get(0);
    assertTrue(HostNameCheck.check("cache.example", cert).matches());
    assertFalse(HostNameCheck.check("nope.example", cert).matches());
  }

  @ParameterizedTest
  @CsvSource({
    "a.example.com, *.example.com, true",
    "a.example.com, A*.example.com, true",
    "ab.example.com, *b.example.com, true",
    "a.example.com, *b.example.com, false",
    "a.com, *.com, false",
    "a.b.example.com, a.*.example.com, false",
    "example.com, example.com, true",
    "xn--bcher-kva.example.com, *.example.com, false"
  })
  void templateRules(String name, String template, boolean matches) {
    assertEquals(
        matches,
        HostNameCheck.matches(HostNameCheck.normalise(name), HostNameCheck.normalise(template)));
  }
}
