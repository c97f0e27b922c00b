package dev.mcmux.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueFactory;
import com.typesafe.config.ConfigValueType;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Turns {@code reference.conf}, an optional HOCON file, {@code MCMUX_*} environment variables and
 * command-line overrides into one validated {@link Settings}, or one {@link
 * InvalidSettingException} that names the setting at fault.
 */
public final class SettingsLoader {

  /** The root of every mcmux setting. */
  public static final String ROOT = "mcmux";

  /** The prefix of the environment variables mcmux reads. */
  public static final String ENV_PREFIX = "MCMUX_";

  /** The path used in errors about the {@code --config} file as a whole. */
  public static final String CONFIG_FILE = "--config";

  private static final int MEMCACHED_PORT = 11211;
  private static final int ADMIN_PORT = 9180;
  // memcached's own -I accepts 1k..1024m; anything outside cannot match a real server.
  private static final long ITEM_SIZE_MIN = 1024;
  private static final long ITEM_SIZE_MAX = 1024L * 1024 * 1024;
  // sun_path is 108 bytes on Linux, including the terminating NUL.
  private static final int UNIX_PATH_MAX = 107;
  private static final Set<String> PROTOCOLS = Set.of("TLSv1.2", "TLSv1.3");
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern HOST_NAME = Pattern.compile("[A-Za-z0-9_]([A-Za-z0-9_.-]*)");
  private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:][0-9A-Fa-f:.]*(%[\\w.-]+)?");
  private static final Pattern BARE_NUMBER = Pattern.compile("\\s*-?\\d+\\s*");

  private static final Config REFERENCE =
      ConfigFactory.parseResources(SettingsLoader.class.getClassLoader(), "reference.conf")
          .resolve();
  private static final Set<String> LEAVES = leafPaths(REFERENCE);

  private static final String CLUSTERS = ROOT + ".clusters";
  private static final int MAX_CLUSTERS = 16;
  private static final Pattern CLUSTER_NAME = Pattern.compile("[a-z][a-z0-9-]{0,31}");

  /** Top-level settings and sections each named cluster has its own copy of. */
  private static final List<String> PER_CLUSTER_SECTIONS =
      List.of("listen", "unix-socket", "unix-socket-mode", "mode", "per-node-ports", "upstream");

  private SettingsLoader() {}

  /**
   * Loads and validates the settings.
   *
   * @param file a HOCON file; unknown keys in it are an error
   * @param env the process environment; only {@code MCMUX_*} names of known settings are read
   * @param overrides values from command-line flags, keyed by HOCON path ({@code mcmux.listen});
   *     list settings take a comma-separated value, as in the environment
   * @throws InvalidSettingException naming the first setting that cannot be used
   */
  public static Settings load(
      Optional<Path> file, Map<String, String> env, Map<String, String> overrides) {
    Config flags = ConfigFactory.parseMap(flagValues(overrides), "command-line flags");
    Config environment = ConfigFactory.parseMap(envValues(env), "environment");
    Config fromFile = file.map(SettingsLoader::parseFile).orElse(ConfigFactory.empty());
    Config merged;
    try {
      merged =
          flags.withFallback(environment).withFallback(fromFile).withFallback(REFERENCE).resolve();
    } catch (ConfigException e) {
      throw new InvalidSettingException(CONFIG_FILE, e.getMessage(), e);
    }
    return new Reader(merged).settings();
  }

  /**
   * The environment variable that sets {@code path}: {@code MCMUX_} and the path after {@code
   * mcmux.}, upper case, with {@code .} and {@code -} as {@code _}.
   */
  public static String envVarName(String path) {
    String tail = path.startsWith(ROOT + ".") ? path.substring(ROOT.length() + 1) : path;
    return ENV_PREFIX + tail.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /**
   * The same error about a setting of the named cluster {@code cluster}: {@code mcmux.tls.ca-file}
   * becomes {@code mcmux.clusters.<cluster>.tls.ca-file}, in the path and in the text.
   */
  public static InvalidSettingException inCluster(String cluster, InvalidSettingException e) {
    String problem = e.getMessage().substring(e.path().length() + 2);
    return new InvalidSettingException(
        inCluster(cluster, e.path()), inClusterText(cluster, problem), e);
  }

  /** Every setting's HOCON path, sorted. */
  public static Set<String> settingPaths() {
    return LEAVES;
  }

  /**
   * Renders the effective settings as HOCON, one {@code path = value} line each, with the key
   * password masked; what {@code mcmux validate} prints.
   */
  public static String describe(Settings s) {
    var out = new StringBuilder();
    Settings.Listen l = s.listen();
    line(out, "listen", quote(l.tcp().map(HostPort::toString).orElse("")));
    line(out, "unix-socket", quote(l.unixSocket().map(Path::toString).orElse("")));
    line(out, "unix-socket-mode", quote(String.format("%04o", l.unixSocketMode())));
    line(out, "unsafe-listen", String.valueOf(l.unsafeNonLoopback()));
    line(out, "listen-backlog", String.valueOf(l.backlog()));
    line(out, "event-loops", String.valueOf(s.runtime().eventLoops()));
    line(out, "transport", lower(s.runtime().transport()));
    Settings.Upstream u = s.upstream();
    line(out, "upstream.endpoints", list(u.endpoints().stream().map(HostPort::toString).toList()));
    line(out, "upstream.connections-per-loop", String.valueOf(u.connectionsPerLoop()));
    line(out, "upstream.connect-timeout", duration(u.connectTimeout()));
    line(out, "upstream.request-timeout", duration(u.requestTimeout()));
    line(out, "upstream.keepalive-interval", duration(u.keepaliveInterval()));
    line(out, "upstream.reconnect-backoff-min", duration(u.reconnectBackoffMin()));
    line(out, "upstream.reconnect-backoff-max", duration(u.reconnectBackoffMax()));
    line(out, "upstream.stall-nudge-after", duration(u.stallNudgeAfter()));
    line(
        out,
        "upstream.item-size-max",
        u.itemSizeMax() == 0 ? "0  # read from the server" : bytes(u.itemSizeMax()));
    Settings.Tls t = s.tls();
    line(
        out,
        "tls.ca-file",
        quote(t.caFile().map(Path::toString).orElse(""))
            + (t.caFile().isEmpty() ? "  # system trust store" : ""));
    line(out, "tls.server-name", quote(t.serverName().orElse("")));
    line(out, "tls.cert-file", quote(t.certFile().map(Path::toString).orElse("")));
    line(out, "tls.key-file", quote(t.keyFile().map(Path::toString).orElse("")));
    line(out, "tls.key-password", quote(t.keyPassword().isPresent() ? "********" : ""));
    line(
        out,
        "tls.verify",
        t.verify()
            ? "true"
            : "false  # WARNING: certificates are not verified; traffic can be intercepted");
    line(out, "tls.handshake-timeout", duration(t.handshakeTimeout()));
    line(out, "tls.engine", lower(t.engine()));
    line(out, "tls.protocols", list(t.protocols()));
    line(out, "tls.ciphers", list(t.ciphers()));
    Settings.Limits m = s.limits();
    line(out, "limits.max-client-connections", String.valueOf(m.maxClientConnections()));
    line(out, "limits.max-outstanding-per-client", String.valueOf(m.maxOutstandingPerClient()));
    line(out, "limits.max-buffered-bytes-per-client", bytes(m.maxBufferedBytesPerClient()));
    line(out, "limits.global-buffer-budget", bytes(m.globalBufferBudget()));
    line(out, "limits.value-read-timeout", duration(m.valueReadTimeout()));
    line(out, "admin.listen", quote(s.admin().listen().map(HostPort::toString).orElse("")));
    Settings.Cluster k = s.cluster();
    line(out, "upstream.placement", k.placement());
    line(out, "upstream.discovery", lower(k.discovery()));
    line(out, "upstream.discovery-interval", duration(k.discoveryInterval()));
    line(out, "upstream.failure-threshold", String.valueOf(k.failureThreshold()));
    line(out, "upstream.multiget-on-down-node", lower(k.multigetOnDownNode()));
    line(out, "upstream.deny-commands", list(k.denyCommands()));
    line(out, "upstream.failover", String.valueOf(k.failover()));
    line(out, "upstream.failover-ttl-cap", duration(k.failoverTtlCap()));
    line(out, "upstream.max-connections-per-node", String.valueOf(k.maxConnectionsPerNode()));
    line(out, "mode", modeName(k.mode()));
    line(out, "per-node-ports", String.valueOf(k.perNodePorts()));
    Settings.Operations o = s.operations();
    line(out, "admin.readiness", lower(o.readiness()));
    line(out, "tls.reload-interval", duration(o.tlsReloadInterval()));
    line(out, "upstream.max-connection-age", duration(o.maxConnectionAge()));
    line(out, "shutdown.drain-delay", duration(o.drainDelay()));
    line(out, "shutdown.grace-period", duration(o.gracePeriod()));
    line(out, "log.format", lower(o.logFormat()));
    for (Settings named : s.clusters()) {
      String p = "clusters." + named.name() + ".";
      line(out, p + "listen", quote(named.listen().tcp().map(HostPort::toString).orElse("")));
      line(
          out,
          p + "unix-socket",
          quote(named.listen().unixSocket().map(Path::toString).orElse("")));
      line(out, p + "mode", modeName(named.cluster().mode()));
      line(
          out,
          p + "upstream.endpoints",
          list(named.upstream().endpoints().stream().map(HostPort::toString).toList()));
      line(out, p + "upstream.placement", named.cluster().placement());
      line(out, p + "upstream.discovery", lower(named.cluster().discovery()));
      line(out, p + "upstream.deny-commands", list(named.cluster().denyCommands()));
      line(out, p + "upstream.failover", String.valueOf(named.cluster().failover()));
      line(out, p + "tls.ca-file", quote(named.tls().caFile().map(Path::toString).orElse("")));
      line(out, p + "tls.server-name", quote(named.tls().serverName().orElse("")));
      line(out, p + "tls.verify", String.valueOf(named.tls().verify()));
    }
    return out.toString();
  }

  private static Config parseFile(Path file) {
    if (!Files.exists(file)) {
      throw new InvalidSettingException(CONFIG_FILE, file + " does not exist");
    }
    if (!Files.isRegularFile(file)) {
      throw new InvalidSettingException(CONFIG_FILE, file + " is not a regular file");
    }
    if (!Files.isReadable(file)) {
      throw new InvalidSettingException(CONFIG_FILE, file + " is not readable");
    }
    Config parsed;
    try {
      parsed =
          ConfigFactory.parseFile(
              file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
    } catch (ConfigException e) {
      throw new InvalidSettingException(CONFIG_FILE, e.getMessage(), e);
    }
    rejectUnknownKeys(parsed);
    return parsed;
  }

  // A typo such as ca_file or mcmux.tls.cafile would otherwise leave verification on the
  // system trust store without a word.
  private static void rejectUnknownKeys(Config file) {
    for (String top : file.root().keySet()) {
      if (!top.equals(ROOT)) {
        throw new InvalidSettingException(
            top, "unknown setting; mcmux reads only keys under " + ROOT + " { }");
      }
    }
    if (file.root().get(ROOT) instanceof ConfigObject mcmux) {
      checkKnown(ROOT, mcmux);
    } else if (file.root().containsKey(ROOT)) {
      throw new InvalidSettingException(ROOT, "is a section, not a value");
    }
  }

  /** Whether {@code leaf} (a path under mcmux) is set per cluster rather than per process. */
  private static boolean isPerCluster(String leaf) {
    String rest = leaf.substring(ROOT.length() + 1);
    if (rest.equals("tls.reload-interval")) {
      return false;
    }
    for (String key : PER_CLUSTER_SECTIONS) {
      if (rest.equals(key) || rest.startsWith(key + ".")) {
        return true;
      }
    }
    return rest.startsWith("tls.");
  }

  private static void checkClusterName(String name) {
    if (!CLUSTER_NAME.matcher(name).matches() || name.equals(Settings.DEFAULT_CLUSTER)) {
      throw new InvalidSettingException(
          CLUSTERS + "." + name,
          "a cluster name is 1 to 32 of a-z, 0-9 and '-', starting with a letter, and not"
              + " 'default'");
    }
  }

  private static String inCluster(String name, String path) {
    return path.startsWith(ROOT + ".") && isPerCluster(path)
        ? CLUSTERS + "." + name + path.substring(ROOT.length())
        : path;
  }

  private static String inClusterText(String name, String text) {
    var m = Pattern.compile("mcmux\\.[a-z0-9.-]*[a-z0-9]").matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String path = m.group();
      m.appendReplacement(
          out,
          java.util.regex.Matcher.quoteReplacement(
              LEAVES.contains(path) ? inCluster(name, path) : path));
    }
    return m.appendTail(out).toString();
  }

  /** Checks one named cluster's keys against the settings a cluster may have. */
  private static void checkKnownCluster(String prefix, String rootPrefix, ConfigObject object) {
    for (var entry : object.entrySet()) {
      String plain = prefix + "." + entry.getKey();
      String asRoot = rootPrefix + "." + entry.getKey();
      boolean isSection = LEAVES.stream().anyMatch(p -> p.startsWith(asRoot + "."));
      if (entry.getValue() instanceof ConfigObject child && isSection) {
        checkKnownCluster(plain, asRoot, child);
      } else if (isSection) {
        throw new InvalidSettingException(plain, "is a section, not a value");
      } else if (!LEAVES.contains(asRoot)) {
        throw new InvalidSettingException(plain, "unknown setting");
      } else if (!isPerCluster(asRoot)) {
        throw new InvalidSettingException(
            plain, "is set for the whole process; set " + asRoot + " instead");
      }
    }
  }

  // Walks the tree rather than Config.entrySet(), which skips keys set to null.
  private static void checkKnown(String prefix, ConfigObject object) {
    for (var entry : object.entrySet()) {
      String plain = prefix + "." + entry.getKey();
      if (plain.equals(CLUSTERS)) {
        if (!(entry.getValue() instanceof ConfigObject clusters)) {
          throw new InvalidSettingException(plain, "is a section of named clusters, not a value");
        }
        for (var cluster : clusters.entrySet()) {
          checkClusterName(cluster.getKey());
          if (!(cluster.getValue() instanceof ConfigObject own)) {
            throw new InvalidSettingException(
                plain + "." + cluster.getKey(), "is a section, not a value");
          }
          checkKnownCluster(plain + "." + cluster.getKey(), ROOT, own);
        }
        continue;
      }
      boolean isSection = LEAVES.stream().anyMatch(p -> p.startsWith(plain + "."));
      if (entry.getValue() instanceof ConfigObject child && isSection) {
        checkKnown(plain, child);
      } else if (isSection) {
        throw new InvalidSettingException(plain, "is a section, not a value");
      } else if (!LEAVES.contains(plain)) {
        throw new InvalidSettingException(plain, "unknown setting" + suggestion(plain));
      }
    }
  }

  private static String suggestion(String unknown) {
    String last = unknown.substring(unknown.lastIndexOf('.') + 1);
    List<String> sameName =
        LEAVES.stream().filter(p -> p.endsWith("." + last) && !p.equals(unknown)).toList();
    if (sameName.size() == 1) {
      return " (did you mean " + sameName.get(0) + "?)";
    }
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String p : LEAVES) {
      int d = editDistance(unknown, p);
      if (d < bestDistance) {
        bestDistance = d;
        best = p;
      }
    }
    return bestDistance <= 3 ? " (did you mean " + best + "?)" : "";
  }

  private static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int subst = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(subst, Math.min(prev[j], cur[j - 1]) + 1);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  private static Map<String, Object> flagValues(Map<String, String> overrides) {
    Map<String, Object> values = new LinkedHashMap<>();
    overrides.forEach(
        (path, value) -> {
          if (!LEAVES.contains(path)) {
            throw new InvalidSettingException(path, "unknown setting");
          }
          values.put(path, typed(path, value));
        });
    return values;
  }

  // Only names of known settings are read: Kubernetes injects MCMUX_PORT and friends next to a
  // Service called mcmux, and those must not stop the process.
  private static Map<String, Object> envValues(Map<String, String> env) {
    Map<String, Object> values = new LinkedHashMap<>();
    for (String path : LEAVES) {
      String value = env.get(envVarName(path));
      if (value != null) {
        values.put(path, typed(path, value));
      }
    }
    return values;
  }

  private static Object typed(String path, String value) {
    if (REFERENCE.getValue(path).valueType() != ConfigValueType.LIST) {
      return value;
    }
    List<String> items = new ArrayList<>();
    for (String item : value.split(",")) {
      if (!item.isBlank()) {
        items.add(item.strip());
      }
    }
    return items;
  }

  private static Set<String> leafPaths(Config reference) {
    Set<String> paths = new TreeSet<>();
    for (var e : reference.getConfig(ROOT).entrySet()) {
      paths.add(ROOT + "." + e.getKey());
    }
    return Collections.unmodifiableSet(paths);
  }

  private static void line(StringBuilder out, String path, String value) {
    out.append(ROOT).append('.').append(path).append(" = ").append(value).append('\n');
  }

  private static String quote(String s) {
    return ConfigValueFactory.fromAnyRef(s).render(ConfigRenderOptions.concise());
  }

  private static String list(List<String> items) {
    var sb = new StringBuilder("[");
    for (int i = 0; i < items.size(); i++) {
      sb.append(i == 0 ? "" : ", ").append(quote(items.get(i)));
    }
    return sb.append(']').toString();
  }

  private static String modeName(Settings.Mode m) {
    return lower(m).replace('_', '-');
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  static String duration(Duration d) {
    long ms = d.toMillis();
    if (!d.equals(Duration.ofMillis(ms))) {
      return d.toNanos() + "ns";
    }
    if (ms % 3_600_000 == 0) {
      return ms / 3_600_000 + "h";
    }
    if (ms % 60_000 == 0) {
      return ms / 60_000 + "m";
    }
    if (ms % 1000 == 0) {
      return ms / 1000 + "s";
    }
    return ms + "ms";
  }

  static String bytes(long n) {
    if (n > 0 && n % (1L << 30) == 0) {
      return n / (1L << 30) + "GiB";
    }
    if (n > 0 && n % (1L << 20) == 0) {
      return n / (1L << 20) + "MiB";
    }
    if (n > 0 && n % 1024 == 0) {
      return n / 1024 + "KiB";
    }
    return String.valueOf(n);
  }

  /** Reads typed values out of the merged configuration, one clear error per bad value. */
  private static final class Reader {
    private final Config c;
    private final String name;

    Reader(Config c) {
      this(c, Settings.DEFAULT_CLUSTER);
    }

    Reader(Config c, String name) {
      this.c = c;
      this.name = name;
    }

    Settings settings() {
      boolean unsafe = bool("mcmux.unsafe-listen");
      Optional<HostPort> tcp = optionalAddress("mcmux.listen", MEMCACHED_PORT);
      if (tcp.isPresent() && !unsafe && !isLoopback(tcp.get().host())) {
        throw new InvalidSettingException(
            "mcmux.listen",
            tcp.get()
                + " is not a loopback address; use 127.0.0.1, ::1 or localhost, or set"
                + " mcmux.unsafe-listen = true to serve plaintext memcached to the network");
      }
      Optional<Path> unixSocket = unixSocket("mcmux.unix-socket");
      if (tcp.isEmpty() && unixSocket.isEmpty()) {
        throw new InvalidSettingException(
            "mcmux.listen", "no listener: set mcmux.listen or mcmux.unix-socket");
      }
      String mode = raw("mcmux.unix-socket-mode").strip();
      if (!mode.matches("0?[0-7]{3}")) {
        throw new InvalidSettingException(
            "mcmux.unix-socket-mode", "'" + mode + "' is not an octal mode such as 0660");
      }
      var listen =
          new Settings.Listen(
              tcp, unixSocket, unsafe, count("mcmux.listen-backlog"), Integer.parseInt(mode, 8));
      var runtime =
          new Settings.Runtime(
              count("mcmux.event-loops"), enumValue("mcmux.transport", Settings.Transport.class));
      Settings.Upstream upstream = upstream();
      Settings.Tls tls = tls();
      var limits =
          new Settings.Limits(
              count("mcmux.limits.max-client-connections"),
              count("mcmux.limits.max-outstanding-per-client"),
              size("mcmux.limits.max-buffered-bytes-per-client"),
              size("mcmux.limits.global-buffer-budget"),
              duration("mcmux.limits.value-read-timeout"));
      Optional<HostPort> admin = optionalAddress("mcmux.admin.listen", ADMIN_PORT);
      if (admin.isPresent() && admin.equals(tcp)) {
        throw new InvalidSettingException(
            "mcmux.admin.listen", admin.get() + " is also mcmux.listen");
      }
      var operations =
          new Settings.Operations(
              enumValue("mcmux.admin.readiness", Settings.Readiness.class),
              duration0("mcmux.tls.reload-interval"),
              duration0("mcmux.upstream.max-connection-age"),
              duration0("mcmux.shutdown.drain-delay"),
              duration("mcmux.shutdown.grace-period"),
              enumValue("mcmux.log.format", Settings.LogFormat.class));
      String placement = raw("mcmux.upstream.placement").strip();
      if (!List.of("libmemcached", "spymemcached", "elasticache").contains(placement)) {
        throw new InvalidSettingException(
            "mcmux.upstream.placement",
            "'" + placement + "' is not one of libmemcached, spymemcached, elasticache");
      }
      var cluster =
          new Settings.Cluster(
              placement,
              enumValue("mcmux.upstream.discovery", Settings.Discovery.class),
              duration("mcmux.upstream.discovery-interval"),
              count("mcmux.upstream.failure-threshold"),
              enumValue("mcmux.upstream.multiget-on-down-node", Settings.DownNodeKeys.class),
              denyCommands(),
              bool("mcmux.upstream.failover"),
              failoverTtlCap(),
              connectionBudget(runtime, upstream),
              mode(),
              count0("mcmux.per-node-ports"));
      if (cluster.discovery() == Settings.Discovery.ELASTICACHE
          && upstream.endpoints().size() != 1) {
        throw new InvalidSettingException(
            "mcmux.upstream.endpoints",
            "with discovery = elasticache give exactly one configuration endpoint, got "
                + upstream.endpoints().size());
      }
      checkPerNode(cluster, listen, upstream, admin);
      List<Settings> named = name.equals(Settings.DEFAULT_CLUSTER) ? namedClusters() : List.of();
      Settings settings =
          new Settings(
              listen,
              upstream,
              tls,
              limits,
              runtime,
              new Settings.Admin(admin),
              operations,
              cluster,
              name,
              named);
      if (!named.isEmpty()) {
        checkDistinctListeners(settings);
      }
      return settings;
    }

    /**
     * Each cluster under {@code mcmux.clusters}, read like the top level: its own listen, upstream
     * and tls sections over the defaults (not over the default cluster's values), the process-wide
     * settings shared. Errors name the setting inside the cluster.
     */
    private List<Settings> namedClusters() {
      if (!c.hasPath(CLUSTERS)) {
        return List.of();
      }
      if (!(c.getValue(CLUSTERS) instanceof ConfigObject clusters)) {
        throw new InvalidSettingException(CLUSTERS, "is a section of named clusters, not a value");
      }
      if (clusters.size() > MAX_CLUSTERS) {
        throw new InvalidSettingException(
            CLUSTERS, clusters.size() + " clusters; at most " + MAX_CLUSTERS + " are allowed");
      }
      Config shared = c.withoutPath(CLUSTERS);
      for (String key : PER_CLUSTER_SECTIONS) {
        shared = shared.withoutPath(ROOT + "." + key);
      }
      for (String leaf : LEAVES) {
        if (leaf.startsWith(ROOT + ".tls.") && isPerCluster(leaf)) {
          shared = shared.withoutPath(leaf);
        }
      }
      List<Settings> out = new ArrayList<>();
      for (String name : new TreeSet<>(clusters.keySet())) {
        checkClusterName(name);
        if (!(clusters.get(name) instanceof ConfigObject own)) {
          throw new InvalidSettingException(CLUSTERS + "." + name, "is a section, not a value");
        }
        Config cluster = own.toConfig();
        if (!cluster.hasPath("listen") && !cluster.hasPath("unix-socket")) {
          throw new InvalidSettingException(
              CLUSTERS + "." + name + ".listen",
              "a named cluster needs its own listen address (or unix-socket)");
        }
        if (!cluster.hasPath("listen")) {
          cluster = cluster.withValue("listen", ConfigValueFactory.fromAnyRef(""));
        }
        Config full = cluster.atPath(ROOT).withFallback(shared).withFallback(REFERENCE);
        try {
          out.add(new Reader(full, name).settings());
        } catch (InvalidSettingException e) {
          throw inCluster(name, e);
        }
      }
      return List.copyOf(out);
    }

    /** Two clusters must not claim the same TCP port or socket file: refused before any bind. */
    private void checkDistinctListeners(Settings top) {
      Map<String, String> owners = new LinkedHashMap<>();
      top.admin().listen().ifPresent(a -> owners.put(a.toString(), "mcmux.admin.listen"));
      List<Settings> all = new ArrayList<>();
      all.add(top);
      all.addAll(top.clusters());
      for (Settings s : all) {
        String path =
            s.name().equals(Settings.DEFAULT_CLUSTER)
                ? ROOT + ".listen"
                : CLUSTERS + "." + s.name() + ".listen";
        List<String> claimed = new ArrayList<>();
        s.listen()
            .tcp()
            .ifPresent(
                hp -> {
                  int ports =
                      s.cluster().mode() != Settings.Mode.PER_NODE
                          ? 1
                          : s.cluster().perNodePorts() == 0
                              ? s.upstream().endpoints().size()
                              : s.cluster().perNodePorts();
                  for (int i = 0; i < ports; i++) {
                    claimed.add(new HostPort(hp.host(), hp.port() + i).toString());
                  }
                });
        s.listen().unixSocket().ifPresent(u -> claimed.add(u.toAbsolutePath().toString()));
        for (String address : claimed) {
          String other = owners.putIfAbsent(address, path);
          if (other != null) {
            throw new InvalidSettingException(path, address + " is also used by " + other);
          }
        }
      }
    }

    private List<String> denyCommands() {
      String path = "mcmux.upstream.deny-commands";
      Set<String> names = new LinkedHashSet<>();
      for (String name : stringList(path)) {
        String n = name.toLowerCase(Locale.ROOT);
        if (!Settings.Cluster.DENIABLE.contains(n)) {
          throw new InvalidSettingException(
              path,
              "'"
                  + name
                  + "' is not a command mcmux forwards; use any of "
                  + String.join(", ", Settings.Cluster.DENIABLE));
        }
        names.add(n);
      }
      return List.copyOf(names);
    }

    private Duration failoverTtlCap() {
      String path = "mcmux.upstream.failover-ttl-cap";
      Duration cap = duration(path);
      // memcached reads a relative expiry only up to 30 days; beyond it is a Unix time.
      if (cap.compareTo(Duration.ofDays(30)) > 0 || cap.compareTo(Duration.ofSeconds(1)) < 0) {
        throw new InvalidSettingException(path, "must be between 1s and 30 days, got " + raw(path));
      }
      return cap;
    }

    private int connectionBudget(Settings.Runtime runtime, Settings.Upstream upstream) {
      String path = "mcmux.upstream.max-connections-per-node";
      int budget = count0(path);
      long wanted = (long) runtime.eventLoops() * upstream.connectionsPerLoop();
      if (budget > 0 && wanted > budget) {
        throw new InvalidSettingException(
            path,
            budget
                + " is less than mcmux.event-loops ("
                + runtime.eventLoops()
                + ") x mcmux.upstream.connections-per-loop ("
                + upstream.connectionsPerLoop()
                + ") = "
                + wanted
                + " connections each node would get");
      }
      return budget;
    }

    private Settings.Mode mode() {
      String s = string("mcmux.mode");
      for (Settings.Mode m : Settings.Mode.values()) {
        if (modeName(m).equalsIgnoreCase(s)) {
          return m;
        }
      }
      throw new InvalidSettingException("mcmux.mode", "'" + s + "' is not one of routed, per-node");
    }

    private void checkPerNode(
        Settings.Cluster cluster,
        Settings.Listen listen,
        Settings.Upstream upstream,
        Optional<HostPort> admin) {
      if (cluster.mode() != Settings.Mode.PER_NODE) {
        if (cluster.perNodePorts() != 0) {
          throw new InvalidSettingException(
              "mcmux.per-node-ports", "is set but mcmux.mode is routed; set mcmux.mode = per-node");
        }
        return;
      }
      if (listen.tcp().isEmpty() || listen.tcp().get().port() == 0) {
        throw new InvalidSettingException(
            "mcmux.listen", "per-node mode needs a TCP listen address with a fixed first port");
      }
      if (listen.unixSocket().isPresent()) {
        throw new InvalidSettingException(
            "mcmux.unix-socket", "is not served in per-node mode (one port per node); set \"\"");
      }
      if (cluster.failover()) {
        throw new InvalidSettingException(
            "mcmux.upstream.failover",
            "does not apply in per-node mode: the client picks the node");
      }
      int ports = cluster.perNodePorts();
      if (ports == 0 && cluster.discovery() == Settings.Discovery.ELASTICACHE) {
        throw new InvalidSettingException(
            "mcmux.per-node-ports",
            "per-node mode with discovery = elasticache needs the number of local ports");
      }
      int count = ports == 0 ? upstream.endpoints().size() : ports;
      int first = listen.tcp().get().port();
      if (first + count - 1 > 65535) {
        throw new InvalidSettingException(
            "mcmux.per-node-ports",
            count + " ports from " + first + " run past 65535; lower mcmux.listen's port");
      }
      if (admin.isPresent()
          && admin.get().host().equals(listen.tcp().get().host())
          && admin.get().port() >= first
          && admin.get().port() < first + count) {
        throw new InvalidSettingException(
            "mcmux.admin.listen", admin.get() + " is one of the per-node ports");
      }
    }

    private int count0(String path) {
      int n;
      try {
        n = c.getInt(path);
      } catch (ConfigException e) {
        throw typeError(path, "a whole number", e);
      }
      if (n < 0) {
        throw new InvalidSettingException(path, "must not be negative, got " + n);
      }
      return n;
    }

    private Settings.Upstream upstream() {
      String path = "mcmux.upstream.endpoints";
      List<HostPort> endpoints = new ArrayList<>();
      Set<HostPort> seen = new HashSet<>();
      for (String text : stringList(path)) {
        HostPort hp = address(path, text, MEMCACHED_PORT);
        if (!seen.add(hp)) {
          throw new InvalidSettingException(path, hp + " is listed twice");
        }
        endpoints.add(hp);
      }
      if (endpoints.isEmpty()) {
        throw new InvalidSettingException(
            path,
            "at least one memcached host:port is required (in a file, with --upstream or "
                + envVarName(path)
                + ")");
      }
      Duration backoffMin = duration("mcmux.upstream.reconnect-backoff-min");
      Duration backoffMax = duration("mcmux.upstream.reconnect-backoff-max");
      if (backoffMax.compareTo(backoffMin) < 0) {
        throw new InvalidSettingException(
            "mcmux.upstream.reconnect-backoff-max",
            SettingsLoader.duration(backoffMax)
                + " is less than mcmux.upstream.reconnect-backoff-min ("
                + SettingsLoader.duration(backoffMin)
                + ")");
      }
      Duration stallNudge = duration("mcmux.upstream.stall-nudge-after");
      if (stallNudge.compareTo(duration("mcmux.upstream.request-timeout")) >= 0) {
        throw new InvalidSettingException(
            "mcmux.upstream.stall-nudge-after",
            "must be shorter than mcmux.upstream.request-timeout");
      }
      long itemSizeMax = size0("mcmux.upstream.item-size-max");
      if (itemSizeMax != 0 && (itemSizeMax < ITEM_SIZE_MIN || itemSizeMax > ITEM_SIZE_MAX)) {
        throw new InvalidSettingException(
            "mcmux.upstream.item-size-max",
            "must be 0 (read from the server) or between 1KiB and 1GiB, got "
                + raw("mcmux.upstream.item-size-max"));
      }
      return new Settings.Upstream(
          List.copyOf(endpoints),
          count("mcmux.upstream.connections-per-loop"),
          duration("mcmux.upstream.connect-timeout"),
          duration("mcmux.upstream.request-timeout"),
          duration("mcmux.upstream.keepalive-interval"),
          backoffMin,
          backoffMax,
          itemSizeMax,
          stallNudge);
    }

    private Settings.Tls tls() {
      Optional<Path> caFile = readableFile("mcmux.tls.ca-file");
      Optional<String> serverName = optionalString("mcmux.tls.server-name");
      serverName.ifPresent(
          name -> {
            if (!isHostName(name) && !isIpLiteral(name)) {
              throw new InvalidSettingException(
                  "mcmux.tls.server-name",
                  "'" + name + "' is not a host name (no port, no scheme)");
            }
          });
      Optional<Path> certFile = readableFile("mcmux.tls.cert-file");
      Optional<Path> keyFile = readableFile("mcmux.tls.key-file");
      if (certFile.isPresent() && keyFile.isEmpty()) {
        throw new InvalidSettingException(
            "mcmux.tls.key-file", "is empty but mcmux.tls.cert-file is set; give both or neither");
      }
      if (keyFile.isPresent() && certFile.isEmpty()) {
        throw new InvalidSettingException(
            "mcmux.tls.cert-file", "is empty but mcmux.tls.key-file is set; give both or neither");
      }
      Optional<String> keyPassword = optionalString("mcmux.tls.key-password");
      if (keyPassword.isPresent() && keyFile.isEmpty()) {
        throw new InvalidSettingException(
            "mcmux.tls.key-password", "is set but mcmux.tls.key-file is empty");
      }
      Set<String> protocols = new LinkedHashSet<>();
      for (String p : stringList("mcmux.tls.protocols")) {
        String known =
            PROTOCOLS.stream().filter(k -> k.equalsIgnoreCase(p.strip())).findFirst().orElse(null);
        if (known == null) {
          throw new InvalidSettingException(
              "mcmux.tls.protocols", "'" + p + "' is not allowed; use TLSv1.3 and/or TLSv1.2");
        }
        protocols.add(known);
      }
      if (protocols.isEmpty()) {
        throw new InvalidSettingException(
            "mcmux.tls.protocols", "must name TLSv1.3 and/or TLSv1.2");
      }
      return new Settings.Tls(
          caFile,
          serverName,
          certFile,
          keyFile,
          keyPassword,
          bool("mcmux.tls.verify"),
          duration("mcmux.tls.handshake-timeout"),
          enumValue("mcmux.tls.engine", Settings.TlsEngine.class),
          List.copyOf(protocols),
          List.copyOf(stringList("mcmux.tls.ciphers")));
    }

    private String raw(String path) {
      ConfigValue v = c.getValue(path);
      return v.valueType() == ConfigValueType.STRING
          ? (String) v.unwrapped()
          : v.render(ConfigRenderOptions.concise());
    }

    private InvalidSettingException typeError(String path, String expected, ConfigException e) {
      if (e instanceof ConfigException.Missing || e instanceof ConfigException.Null) {
        return new InvalidSettingException(path, "has no value", e);
      }
      return new InvalidSettingException(path, "'" + raw(path) + "' is not " + expected, e);
    }

    private String string(String path) {
      try {
        return c.getString(path).strip();
      } catch (ConfigException e) {
        throw typeError(path, "a string", e);
      }
    }

    private Optional<String> optionalString(String path) {
      String s = string(path);
      return s.isEmpty() ? Optional.empty() : Optional.of(s);
    }

    private boolean bool(String path) {
      try {
        return c.getBoolean(path);
      } catch (ConfigException e) {
        throw typeError(path, "true or false", e);
      }
    }

    private int count(String path) {
      int n;
      try {
        n = c.getInt(path);
      } catch (ConfigException e) {
        throw typeError(path, "a whole number", e);
      }
      if (n < 1) {
        throw new InvalidSettingException(path, "must be at least 1, got " + n);
      }
      return n;
    }

    private long size0(String path) {
      long n;
      try {
        n = c.getBytes(path);
      } catch (ConfigException e) {
        throw typeError(path, "a size such as 16MiB", e);
      }
      if (n < 0) {
        throw new InvalidSettingException(path, "must not be negative, got " + raw(path));
      }
      return n;
    }

    private long size(String path) {
      long n = size0(path);
      if (n < 1) {
        throw new InvalidSettingException(path, "must be at least 1 byte, got " + raw(path));
      }
      return n;
    }

    /** A duration where zero means "off"; a bare {@code 0} needs no unit. */
    private Duration duration0(String path) {
      if (c.hasPath(path) && raw(path).strip().equals("0")) {
        return Duration.ZERO;
      }
      Duration d = durationOrZero(path);
      if (d.isNegative()) {
        throw new InvalidSettingException(path, "must not be negative, got " + raw(path));
      }
      return d;
    }

    private Duration duration(String path) {
      Duration d = durationOrZero(path);
      if (d.isNegative() || d.isZero()) {
        throw new InvalidSettingException(path, "must be positive, got " + raw(path));
      }
      return d;
    }

    private Duration durationOrZero(String path) {
      // HOCON reads a bare number as milliseconds: "connect-timeout = 5" would mean 5ms.
      if (c.hasPath(path) && BARE_NUMBER.matcher(raw(path)).matches()) {
        throw new InvalidSettingException(
            path, "'" + raw(path) + "' has no unit; write e.g. " + raw(path).strip() + "s or ms");
      }
      Duration d;
      try {
        d = c.getDuration(path);
      } catch (ConfigException e) {
        throw typeError(path, "a duration such as 500ms, 5s or 1m", e);
      }
      return d;
    }

    private List<String> stringList(String path) {
      try {
        return c.getStringList(path).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
      } catch (ConfigException e) {
        throw typeError(path, "a list", e);
      }
    }

    private <E extends Enum<E>> E enumValue(String path, Class<E> type) {
      String s = string(path);
      for (E e : type.getEnumConstants()) {
        if (e.name().equalsIgnoreCase(s)) {
          return e;
        }
      }
      List<String> names = new ArrayList<>();
      for (E e : type.getEnumConstants()) {
        names.add(lower(e));
      }
      throw new InvalidSettingException(
          path, "'" + s + "' is not one of " + String.join(", ", names));
    }

    private Optional<HostPort> optionalAddress(String path, int defaultPort) {
      return optionalString(path).map(text -> address(path, text, defaultPort));
    }

    private HostPort address(String path, String text, int defaultPort) {
      HostPort hp;
      try {
        hp = HostPort.parse(text, defaultPort);
      } catch (IllegalArgumentException e) {
        String why = e.getMessage();
        throw new InvalidSettingException(
            path, why.contains("'" + text + "'") ? why : "'" + text + "': " + why, e);
      }
      if (!isHostName(hp.host()) && !isIpLiteral(hp.host())) {
        throw new InvalidSettingException(path, "'" + text + "' is not a valid host:port");
      }
      return hp;
    }

    private Optional<Path> path(String settingPath) {
      return optionalString(settingPath)
          .map(
              s -> {
                try {
                  return Path.of(s);
                } catch (InvalidPathException e) {
                  throw new InvalidSettingException(
                      settingPath, "'" + s + "' is not a valid path", e);
                }
              });
    }

    private Optional<Path> readableFile(String settingPath) {
      Optional<Path> p = path(settingPath);
      p.ifPresent(
          file -> {
            if (!Files.exists(file)) {
              throw new InvalidSettingException(settingPath, file + " does not exist");
            }
            if (!Files.isRegularFile(file)) {
              throw new InvalidSettingException(settingPath, file + " is not a regular file");
            }
            if (!Files.isReadable(file)) {
              throw new InvalidSettingException(settingPath, file + " is not readable");
            }
          });
      return p;
    }

    private Optional<Path> unixSocket(String settingPath) {
      Optional<Path> p = path(settingPath);
      p.ifPresent(
          socket -> {
            if (socket.toString().getBytes(StandardCharsets.UTF_8).length > UNIX_PATH_MAX) {
              throw new InvalidSettingException(
                  settingPath,
                  socket
                      + " is longer than the "
                      + UNIX_PATH_MAX
                      + " bytes a socket path may have");
            }
            Path dir = socket.toAbsolutePath().getParent();
            if (dir != null && !Files.isDirectory(dir)) {
              throw new InvalidSettingException(
                  settingPath, "directory " + dir + " does not exist");
            }
            if (Files.isDirectory(socket)) {
              throw new InvalidSettingException(settingPath, socket + " is a directory");
            }
          });
      return p;
    }
  }

  private static boolean isHostName(String host) {
    return HOST_NAME.matcher(host).matches() && host.length() <= 253;
  }

  private static boolean isIpLiteral(String host) {
    if (IPV4.matcher(host).matches()) {
      for (String octet : host.split("\\.")) {
        if (Integer.parseInt(octet) > 255) {
          return false;
        }
      }
      return true;
    }
    return host.indexOf(':') >= 0 && ipv6(host).isPresent();
  }

  // The pattern keeps InetAddress on its literal parser: it queries DNS for anything else.
  private static Optional<InetAddress> ipv6(String host) {
    if (host.indexOf(':') < 0 || !IPV6.matcher(host).matches()) {
      return Optional.empty();
    }
    try {
      return Optional.of(InetAddress.getByName(host));
    } catch (UnknownHostException e) {
      return Optional.empty();
    }
  }

  /**
   * Whether {@code host} is certainly loopback without asking DNS: {@code localhost}, 127.0.0.0/8
   * or ::1. Other names count as not loopback, since what they resolve to can change.
   */
  static boolean isLoopback(String host) {
    String h = host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
    if (h.equalsIgnoreCase("localhost")) {
      return true;
    }
    if (IPV4.matcher(h).matches()) {
      return isIpLiteral(h) && h.startsWith("127.");
    }
    if (h.indexOf(':') >= 0) {
      return ipv6(h).map(InetAddress::isLoopbackAddress).orElse(false);
    }
    return false;
  }
}
