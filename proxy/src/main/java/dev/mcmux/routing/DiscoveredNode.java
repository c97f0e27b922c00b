package dev.mcmux.routing;

import dev.mcmux.config.HostPort;

/**
 * One node as the ElastiCache configuration endpoint lists it ({@code host|ip|port}).
 *
 * <p>With TLS, mcmux connects to and verifies the certificate against {@link #host()}: ElastiCache
 * issues per-cluster wildcard certificates for the node names, never for their IPs. Node names may
 * start with a digit ({@code 0001-001.mycluster...}); nothing here or downstream may reject them.
 *
 * @param host the node's DNS name (or an IP literal), as listed
 * @param ip the node's IP literal as listed, or the empty string when the endpoint left it out
 * @param port the node's TCP port
 */
public record DiscoveredNode(String host, String ip, int port) {

  public DiscoveredNode {
    if (host == null || host.isEmpty()) {
      throw new IllegalArgumentException("node host is empty");
    }
    if (ip == null) {
      ip = "";
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("node port " + port + " is not in 1..65535");
    }
  }

  /** The address to connect to and verify: the host name, never the IP field. */
  public HostPort address() {
    return new HostPort(host, port);
  }

  /** The node for a key placement, carrying the listed IP for the flavours that hash it. */
  public PlacementNode placementNode() {
    return new PlacementNode(host, port, ip.isEmpty() ? null : ip);
  }

  @Override
  public String toString() {
    return host + "|" + ip + "|" + port;
  }
}
