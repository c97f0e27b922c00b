package dev.mcmux.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

  @TempDir Path dir;

  private Settings loadFile(String hocon) throws IOException {
    Path file = dir.resolve("mcmux.conf");
    Files.writeString(file, hocon);
    return SettingsLoader.load(Optional.of(file), Map.of(), Map.of());
  }

  private String fileError(String hocon) throws IOException {
    Path file = dir.resolve("mcmux.conf");
    Files.writeString(file, hocon);
    String message =
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(file), Map.of(), Map.of()))
            .getMessage();
    assertFalse(message.contains("\n"), message);
    return message;
  }

  private static final String TOP =
      "mcmux { listen = \"127.0.0.1:11211\", event-loops = 2\n"
          + "  upstream { endpoints = [\"a.example:11211\"], placement = spymemcached }\n";

  @Test
  void namedClustersHaveTheirOwnSectionsAndShareTheProcessWideOnes() throws IOException {
    Path ca = Files.writeString(dir.resolve("sessions-ca.pem"), "not read here");
    Settings s =
        loadFile(
            TOP
                + "  clusters {\n"
                + "    sessions { listen = \"127.0.0.1:11311\"\n"
                + "      upstream { endpoints = [\"s1.example:11211\", \"s2.example:11211\"],"
                + " deny-commands = [flush_all] }\n"
                + "      tls { ca-file = \""
                + ca
                + "\", server-name = \"sessions.example\" } }\n"
                + "    carts { listen = \"127.0.0.1:11411\", mode = per-node\n"
                + "      upstream.endpoints = [\"c1.example:11211\"] } } }\n");
    assertEquals(Settings.DEFAULT_CLUSTER, s.name());
    assertEquals(List.of("carts", "sessions"), s.clusters().stream().map(Settings::name).toList());
    Settings sessions = s.clusters().get(1);
    assertEquals(2, sessions.upstream().endpoints().size());
    assertEquals(List.of("flush_all"), sessions.cluster().denyCommands());
    assertEquals(Optional.of(ca), sessions.tls().caFile());
    // Defaults come from reference.conf, not from the top-level cluster.
    assertEquals("libmemcached", sessions.cluster().placement());
    assertEquals(2, sessions.runtime().eventLoops(), "event loops are shared");
    assertEquals(List.of(), sessions.clusters());
    assertEquals(Settings.Mode.PER_NODE, s.clusters().get(0).cluster().mode());
    assertTrue(
        SettingsLoader.describe(s).contains("mcmux.clusters.sessions.tls.server-name = "),
        SettingsLoader.describe(s));
  }

  @Test
  void aNamedClustersErrorsNameItsOwnSetting() throws IOException {
    assertEquals(
        "mcmux.clusters.sessions.upstream.endpoints: at least one memcached host:port is required"
            + " (in a file, with --upstream or MCMUX_UPSTREAM_ENDPOINTS)",
        fileError(TOP + "clusters.sessions.listen = \"127.0.0.1:11311\" }"));
    assertEquals(
        "mcmux.clusters.sessions.upstream.stall-nudge-after: must be shorter than"
            + " mcmux.clusters.sessions.upstream.request-timeout",
        fileError(
            TOP
                + "clusters.sessions { listen = \"127.0.0.1:11311\", upstream { endpoints ="
                + " [\"x:1\"], request-timeout = 100ms } } }"));
    assertEquals(
        "mcmux.clusters.sessions.listen: a named cluster needs its own listen address (or"
            + " unix-socket)",
        fileError(TOP + "clusters.sessions.upstream.endpoints = [\"x:1\"] }"));
  }

  @Test
  void listenAddressesMustDifferAcrossClustersBeforeAnythingBinds() throws IOException {
    assertEquals(
        "mcmux.clusters.sessions.listen: 127.0.0.1:11211 is also used by mcmux.listen",
        fileError(
            TOP
                + "clusters.sessions { listen = \"127.0.0.1:11211\", upstream.endpoints ="
                + " [\"x:1\"] } }"));
    assertEquals(
        "mcmux.clusters.sessions.listen: 127.0.0.1:11213 is also used by"
            + " mcmux.clusters.carts.listen",
        fileError(
            TOP
                + "clusters { carts { listen = \"127.0.0.1:11212\", mode = per-node,"
                + " upstream.endpoints = [\"c1:1\", \"c2:1\"] }\n"
                + " sessions { listen = \"127.0.0.1:11213\", upstream.endpoints = [\"x:1\"] } } }"));
    assertEquals(
        "mcmux.admin.listen: 127.0.0.1:9180 is also mcmux.clusters.sessions.listen",
        fileError(
            TOP
                + "clusters.sessions { listen = \"127.0.0.1:9180\", upstream.endpoints ="
                + " [\"x:1\"] } }"));
  }

  @Test
  void clusterNamesAndKeysAreChecked() throws IOException {
    assertTrue(
        fileError(TOP + "clusters.Sessions { listen = \"127.0.0.1:1\" } }")
            .startsWith("mcmux.clusters.Sessions: a cluster name is 1 to 32 of a-z"));
    assertTrue(
        fileError(TOP + "clusters.default { listen = \"127.0.0.1:1\" } }")
            .startsWith("mcmux.clusters.default: a cluster name"));
    assertEquals(
        "mcmux.clusters.sessions.event-loops: is set for the whole process; set mcmux.event-loops"
            + " instead",
        fileError(TOP + "clusters.sessions { listen = \"127.0.0.1:1\", event-loops = 4 } }"));
    assertEquals(
        "mcmux.clusters.sessions.upstream.endpoint: unknown setting",
        fileError(TOP + "clusters.sessions { upstream.endpoint = [] } }"));
    assertEquals(
        "mcmux.clusters: is a section of named clusters, not a value",
        fileError(TOP + "clusters = 3 }"));
  }
}
