package dev.mcmux.upstream;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.event.Level;
import org.slf4j.helpers.FormattingTuple;
import org.slf4j.helpers.MessageFormatter;

/**
 * Logs a message at most once per interval per key and counts the repeats it held back, so that a
 * connection storm (a node down, thousands of clients reconnecting) costs a few log lines, each
 * saying how many similar ones were suppressed. Thread-safe.
 */
public final class RateLimitedLogger {

  /** The key under which new keys are counted once {@link #maxKeys} distinct keys are held. */
  static final String OVERFLOW_KEY = "(other keys)";

  private static final int DEFAULT_MAX_KEYS = 1_000;

  private final Logger log;
  private final long intervalNanos;
  private final LongSupplier nanoClock;
  private final int maxKeys;
  private final Map<String, Window> windows = new ConcurrentHashMap<>();

  /** One key's state: when its current interval began and what was held back since. */
  private static final class Window {
    private long startedAt;
    private long suppressed;
    private Level lastLevel;
    private String lastMessage;

    /** Returns how many were held back before this one when it may be logged, else -1. */
    synchronized long admit(long now, long interval, Level level, String message) {
      if (lastLevel != null && now - startedAt < interval) {
        suppressed++;
        lastLevel = level;
        lastMessage = message;
        return -1;
      }
      long before = suppressed;
      startedAt = now;
      suppressed = 0;
      lastLevel = level;
      lastMessage = null;
      return before;
    }

    synchronized long suppressed() {
      return suppressed;
    }
  }

  /** Allows each key one message per {@code interval}, timed by {@link System#nanoTime()}. */
  public RateLimitedLogger(Logger log, Duration interval) {
    this(log, interval, System::nanoTime, DEFAULT_MAX_KEYS);
  }

  /**
   * Like {@link #RateLimitedLogger(Logger, Duration)}, with a clock in nanoseconds (for tests) and
   * a bound on the keys remembered at once.
   */
  public RateLimitedLogger(Logger log, Duration interval, LongSupplier nanoClock, int maxKeys) {
    if (interval.isNegative() || interval.isZero()) {
      throw new IllegalArgumentException("interval must be positive, got " + interval);
    }
    if (maxKeys < 1) {
      throw new IllegalArgumentException("maxKeys must be at least 1, got " + maxKeys);
    }
    this.log = log;
    this.intervalNanos = interval.toNanos();
    this.nanoClock = nanoClock;
    this.maxKeys = maxKeys;
  }

  /** {@link #log} at WARN. */
  public boolean warn(String key, String format, Object... args) {
    return log(Level.WARN, key, format, args);
  }

  /** {@link #log} at INFO. */
  public boolean info(String key, String format, Object... args) {
    return log(Level.INFO, key, format, args);
  }

  /** {@link #log} at ERROR. */
  public boolean error(String key, String format, Object... args) {
    return log(Level.ERROR, key, format, args);
  }

  /**
   * Logs {@code format} with {@code args} (SLF4J style; a trailing {@link Throwable} is the cause)
   * unless {@code key} already had a message in the current interval, in which case it is only
   * counted. A logged message ends with {@code (N similar messages suppressed)} when repeats were
   * held back since the previous one. Levels that are off neither log nor count.
   *
   * @return whether the message was logged
   */
  public boolean log(Level level, String key, String format, Object... args) {
    if (!log.isEnabledForLevel(level)) {
      return false;
    }
    FormattingTuple formatted = MessageFormatter.arrayFormat(format, args);
    long held =
        window(key).admit(nanoClock.getAsLong(), intervalNanos, level, formatted.getMessage());
    if (held < 0) {
      return false;
    }
    String message =
        held == 0 ? formatted.getMessage() : formatted.getMessage() + " (" + similar(held) + ")";
    // No arguments: the text is final and a literal "{}" in it stays as it is.
    log.atLevel(level).setCause(formatted.getThrowable()).log(message);
    return true;
  }

  /**
   * Logs, for every key whose interval has ended with repeats held back, how many there were and
   * the last of them, so that the end of a storm is not silent; call it now and then (e.g. once per
   * interval from a timer). Forgets keys that were quiet for a whole interval.
   */
  public void flushSuppressed() {
    long now = nanoClock.getAsLong();
    for (Map.Entry<String, Window> e : windows.entrySet()) {
      Window w = e.getValue();
      Level level;
      String last;
      long held;
      synchronized (w) {
        if (now - w.startedAt < intervalNanos) {
          continue;
        }
        held = w.suppressed;
        level = w.lastLevel;
        last = w.lastMessage;
        if (held == 0) {
          windows.remove(e.getKey(), w);
          continue;
        }
        w.startedAt = now;
        w.suppressed = 0;
        w.lastMessage = null;
      }
      if (log.isEnabledForLevel(level)) {
        log.atLevel(level)
            .log(
                similar(held)
                    + " in the last "
                    + TimeUnit.NANOSECONDS.toSeconds(intervalNanos)
                    + " s; the last: "
                    + last);
      }
    }
  }

  /** How many messages of {@code key} were held back in its current interval. */
  public long suppressed(String key) {
    Window w = windows.get(key);
    return w == null ? 0 : w.suppressed();
  }

  private Window window(String key) {
    Window w = windows.get(key);
    if (w != null) {
      return w;
    }
    if (windows.size() >= maxKeys) {
      // Connection storms are keyed by node; an unbounded key space must not grow the map.
      return windows.computeIfAbsent(OVERFLOW_KEY, k -> new Window());
    }
    return windows.computeIfAbsent(key, k -> new Window());
  }

  private static String similar(long n) {
    return n + " similar message" + (n == 1 ? "" : "s") + " suppressed";
  }
}
