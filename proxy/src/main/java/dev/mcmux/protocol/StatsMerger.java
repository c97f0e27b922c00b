package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Merges the {@code stats} answers of several nodes into one, in memcached's STAT format, so
 * monitoring tools that read one memcached keep working: counters and sizes are summed, values that
 * describe one process (pid, uptime, version, ...) are the first node's.
 */
public final class StatsMerger {
  /** Integer fields that describe a process rather than add up across a cluster. */
  private static final Set<String> FIRST_NODE =
      Set.of(
          "pid",
          "uptime",
          "time",
          "pointer_size",
          "max_connections",
          "threads",
          "hash_power_level",
          "slab_global_page_pool",
          "malloc_fails",
          "log_worker_dropped",
          "log_worker_written",
          "log_watcher_skipped",
          "log_watcher_sent",
          "log_watchers");

  private StatsMerger() {}

  /**
   * The merged answer, ending in {@code END}; the first node's field order.
   *
   * @param frames each node's complete {@code STAT ... END} answer; not released here
   */
  public static String merge(List<ByteBuf> frames) {
    Map<String, String> merged = new LinkedHashMap<>();
    for (ByteBuf frame : frames) {
      String text =
          frame.toString(frame.readerIndex(), frame.readableBytes(), StandardCharsets.US_ASCII);
      for (String line : text.split("\r\n")) {
        if (!line.startsWith("STAT ")) {
          continue;
        }
        int sp = line.indexOf(' ', 5);
        if (sp < 0) {
          continue;
        }
        String name = line.substring(5, sp);
        String value = line.substring(sp + 1);
        String before = merged.get(name);
        if (before == null) {
          merged.put(name, value);
        } else if (!FIRST_NODE.contains(name) && isCount(before) && isCount(value)) {
          merged.put(
              name,
              Long.toUnsignedString(
                  Long.parseUnsignedLong(before) + Long.parseUnsignedLong(value)));
        }
      }
    }
    StringBuilder out = new StringBuilder(merged.size() * 32);
    merged.forEach((k, v) -> out.append("STAT ").append(k).append(' ').append(v).append("\r\n"));
    return out.append("END\r\n").toString();
  }

  private static boolean isCount(String s) {
    if (s.isEmpty() || s.length() > 19) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }
}
