package dev.mcmux.check;

import java.util.ArrayList;
import java.util.List;

/**
 * The answer of an ElastiCache configuration endpoint to {@code config get cluster}: a version that
 * grows with every membership change, and the nodes.
 *
 * @param version the configuration version (the body's first line)
 * @param nodes the nodes in the order given
 */
public record ClusterConfig(long version, List<Node> nodes) {

  /** One node: its DNS name, its IP address (may be empty) and port. */
  public record Node(String host, String ip, int port) {
    @Override
    public String toString() {
      return host + "|" + ip + "|" + port;
    }
  }

  /**
   * Parses the data block of {@code CONFIG cluster 0 <len>}: {@code <version>\n<host>|<ip>|<port>
   * ...\n}, the version line ending in LF only.
   *
   * @throws IllegalArgumentException saying what is wrong, for a reply that is not of this form
   */
  public static ClusterConfig parse(String body) {
    int lf = body.indexOf('\n');
    if (lf < 0) {
      throw new IllegalArgumentException("no line feed after the configuration version");
    }
    String versionText = body.substring(0, lf).strip();
    long version;
    try {
      version = Long.parseLong(versionText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "configuration version '" + versionText + "' is not a number");
    }
    List<Node> nodes = new ArrayList<>();
    String rest = body.substring(lf + 1).strip();
    if (rest.isEmpty()) {
      throw new IllegalArgumentException("the node list is empty");
    }
    for (String entry : rest.split("\\s+")) {
      String[] parts = entry.split("\\|", -1);
      if (parts.length != 3 || parts[0].isEmpty()) {
        throw new IllegalArgumentException("node '" + entry + "' is not host|ip|port");
      }
      int port;
      try {
        port = Integer.parseInt(parts[2]);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("node '" + entry + "' has no valid port");
      }
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("node '" + entry + "' has no valid port");
      }
      nodes.add(new Node(parts[0], parts[1], port));
    }
    return new ClusterConfig(version, List.copyOf(nodes));
  }
}
