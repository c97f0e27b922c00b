package dev.mcmux.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimitedLoggerTest {

  private static final Duration INTERVAL = Duration.ofSeconds(10);

  private final LoggerContext context = new LoggerContext();
  private final Logger logger = context.getLogger("storm");
  private final ListAppender<ILoggingEvent> events = new ListAppender<>();
  private final AtomicLong now = new AtomicLong(1_000);
  private final RateLimitedLogger limited;

  RateLimitedLoggerTest() {
    events.setContext(context);
    events.start();
    logger.addAppender(events);
    logger.setLevel(Level.INFO);
    limited = new RateLimitedLogger(logger, INTERVAL, now::get, 3);
  }

  private void advance(Duration d) {
    now.addAndGet(d.toNanos());
  }

  private List<String> messages() {
    return events.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
  }

  @Test
  void logsOncePerIntervalAndCountsTheRest() {
    assertTrue(limited.warn("node-1", "connect to {} failed", "node-1"));
    assertFalse(limited.warn("node-1", "connect to {} failed", "node-1"));
    advance(Duration.ofSeconds(9));
    assertFalse(limited.warn("node-1", "connect to {} failed: {}", "node-1", "refused"));
    assertEquals(2, limited.suppressed("node-1"));
    advance(Duration.ofSeconds(1));
    assertTrue(limited.warn("node-1", "connect to {} failed", "node-1"));
    assertEquals(
        List.of(
            "connect to node-1 failed", "connect to node-1 failed (2 similar messages suppressed)"),
        messages());
    assertEquals(0, limited.suppressed("node-1"));
  }

  @Test
  void oneSuppressedIsSingular() {
    limited.warn("k", "x");
    limited.warn("k", "x");
    advance(INTERVAL);
    limited.warn("k", "x");
    assertEquals(List.of("x", "x (1 similar message suppressed)"), messages());
  }

  @Test
  void keysAreIndependent() {
    assertTrue(limited.warn("node-1", "down"));
    assertTrue(limited.warn("node-2", "down"));
    assertFalse(limited.warn("node-1", "down"));
    assertEquals(List.of("down", "down"), messages());
  }

  @Test
  void aTrailingThrowableIsTheCauseAndTheCountStillEndsTheMessage() {
    limited.error("k", "handshake with {} failed", "n1", new IllegalStateException("first"));
    limited.error("k", "handshake with {} failed", "n1", new IllegalStateException("second"));
    advance(INTERVAL);
    limited.error("k", "handshake with {} failed", "n1", new IllegalStateException("third"));
    ILoggingEvent last = events.list.get(1);
    assertEquals(
        "handshake with n1 failed (1 similar message suppressed)", last.getFormattedMessage());
    assertEquals("third", ((ThrowableProxy) last.getThrowableProxy()).getThrowable().getMessage());
    assertEquals(ch.qos.logback.classic.Level.ERROR, last.getLevel());
  }

  @Test
  void bracesInArgumentsStayLiteral() {
    limited.info("k", "key {} refused", "a{}b");
    assertEquals(List.of("key a{}b refused"), messages());
  }

  @Test
  void aDisabledLevelNeitherLogsNorCounts() {
    logger.setLevel(Level.WARN);
    assertFalse(limited.info("k", "chatty"));
    assertEquals(0, limited.suppressed("k"));
    assertTrue(limited.warn("k", "important"), "INFO did not open a window for the key");
  }

  @Test
  void flushReportsWhatAQuietEndWouldHide() {
    limited.warn("node-1", "connect failed");
    limited.warn("node-1", "connect failed: {}", "refused");
    limited.warn("node-1", "connect failed: {}", "timeout");
    limited.flushSuppressed();
    assertEquals(List.of("connect failed"), messages(), "nothing before the interval ends");
    advance(INTERVAL);
    limited.flushSuppressed();
    assertEquals(
        "2 similar messages suppressed in the last 10 s; the last: connect failed: timeout",
        messages().get(1));
    assertEquals(ch.qos.logback.classic.Level.WARN, events.list.get(1).getLevel());
    advance(INTERVAL);
    limited.flushSuppressed();
    assertEquals(2, messages().size(), "nothing held back, nothing to say");
  }

  @Test
  void flushForgetsQuietKeysSoTheyDoNotFillTheMap() {
    for (String key : List.of("a", "b", "c")) {
      limited.warn(key, "m");
    }
    advance(INTERVAL);
    limited.flushSuppressed();
    assertTrue(limited.warn("d", "m"), "a fourth key fits once the quiet ones are gone");
    assertFalse(limited.warn("d", "m"));
    assertEquals(1, limited.suppressed("d"));
  }

  @Test
  void keysBeyondTheBoundShareOneWindow() {
    for (String key : List.of("a", "b", "c")) {
      assertTrue(limited.warn(key, "m " + key));
    }
    assertTrue(limited.warn("d", "m d"), "the overflow window starts with d");
    assertFalse(limited.warn("e", "m e"), "e shares d's window");
    assertEquals(1, limited.suppressed(RateLimitedLogger.OVERFLOW_KEY));
    assertEquals(0, limited.suppressed("e"));
  }

  @Test
  void badArgumentsAreRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new RateLimitedLogger(logger, Duration.ZERO, now::get, 1));
    assertThrows(
        IllegalArgumentException.class, () -> new RateLimitedLogger(logger, INTERVAL, now::get, 0));
  }

  @Test
  void theDefaultConstructorUsesTheSystemClock() {
    RateLimitedLogger real = new RateLimitedLogger(logger, Duration.ofHours(1));
    assertTrue(real.warn("k", "first"));
    assertFalse(real.warn("k", "second"));
    assertSame(events.list.get(0).getLoggerName(), "storm");
    assertNull(events.list.get(0).getThrowableProxy());
  }
}
