package dev.mcmux.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class WireDiagnosisTest {

  private static Optional<Failure> explain(byte[] bytes) {
    return WireDiagnosis.explain(bytes, "10.0.0.1:11211");
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void plaintextMemcachedIsNotTls() {
    Failure f = explain(ascii("ERROR\r\nERROR\r\n")).orElseThrow();
    assertEquals(Failure.Kind.NOT_TLS, f.kind());
    assertEquals(
        "the server is not speaking TLS — is transit encryption enabled? (it answered 'ERROR')",
        f.reason());
  }

  @Test
  void anotherProtocolIsShownAsText() {
    Failure f = explain(ascii("HTTP/1.1 400 Bad Request\r\n\r\n")).orElseThrow();
    assertEquals(Failure.Kind.NOT_TLS, f.kind());
    assertTrue(f.reason().endsWith("(it answered 'HTTP/1.1 400 Bad Request')"), f.reason());
    assertTrue(f.hint().startsWith("something other than a TLS server"), f.hint());
  }

  @Test
  void connectionLimitIsRecognised() {
    Failure f = explain(ascii("ERROR Too many open connections\r\n")).orElseThrow();
    assertEquals(Failure.Kind.TOO_MANY_CONNECTIONS, f.kind());
    assertTrue(f.reason().startsWith("memcached at 10.0.0.1:11211 is at its connection limit"));
  }

  @Test
  void binaryGarbageIsShownInHex() {
    Failure f = explain(new byte[] {0, 1, 2, (byte) 0xff}).orElseThrow();
    assertEquals(Failure.Kind.NOT_TLS, f.kind());
    assertTrue(f.reason().endsWith("(it answered bytes 00 01 02 ff)"), f.reason());
  }

  @Test
  void protocolVersionAlertMeansTheServerIsTooOld() {
    // Alert record, TLS 1.0 record version, length 2, fatal, protocol_version.
    Failure f = explain(new byte[] {21, 3, 1, 0, 2, 2, 70}).orElseThrow();
    assertEquals(Failure.Kind.TLS_VERSION, f.kind());
  }

  @Test
  void serverHelloForTls11IsAVersionMismatch() {
    byte[] hello = {22, 3, 2, 0, 60, 2, 0, 0, 56, 3, 2, 0, 0};
    Failure f = explain(hello).orElseThrow();
    assertEquals(Failure.Kind.TLS_VERSION, f.kind());
    assertTrue(f.reason().contains("it chose TLS 1.1"), f.reason());
  }

  @Test
  void aNormalServerHelloExplainsNothing() {
    byte[] hello = {22, 3, 3, 0, 60, 2, 0, 0, 56, 3, 3, 0, 0};
    assertEquals(Optional.empty(), explain(hello));
    assertEquals(Optional.empty(), explain(new byte[0]));
  }

  @Test
  void certificateRequiredAlertIsAboutTheClientCertificate() {
    Failure f = explain(new byte[] {21, 3, 3, 0, 2, 2, 116}).orElseThrow();
    assertEquals(Failure.Kind.CLIENT_CERTIFICATE, f.kind());
    assertTrue(f.reason().endsWith("certificate_required"), f.reason());
  }
}
