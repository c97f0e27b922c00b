package dev.mcmux.testing;

import dev.mcmux.config.Settings;
import dev.mcmux.config.SettingsLoader;
import dev.mcmux.frontend.McmuxServer;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Starts mcmux in this JVM in front of a test memcached, with settings given as HOCON paths, the
 * same way the command line's flags override the configuration file.
 */
public final class McmuxHarness implements AutoCloseable {
  private final McmuxServer server;
  private final Settings settings;

  private McmuxHarness(Settings settings, McmuxServer server) {
    this.settings = settings;
    this.server = server;
  }

  /** A builder for mcmux in front of {@code upstreamPort} on localhost, trusting {@code caFile}. */
  public static Builder inFrontOf(int upstreamPort, Path caFile) {
    return new Builder()
        .set("mcmux.upstream.endpoints", "localhost:" + upstreamPort)
        .set("mcmux.tls.ca-file", caFile.toString());
  }

  /** The TCP port clients connect to. */
  public int port() {
    for (SocketAddress a : server.localAddresses()) {
      if (a instanceof InetSocketAddress inet) {
        return inet.getPort();
      }
    }
    throw new IllegalStateException("no TCP listener");
  }

  /** The running server, for assertions on its state. */
  public McmuxServer server() {
    return server;
  }

  /** The effective settings. */
  public Settings settings() {
    return settings;
  }

  /** A plaintext client connected to mcmux. */
  public TextClient client() {
    return TextClient.connect(port());
  }

  @Override
  public void close() {
    server.close();
  }

  /** Collects settings and starts mcmux. */
  public static final class Builder {
    private final Map<String, String> overrides = new LinkedHashMap<>();

    private Builder() {
      overrides.put("mcmux.listen", "127.0.0.1:" + Ports.freeLoopbackPort());
      overrides.put("mcmux.admin.listen", "");
      // Tests want failures reported fast.
      overrides.put("mcmux.upstream.reconnect-backoff-min", "20ms");
      overrides.put("mcmux.upstream.reconnect-backoff-max", "500ms");
      // -Dmcmux.it.transport=nio runs the suite on the transport mcmux falls back to when the
      // epoll library cannot load.
      String transport = System.getProperty("mcmux.it.transport");
      if (transport != null) {
        overrides.put("mcmux.transport", transport);
      }
    }

    /** Sets one setting by its HOCON path; lists are comma-separated. */
    public Builder set(String path, String value) {
      overrides.put(path, value);
      return this;
    }

    /** Starts mcmux; it has tried its first upstream connection when this returns. */
    public McmuxHarness start() {
      Settings settings = SettingsLoader.load(Optional.empty(), Map.of(), overrides);
      try {
        return new McmuxHarness(settings, McmuxServer.start(settings));
      } catch (Exception e) {
        throw new IllegalStateException("mcmux did not start: " + e, e);
      }
    }
  }
}
