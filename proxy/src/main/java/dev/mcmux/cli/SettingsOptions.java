package dev.mcmux.cli;

import dev.mcmux.config.Settings;
import dev.mcmux.config.SettingsLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Option;

/** The flags that {@code run} and {@code validate} share, each one a setting override. */
final class SettingsOptions {

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "HOCON file with settings under mcmux { }; unknown keys are an error.")
  Path config;

  @Option(
      names = "--listen",
      paramLabel = "HOST:PORT",
      description = "Loopback address for clients (mcmux.listen); \"\" disables TCP.")
  String listen;

  @Option(
      names = "--unix-socket",
      paramLabel = "PATH",
      description = "Unix-domain socket for clients (mcmux.unix-socket).")
  String unixSocket;

  @Option(
      names = "--upstream",
      paramLabel = "HOST:PORT",
      description = "memcached node, repeatable; replaces mcmux.upstream.endpoints.")
  List<String> upstream = new ArrayList<>();

  @Option(
      names = "--ca-file",
      paramLabel = "FILE",
      description = "PEM CA bundle that signs the nodes' certificates (mcmux.tls.ca-file).")
  String caFile;

  @Option(
      names = "--server-name",
      paramLabel = "NAME",
      description = "Name to send as SNI and verify (mcmux.tls.server-name).")
  String serverName;

  @Option(
      names = "--admin-listen",
      paramLabel = "HOST:PORT",
      description =
          "Address of the metrics and health endpoint (mcmux.admin.listen); \"\" disables.")
  String adminListen;

  @Option(
      names = "--unsafe-listen",
      description = "Allow --listen on a non-loopback address (mcmux.unsafe-listen).")
  boolean unsafeListen;

  /** The flags given, keyed by the HOCON path they override; absent flags leave no entry. */
  Map<String, String> overrides() {
    Map<String, String> o = new LinkedHashMap<>();
    put(o, "mcmux.listen", listen);
    put(o, "mcmux.unix-socket", unixSocket);
    if (!upstream.isEmpty()) {
      o.put("mcmux.upstream.endpoints", String.join(",", upstream));
    }
    put(o, "mcmux.tls.ca-file", caFile);
    put(o, "mcmux.tls.server-name", serverName);
    put(o, "mcmux.admin.listen", adminListen);
    if (unsafeListen) {
      o.put("mcmux.unsafe-listen", "true");
    }
    return o;
  }

  /** Loads the settings from the file, {@code env} and these flags. */
  Settings load(Map<String, String> env) {
    return SettingsLoader.load(Optional.ofNullable(config), env, overrides());
  }

  private static void put(Map<String, String> o, String path, String value) {
    if (value != null) {
      o.put(path, value);
    }
  }
}
