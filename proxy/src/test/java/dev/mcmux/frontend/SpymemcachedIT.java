package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import net.spy.memcached.CASResponse;
import net.spy.memcached.CASValue;
import net.spy.memcached.DefaultConnectionFactory;
import net.spy.memcached.MemcachedClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * spymemcached, the Java client of the ElastiCache documentation, drives mcmux from many threads
 * with a mix of commands; every answer is checked against what the asking thread wrote, so a
 * response delivered to the wrong caller shows up as a mismatch.
 */
@ExtendWith(LeakDetection.class)
class SpymemcachedIT {
  private static final int THREADS = 50;
  private static final int OPS_PER_THREAD = 2_000;
  // Several client connections, each shared by several threads as spymemcached is meant to be.
  private static final int CLIENTS = 5;
  private static final int OWN_KEYS = 8;
  private static final int SHARED_KEYS = 16;

  @TempDir static Path dir;
  static MemcachedProcess memcached;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    // Routes spymemcached's own logging through logback with everything else.
    System.setProperty("net.spy.log.LoggerImpl", "net.spy.memcached.compat.log.SLF4JLogger");
    TestPki pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).threads(2).start();
    // Not a timeout test: a generous request timeout keeps a GC pause on a busy machine from
    // failing requests that are merely slow.
    mcmux =
        McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
            .set("mcmux.upstream.request-timeout", "10s")
            .start();
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    if (memcached != null) {
      memcached.close();
    }
  }

  @Test
  void fiftyThreadsOfMixedOperationsAllSeeTheirOwnValues() throws Exception {
    List<MemcachedClient> clients = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      clients.add(
          new MemcachedClient(
              new PatientConnectionFactory(),
              List.of(new InetSocketAddress("127.0.0.1", mcmux.port()))));
    }
    runWorkload(clients, THREADS, OPS_PER_THREAD);
  }

  /**
   * Runs {@code threads} workers, each on one of {@code clients} (shut down at the end), and fails
   * on any mismatch; shared with {@link SpymemcachedBinaryIT}.
   */
  static void runWorkload(List<MemcachedClient> clients, int threads, int opsPerThread)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    AtomicLong operations = new AtomicLong();
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> workers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        Worker w =
            new Worker(t, clients.get(t % clients.size()), problems, operations, opsPerThread);
        workers.add(
            pool.submit(
                () -> {
                  go.await();
                  w.run();
                  return null;
                }));
      }
      go.countDown();
      for (Future<?> f : workers) {
        f.get(150, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
      for (MemcachedClient c : clients) {
        c.shutdown(5, TimeUnit.SECONDS);
      }
    }
    assertTrue(
        problems.isEmpty(),
        () ->
            problems.size()
                + " mismatches or errors, the first ones:\n"
                + String.join("\n", problems.stream().limit(20).toList()));
    assertEquals((long) threads * opsPerThread, operations.get());
  }

  /** spymemcached's defaults except a longer operation timeout, for a busy 2-core build box. */
  static final class PatientConnectionFactory extends DefaultConnectionFactory {
    @Override
    public long getOperationTimeout() {
      return TimeUnit.SECONDS.toMillis(15);
    }
  }

  /**
   * A value that names its key, its writer and the writer's sequence number, padded with filler
   * computed from those, so any value can be checked on its own: {@code key|writer|seq|filler}.
   */
  static String valueFor(String key, int writer, int seq) {
    String head = key + "|" + writer + "|" + seq + "|";
    int fill = Math.floorMod(Objects.hash(key, writer, seq), 600);
    StringBuilder b = new StringBuilder(head.length() + fill).append(head);
    for (int i = 0; i < fill; i++) {
      b.append((char) ('a' + Math.floorMod(seq * 31 + i * 7 + key.length(), 26)));
    }
    return b.toString();
  }

  /** Null when {@code value} is one that {@link #valueFor} made for {@code key}, else why not. */
  static String checkShapedFor(String key, Object value) {
    if (!(value instanceof String s)) {
      return "not a string: " + value;
    }
    String[] parts = s.split("\\|", 4);
    if (parts.length != 4 || !parts[0].equals(key)) {
      return "value of another key: " + abbreviate(s);
    }
    try {
      String expected = valueFor(key, Integer.parseInt(parts[1]), Integer.parseInt(parts[2]));
      return expected.equals(s) ? null : "corrupt value: " + abbreviate(s);
    } catch (NumberFormatException e) {
      return "malformed value: " + abbreviate(s);
    }
  }

  static String abbreviate(Object o) {
    String s = String.valueOf(o);
    return s.length() <= 80 ? s : s.substring(0, 80) + "...(" + s.length() + " chars)";
  }

  /** One thread's run: a seeded mix of commands, with the thread's own model of its keys. */
  private static final class Worker {
    private final int id;
    private final MemcachedClient client;
    private final ConcurrentLinkedQueue<String> problems;
    private final AtomicLong operations;
    private final Random random;
    private final int opsPerThread;
    private final Map<String, String> expected = new HashMap<>();
    private final String counterKey;
    private long counter;
    private int seq;

    Worker(
        int id,
        MemcachedClient client,
        ConcurrentLinkedQueue<String> problems,
        AtomicLong operations,
        int opsPerThread) {
      this.id = id;
      this.opsPerThread = opsPerThread;
      this.client = client;
      this.problems = problems;
      this.operations = operations;
      this.random = new Random(id);
      this.counterKey = "spy:t" + id + ":counter";
    }

    void run() {
      try {
        // Keys of an earlier run of the same thread would break the model; start from nothing.
        for (int k = 0; k < OWN_KEYS; k++) {
          client.delete(ownKey(k)).get();
        }
        check(client.set(counterKey, 0, "0").get(), "set counter");
      } catch (Exception e) {
        problem("setup", e);
        return;
      }
      for (int i = 0; i < opsPerThread; i++) {
        seq++;
        try {
          step(random.nextInt(100));
        } catch (Exception e) {
          problem("op " + i, e);
        }
        operations.incrementAndGet();
      }
    }

    private void step(int dice) throws Exception {
      String key = ownKey(random.nextInt(OWN_KEYS));
      if (dice < 18) {
        String v = valueFor(key, id, seq);
        check(client.set(key, 0, v).get(), "set " + key);
        expected.put(key, v);
      } else if (dice < 36) {
        same("get " + key, expected.get(key), client.get(key));
      } else if (dice < 41) {
        boolean existed = expected.remove(key) != null;
        same("delete " + key, existed, client.delete(key).get());
      } else if (dice < 50) {
        long delta = 1 + random.nextInt(1000);
        counter += delta;
        same("incr " + counterKey, counter, client.incr(counterKey, delta));
      } else if (dice < 57) {
        append(key);
      } else if (dice < 66) {
        cas(key);
      } else if (dice < 78) {
        bulk();
      } else if (dice < 88) {
        String shared = sharedKey(random.nextInt(SHARED_KEYS));
        check(client.set(shared, 0, valueFor(shared, id, seq)).get(), "set " + shared);
      } else {
        String shared = sharedKey(random.nextInt(SHARED_KEYS));
        Object v = client.get(shared);
        if (v != null) {
          shaped("get " + shared, shared, v);
        }
      }
    }

    private void append(String key) throws Exception {
      String current = expected.get(key);
      if (current != null && current.length() > 4_000) {
        // Keeps values small; a fresh value is as good a test as a long one.
        String v = valueFor(key, id, seq);
        check(client.set(key, 0, v).get(), "set " + key);
        expected.put(key, v);
        return;
      }
      String suffix = "+" + id + "." + seq;
      boolean appended = client.append(key, suffix).get();
      same("append " + key, current != null, appended);
      if (current != null) {
        expected.put(key, current + suffix);
      }
    }

    private void cas(String key) {
      CASValue<Object> held = client.gets(key);
      String current = expected.get(key);
      same("gets " + key, current, held == null ? null : held.getValue());
      if (held == null) {
        return;
      }
      String v = valueFor(key, id, seq);
      same("cas " + key, CASResponse.OK, client.cas(key, held.getCas(), v));
      expected.put(key, v);
      // The old cas id is stale now: memcached must say EXISTS, and this thread must hear it.
      same(
          "stale cas " + key,
          CASResponse.EXISTS,
          client.cas(key, held.getCas(), valueFor(key, id, -seq)));
    }

    private void bulk() {
      List<String> keys = new ArrayList<>();
      for (int n = 1 + random.nextInt(6); n > 0; n--) {
        keys.add(random.nextBoolean() ? ownKey(random.nextInt(OWN_KEYS)) : sharedKey(n));
      }
      Map<String, Object> got = client.getBulk(keys);
      for (String k : got.keySet()) {
        if (!keys.contains(k)) {
          problem("getBulk " + keys + " returned a key it did not ask for: " + k, null);
        }
      }
      for (String k : keys) {
        if (k.startsWith("spy:t")) {
          same("getBulk " + keys + " at " + k, expected.get(k), got.get(k));
        } else if (got.get(k) != null) {
          shaped("getBulk " + keys + " at " + k, k, got.get(k));
        }
      }
    }

    private String ownKey(int k) {
      return "spy:t" + id + ":k" + k;
    }

    private static String sharedKey(int k) {
      return "spy:shared:" + k;
    }

    private void check(boolean ok, String what) {
      if (!ok) {
        problem(what + " answered false", null);
      }
    }

    private void same(String what, Object want, Object got) {
      if (!Objects.equals(want, got)) {
        problem(what + ": expected " + abbreviate(want) + " but got " + abbreviate(got), null);
      }
    }

    private void shaped(String what, String key, Object value) {
      String why = checkShapedFor(key, value);
      if (why != null) {
        problem(what + ": " + why, null);
      }
    }

    private void problem(String what, Exception e) {
      problems.add("thread " + id + " seq " + seq + ": " + what + (e == null ? "" : ": " + e));
    }
  }
}
