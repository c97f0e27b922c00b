package dev.mcmux.routing;

/**
 * Shortens the expiry of a write that failover sent to a node other than the key's own, so the
 * entry cannot outlive the outage by long: once the key's node is back, reads go there again and
 * the copy left on the other node must not reappear later (after a second failover) as stale data.
 *
 * <p>memcached's exptime: 0 never expires, a negative value has already expired, up to 30 days it
 * is seconds from now, above that a Unix time. The ASCII, meta and binary paths all call {@link
 * #cap} with the value they are about to forward.
 */
public final class TtlCap {
  /** memcached reads an exptime above this as an absolute Unix time. */
  static final int RELATIVE_MAX = 60 * 60 * 24 * 30;

  private TtlCap() {}

  /**
   * The exptime to forward instead of {@code exptime}: never later than {@code capSeconds} from
   * now, and never later than what the client asked for.
   *
   * @param capSeconds the cap, 1 to 30 days in seconds
   * @param nowEpochSeconds the current Unix time, to compare absolute expiries with
   */
  public static int cap(int exptime, int capSeconds, long nowEpochSeconds) {
    if (exptime < 0) {
      return exptime;
    }
    if (exptime == 0) {
      return capSeconds;
    }
    if (exptime <= RELATIVE_MAX) {
      return Math.min(exptime, capSeconds);
    }
    long left = Integer.toUnsignedLong(exptime) - nowEpochSeconds;
    return left <= capSeconds ? exptime : capSeconds;
  }
}
