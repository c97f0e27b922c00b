package dev.mcmux.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/** Finds loopback TCP ports that are free to bind, for servers started by tests. */
public final class Ports {

  /*
   * Ports come from below the kernel's ephemeral range: a port there can be taken at any moment
   * by an outgoing connection (ours, or another build's on the same machine), which is what
   * makes the usual "bind port 0, close, reuse" trick flaky. Ports handed out once are never
   * handed out again by this JVM, so a stopped server's port stays its own for a restart.
   */
  private static final int LOWEST = 20_000;
  private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

  private Ports() {}

  /** Returns a port on 127.0.0.1 that could be bound just now and was not handed out before. */
  public static int freeLoopbackPort() {
    int[] range = candidateRange();
    for (int attempt = 0; attempt < 1_000; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(range[0], range[1]);
      if (!HANDED_OUT.contains(port) && canBind(port) && HANDED_OUT.add(port)) {
        return port;
      }
    }
    throw new IllegalStateException(
        "no free loopback port in " + range[0] + ".." + range[1] + " after 1000 tries");
  }

  /** Whether a listening socket on 127.0.0.1 at {@code port} can be opened right now. */
  public static boolean canBind(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      // Without SO_REUSEADDR the probe also fails on a port with connections in TIME_WAIT.
      socket.setReuseAddress(false);
      socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int[] candidateRange() {
    int ephemeralLow = 32_768;
    Path file = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    try {
      if (Files.isReadable(file)) {
        ephemeralLow = Integer.parseInt(Files.readString(file).trim().split("\\s+")[0]);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // A container may widen the ephemeral range down to 1024; then share it rather than fail.
    return ephemeralLow - LOWEST >= 2_000
        ? new int[] {LOWEST, ephemeralLow}
        : new int[] {LOWEST, 65_000};
  }
}
