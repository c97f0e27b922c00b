package dev.mcmux.cli;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.WeakHashMap;
import org.slf4j.LoggerFactory;

/**
 * Switches every console or file appender of logback between its configured, human-readable pattern
 * ({@link LogConfigurator}, or an operator's own logback file) and {@link JsonLogLayout}, at start,
 * before anything is logged.
 */
public final class Logging {

  /** The human-readable format of {@link LogConfigurator}; the default. */
  public static final String TEXT = "text";

  /** One JSON object per line. */
  public static final String JSON = "json";

  // The encoders that JSON replaced, so that text restores exactly what was configured, even a
  // custom -Dlogback.configurationFile, rather than a pattern copied here.
  private static final Map<Appender<ILoggingEvent>, Encoder<ILoggingEvent>> replaced =
      new WeakHashMap<>();

  private Logging() {}

  /**
   * Applies {@code format}, {@value #TEXT} or {@value #JSON} (case-insensitive); calling it again,
   * with either, is harmless.
   *
   * @throws IllegalArgumentException for any other format
   */
  public static synchronized void configure(String format) {
    String f = format == null ? "" : format.strip().toLowerCase(Locale.ROOT);
    if (!f.equals(TEXT) && !f.equals(JSON)) {
      throw new IllegalArgumentException(
          "log format '" + format + "' is not one of " + TEXT + ", " + JSON);
    }
    if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
      return; // Another SLF4J backend: its own configuration decides.
    }
    for (Logger logger : context.getLoggerList()) {
      for (Iterator<Appender<ILoggingEvent>> it = logger.iteratorForAppenders(); it.hasNext(); ) {
        if (it.next() instanceof OutputStreamAppender<ILoggingEvent> appender) {
          if (f.equals(JSON)) {
            toJson(context, appender);
          } else {
            toText(appender);
          }
        }
      }
    }
  }

  private static void toJson(LoggerContext context, OutputStreamAppender<ILoggingEvent> appender) {
    if (replaced.containsKey(appender)) {
      return;
    }
    JsonLogLayout layout = new JsonLogLayout();
    layout.setContext(context);
    layout.start();
    LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
    encoder.setContext(context);
    encoder.setLayout(layout);
    // Without a charset the encoder would use the platform's, which may not be UTF-8.
    encoder.setCharset(StandardCharsets.UTF_8);
    encoder.start();
    replaced.put(appender, appender.getEncoder());
    swap(appender, encoder);
  }

  private static void toText(OutputStreamAppender<ILoggingEvent> appender) {
    Encoder<ILoggingEvent> original = replaced.remove(appender);
    if (original != null) {
      swap(appender, original);
    }
  }

  // Not stopped around the swap: stopping closes and forgets the stream of a plain
  // OutputStreamAppender. Each event is encoded whole by one encoder or the other, so a swap
  // can never mix them within a line.
  private static void swap(OutputStreamAppender<ILoggingEvent> appender, Encoder<ILoggingEvent> e) {
    appender.setEncoder(e);
  }
}
