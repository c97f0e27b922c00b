package dev.mcmux.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostPortTest {

  /** A record with the same components: its generated methods are what HostPort's must match. */
  private record Generated(String host, int port) {}

  @ParameterizedTest
  @CsvSource({"cache-1.example,11211", "10.0.0.1,1", "::1,65535", "a,2"})
  void equalsAndHashCodeAreThoseOfTheGeneratedRecordMethods(String host, int port) {
    HostPort hp = new HostPort(host, port);
    assertEquals(new Generated(host, port).hashCode(), hp.hashCode());
    assertEquals(new HostPort(host, port), hp);
    assertNotEquals(new HostPort(host + "x", port), hp);
    assertNotEquals(new HostPort(host, port == 1 ? 2 : port - 1), hp);
    assertNotEquals(hp, new Generated(host, port));
    assertNotEquals(hp, null);
  }
}
