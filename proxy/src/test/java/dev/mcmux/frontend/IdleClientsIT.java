package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.UnixOperatingSystemMXBean;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ten thousand idle clients: mcmux holds them all, each one is still answered when it finally
 * speaks, a fresh client is served beside them, and every one is forgotten when they leave.
 *
 * <p>The clients are non-blocking {@link SocketChannel}s driven from the test thread. mcmux runs in
 * this JVM, so every client costs two file descriptors here (its socket and mcmux's accepted one):
 * with an open-files limit too small for 10,000 the test uses as many clients as the limit allows
 * minus a margin, and says so in its assertion messages.
 */
@ExtendWith(LeakDetection.class)
class IdleClientsIT {
  private static final int WANTED = 10_000;

  /** Descriptors kept free for the JVM, memcached connections, jars and the leak detector. */
  private static final int MARGIN = 1_000;

  private static final Duration STEP_TIMEOUT = Duration.ofSeconds(20);

  @TempDir static Path dir;
  static TestPki pki;
  static MemcachedProcess memcached;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
  }

  @AfterAll
  static void stop() {
    if (memcached != null) {
      memcached.close();
    }
  }

  @Test
  void tenThousandIdleClientsAreHeldAnsweredAndReleased() throws IOException {
    int count = WANTED;
    String note = count + " idle clients";
    OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof UnixOperatingSystemMXBean unix) {
      long max = unix.getMaxFileDescriptorCount();
      long open = unix.getOpenFileDescriptorCount();
      long fit = (max - open - MARGIN) / 2;
      if (fit < WANTED) {
        count = (int) fit;
        note =
            count
                + " idle clients, not "
                + WANTED
                + ": the open-files limit is "
                + max
                + " and each client takes two descriptors in this JVM (client and mcmux side)";
      }
    }
    assertTrue(count >= 1_000, "too few file descriptors for a meaningful test: " + note);
    System.out.println("IdleClientsIT: " + note);

    try (McmuxHarness mcmux =
            McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
                .set("mcmux.limits.max-client-connections", String.valueOf(WANTED + 100))
                .set("mcmux.upstream.request-timeout", "10s")
                .start();
        Selector selector = Selector.open()) {
      InetSocketAddress address =
          new InetSocketAddress(InetAddress.getLoopbackAddress(), mcmux.port());
      List<SocketChannel> clients = new ArrayList<>(count);
      long started = System.nanoTime();
      try {
        // Connect all, blocking (loopback connects are quick), then switch to non-blocking.
        for (int i = 0; i < count; i++) {
          SocketChannel ch = SocketChannel.open();
          clients.add(ch);
          ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
          ch.connect(address);
          ch.configureBlocking(false);
        }
        final int n = count;
        final String what = note;
        Await.until(
            "mcmux counts all " + what, STEP_TIMEOUT, () -> mcmux.server().clientCount() == n);
        System.out.printf(
            "IdleClientsIT: %d connected in %d ms%n", n, (System.nanoTime() - started) / 1_000_000);

        // Every idle client now speaks once: version, and expects one VERSION line back.
        long asked = System.nanoTime();
        StringBuilder[] answers = new StringBuilder[count];
        for (int i = 0; i < count; i++) {
          SocketChannel ch = clients.get(i);
          ByteBuffer request = ByteBuffer.wrap("version\r\n".getBytes(StandardCharsets.US_ASCII));
          while (request.hasRemaining()) {
            ch.write(request);
          }
          answers[i] = new StringBuilder();
          ch.register(selector, SelectionKey.OP_READ, i);
        }
        int answered = 0;
        ByteBuffer buffer = ByteBuffer.allocate(256);
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (answered < count) {
          long left = (deadline - System.nanoTime()) / 1_000_000;
          assertTrue(
              left > 0,
              "only "
                  + answered
                  + " of "
                  + what
                  + " got an answer to version within "
                  + STEP_TIMEOUT);
          selector.select(Math.max(1, Math.min(left, 1_000)));
          for (SelectionKey key : selector.selectedKeys()) {
            int i = (Integer) key.attachment();
            SocketChannel ch = (SocketChannel) key.channel();
            buffer.clear();
            int read = ch.read(buffer);
            assertTrue(read >= 0, "client " + i + " of " + what + " was closed by mcmux");
            buffer.flip();
            answers[i].append(StandardCharsets.US_ASCII.decode(buffer));
            if (answers[i].indexOf("\r\n") >= 0) {
              String line = answers[i].toString();
              assertTrue(
                  line.startsWith("VERSION ") && line.endsWith("\r\n"),
                  "client " + i + " of " + what + " got '" + line.strip() + "'");
              key.cancel();
              answered++;
            }
          }
          selector.selectedKeys().clear();
        }
        System.out.printf(
            "IdleClientsIT: %d answered in %d ms%n",
            answered, (System.nanoTime() - asked) / 1_000_000);

        // A fresh client is served normally beside them.
        try (TextClient fresh = mcmux.client()) {
          assertEquals("STORED", fresh.send("set idle:fresh 0 0 5\r\nhello\r\n").readLine());
          assertEquals(
              "VALUE idle:fresh 0 5\r\nhello\r\nEND\r\n",
              fresh.send("get idle:fresh\r\n").readUntilEnd());
          assertEquals(count + 1, mcmux.server().clientCount(), what + " and the fresh one");
        }
        Await.until(
            "clientCount() back to " + what + " after the fresh client left",
            STEP_TIMEOUT,
            () -> mcmux.server().clientCount() == n);
        assertEquals(count, mcmux.server().clientCount(), what);
      } finally {
        for (SocketChannel ch : clients) {
          ch.close();
        }
      }
      Await.until(
          "clientCount() back to 0 after " + note + " closed",
          STEP_TIMEOUT,
          () -> mcmux.server().clientCount() == 0);
      System.out.printf(
          "IdleClientsIT: whole test %d ms%n", (System.nanoTime() - started) / 1_000_000);
    }
  }
}
