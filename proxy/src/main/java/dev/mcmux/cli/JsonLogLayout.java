package dev.mcmux.cli;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.LayoutBase;
import dev.mcmux.admin.JsonWriter;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.TreeMap;

/**
 * Lays out each log event as one JSON object on one line (timestamp, level, logger, thread,
 * message, exception), for collectors that parse JSON lines; nothing in a message can break it.
 */
public final class JsonLogLayout extends LayoutBase<ILoggingEvent> {

  // Fixed width and always UTC, so lines sort as text and collectors need no time zone.
  private static final DateTimeFormatter TIMESTAMP =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSX").withZone(ZoneOffset.UTC);

  @Override
  public String doLayout(ILoggingEvent event) {
    StringBuilder out = new StringBuilder(256);
    JsonWriter json = JsonWriter.compact(out).beginObject();
    json.field("timestamp", TIMESTAMP.format(Instant.ofEpochMilli(event.getTimeStamp())));
    json.field("level", event.getLevel().toString());
    json.field("logger", event.getLoggerName());
    json.field("thread", event.getThreadName());
    json.field("message", event.getFormattedMessage());
    Map<String, String> mdc = event.getMDCPropertyMap();
    if (mdc != null && !mdc.isEmpty()) {
      json.name("mdc").beginObject();
      new TreeMap<>(mdc).forEach(json::field);
      json.endObject();
    }
    IThrowableProxy thrown = event.getThrowableProxy();
    if (thrown != null) {
      json.field("exception", ThrowableProxyUtil.asString(thrown));
    }
    json.endObject();
    return out.append('\n').toString();
  }
}
