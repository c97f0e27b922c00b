package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.LoggingEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TextLogLayoutTest {

  private final LoggerContext context = new LoggerContext();
  private final TextLogLayout layout = new TextLogLayout();
  // The oracle: logback's own layout with the pattern TextLogLayout stands in for.
  private final PatternLayout pattern = new PatternLayout();

  @BeforeEach
  void start() {
    layout.setContext(context);
    layout.start();
    pattern.setContext(context);
    pattern.setPattern(LogConfigurator.PATTERN);
    pattern.start();
  }

  private LoggingEvent event(String logger, Level level, String thread, Throwable thrown) {
    LoggingEvent e =
        new LoggingEvent(
            Logger.class.getName(),
            context.getLogger(logger),
            level,
            "node {} is down",
            thrown,
            new Object[] {"10.0.0.1:11211"});
    e.setTimeStamp(1_700_000_000_123L);
    e.setThreadName(thread);
    return e;
  }

  @ParameterizedTest
  @ValueSource(strings = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"})
  void writesWhatThePatternWritesAtEveryLevel(String level) {
    LoggingEvent e =
        event("dev.mcmux.upstream.UpstreamPool", Level.toLevel(level), "mcmux-io-1-1", null);
    assertEquals(pattern.doLayout(e), layout.doLayout(e));
  }

  @ParameterizedTest
  @ValueSource(strings = {"dev.mcmux.frontend.McmuxServer$Shared", "io.netty.Foo", "root", "a."})
  void abbreviatesLoggerNamesAsThePatternDoes(String logger) {
    LoggingEvent e = event(logger, Level.WARN, "main", null);
    assertEquals(pattern.doLayout(e), layout.doLayout(e));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mcmux-io-1-1", "", "a thread with spaces"})
  void writesStackTracesAsThePatternDoes(String thread) {
    Exception cause = new UncheckedIOException(new IOException("connection reset"));
    LoggingEvent e =
        event("dev.mcmux.upstream.UpstreamPool", Level.ERROR, thread, new Exception("x", cause));
    String line = layout.doLayout(e);
    assertTrue(line.contains("Caused by: java.io.UncheckedIOException"), line);
    assertEquals(pattern.doLayout(e), line);
  }

  @Test
  void theLineIsTimeLevelThreadClassMessage() {
    String line =
        layout.doLayout(event("dev.mcmux.upstream.UpstreamPool", Level.WARN, "mcmux-io-1-1", null));
    assertTrue(
        line.endsWith(
            " WARN  [mcmux-io-1-1] UpstreamPool: node 10.0.0.1:11211 is down"
                + System.lineSeparator()),
        line);
    assertTrue(
        line.matches("(?s)2023-11-1[45]T\\d\\d:\\d\\d:20\\.123(Z|[+-]\\d\\d:\\d\\d) .*"), line);
  }
}
