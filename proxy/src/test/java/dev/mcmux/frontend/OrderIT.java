package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Per-client order of execution and of replies (DESIGN.md invariant 3): a {@code set ... noreply}
 * is executed before the {@code get} the same client pipelined after it, even with several upstream
 * connections to choose from and other clients loading them, and replies line up with requests when
 * quiet and replying commands are mixed in one write.
 */
@ExtendWith(LeakDetection.class)
class OrderIT {
  private static final int ORDERED_CLIENTS = 16;
  private static final int ROUNDS = 120;
  private static final int PAIRS_PER_WRITE = 4;
  private static final int HAMMERS = 4;

  @TempDir static Path dir;
  static MemcachedProcess memcached;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).threads(2).start();
    // Several connections per loop: a request that took the least busy connection instead of the
    // one its client's earlier requests are queued on could overtake them.
    mcmux =
        McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
            .set("mcmux.event-loops", "2")
            .set("mcmux.upstream.connections-per-loop", "4")
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
  void eachClientReadsItsOwnLatestNoreplyWriteWhileOthersHammer() throws Exception {
    runWithHammers(
        ORDERED_CLIENTS,
        c -> {
          try (TextClient client = mcmux.client()) {
            for (int round = 0; round < ROUNDS; round++) {
              StringBuilder write = new StringBuilder();
              for (int p = 0; p < PAIRS_PER_WRITE; p++) {
                String key = "order:c" + c + ":k" + p;
                String value = orderedValue(c, round, p);
                write
                    .append("set ")
                    .append(key)
                    .append(" 0 0 ")
                    .append(value.length())
                    .append(" noreply\r\n")
                    .append(value)
                    .append("\r\nget ")
                    .append(key)
                    .append("\r\n");
              }
              client.send(write.toString());
              for (int p = 0; p < PAIRS_PER_WRITE; p++) {
                String key = "order:c" + c + ":k" + p;
                String value = orderedValue(c, round, p);
                assertEquals(
                    "VALUE " + key + " 0 " + value.length() + "\r\n" + value + "\r\nEND\r\n",
                    client.readUntilEnd(),
                    "client " + c + " round " + round + " pair " + p);
              }
            }
          }
        });
  }

  @Test
  void quietAndReplyingCommandsInOneWriteGetExactlyMemcachedsReplies() throws Exception {
    String direct;
    try (TextClient client = memcached.connect()) {
      direct = runScript(client, "direct");
    }
    // Read off memcached 1.6.18 and pinned, so the script is known to exercise what it claims:
    // quiet failures and errors stay quiet, the bad data chunk of a noreply set is swallowed
    // silently and its trailing CRLF is answered ERROR, decr keeps the value's length.
    String expected =
        "VALUE PREFIX:a 0 2\r\naa\r\nEND\r\n"
            + "VALUE PREFIX:a 0 2\r\naa\r\nEND\r\n"
            + "STORED\r\n"
            + "VALUE PREFIX:n 5 2\r\n12\r\nEND\r\n"
            + "VALUE PREFIX:a 0 3\r\nzaa\r\nVALUE PREFIX:n 5 2\r\n12\r\nEND\r\n"
            + "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            + "NOT_FOUND\r\n"
            + "TOUCHED\r\n"
            + "VALUE PREFIX:n 5 2\r\n0 \r\nEND\r\n"
            + "EXISTS\r\n"
            + "NOT_STORED\r\n"
            + "ERROR\r\n"
            + "VALUE PREFIX:b 0 1\r\nx\r\nEND\r\n"
            + "ERROR\r\n"
            + "NOT_FOUND\r\n"
            + "VERSION "
            + memcached.stats().get("version")
            + "\r\n";
    assertEquals(expected, direct.replace("direct", "PREFIX"), "memcached's own answers");
    runWithHammers(
        8,
        c -> {
          try (TextClient client = mcmux.client()) {
            for (int i = 0; i < 25; i++) {
              String prefix = "mix" + c + "x" + i;
              assertEquals(
                  decrInPlace(expected),
                  decrInPlace(runScript(client, prefix).replace(prefix, "PREFIX")),
                  "client " + c + " script run " + i);
            }
          }
        });
  }

  /**
   * memcached shortens a decremented value in place (padding with a space) only while nobody else
   * holds the item; under the hammers' load it may build a new, shorter item instead. Both are
   * memcached's own answer, so both read the same here.
   */
  private static String decrInPlace(String answers) {
    return answers.replace("VALUE PREFIX:n 5 2\r\n0 \r\n", "VALUE PREFIX:n 5 1\r\n0\r\n");
  }

  @Test
  void answersToADepartedClientNeverReachTheNextOne() throws Exception {
    String big = "departed:" + "d".repeat(20_000);
    try (TextClient c = mcmux.client()) {
      c.send("set departed 0 0 " + big.length() + "\r\n" + big + "\r\n");
      assertEquals("STORED", c.readLine());
    }
    runWithHammers(
        4,
        c -> {
          for (int round = 0; round < 40; round++) {
            // Leaves with 50 large answers in flight; they must be read upstream and dropped.
            try (TextClient leaving = mcmux.client()) {
              leaving.send("get departed\r\n".repeat(50));
            }
            try (TextClient next = mcmux.client()) {
              String key = "next:" + c + ":" + round;
              next.send("set " + key + " 0 0 2\r\nok\r\nget " + key + "\r\n");
              assertEquals("STORED", next.readLine(), key);
              assertEquals("VALUE " + key + " 0 2\r\nok\r\nEND\r\n", next.readUntilEnd(), key);
            }
          }
        });
  }

  /**
   * Quiet commands whose replies memcached drops (including failures and errors), replying ones in
   * between, ending with {@code version}; returns everything read up to the {@code VERSION} line.
   */
  private static String runScript(TextClient client, String p) {
    String script =
        "set P:a 0 0 2 noreply\r\naa\r\n"
            + "get P:a\r\n"
            + "add P:a 0 0 1 noreply\r\nb\r\n"
            + "get P:a\r\n"
            + "set P:n 5 0 1\r\n7\r\n"
            + "incr P:n 5 noreply\r\n"
            + "get P:n\r\n"
            + "append P:missing 0 0 1 noreply\r\nz\r\n"
            + "prepend P:a 0 0 1 noreply\r\nz\r\n"
            + "get P:a P:missing P:n\r\n"
            + "incr P:a 1 noreply\r\n"
            + "incr P:a 1\r\n"
            + "delete P:a noreply\r\n"
            + "delete P:a\r\n"
            + "touch P:n 0 noreply\r\n"
            + "touch P:n 0\r\n"
            + "decr P:n 100 noreply\r\n"
            + "get P:n\r\n"
            + "set P:b 0 0 1 noreply\r\nx\r\n"
            + "cas P:b 0 0 1 1 noreply\r\ny\r\n"
            + "cas P:b 0 0 1 1\r\ny\r\n"
            + "replace P:gone 0 0 1 noreply\r\nq\r\n"
            + "replace P:gone 0 0 1\r\nq\r\n"
            + "set P:c 0 0 3 noreply\r\nabcde\r\n"
            + "get P:b P:c\r\n"
            + "bogus P:b\r\n"
            + "delete P:b noreply\r\n"
            + "delete P:b\r\n"
            + "verbosity 1 noreply\r\n"
            + "version\r\n";
    client.send(script.replace("P:", p + ":"));
    StringBuilder out = new StringBuilder();
    while (true) {
      String line = client.readLine();
      out.append(line).append("\r\n");
      if (line.startsWith("VERSION ")) {
        return out.toString();
      }
    }
  }

  /** What the ordered writers write: different for every client, round and key, of varied size. */
  private static String orderedValue(int client, int round, int pair) {
    String head = "c" + client + "r" + round + "p" + pair + ":";
    return head + "v".repeat((client * 131 + round * 17 + pair * 7) % 1_500);
  }

  /** Something a test thread does. */
  private interface Body {
    void run() throws Exception;
  }

  /** A task of one client; its number is its index. */
  private interface ClientTask {
    void run(int client) throws Exception;
  }

  /**
   * Runs {@code clients} copies of {@code task} at once while {@link #HAMMERS} other clients keep
   * every upstream connection busy with pipelined sets and multi-gets of their own keys (checked
   * too), until the tasks are done.
   */
  private static void runWithHammers(int clients, ClientTask task) throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(clients + HAMMERS);
    AtomicBoolean done = new AtomicBoolean();
    AtomicLong hammerRounds = new AtomicLong();
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> hammers = new ArrayList<>();
      for (int h = 0; h < HAMMERS; h++) {
        int id = h;
        hammers.add(threads.submit(call(go, () -> hammer(id, done, hammerRounds))));
      }
      List<Future<?>> tasks = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        int id = c;
        tasks.add(threads.submit(call(go, () -> task.run(id))));
      }
      go.countDown();
      try {
        for (Future<?> f : tasks) {
          f.get(90, TimeUnit.SECONDS);
        }
      } finally {
        done.set(true);
      }
      for (Future<?> f : hammers) {
        f.get(30, TimeUnit.SECONDS);
      }
      assertTrue(hammerRounds.get() >= HAMMERS, "the hammers did not run: " + hammerRounds);
    } finally {
      threads.shutdownNow();
    }
  }

  private static Callable<Void> call(CountDownLatch go, Body body) {
    return () -> {
      go.await();
      body.run();
      return null;
    };
  }

  private static void hammer(int h, AtomicBoolean done, AtomicLong rounds) {
    try (TextClient client = mcmux.client()) {
      for (int round = 0; !done.get() || round == 0; round++) {
        StringBuilder write = new StringBuilder();
        StringBuilder get = new StringBuilder("get");
        for (int k = 0; k < 10; k++) {
          String key = "hammer:" + h + ":" + k;
          String value = key + "@" + round + "#".repeat((round * 31 + k * 577) % 4_000);
          write.append("set ").append(key).append(" 0 0 ").append(value.length()).append("\r\n");
          write.append(value).append("\r\n");
          get.append(' ').append(key);
        }
        client.send(write.append(get).append("\r\n").toString());
        for (int k = 0; k < 10; k++) {
          assertEquals("STORED", client.readLine(), "hammer " + h + " set " + k);
        }
        String values = client.readUntilEnd();
        for (int k = 0; k < 10; k++) {
          String key = "hammer:" + h + ":" + k;
          String value = key + "@" + round + "#".repeat((round * 31 + k * 577) % 4_000);
          assertTrue(
              values.contains("VALUE " + key + " 0 " + value.length() + "\r\n" + value + "\r\n"),
              "hammer " + h + " round " + round + " key " + k);
        }
        rounds.incrementAndGet();
      }
    }
  }
}
