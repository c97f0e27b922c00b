package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.check.MiniJson;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import dev.mcmux.testing.Tls11OnlyServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code mcmux check} against real memcached servers, and stand-ins for what they cannot be. */
@ExtendWith(LeakDetection.class)
class CheckCommandIT {

  private static final int LABEL = 15;

  @TempDir static Path dir;
  static TestPki pki;
  static String ca;
  static MemcachedProcess good;
  static MemcachedProcess untrusted;
  static MemcachedProcess wrongHost;
  static MemcachedProcess expired;
  static MemcachedProcess plain;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir.resolve("pki"));
    ca = pki.caFile().toString();
    good = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
    untrusted = MemcachedProcess.tls(pki.server(TestPki.Kind.UNTRUSTED_CA)).start();
    wrongHost = MemcachedProcess.tls(pki.server(TestPki.Kind.WRONG_HOST)).start();
    expired = MemcachedProcess.tls(pki.server(TestPki.Kind.EXPIRED)).start();
    plain = MemcachedProcess.plain().start();
  }

  @AfterAll
  static void stop() {
    for (MemcachedProcess m : new MemcachedProcess[] {good, untrusted, wrongHost, expired, plain}) {
      if (m != null) {
        m.close();
      }
    }
  }

  /** The outcome of one in-process invocation. */
  record Result(int code, String out, String err) {
    List<String> lines() {
      return out.lines().toList();
    }

    String last() {
      List<String> lines = lines();
      return lines.get(lines.size() - 1);
    }

    /** The text after {@code label} on the first line labelled so, or empty. */
    Optional<String> field(String label) {
      String prefix = String.format(Locale.ROOT, "%-" + LABEL + "s", label);
      return lines().stream()
          .filter(l -> l.startsWith(prefix))
          .map(l -> l.substring(LABEL))
          .findFirst();
    }

    String require(String label) {
      return field(label).orElseThrow(() -> new AssertionError("no '" + label + "' line:\n" + out));
    }
  }

  private static Result run(Map<String, String> env, String... args) {
    var out = new StringWriter();
    var err = new StringWriter();
    int code = Main.execute(args, env, new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  private static Result check(String... args) {
    List<String> all = new ArrayList<>(List.of("check"));
    all.addAll(List.of(args));
    return run(Map.of(), all.toArray(String[]::new));
  }

  private static String endpoint(MemcachedProcess m) {
    return "localhost:" + m.port();
  }

  private static void assertMatches(String regex, String actual) {
    assertTrue(Pattern.compile(regex).matcher(actual).matches(), () -> regex + " vs " + actual);
  }

  @ParameterizedTest
  @ValueSource(strings = {"openssl", "jdk"})
  void aGoodEndpointPassesEveryStep(String engine) {
    Result r = run(Map.of("MCMUX_TLS_ENGINE", engine), "check", endpoint(good), "--ca-file", ca);
    assertEquals(0, r.code(), r.out());
    assertEquals("localhost:" + good.port(), r.require("endpoint"));
    assertEquals("localhost (sent as SNI and verified)", r.require("server name"));
    assertTrue(r.require("TLS settings").contains("trust " + ca + " (1 CA certificate)"));
    assertMatches("localhost -> 127\\.0\\.0\\.1.*\\(.* ms\\)", r.require("DNS"));
    assertMatches(
        "connected to 127\\.0\\.0\\.1:" + good.port() + "  \\(.* ms\\)", r.require("TCP"));
    assertMatches("TLSv1\\.3, TLS_AES_\\w+  \\(handshake .* ms\\)", r.require("TLS"));
    assertEquals("CN=localhost", r.require("certificate 1"));
    assertTrue(r.out().contains("  names   DNS:localhost, IP:127.0.0.1\n"), r.out());
    assertTrue(r.out().contains("  issuer  CN=mcmux test root CA\n"), r.out());
    assertMatches(
        ".*\\(1 day left\\)",
        r.lines().stream().filter(l -> l.contains("valid   ")).findFirst().orElseThrow());
    assertTrue(r.out().contains("  key     EC P-256, signed with SHA256withECDSA\n"), r.out());
    assertEquals("OK: issued by CN=mcmux test root CA, trusted via " + ca, r.require("trust"));
    assertEquals("OK: localhost matches DNS:localhost", r.require("host name"));
    assertEquals("not requested by the server", r.require("client cert"));
    assertMatches(
        "VERSION " + Pattern.quote(good.stats().get("version")) + "  \\(round trip .* ms\\)",
        r.require("memcached"));
    assertEquals(
        "not a configuration endpoint ('config get cluster' answered ERROR)",
        r.require("discovery"));
    assertEquals("mcmux check: OK", r.last());
  }

  @Test
  void jsonHasTheSameFindings() {
    Result r = check(endpoint(good), "--ca-file", ca, "--json");
    assertEquals(0, r.code(), r.out());
    Map<String, Object> json = MiniJson.object(r.out());
    assertEquals(true, json.get("ok"));
    assertEquals("localhost", json.get("serverName"));
    assertEquals("TLSv1.3", ((Map<?, ?>) json.get("tls")).get("protocol"));
    Map<?, ?> leaf = (Map<?, ?>) ((List<?>) json.get("certificates")).get(0);
    assertEquals("CN=localhost", leaf.get("subject"));
    assertEquals(List.of("DNS:localhost", "IP:127.0.0.1"), leaf.get("subjectAltNames"));
    assertEquals(1.0, leaf.get("daysLeft"));
    assertEquals("ok", ((Map<?, ?>) json.get("trust")).get("status"));
    assertEquals("ok", ((Map<?, ?>) json.get("hostName")).get("status"));
    assertEquals(good.stats().get("version"), ((Map<?, ?>) json.get("memcached")).get("version"));
    assertEquals(false, ((Map<?, ?>) json.get("discovery")).get("configurationEndpoint"));
    assertEquals(false, json.containsKey("failure"));
  }

  @Test
  void anUntrustedChainIsShownAndItsMissingIssuerNamed() {
    Result r = check(endpoint(untrusted), "--ca-file", ca);
    assertEquals(1, r.code(), r.out());
    assertEquals("CN=localhost", r.require("certificate 1"));
    assertTrue(r.out().contains("  issuer  CN=mcmux untrusted CA\n"), r.out());
    assertEquals("FAILED: issuer CN=mcmux untrusted CA is not in " + ca, r.require("trust"));
    assertEquals(
        "localhost would match DNS:localhost (not verified: the chain failed first)",
        r.require("host name"));
    assertEquals(Optional.empty(), r.field("memcached"));
    assertEquals(
        "mcmux check: FAILED: certificate chain is not trusted: issuer CN=mcmux untrusted CA is"
            + " not in "
            + ca,
        r.last());
  }

  @Test
  void withoutACaFileTheSystemTrustStoreIsNamed() {
    Result r = check(endpoint(good));
    assertEquals(1, r.code(), r.out());
    assertEquals(
        "mcmux check: FAILED: certificate chain is not trusted: issuer CN=mcmux test root CA is"
            + " not in the system trust store",
        r.last());
    assertTrue(r.require("hint").contains("pass --ca-file"), r.out());
  }

  @ParameterizedTest
  @ValueSource(strings = {"openssl", "jdk"})
  void aWrongHostNameListsTheNamesTheCertificateIsValidFor(String engine) {
    Result r =
        run(Map.of("MCMUX_TLS_ENGINE", engine), "check", endpoint(wrongHost), "--ca-file", ca);
    assertEquals(1, r.code(), r.out());
    assertEquals("OK: issued by CN=mcmux test root CA, trusted via " + ca, r.require("trust"));
    assertEquals(
        "FAILED: localhost does not match the certificate, which is valid for DNS:wrong.example",
        r.require("host name"));
    assertEquals(
        "mcmux check: FAILED: host name localhost does not match the certificate (valid for"
            + " DNS:wrong.example)",
        r.last());
  }

  @Test
  void serverNameReplacesTheHostAsForRun() {
    Result r = check(endpoint(wrongHost), "--ca-file", ca, "--server-name", "wrong.example");
    assertEquals(0, r.code(), r.out());
    assertEquals(
        "wrong.example (from mcmux.tls.server-name; sent as SNI and verified)",
        r.require("server name"));
    assertEquals("OK: wrong.example matches DNS:wrong.example", r.require("host name"));
  }

  @Test
  void anExpiredCertificateSaysWhen() {
    Result r = check(endpoint(expired), "--ca-file", ca);
    assertEquals(1, r.code(), r.out());
    assertMatches(
        "mcmux check: FAILED: certificate CN=localhost expired on \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z"
            + " \\(\\d+ (hours|days) ago\\)",
        r.last());
    assertTrue(r.out().contains("(EXPIRED "), r.out());
    assertTrue(r.require("hint").startsWith("renew the certificate"), r.out());
  }

  @Test
  void aClosedPortIsRefused() {
    int port = Ports.freeLoopbackPort();
    Result r = check("127.0.0.1:" + port, "--ca-file", ca);
    assertEquals(1, r.code(), r.out());
    assertEquals("127.0.0.1 is an IP address, nothing to resolve", r.require("DNS"));
    assertEquals("FAILED: connection refused by 127.0.0.1:" + port, r.require("TCP"));
    assertEquals("mcmux check: FAILED: connection refused by 127.0.0.1:" + port, r.last());
  }

  @Test
  void aServerThatNeverAnswersTimesOutTheHandshake() throws Exception {
    // The kernel completes TCP for a listening socket even if nobody ever accepts.
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Result r = check("127.0.0.1:" + silent.getLocalPort(), "--ca-file", ca, "--timeout", "1s");
      assertEquals(1, r.code(), r.out());
      assertEquals(
          "mcmux check: FAILED: the TLS handshake with 127.0.0.1:"
              + silent.getLocalPort()
              + " did not finish within 1s (the server accepted TCP but sent nothing back)",
          r.last());
    }
  }

  @Test
  void aPlaintextMemcachedIsNotSpeakingTls() {
    Result r = check(endpoint(plain), "--ca-file", ca);
    assertEquals(1, r.code(), r.out());
    assertEquals(
        "mcmux check: FAILED: the server is not speaking TLS — is transit encryption enabled?"
            + " (it answered 'ERROR')",
        r.last());
    assertTrue(r.require("TLS").startsWith("FAILED: the server is not speaking TLS"), r.out());
  }

  @Test
  void aConfigurationEndpointListsItsNodes() throws Exception {
    String body = "12\nnode-1.cluster.test|127.0.0.1|11211 node-2.cluster.test|127.0.0.2|11212\n";
    try (var standIn = new ConfigEndpointStandIn(pki.server(TestPki.Kind.LOCALHOST), body)) {
      Result r = check("localhost:" + standIn.port(), "--ca-file", ca);
      assertEquals(0, r.code(), r.out());
      assertTrue(r.require("memcached").startsWith("VERSION " + ConfigEndpointStandIn.VERSION));
      assertEquals("configuration endpoint: config version 12, 2 nodes", r.require("discovery"));
      assertTrue(r.out().contains("  node    node-1.cluster.test  127.0.0.1  port 11211\n"));
      assertTrue(r.out().contains("  node    node-2.cluster.test  127.0.0.2  port 11212\n"));

      Map<String, Object> json =
          MiniJson.object(check("localhost:" + standIn.port(), "--ca-file", ca, "--json").out());
      Map<?, ?> discovery = (Map<?, ?>) json.get("discovery");
      assertEquals(true, discovery.get("configurationEndpoint"));
      assertEquals(12.0, discovery.get("configVersion"));
      assertEquals(
          List.of(
              Map.of("host", "node-1.cluster.test", "ip", "127.0.0.1", "port", 11211.0),
              Map.of("host", "node-2.cluster.test", "ip", "127.0.0.2", "port", 11212.0)),
          discovery.get("nodes"));
    }
  }

  @Test
  void aWildcardCertificateExplainsItsOneLabelRule() throws Exception {
    try (var standIn = new ConfigEndpointStandIn(pki.server(TestPki.Kind.WILDCARD), null)) {
      Result r =
          check(
              "localhost:" + standIn.port(), "--ca-file", ca, "--server-name", "a.b.cluster.test");
      assertEquals(1, r.code(), r.out());
      assertEquals(
          "FAILED: a.b.cluster.test does not match the certificate, which is valid for"
              + " DNS:*.cluster.test, DNS:localhost, IP:127.0.0.1",
          r.require("host name"));
      assertTrue(
          r.out()
              .contains(
                  "*.cluster.test matches exactly one label: it covers b.cluster.test but not"
                      + " a.b.cluster.test"),
          r.out());

      Result one =
          check("localhost:" + standIn.port(), "--ca-file", ca, "--server-name", "b.cluster.test");
      assertEquals(0, one.code(), one.out());
      assertEquals("OK: b.cluster.test matches DNS:*.cluster.test", one.require("host name"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"openssl", "jdk"})
  void aServerWithOnlyTls11IsAVersionMismatch(String engine) {
    try (Tls11OnlyServer old = Tls11OnlyServer.start(pki.server(TestPki.Kind.LOCALHOST))) {
      Result r =
          run(
              Map.of("MCMUX_TLS_ENGINE", engine),
              "check",
              "localhost:" + old.port(),
              "--ca-file",
              ca);
      assertEquals(1, r.code(), r.out());
      assertTrue(
          r.last()
              .startsWith(
                  "mcmux check: FAILED: TLS version mismatch: the server offers only"
                      + " TLS 1.1 or older"),
          r.out());
    }
  }

  @Test
  void memcachedAtItsConnectionLimitIsRecognised() {
    try (MemcachedProcess small =
        MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).maxConnections(20).start()) {
      List<TextClient> held = new ArrayList<>();
      try {
        // Take every free connection slot; the first refusal proves the limit is reached.
        while (true) {
          try {
            held.add(small.connect());
          } catch (UncheckedIOException e) {
            break;
          }
        }
        Result r = check(endpoint(small), "--ca-file", ca);
        assertEquals(1, r.code(), r.out());
        assertEquals(
            "mcmux check: FAILED: memcached at 127.0.0.1:"
                + small.port()
                + " is at its connection limit: it answered 'ERROR Too many open connections'"
                + " in plain text before TLS",
            r.last());
      } finally {
        held.forEach(TextClient::close);
      }
    }
  }

  @Test
  void aRequestedClientCertificateIsReportedAndSent() {
    try (MemcachedProcess mtls =
        MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST))
            .args("-o", "ssl_verify_mode=1,ssl_ca_cert=" + ca)
            .start()) {
      Result without = check(endpoint(mtls), "--ca-file", ca);
      assertEquals(0, without.code(), without.out());
      assertEquals(
          "requested by the server; NONE sent (none configured)", without.require("client cert"));

      TestPki.CertPair client = pki.clientPkcs8();
      Result with =
          check(
              endpoint(mtls),
              "--ca-file",
              ca,
              "--cert-file",
              client.cert().toString(),
              "--key-file",
              client.key().toString());
      assertEquals(0, with.code(), with.out());
      assertEquals("requested by the server; sent CN=mcmux-client-ec", with.require("client cert"));
    }
  }

  @ParameterizedTest
  @CsvSource({"openssl, TLSv1.3", "openssl, TLSv1.2", "jdk, TLSv1.3", "jdk, TLSv1.2"})
  void aRequiredClientCertificateThatIsMissingIsNamed(String engine, String protocol)
      throws Exception {
    try (var standIn =
        new ConfigEndpointStandIn(pki.server(TestPki.Kind.LOCALHOST), null, pki.caFile())) {
      Map<String, String> env = Map.of("MCMUX_TLS_ENGINE", engine, "MCMUX_TLS_PROTOCOLS", protocol);
      Result r = run(env, "check", "localhost:" + standIn.port(), "--ca-file", ca);
      assertEquals(1, r.code(), r.out());
      assertEquals(
          "requested by the server; NONE sent (none configured)", r.require("client cert"));
      assertTrue(
          r.last()
              .startsWith(
                  "mcmux check: FAILED: the server requires a client certificate and mcmux sent"
                      + " none ("),
          r.out());

      TestPki.CertPair client = pki.clientPkcs1();
      Result with =
          run(
              env,
              "check",
              "localhost:" + standIn.port(),
              "--ca-file",
              ca,
              "--cert-file",
              client.cert().toString(),
              "--key-file",
              client.key().toString());
      assertEquals(0, with.code(), with.out());
      assertEquals(
          "requested by the server; sent CN=mcmux-client-rsa", with.require("client cert"));
    }
  }

  @Test
  void insecureConnectsButSaysNothingWasVerified() {
    Result r = check(endpoint(untrusted), "--insecure");
    assertEquals(0, r.code(), r.out());
    assertEquals("WARNING: not verified (verification is off)", r.require("trust"));
    assertTrue(r.require("warning").startsWith("certificates and host names are NOT verified"));
    assertEquals("mcmux check: OK", r.last());
  }

  @Test
  void anUnresolvableNameIsADnsFailure() {
    Result r = check("no-such-node.invalid:11211", "--timeout", "3s");
    assertEquals(1, r.code(), r.out());
    assertTrue(r.require("DNS").startsWith("FAILED: "), r.out());
    assertTrue(
        r.last().startsWith("mcmux check: FAILED: cannot resolve no-such-node.invalid: "), r.out());
  }
}
