package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import net.spy.memcached.BinaryConnectionFactory;
import net.spy.memcached.MemcachedClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * spymemcached speaking the binary protocol ({@link BinaryConnectionFactory}) to mcmux in front of
 * three TLS memcached nodes: the mixed workload of {@link SpymemcachedIT} from many threads, every
 * answer checked, and bulk gets, which spymemcached sends as a run of getkq ending in noop, split
 * across the nodes and answered as one.
 */
@ExtendWith(LeakDetection.class)
class SpymemcachedBinaryIT {
  private static final int THREADS = 24;
  private static final int OPS_PER_THREAD = 1_000;
  private static final int CLIENTS = 4;

  @TempDir static Path dir;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    System.setProperty("net.spy.log.LoggerImpl", "net.spy.memcached.compat.log.SLF4JLogger");
    TestPki pki = TestPki.create(dir);
    List<String> endpoints = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      nodes.add(m);
      endpoints.add("localhost:" + m.port());
    }
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .set("mcmux.upstream.request-timeout", "10s")
            .start();
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  private static MemcachedClient client() throws Exception {
    return new MemcachedClient(
        new PatientBinaryConnectionFactory(),
        List.of(new InetSocketAddress("127.0.0.1", mcmux.port())));
  }

  @Test
  void manyThreadsOfMixedBinaryOperationsAllSeeTheirOwnValues() throws Exception {
    List<MemcachedClient> clients = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      clients.add(client());
    }
    SpymemcachedIT.runWorkload(clients, THREADS, OPS_PER_THREAD);
  }

  @Test
  void bulkGetOverThreeNodesIsOneAnswerInTheClientsTerms() throws Exception {
    MemcachedClient c = client();
    try {
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        String k = "bulk:" + i;
        keys.add(k);
        if (i % 3 != 0) {
          assertTrue(c.set(k, 0, "v" + i).get(5, TimeUnit.SECONDS));
        } else {
          c.delete(k).get(5, TimeUnit.SECONDS);
        }
      }
      // Every node holds some of the keys, so the bulk get really is split.
      for (MemcachedProcess n : nodes) {
        assertTrue(Long.parseLong(n.stats().get("curr_items")) > 0, "a node without keys: " + n);
      }
      Map<String, Object> got = c.getBulk(keys);
      assertEquals(200, got.size());
      for (int i = 0; i < 300; i++) {
        if (i % 3 != 0) {
          assertEquals("v" + i, got.get("bulk:" + i));
        } else {
          assertNull(got.get("bulk:" + i));
        }
      }
    } finally {
      c.shutdown(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void largeValuesSurviveTheRoundTrip() throws Exception {
    MemcachedClient c = client();
    try {
      java.util.Random random = new java.util.Random(7);
      for (int size : new int[] {16 * 1024 - 1, 16 * 1024, 200_000, 1_000_000}) {
        // Random bytes: spymemcached compresses values over 16 KiB only when that makes them
        // smaller, so these reach mcmux at full size.
        byte[] value = new byte[size];
        random.nextBytes(value);
        String key = "large:" + size;
        assertTrue(c.set(key, 0, value).get(10, TimeUnit.SECONDS), key);
        assertArrayEquals(value, (byte[]) c.get(key), key);
        assertArrayEquals(value, (byte[]) c.getBulk(List.of("large:none", key)).get(key), key);
      }
    } finally {
      c.shutdown(5, TimeUnit.SECONDS);
    }
  }

  /** The binary factory with a longer operation timeout, for a busy 2-core build box. */
  private static final class PatientBinaryConnectionFactory extends BinaryConnectionFactory {
    @Override
    public long getOperationTimeout() {
      return TimeUnit.SECONDS.toMillis(15);
    }
  }
}
