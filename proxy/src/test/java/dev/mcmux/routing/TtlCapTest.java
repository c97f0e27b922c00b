package dev.mcmux.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The expiry cap of writes redirected by failover, for every kind of memcached exptime. */
class TtlCapTest {
  private static final long NOW = 1_800_000_000L;

  @Test
  void neverBecomesTheCap() {
    assertEquals(60, TtlCap.cap(0, 60, NOW));
  }

  @Test
  void relativeExpiriesAreShortenedNeverLengthened() {
    assertEquals(60, TtlCap.cap(3600, 60, NOW));
    assertEquals(10, TtlCap.cap(10, 60, NOW));
    assertEquals(60, TtlCap.cap(TtlCap.RELATIVE_MAX, 60, NOW));
  }

  @Test
  void alreadyExpiredStaysExpired() {
    assertEquals(-1, TtlCap.cap(-1, 60, NOW));
  }

  @Test
  void absoluteExpiriesBeyondTheCapBecomeRelative() {
    assertEquals(60, TtlCap.cap((int) (NOW + 3600), 60, NOW));
    assertEquals((int) (NOW + 30), TtlCap.cap((int) (NOW + 30), 60, NOW));
    // An absolute time in the past is already expired: kept as it is.
    assertEquals((int) (NOW - 5), TtlCap.cap((int) (NOW - 5), 60, NOW));
  }
}
