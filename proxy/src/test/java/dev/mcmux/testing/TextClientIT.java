package dev.mcmux.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** TextClient against a plaintext memcached: framing, failures that show the bytes, EOF. */
class TextClientIT {

  static MemcachedProcess memcached;

  @BeforeAll
  static void startMemcached() {
    memcached = MemcachedProcess.plain().start();
  }

  @AfterAll
  static void stopMemcached() {
    memcached.close();
  }

  @Test
  void readUntilEndFramesValuesByLengthAndKeepsDuplicates() {
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("set a 1 0 5\r\nEND\r\n\r\nset b 2 0 0\r\n\r\n");
      assertEquals("STORED", client.readLine());
      assertEquals("STORED", client.readLine());

      assertEquals(
          "VALUE a 1 5\r\nEND\r\n\r\nVALUE b 2 0\r\n\r\nVALUE a 1 5\r\nEND\r\n\r\nEND\r\n",
          client.send("get a b a\r\n").readUntilEnd());
      assertEquals("ERROR\r\n", client.send("bogus\r\n").readUntilEnd());
      assertEquals(
          "CLIENT_ERROR bad command line format\r\n",
          client.send("get " + "k".repeat(251) + "\r\n").readUntilEnd());
      assertTrue(client.send("stats\r\n").readUntilEnd().endsWith("\r\nEND\r\n"));
    }
  }

  @Test
  void largeValuesGrowTheBufferAndSmallOnesReuseIt() {
    String big = "x".repeat(300_000);
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("set big 0 0 " + big.length() + "\r\n" + big + "\r\n");
      assertEquals("STORED", client.readLine());
      for (int i = 0; i < 3; i++) {
        assertEquals(
            "VALUE big 0 300000\r\n" + big + "\r\nEND\r\n",
            client.send("get big\r\n").readUntilEnd());
        assertTrue(client.send("version\r\n").readLine().startsWith("VERSION "));
      }
    }
  }

  /**
   * memcached cannot be made to split its replies at every byte, so a one-off peer does: lines and
   * blocks must come out whole whatever the read boundaries.
   */
  @Test
  void framesSurviveOneByteReads() throws Exception {
    byte[] reply =
        "STORED\r\nVALUE k 0 5\r\nEND\r\n\r\nEND\r\nbare\n".getBytes(StandardCharsets.US_ASCII);
    try (java.net.ServerSocket listener =
        new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      Thread peer =
          new Thread(
              () -> {
                try (java.net.Socket socket = listener.accept()) {
                  socket.setTcpNoDelay(true);
                  for (byte b : reply) {
                    socket.getOutputStream().write(b);
                    socket.getOutputStream().flush();
                  }
                  socket.shutdownOutput();
                  socket.getInputStream().read();
                } catch (java.io.IOException e) {
                  // The client side reports what it did not get.
                }
              },
              "dribbling-peer");
      peer.start();
      try (TextClient client = TextClient.connect(listener.getLocalPort())) {
        assertEquals("STORED", client.readLine());
        assertEquals("VALUE k 0 5\r\nEND\r\n\r\nEND\r\n", client.readUntilEnd());
        AssertionError bareLf = assertThrows(AssertionError.class, client::readLine);
        assertTrue(bareLf.getMessage().contains("bare LF"), bareLf.getMessage());
      }
      peer.join(5_000);
    }
  }

  @Test
  void readExactlyReturnsRawBytes() {
    byte[] value = {0, (byte) 0xff, '\r', '\n', 'E'};
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("set bin 0 0 5\r\n").send(value).send("\r\n");
      assertEquals("STORED", client.readLine());
      assertEquals("VALUE bin 0 5", client.send("get bin\r\n").readLine());
      assertArrayEquals(value, client.readExactly(5));
      assertEquals("", client.readLine());
      assertEquals("END", client.readLine());
    }
  }

  @Test
  void aTimeoutFailsWithWhatWasReceived() {
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("set t 0 0 2\r\nhi\r\nget t\r\n").withTimeout(Duration.ofMillis(200));
      AssertionError failure = assertThrows(AssertionError.class, () -> client.readExactly(1_000));
      assertTrue(failure.getMessage().contains("1000 bytes within 200 ms"), failure.getMessage());
      assertTrue(
          failure.getMessage().contains("\"STORED\\r\\nVALUE t 0 2\\r\\nhi\\r\\nEND\\r\\n\""),
          failure.getMessage());
    }
  }

  @Test
  void expectEofAfterQuitAndFailsWhenTheServerKeepsTalking() {
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("quit\r\n").expectEof();
    }
    try (TextClient client = TextClient.connect(memcached.port())) {
      client.send("version\r\n");
      AssertionError failure = assertThrows(AssertionError.class, client::expectEof);
      assertTrue(failure.getMessage().contains("VERSION "), failure.getMessage());
    }
  }

  @Test
  void utf8KeysGoOutAsBytes() {
    String key = "é".repeat(126);
    assertEquals(252, key.getBytes(StandardCharsets.UTF_8).length);
    try (TextClient client = TextClient.connect(memcached.port())) {
      // memcached counts key bytes, not characters: 252 bytes is over its 250 limit.
      assertEquals(
          "CLIENT_ERROR bad command line format", client.send("get " + key + "\r\n").readLine());
    }
  }
}
