package dev.mcmux.bench;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses durations written the way people type them: {@code 30s}, {@code 500ms}, {@code 2m}. */
public final class DurationParser {

  private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?");

  private DurationParser() {}

  /**
   * Parses a number with an optional unit ({@code ms}, {@code s}, {@code m}, {@code h}); a bare
   * number is seconds.
   *
   * @throws IllegalArgumentException with a one-line message
   */
  public static Duration parse(String text) {
    Matcher m = FORM.matcher(text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a duration: write e.g. 30s, 500ms, 2m or 1h");
    }
    double amount = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "s" : m.group(2);
    double millis =
        switch (unit) {
          case "ms" -> amount;
          case "s" -> amount * 1_000;
          case "m" -> amount * 60_000;
          default -> amount * 3_600_000;
        };
    if (millis > Duration.ofDays(7).toMillis()) {
      throw new IllegalArgumentException("'" + text + "' is longer than a week");
    }
    return Duration.ofNanos(Math.round(millis * 1_000_000));
  }

  /** Writes a duration back in the shortest of those forms, for reports. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms % 1000 != 0) {
      return ms + "ms";
    }
    long s = ms / 1000;
    if (s != 0 && s % 3600 == 0) {
      return s / 3600 + "h";
    }
    if (s != 0 && s % 60 == 0) {
      return s / 60 + "m";
    }
    return s + "s";
  }
}
