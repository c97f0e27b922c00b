package dev.mcmux.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The cluster settings of issue #3: deny list, failover, connection budget, per-node mode. */
class ClusterSettingsTest {
  private static final Map<String, String> TWO_NODES =
      Map.of("MCMUX_UPSTREAM_ENDPOINTS", "10.0.0.1:11211,10.0.0.2:11211");

  private static Settings load(String... pathsAndValues) {
    Map<String, String> overrides = new HashMap<>();
    for (int i = 0; i < pathsAndValues.length; i += 2) {
      overrides.put(pathsAndValues[i], pathsAndValues[i + 1]);
    }
    return SettingsLoader.load(Optional.empty(), TWO_NODES, overrides);
  }

  private static String error(String... pathsAndValues) {
    String message =
        assertThrows(InvalidSettingException.class, () -> load(pathsAndValues)).getMessage();
    assertFalse(message.contains("\n"), message);
    return message;
  }

  @Test
  void defaultsKeepTodaysBehaviour() {
    Settings.Cluster c = load().cluster();
    assertEquals(List.of(), c.denyCommands());
    assertFalse(c.failover());
    assertEquals(Duration.ofSeconds(60), c.failoverTtlCap());
    assertEquals(0, c.maxConnectionsPerNode());
    assertEquals(Settings.Mode.ROUTED, c.mode());
    assertEquals(0, c.perNodePorts());
  }

  @Test
  void denyListTakesCommandNamesAndRejectsOthersByName() {
    assertEquals(
        List.of("flush_all", "stats"),
        load("mcmux.upstream.deny-commands", "FLUSH_ALL, stats").cluster().denyCommands());
    String e = error("mcmux.upstream.deny-commands", "flush_all,shutdown");
    assertTrue(e.startsWith("mcmux.upstream.deny-commands: 'shutdown' is not a command"), e);
    assertTrue(
        error("mcmux.upstream.deny-commands", "quit")
            .startsWith("mcmux.upstream.deny-commands: 'quit'"));
  }

  @Test
  void failoverCapIsBoundedByWhatMemcachedReadsAsRelative() {
    Settings.Cluster c =
        load("mcmux.upstream.failover", "true", "mcmux.upstream.failover-ttl-cap", "5m").cluster();
    assertTrue(c.failover());
    assertEquals(Duration.ofMinutes(5), c.failoverTtlCap());
    assertTrue(
        error("mcmux.upstream.failover-ttl-cap", "31d")
            .startsWith("mcmux.upstream.failover-ttl-cap: must be between 1s and 30 days"));
    assertTrue(
        error("mcmux.upstream.failover-ttl-cap", "500ms")
            .startsWith("mcmux.upstream.failover-ttl-cap:"));
  }

  @Test
  void connectionBudgetMustHoldEveryLoopsConnections() {
    assertEquals(
        8,
        load(
                "mcmux.event-loops", "2",
                "mcmux.upstream.connections-per-loop", "4",
                "mcmux.upstream.max-connections-per-node", "8")
            .cluster()
            .maxConnectionsPerNode());
    String e =
        error(
            "mcmux.event-loops", "4",
            "mcmux.upstream.connections-per-loop", "2",
            "mcmux.upstream.max-connections-per-node", "6");
    assertEquals(
        "mcmux.upstream.max-connections-per-node: 6 is less than mcmux.event-loops (4) x"
            + " mcmux.upstream.connections-per-loop (2) = 8 connections each node would get",
        e);
    assertTrue(
        error("mcmux.upstream.max-connections-per-node", "-1")
            .startsWith("mcmux.upstream.max-connections-per-node: must not be negative"));
  }

  @Test
  void perNodeModeNeedsPortsThatFit() {
    Settings s = load("mcmux.mode", "per-node", "mcmux.listen", "127.0.0.1:21000");
    assertEquals(Settings.Mode.PER_NODE, s.cluster().mode());
    assertTrue(SettingsLoader.describe(s).contains("mcmux.mode = per-node\n"));
    assertTrue(
        error("mcmux.mode", "sharded")
            .startsWith("mcmux.mode: 'sharded' is not one of routed, per-node"));
    assertTrue(error("mcmux.per-node-ports", "3").startsWith("mcmux.per-node-ports: is set but"));
    assertTrue(
        error("mcmux.mode", "per-node", "mcmux.listen", "127.0.0.1:65535")
            .startsWith("mcmux.per-node-ports: 2 ports from 65535 run past 65535"));
    assertTrue(
        error(
                "mcmux.mode", "per-node",
                "mcmux.listen", "127.0.0.1:21000",
                "mcmux.admin.listen", "127.0.0.1:21001")
            .startsWith("mcmux.admin.listen: 127.0.0.1:21001 is one of the per-node ports"));
    assertTrue(
        error(
                "mcmux.mode", "per-node",
                "mcmux.upstream.endpoints", "cfg.example:11211",
                "mcmux.upstream.discovery", "elasticache")
            .startsWith("mcmux.per-node-ports: per-node mode with discovery = elasticache"));
    assertTrue(
        error("mcmux.mode", "per-node", "mcmux.listen", "127.0.0.1:10.0.0.9")
            .startsWith("mcmux.listen:"));
  }
}
