package dev.mcmux.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import ch.qos.logback.core.spi.ContextAwareBase;
import org.slf4j.Logger;

/**
 * mcmux's default logging set up in code: one line per event on stderr, Netty's own chatter at
 * WARN, mcmux at {@code MCMUX_LOG_LEVEL} (default INFO).
 *
 * <p>Built in code rather than read from {@code logback.xml} because parsing XML loads some 600
 * classes (logback's Joran plus the JDK's XML parser) that stay in a sidecar's resident memory for
 * its whole life. Stderr keeps stdout clean for {@code mcmux validate > effective.conf}. An
 * operator's own {@code -Dlogback.configurationFile} still wins: logback's XML configurator then
 * runs as usual.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_HIGH_PRIORITY)
public final class LogConfigurator extends ContextAwareBase implements Configurator {

  /**
   * The appender's name, kept from the former {@code logback.xml} for anything that looks it up.
   */
  static final String APPENDER = "STDERR";

  /**
   * The human-readable line: time with zone, level, thread, class, message; {@link TextLogLayout}
   * writes it without logback's pattern parser.
   */
  static final String PATTERN =
      "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level [%thread] %logger{0}: %msg%n";

  /** For {@link java.util.ServiceLoader}, which logback uses to find configurators. */
  public LogConfigurator() {}

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    if (System.getProperty("logback.configurationFile") != null) {
      return ExecutionStatus.INVOKE_NEXT_IF_ANY;
    }
    TextLogLayout layout = new TextLogLayout();
    layout.setContext(context);
    layout.start();
    LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
    encoder.setContext(context);
    encoder.setLayout(layout);
    encoder.start();
    ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
    appender.setContext(context);
    appender.setName(APPENDER);
    appender.setTarget("System.err");
    appender.setEncoder(encoder);
    appender.start();
    ch.qos.logback.classic.Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.setLevel(Level.INFO);
    root.addAppender(appender);
    context.getLogger("io.netty").setLevel(Level.WARN);
    context
        .getLogger("dev.mcmux")
        .setLevel(Level.toLevel(System.getenv("MCMUX_LOG_LEVEL"), Level.INFO));
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
