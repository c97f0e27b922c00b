package dev.mcmux.routing;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The client whose key placement mcmux reproduces, selected by its configuration name. */
public enum PlacementFlavour {
  /**
   * libmemcached (PHP Memcached, pylibmc, ...) with {@code OPT_LIBKETAMA_COMPATIBLE}: MD5 of {@code
   * host:port-N}, or {@code host-N} on port 11211, with the host as configured.
   */
  LIBMEMCACHED("libmemcached"),
  /**
   * Stock spymemcached's {@code KetamaConnectionFactory}: MD5 of the socket address string, {@code
   * host/ip:port-N}, or {@code ip:port-N} when configured by IP.
   */
  SPYMEMCACHED("spymemcached"),
  /**
   * The AWS ElastiCache Java cluster client's {@code KetamaConnectionFactory}: SHA-384 of {@code
   * ip:port-N}; the host name is dropped.
   */
  ELASTICACHE("elasticache");

  private final String configName;

  PlacementFlavour(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration. */
  public String configName() {
    return configName;
  }

  /**
   * Looks a flavour up by its configuration name.
   *
   * @throws IllegalArgumentException naming the valid choices when {@code name} is none of them
   */
  public static PlacementFlavour byName(String name) {
    for (PlacementFlavour f : values()) {
      if (f.configName.equals(name)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        "unknown key placement '"
            + name
            + "': expected one of "
            + Arrays.stream(values()).map(f -> f.configName).collect(Collectors.joining(", ")));
  }

  @Override
  public String toString() {
    return configName;
  }
}
