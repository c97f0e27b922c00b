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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SettingsLoaderTest {

  private static final Map<String, String> ONE_ENDPOINT =
      Map.of("MCMUX_UPSTREAM_ENDPOINTS", "cache.example.com:11211");

  @TempDir Path dir;

  private static Settings load(Map<String, String> overrides) {
    return SettingsLoader.load(Optional.empty(), ONE_ENDPOINT, overrides);
  }

  private static String error(Map<String, String> overrides) {
    return assertThrows(InvalidSettingException.class, () -> load(overrides)).getMessage();
  }

  private Path write(String name, String text) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, text);
    return p;
  }

  @Test
  void defaultsComeFromReferenceConf() {
    Settings s = load(Map.of());
    assertEquals(Optional.of(new HostPort("127.0.0.1", 11211)), s.listen().tcp());
    assertEquals(Optional.empty(), s.listen().unixSocket());
    assertFalse(s.listen().unsafeNonLoopback());
    assertEquals(1024, s.listen().backlog());
    assertEquals(new Settings.Runtime(1, Settings.Transport.AUTO), s.runtime());
    assertEquals(
        new Settings.Upstream(
            List.of(new HostPort("cache.example.com", 11211)),
            1,
            Duration.ofSeconds(5),
            Duration.ofSeconds(2),
            Duration.ofSeconds(30),
            Duration.ofMillis(100),
            Duration.ofSeconds(10),
            0,
            Duration.ofMillis(250)),
        s.upstream());
    assertEquals(
        new Settings.Tls(
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            true,
            Duration.ofSeconds(5),
            Settings.TlsEngine.AUTO,
            List.of("TLSv1.3", "TLSv1.2"),
            List.of()),
        s.tls());
    assertEquals(
        new Settings.Limits(10000, 1024, 16L << 20, 512L << 20, Duration.ofSeconds(30)),
        s.limits());
    assertEquals(Optional.of(new HostPort("127.0.0.1", 9180)), s.admin().listen());
  }

  @Test
  void fileSetsValues() throws IOException {
    Path ca = write("ca.pem", "x");
    Path conf =
        write(
            "mcmux.conf",
            """
            mcmux {
              listen = "127.0.0.1:22122"
              upstream.endpoints = ["a.example:11211", "b.example"]
              upstream.request-timeout = 750ms
              tls { ca-file = "%s", server-name = "cluster.example", engine = jdk }
              limits.max-buffered-bytes-per-client = 1MiB
            }
            """
                .formatted(ca));
    Settings s = SettingsLoader.load(Optional.of(conf), Map.of(), Map.of());
    assertEquals(Optional.of(new HostPort("127.0.0.1", 22122)), s.listen().tcp());
    assertEquals(
        List.of(new HostPort("a.example", 11211), new HostPort("b.example", 11211)),
        s.upstream().endpoints());
    assertEquals(Duration.ofMillis(750), s.upstream().requestTimeout());
    assertEquals(Optional.of(ca), s.tls().caFile());
    assertEquals(Optional.of("cluster.example"), s.tls().serverName());
    assertEquals(Settings.TlsEngine.JDK, s.tls().engine());
    assertEquals(1L << 20, s.limits().maxBufferedBytesPerClient());
  }

  @Test
  void environmentOverridesFileAndListsAreCommaSeparated() throws IOException {
    Path conf =
        write(
            "mcmux.conf",
            "mcmux.upstream.endpoints = [\"file:1\"]\nmcmux.event-loops = 2\nmcmux.admin.listen ="
                + " \"127.0.0.1:9999\"\n");
    Map<String, String> env =
        Map.of(
            "MCMUX_UPSTREAM_ENDPOINTS", " env-a:11211, env-b:22122 ,",
            "MCMUX_EVENT_LOOPS", "3",
            "MCMUX_TLS_PROTOCOLS", "TLSv1.3",
            "MCMUX_UNSAFE_LISTEN", "true",
            "MCMUX_UPSTREAM_CONNECT_TIMEOUT", "1500ms");
    Settings s = SettingsLoader.load(Optional.of(conf), env, Map.of());
    assertEquals(
        List.of(new HostPort("env-a", 11211), new HostPort("env-b", 22122)),
        s.upstream().endpoints());
    assertEquals(3, s.runtime().eventLoops());
    assertEquals(List.of("TLSv1.3"), s.tls().protocols());
    assertTrue(s.listen().unsafeNonLoopback());
    assertEquals(Duration.ofMillis(1500), s.upstream().connectTimeout());
    assertEquals(Optional.of(new HostPort("127.0.0.1", 9999)), s.admin().listen());
  }

  @Test
  void flagsOverrideEnvironmentAndFile() throws IOException {
    Path conf = write("mcmux.conf", "mcmux.listen = \"127.0.0.1:1000\"\n");
    Map<String, String> env =
        Map.of("MCMUX_LISTEN", "127.0.0.1:2000", "MCMUX_UPSTREAM_ENDPOINTS", "env:1");
    Map<String, String> flags =
        Map.of("mcmux.listen", "127.0.0.1:3000", "mcmux.upstream.endpoints", "flag-a:1,flag-b:2");
    Settings s = SettingsLoader.load(Optional.of(conf), env, flags);
    assertEquals(Optional.of(new HostPort("127.0.0.1", 3000)), s.listen().tcp());
    assertEquals(
        List.of(new HostPort("flag-a", 1), new HostPort("flag-b", 2)), s.upstream().endpoints());
  }

  @Test
  void emptyListenDisablesTcpWhenAUnixSocketIsSet() {
    Settings s =
        load(Map.of("mcmux.listen", "", "mcmux.unix-socket", dir.resolve("mcmux.sock").toString()));
    assertEquals(Optional.empty(), s.listen().tcp());
    assertEquals(Optional.of(dir.resolve("mcmux.sock")), s.listen().unixSocket());
  }

  @Test
  void environmentNamesFollowTheRuleAndAreUnique() {
    assertEquals("MCMUX_UPSTREAM_ENDPOINTS", SettingsLoader.envVarName("mcmux.upstream.endpoints"));
    assertEquals("MCMUX_TLS_CA_FILE", SettingsLoader.envVarName("mcmux.tls.ca-file"));
    assertEquals("MCMUX_LISTEN", SettingsLoader.envVarName("mcmux.listen"));
    Set<String> names = new HashSet<>();
    for (String path : SettingsLoader.settingPaths()) {
      assertTrue(names.add(SettingsLoader.envVarName(path)), path);
    }
    assertEquals(49, names.size());
  }

  @Test
  void unrelatedMcmuxVariablesAreIgnored() {
    // What Kubernetes injects next to a Service named mcmux.
    Map<String, String> env = new HashMap<>(ONE_ENDPOINT);
    env.put("MCMUX_PORT", "tcp://10.0.0.7:11211");
    env.put("MCMUX_SERVICE_HOST", "10.0.0.7");
    env.put("MCMUX_PORT_11211_TCP_ADDR", "10.0.0.7");
    Settings s = SettingsLoader.load(Optional.empty(), env, Map.of());
    assertEquals(Optional.of(new HostPort("127.0.0.1", 11211)), s.listen().tcp());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "0.0.0.0:11211",
        "10.1.2.3:11211",
        "[::]:11211",
        "[2001:db8::1]:11211",
        "myhost:11211",
        "localhost.example.com:11211"
      })
  void nonLoopbackListenIsRefusedUnlessUnsafe(String address) {
    String expected =
        "mcmux.listen: "
            + HostPort.parse(address, 1)
            + " is not a loopback address; use 127.0.0.1, ::1 or localhost, or set"
            + " mcmux.unsafe-listen = true to serve plaintext memcached to the network";
    assertEquals(expected, error(Map.of("mcmux.listen", address)));
    Settings s = load(Map.of("mcmux.listen", address, "mcmux.unsafe-listen", "true"));
    assertEquals(Optional.of(HostPort.parse(address, 1)), s.listen().tcp());
  }

  @ParameterizedTest
  @ValueSource(strings = {"127.0.0.1:1", "127.9.8.7:11211", "localhost:11211", "[::1]:11211"})
  void loopbackListenIsAccepted(String address) {
    assertEquals(
        Optional.of(HostPort.parse(address, 1)),
        load(Map.of("mcmux.listen", address)).listen().tcp());
  }

  @ParameterizedTest(name = "{0} = ''{1}''")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          mcmux.listen | 127.0.0.1:0 | mcmux.listen: '127.0.0.1:0': port 0 is not in 1..65535
          mcmux.listen | 127.0.0.1:99999 | mcmux.listen: '127.0.0.1:99999': port 99999 is not in 1..65535
          mcmux.listen | 127.0.0.1:http | mcmux.listen: '127.0.0.1:http' has no valid port
          mcmux.listen | '' | mcmux.listen: no listener: set mcmux.listen or mcmux.unix-socket
          mcmux.upstream.endpoints | '' | mcmux.upstream.endpoints: at least one memcached host:port is required (in a file, with --upstream or MCMUX_UPSTREAM_ENDPOINTS)
          mcmux.upstream.endpoints | a:1,b:2,a:1 | mcmux.upstream.endpoints: a:1 is listed twice
          mcmux.upstream.endpoints | a b:1 | mcmux.upstream.endpoints: 'a b:1' is not a valid host:port
          mcmux.upstream.endpoints | ::1:11211 | mcmux.upstream.endpoints: '::1:11211': write IPv6 addresses as [addr]:port
          mcmux.upstream.connect-timeout | 0s | mcmux.upstream.connect-timeout: must be positive, got 0s
          mcmux.upstream.connect-timeout | 5 | mcmux.upstream.connect-timeout: '5' has no unit; write e.g. 5s or ms
          mcmux.upstream.request-timeout | soon | mcmux.upstream.request-timeout: 'soon' is not a duration such as 500ms, 5s or 1m
          mcmux.upstream.reconnect-backoff-max | 50ms | mcmux.upstream.reconnect-backoff-max: 50ms is less than mcmux.upstream.reconnect-backoff-min (100ms)
          mcmux.upstream.item-size-max | 100 | mcmux.upstream.item-size-max: must be 0 (read from the server) or between 1KiB and 1GiB, got 100
          mcmux.upstream.connections-per-loop | 0 | mcmux.upstream.connections-per-loop: must be at least 1, got 0
          mcmux.event-loops | two | mcmux.event-loops: 'two' is not a whole number
          mcmux.limits.max-client-connections | -5 | mcmux.limits.max-client-connections: must be at least 1, got -5
          mcmux.limits.global-buffer-budget | lots | mcmux.limits.global-buffer-budget: 'lots' is not a size such as 16MiB
          mcmux.limits.max-buffered-bytes-per-client | 0 | mcmux.limits.max-buffered-bytes-per-client: must be at least 1 byte, got 0
          mcmux.unsafe-listen | maybe | mcmux.unsafe-listen: 'maybe' is not true or false
          mcmux.transport | kqueue | mcmux.transport: 'kqueue' is not one of auto, epoll, nio
          mcmux.tls.engine | gnutls | mcmux.tls.engine: 'gnutls' is not one of auto, openssl, jdk
          mcmux.tls.protocols | TLSv1.1 | mcmux.tls.protocols: 'TLSv1.1' is not allowed; use TLSv1.3 and/or TLSv1.2
          mcmux.tls.protocols | '' | mcmux.tls.protocols: must name TLSv1.3 and/or TLSv1.2
          mcmux.tls.ca-file | /x/ca.pem | mcmux.tls.ca-file: /x/ca.pem does not exist
          mcmux.tls.ca-file | / | mcmux.tls.ca-file: / is not a regular file
          mcmux.tls.server-name | cache.example:11211 | mcmux.tls.server-name: 'cache.example:11211' is not a host name (no port, no scheme)
          mcmux.tls.key-password | secret | mcmux.tls.key-password: is set but mcmux.tls.key-file is empty
          mcmux.tls.handshake-timeout | -1s | mcmux.tls.handshake-timeout: must be positive, got -1s
          mcmux.admin.listen | 127.0.0.1:11211 | mcmux.admin.listen: 127.0.0.1:11211 is also mcmux.listen
          mcmux.unix-socket | /nonexistent-dir/mcmux.sock | mcmux.unix-socket: directory /nonexistent-dir does not exist
          """)
  void invalidValuesGiveOneLineNamingTheSetting(String path, String value, String expected) {
    InvalidSettingException e =
        assertThrows(InvalidSettingException.class, () -> load(Map.of(path, value)));
    assertEquals(expected, e.getMessage());
    assertEquals(path, e.path());
  }

  @Test
  void certAndKeyMustComeTogether() throws IOException {
    Path cert = write("cert.pem", "x");
    Path key = write("key.pem", "x");
    assertEquals(
        "mcmux.tls.key-file: is empty but mcmux.tls.cert-file is set; give both or neither",
        error(Map.of("mcmux.tls.cert-file", cert.toString())));
    assertEquals(
        "mcmux.tls.cert-file: is empty but mcmux.tls.key-file is set; give both or neither",
        error(Map.of("mcmux.tls.key-file", key.toString())));
    Settings s =
        load(Map.of("mcmux.tls.cert-file", cert.toString(), "mcmux.tls.key-file", key.toString()));
    assertEquals(Optional.of(key), s.tls().keyFile());
  }

  @Test
  void tooLongUnixSocketPathIsRefused() {
    String path = "/tmp/" + "s".repeat(110);
    assertEquals(
        "mcmux.unix-socket: " + path + " is longer than the 107 bytes a socket path may have",
        error(Map.of("mcmux.unix-socket", path)));
  }

  @Test
  void protocolNamesAreNormalised() {
    assertEquals(
        List.of("TLSv1.2"),
        load(Map.of("mcmux.tls.protocols", "tlsv1.2,TLSv1.2")).tls().protocols());
  }

  @Test
  void unknownKeyInFileIsAnErrorWithASuggestion() throws IOException {
    Path conf = write("typo.conf", "mcmux { tls { ca_file = \"/etc/ca.pem\" } }\n");
    InvalidSettingException e =
        assertThrows(
            InvalidSettingException.class,
            () -> SettingsLoader.load(Optional.of(conf), ONE_ENDPOINT, Map.of()));
    assertEquals(
        "mcmux.tls.ca_file: unknown setting (did you mean mcmux.tls.ca-file?)", e.getMessage());
    assertEquals("mcmux.tls.ca_file", e.path());
  }

  @Test
  void unknownKeySetToNullIsStillAnError() throws IOException {
    Path conf = write("null.conf", "mcmux.upstream.endpoint = null\n");
    assertEquals(
        "mcmux.upstream.endpoint: unknown setting (did you mean mcmux.upstream.endpoints?)",
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(conf), ONE_ENDPOINT, Map.of()))
            .getMessage());
  }

  @Test
  void settingAtTheWrongLevelIsNamedWithItsRightPlace() throws IOException {
    Path conf = write("level.conf", "mcmux.server-name = \"x\"\n");
    assertEquals(
        "mcmux.server-name: unknown setting (did you mean mcmux.tls.server-name?)",
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(conf), ONE_ENDPOINT, Map.of()))
            .getMessage());
  }

  @Test
  void unknownTopLevelKeyAndSectionAsValueAreErrors() throws IOException {
    Path top = write("top.conf", "mcmx.listen = \"127.0.0.1:1\"\n");
    assertEquals(
        "mcmx: unknown setting; mcmux reads only keys under mcmux { }",
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(top), ONE_ENDPOINT, Map.of()))
            .getMessage());
    Path section = write("section.conf", "mcmux.tls = \"on\"\n");
    assertEquals(
        "mcmux.tls: is a section, not a value",
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(section), ONE_ENDPOINT, Map.of()))
            .getMessage());
  }

  @Test
  void missingAndMalformedConfigFilesNameTheFlag() throws IOException {
    Path missing = dir.resolve("missing.conf");
    assertEquals(
        "--config: " + missing + " does not exist",
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(missing), ONE_ENDPOINT, Map.of()))
            .getMessage());
    Path broken = write("broken.conf", "mcmux {\n  listen = \n");
    String message =
        assertThrows(
                InvalidSettingException.class,
                () -> SettingsLoader.load(Optional.of(broken), ONE_ENDPOINT, Map.of()))
            .getMessage();
    assertTrue(message.startsWith("--config: "), message);
    assertFalse(message.contains("\n"), message);
  }

  @Test
  void describeMasksThePasswordAndRoundTrips() throws IOException {
    Path cert = write("cert.pem", "x");
    Path key = write("key.pem", "x");
    Settings s =
        load(
            Map.of(
                "mcmux.tls.cert-file", cert.toString(),
                "mcmux.tls.key-file", key.toString(),
                "mcmux.tls.key-password", "hunter2",
                "mcmux.tls.verify", "false",
                "mcmux.upstream.endpoints", "a:1,[::1]:2",
                "mcmux.upstream.request-timeout", "1500ms",
                "mcmux.limits.global-buffer-budget", "1GiB"));
    String text = SettingsLoader.describe(s);
    assertFalse(text.contains("hunter2"), text);
    assertTrue(text.contains("mcmux.tls.key-password = \"********\"\n"), text);
    assertTrue(text.contains("mcmux.upstream.endpoints = [\"a:1\", \"[::1]:2\"]\n"), text);
    assertTrue(text.contains("mcmux.upstream.request-timeout = 1500ms\n"), text);
    assertTrue(text.contains("mcmux.limits.global-buffer-budget = 1GiB\n"), text);
    assertTrue(text.contains("mcmux.tls.verify = false  # WARNING"), text);
    assertEquals(SettingsLoader.settingPaths().size(), text.lines().count());

    Settings reread =
        SettingsLoader.load(
            Optional.of(write("described.conf", text)),
            Map.of(),
            Map.of("mcmux.tls.key-password", "hunter2"));
    assertEquals(s, reread);
  }
}
