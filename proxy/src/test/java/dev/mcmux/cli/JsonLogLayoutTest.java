package dev.mcmux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import dev.mcmux.check.MiniJson;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class JsonLogLayoutTest {

  private final LoggerContext context = new LoggerContext();
  private final Logger logger = context.getLogger("dev.mcmux.upstream.UpstreamPool");
  private final JsonLogLayout layout = new JsonLogLayout();

  @BeforeEach
  void start() {
    context.setMDCAdapter(new LogbackMDCAdapter());
    layout.setContext(context);
    layout.start();
  }

  private LoggingEvent event(String message, Throwable thrown, Object... args) {
    LoggingEvent e =
        new LoggingEvent(Logger.class.getName(), logger, Level.WARN, message, thrown, args);
    e.setTimeStamp(1_700_000_000_123L);
    e.setThreadName("mcmux-io-1-1");
    return e;
  }

  /** Lays out the event, checks it is one line of valid JSON, and returns it parsed. */
  private Map<String, Object> lay(LoggingEvent e) {
    String line = layout.doLayout(e);
    assertTrue(line.endsWith("\n"), line);
    assertEquals(-1, line.substring(0, line.length() - 1).indexOf('\n'), "one line: " + line);
    assertEquals(-1, line.indexOf('\r'), line);
    return MiniJson.object(line);
  }

  @Test
  void hasTheFieldsCollectorsExpect() {
    Map<String, Object> json = lay(event("node {} is down", null, "10.0.0.1:11211"));
    assertEquals(
        Map.of(
            "timestamp", "2023-11-14T22:13:20.123Z",
            "level", "WARN",
            "logger", "dev.mcmux.upstream.UpstreamPool",
            "thread", "mcmux-io-1-1",
            "message", "node 10.0.0.1:11211 is down"),
        json);
  }

  @Test
  void quotesAndBackslashesSurvive() {
    String nasty = "key \"a\\b\" and {\"json\": true}";
    assertEquals(nasty, lay(event(nasty, null)).get("message"));
  }

  @Test
  void newlinesCannotForgeASecondLogLine() {
    String forged =
        "bad key\n{\"timestamp\":\"x\",\"level\":\"ERROR\",\"message\":\"forged\"}\r\nmore";
    assertEquals(forged, lay(event("{}", null, forged)).get("message"));
  }

  @Test
  void controlCharactersAreEscaped() {
    String control = "bell\u0007 nul\u0000 esc\u001b[31m tab\t del\u007f ls\u2028 ps\u2029";
    String line = layout.doLayout(event(control, null));
    assertFalse(line.contains("\u001b"), "a raw ESC would colour a terminal: " + line);
    assertFalse(line.contains("\u0000"), line);
    assertTrue(line.contains("\\u001b[31m"), line);
    assertTrue(line.contains("\\u2028"), line);
    assertEquals(control, MiniJson.object(line).get("message"));
  }

  @Test
  void nonAsciiStaysReadable() {
    String line = layout.doLayout(event("clé 😀 ключ", null));
    assertTrue(line.contains("clé 😀 ключ"), line);
  }

  @Test
  void exceptionsCarryTheirStackAndCauses() {
    var cause = new IllegalArgumentException("root \"cause\"\nsecond line");
    var thrown = new IllegalStateException("handshake failed", cause);
    Map<String, Object> json = lay(event("connect failed", thrown));
    String exception = (String) json.get("exception");
    assertTrue(
        exception.startsWith("java.lang.IllegalStateException: handshake failed\n\tat "),
        exception);
    assertTrue(
        exception.contains(
            "Caused by: java.lang.IllegalArgumentException: root \"cause\"\nsecond line"),
        exception);
    assertTrue(exception.contains("JsonLogLayoutTest"), exception);
    assertEquals("connect failed", json.get("message"));
  }

  @Test
  void aTrailingThrowableArgumentIsTheException() {
    Map<String, Object> json =
        lay(event("node {} failed", null, "n1", new RuntimeException("boom")));
    assertEquals("node n1 failed", json.get("message"));
    assertTrue(((String) json.get("exception")).startsWith("java.lang.RuntimeException: boom"));
  }

  @Test
  void noExceptionFieldWithoutOne() {
    assertFalse(lay(event("quiet", null)).containsKey("exception"));
  }

  @Test
  void mdcIsAnObject() {
    LoggingEvent e = event("with context", null);
    e.setMDCPropertyMap(Map.of("client", "127.0.0.1:5000", "quote", "\""));
    assertEquals(Map.of("client", "127.0.0.1:5000", "quote", "\""), lay(e).get("mdc"));
  }

  @Test
  void aNullMessageIsNull() {
    Map<String, Object> json = lay(event(null, null));
    assertTrue(json.containsKey("message"));
    assertEquals(null, json.get("message"));
  }
}
