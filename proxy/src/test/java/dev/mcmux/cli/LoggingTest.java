package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import dev.mcmux.check.MiniJson;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class LoggingTest {

  private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
  private final Logger logger = context.getLogger("dev.mcmux.cli.LoggingTest.capture");
  private final ByteArrayOutputStream captured = new ByteArrayOutputStream();
  private OutputStreamAppender<ILoggingEvent> appender;

  @BeforeEach
  void attach() {
    PatternLayoutEncoder pattern = new PatternLayoutEncoder();
    pattern.setContext(context);
    pattern.setPattern("%level %msg%n");
    pattern.start();
    appender = new OutputStreamAppender<>();
    appender.setContext(context);
    appender.setName("capture");
    appender.setEncoder(pattern);
    appender.setOutputStream(captured);
    appender.start();
    logger.addAppender(appender);
    logger.setAdditive(false);
  }

  @AfterEach
  void detach() {
    Logging.configure("text");
    logger.detachAppender(appender);
    appender.stop();
  }

  private String take() {
    String s = captured.toString(StandardCharsets.UTF_8);
    captured.reset();
    return s;
  }

  @Test
  void jsonThenTextSwitchesEveryAppenderAndBack() {
    Encoder<ILoggingEvent> original = appender.getEncoder();
    Logging.configure("json");
    logger.info("hello \"{}\"", "world");
    Map<String, Object> json = MiniJson.object(take());
    assertEquals("hello \"world\"", json.get("message"));
    assertEquals("INFO", json.get("level"));
    assertEquals("dev.mcmux.cli.LoggingTest.capture", json.get("logger"));

    Logging.configure("text");
    logger.info("plain again");
    assertEquals("INFO plain again" + System.lineSeparator(), take());
    assertSame(original, appender.getEncoder(), "text restores the configured encoder");
  }

  @Test
  void theConfiguredStderrAppenderIsSwitchedToo() {
    var stderr =
        (OutputStreamAppender<ILoggingEvent>)
            context.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("STDERR");
    Encoder<ILoggingEvent> original = stderr.getEncoder();
    Logging.configure("JSON");
    LayoutWrappingEncoder<?> json =
        assertInstanceOf(LayoutWrappingEncoder.class, stderr.getEncoder());
    assertInstanceOf(JsonLogLayout.class, json.getLayout());
    Logging.configure("text");
    assertSame(original, stderr.getEncoder());
  }

  @Test
  void configuringTwiceIsHarmless() {
    Logging.configure("json");
    Logging.configure("json");
    logger.warn("once");
    assertEquals("once", MiniJson.object(take()).get("message"));
    Logging.configure("text");
    Logging.configure("text");
    logger.warn("twice");
    assertEquals("WARN twice" + System.lineSeparator(), take());
  }

  @Test
  void anUnknownFormatIsRefused() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Logging.configure("xml"));
    assertEquals("log format 'xml' is not one of text, json", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Logging.configure(null));
  }
}
