package dev.mcmux.cli;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.CoreConstants;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;

/**
 * Lays out each log event exactly as logback's {@code PatternLayout} would with {@link
 * LogConfigurator#PATTERN}, written by hand because the pattern parser and its converters are about
 * 170 classes that a sidecar would keep in memory for a one-time parse.
 */
public final class TextLogLayout extends LayoutBase<ILoggingEvent> {

  // What %d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} formats with: the pattern in the JVM's zone.
  private final DateTimeFormatter timestamp =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").withZone(ZoneId.systemDefault());

  // The converter PatternLayout appends for a pattern without one, so stack traces stay as they
  // were, "Caused by" and omitted common frames included.
  private final ThrowableProxyConverter thrown = new ThrowableProxyConverter();

  @Override
  public void start() {
    thrown.setContext(getContext());
    thrown.start();
    super.start();
  }

  @Override
  public void stop() {
    thrown.stop();
    super.stop();
  }

  @Override
  public String doLayout(ILoggingEvent event) {
    StringBuilder out = new StringBuilder(128);
    out.append(timestamp.format(Instant.ofEpochMilli(event.getTimeStamp()))).append(' ');
    String level = event.getLevel().toString();
    out.append(level);
    for (int i = level.length(); i < 5; i++) {
      out.append(' ');
    }
    out.append(" [").append(event.getThreadName()).append("] ");
    String logger = event.getLoggerName();
    out.append(logger, logger.lastIndexOf('.') + 1, logger.length()).append(": ");
    out.append(event.getFormattedMessage()).append(CoreConstants.LINE_SEPARATOR);
    out.append(thrown.convert(event));
    return out.toString();
  }
}
