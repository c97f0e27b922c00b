package dev.mcmux.routing;

import dev.mcmux.config.HostPort;

/**
 * One cluster node as a key placement sees it: the host exactly as the clients are configured with
 * it, its port, and the IP address that host stands for.
 *
 * <p>Which fields matter depends on the flavour. {@code libmemcached} hashes the host as written
 * and ignores {@code ip}. {@code spymemcached} hashes the host and the IP the client resolved it
 * to, so {@code ip} is required when {@code host} is a name. {@code elasticache} hashes only the
 * IP: pass the one {@code config get cluster} reports for the node ({@code host|ip|port}); it may
 * be omitted only when {@code host} is itself an IP literal. The IP is never looked up here:
 * whoever builds the node (discovery, or a resolver off the event loops) supplies it.
 *
 * @param host the host name or IP literal as configured (IPv6 without brackets)
 * @param port the TCP port
 * @param ip the node's IP literal, or {@code null} when unknown
 */
public record PlacementNode(String host, int port, String ip) {

  public PlacementNode {
    if (host == null || host.isEmpty()) {
      throw new IllegalArgumentException("node host is empty");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("node port " + port + " is not in 1..65535");
    }
    if (ip != null && ip.isEmpty()) {
      ip = null;
    }
  }

  /** A node whose IP is unknown (enough for {@code libmemcached}, or when host is an IP). */
  public PlacementNode(String host, int port) {
    this(host, port, null);
  }

  /** A node for a configured address and the IP it stands for ({@code null} when unknown). */
  public static PlacementNode of(HostPort address, String ip) {
    return new PlacementNode(address.host(), address.port(), ip);
  }

  @Override
  public String toString() {
    String hp = host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    return ip == null ? hp : hp + " (" + ip + ")";
  }
}
