package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(LeakDetection.class)
class ProxyBasicsIT {
  @TempDir static Path dir;
  static TestPki pki;
  static MemcachedProcess memcached;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
    mcmux = McmuxHarness.inFrontOf(memcached.port(), pki.caFile()).start();
  }

  @AfterAll
  static void stop() {
    mcmux.close();
    memcached.close();
  }

  @Test
  void setThenGetThroughThePlaintextPort() {
    try (TextClient c = mcmux.client()) {
      c.send("set k 0 0 1\r\nv\r\nget k\r\n");
      assertEquals("STORED", c.readLine());
      assertEquals("VALUE k 0 1\r\nv\r\nEND\r\n", c.readUntilEnd());
    }
  }

  @Test
  void versionIsTheServersOwn() {
    try (TextClient c = mcmux.client()) {
      c.send("version\r\n");
      assertEquals("VERSION " + memcached.stats().get("version"), c.readLine());
    }
  }
}
