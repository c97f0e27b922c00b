package dev.mcmux.testing;

import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Several TLS memcached nodes on loopback with a certificate for {@code localhost}, plus what mcmux
 * is told about them: the endpoint list and the libmemcached placement it will compute.
 */
public record TlsNodes(List<MemcachedProcess> processes, String endpoints, KeyPlacement placement) {

  /** Starts {@code count} nodes; the caller closes {@link #processes()}. */
  public static TlsNodes start(TestPki pki, int count) {
    List<MemcachedProcess> started = new ArrayList<>();
    List<String> endpoints = new ArrayList<>();
    List<PlacementNode> placed = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      started.add(m);
      endpoints.add("localhost:" + m.port());
      placed.add(new PlacementNode("localhost", m.port()));
    }
    return new TlsNodes(
        started, String.join(",", endpoints), KeyPlacement.create("libmemcached", placed));
  }
}
