package dev.mcmux.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.mcmux.protocol.Command;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProxyMetricsTest {

  /** Sessions count a request under {@code COMMANDS[command.ordinal()]}: the orders must agree. */
  @Test
  void commandTagsFollowTheCommandEnum() {
    Command[] commands = Command.values();
    assertEquals(commands.length + 1, ProxyMetrics.COMMANDS.length);
    for (Command c : commands) {
      assertEquals(
          new String(c.wireName(), StandardCharsets.US_ASCII),
          ProxyMetrics.COMMANDS[c.ordinal()],
          c.name());
    }
    assertEquals("other", ProxyMetrics.COMMANDS[ProxyMetrics.OTHER]);
  }
}
