package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bursts of pipelined {@code set}s, the traffic that makes Debian's memcached 1.6.18 stall over TLS
 * when a data block's end shares a TLS record with the next command (DESIGN.md, "Known server
 * hazard"). mcmux ends the record after every data block, so a burst is answered at full speed.
 *
 * <p>The request timeout is long on purpose: mcmux's stall nudge fires at half of it, so a stalled
 * connection leaves every client of the burst without a byte for {@link #NO_STALL}, and a client's
 * read fails on that silence. Slowness from a busy machine still delivers answers, so it does not.
 */
@ExtendWith(LeakDetection.class)
class BurstIT {
  private static final int SETS = 1_000;
  private static final int CLIENTS = 50;
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration NO_STALL = REQUEST_TIMEOUT.dividedBy(2);

  @TempDir static Path dir;
  static MemcachedProcess memcached;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    memcached = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
    mcmux =
        McmuxHarness.inFrontOf(memcached.port(), pki.caFile())
            .set("mcmux.upstream.request-timeout", REQUEST_TIMEOUT.toSeconds() + "s")
            // The stall safety net would hide a stall; here it may only fire after 10 s of
            // silence, which the assertion below turns into a failure.
            .set("mcmux.upstream.stall-nudge-after", "10s")
            .start();
  }

  @org.junit.jupiter.api.AfterEach
  void memcachedNeverStalled() {
    String metrics = mcmux.server().scrapeMetrics();
    org.junit.jupiter.api.Assertions.assertTrue(
        metrics.contains("mcmux_upstream_nudges_total 0.0"),
        "memcached went silent with requests pending (a TLS stall?): "
            + metrics.lines().filter(l -> l.startsWith("mcmux_upstream_nudges")).toList());
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
  void oneClientsThousandPipelinedSetsAreAllStored() {
    long started = System.nanoTime();
    burst("burst:solo");
    assertNoStall(started);
    verify("burst:solo");
  }

  @Test
  void fiftyClientsBurstingAtOnceAreAllStored() throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(CLIENTS);
    long started = System.nanoTime();
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        String prefix = "burst:c" + c;
        done.add(
            threads.submit(
                () -> {
                  go.await();
                  burst(prefix);
                  return null;
                }));
      }
      go.countDown();
      for (Future<?> f : done) {
        f.get(REQUEST_TIMEOUT.toSeconds() + 30, TimeUnit.SECONDS);
      }
      assertNoStall(started);
      for (int c = 0; c < CLIENTS; c++) {
        verify("burst:c" + c);
      }
    } finally {
      threads.shutdownNow();
    }
  }

  /** Sends {@link #SETS} sets in one write, then reads every answer. */
  private static void burst(String prefix) {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    for (int i = 0; i < SETS; i++) {
      byte[] value = value(prefix, i);
      all.writeBytes(
          ("set " + prefix + ":" + i + " " + i + " 0 " + value.length + "\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      all.writeBytes(value);
      all.writeBytes(new byte[] {'\r', '\n'});
    }
    // Each read waits at most NO_STALL for the next bytes: only a stall is that silent.
    try (TextClient c = mcmux.client().withTimeout(NO_STALL)) {
      c.send(all.toByteArray());
      for (int i = 0; i < SETS; i++) {
        String line = c.readLine();
        assertEquals("STORED", line, prefix + ": answer to set number " + i);
      }
    }
  }

  /** Reads every value back, 100 keys per get, and compares bytes and flags. */
  private static void verify(String prefix) {
    try (TextClient c = mcmux.client()) {
      for (int from = 0; from < SETS; from += 100) {
        StringBuilder get = new StringBuilder("get");
        for (int i = from; i < from + 100; i++) {
          get.append(' ').append(prefix).append(':').append(i);
        }
        c.send(get.append("\r\n").toString());
        for (int i = from; i < from + 100; i++) {
          byte[] want = value(prefix, i);
          assertEquals(
              "VALUE " + prefix + ":" + i + " " + i + " " + want.length, c.readLine(), "header");
          assertArrayEquals(want, c.readExactly(want.length), prefix + ":" + i);
          assertEquals("", c.readLine(), "end of the data block of " + prefix + ":" + i);
        }
        assertEquals("END", c.readLine());
      }
    }
  }

  /**
   * 1 B to 4 KiB: a third tiny, every tenth 1,000 bytes or more (the sizes that stall memcached),
   * the rest in between; the bytes depend on key and position so a swapped value shows.
   */
  static byte[] value(String prefix, int i) {
    int size;
    if (i % 10 == 0) {
      size = 1_000 + (i * 37) % 3_097;
    } else if (i % 3 == 0) {
      size = 1 + i % 50;
    } else {
      size = 100 + (i * 13) % 900;
    }
    byte[] v = new byte[size];
    int seed = prefix.hashCode() * 31 + i;
    for (int j = 0; j < size; j++) {
      v[j] = (byte) ('!' + Math.floorMod(seed + j * 7, 94));
    }
    return v;
  }

  private static void assertNoStall(long startedNanos) {
    Duration took = Duration.ofNanos(System.nanoTime() - startedNanos);
    assertTrue(
        took.compareTo(REQUEST_TIMEOUT) < 0,
        "the burst took " + took.toMillis() + " ms, past the request timeout " + REQUEST_TIMEOUT);
  }
}
