package dev.mcmux.frontend;

import static dev.mcmux.testing.BinaryPackets.bare;
import static dev.mcmux.testing.BinaryPackets.bytes;
import static dev.mcmux.testing.BinaryPackets.request;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.frontend.BinaryDifferentialIT.Answer;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.BinaryPackets;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.TestPki;
import dev.mcmux.testing.TextClient;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Randomised differential test of the binary protocol: streams of binary request packets (every
 * keyed opcode and its quiet form, noop, version, flush, quit, SASL, unknown opcodes; CAS values,
 * edge numbers in extras), mutated (bytes flipped, inserted, deleted, duplicated; header lengths
 * set to edge values; packets spliced in; streams cut short), go to a plain memcached and through
 * mcmux to a TLS memcached, in one write or in 3-byte pieces. Each side starts from a binary flush;
 * the answers (parsed into packets) and the close behaviour must be the same. After each stream a
 * new client's set/get must work through mcmux, and mcmux must not have opened a new upstream
 * connection (memcached's {@code total_connections}): nothing made it close one on a desync.
 *
 * <p>Avoided, as {@link BinaryDifferentialIT}'s exemptions: {@code stat}; keys of 188 to 250 bytes
 * (base64 cannot carry those with separator bytes); exptimes past 2038, within ten minutes or near
 * the clock, and delayed flushes (two servers' clocks tick apart); values that could land between
 * memcached's slab limit and its item size (streams are kept short). Compared with the one
 * remaining exemption allowed: when both sides close, memcached may have lost answers it had not
 * sent yet (a bad magic byte in the same read), so memcached's packets need only start mcmux's.
 *
 * <p>{@code -Dmcmux.fuzz.seed}, {@code .only}, {@code .cases}, {@code .budget-seconds} and {@code
 * .max-mutations} work as in {@link AsciiFuzzDifferentialIT}.
 */
@ExtendWith(LeakDetection.class)
class BinaryFuzzDifferentialIT {

  private static final int CASES = Integer.getInteger("mcmux.fuzz.cases", 400);
  private static final long SEED = Long.getLong("mcmux.fuzz.seed", System.nanoTime());
  private static final int ONLY = Integer.getInteger("mcmux.fuzz.only", -1);
  private static final int MAX_MUTATIONS = Integer.getInteger("mcmux.fuzz.max-mutations", 3);
  private static final Duration BUDGET =
      Duration.ofSeconds(Long.getLong("mcmux.fuzz.budget-seconds", 45));

  /** Streams stay below memcached's largest storable value here (964 bytes of 1 KiB items). */
  private static final int MAX_STREAM = 900;

  @TempDir static Path dir;
  static MemcachedProcess direct;
  static MemcachedProcess upstream;
  static McmuxHarness mcmux;

  @BeforeAll
  static void start() {
    TestPki pki = TestPki.create(dir);
    String[] args = {"-o", "slab_chunk_max=512"};
    int itemSize = BinaryDifferentialIT.ITEM_SIZE_MAX;
    direct = MemcachedProcess.plain().itemSizeMax(itemSize).args(args).start();
    upstream =
        MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST))
            .itemSizeMax(itemSize)
            .args(args)
            .start();
    mcmux = McmuxHarness.inFrontOf(upstream.port(), pki.caFile()).start();
    Await.until(
        "mcmux to learn item_size_max",
        Duration.ofSeconds(10),
        () -> mcmux.server().node().itemSizeMax() == itemSize);
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    if (upstream != null) {
      upstream.close();
    }
    if (direct != null) {
      direct.close();
    }
  }

  @Test
  void mutatedPacketStreamsGetTheSameAnswers() {
    System.out.println(
        "BinaryFuzzDifferentialIT seed " + SEED + " (-Dmcmux.fuzz.seed=" + SEED + ")");
    Generator generator = new Generator(new Random(SEED));
    long deadline = System.nanoTime() + BUDGET.toNanos();
    int ran = 0;
    int exempt = 0;
    long upstreamConnections = -1;
    for (int i = 0; i < CASES && System.nanoTime() < deadline; i++) {
      byte[] stream = generator.next();
      boolean split = generator.random.nextBoolean();
      if (ONLY >= 0 && i != ONLY) {
        continue;
      }
      String where = "seed " + SEED + " case " + i + (split ? " (3-byte pieces)" : " (one write)");
      Direct memcached = exchangeDirect(stream, split);
      Answer expected = memcached.answer();
      Answer actual = exchangeMcmux(stream, split, memcached);
      if (!agree(expected, actual)) {
        // Silence is only a guess that nothing more will come; on a busy machine it can be wrong.
        // Each exchange starts with a flush, so running the stream again compares the same thing.
        retried++;
        memcached = exchangeDirect(stream, split);
        expected = memcached.answer();
        actual = exchangeMcmux(stream, split, memcached);
      }
      if (!expected.equals(actual)) {
        if (agree(expected, actual)) {
          exempt++;
        } else {
          throw new AssertionError(
              where
                  + ": memcached and mcmux differ.\n  request: "
                  + BinaryPackets.escape(stream)
                  + "\n  memcached (closed="
                  + expected.closed()
                  + "):\n"
                  + expected.text()
                  + "\n  mcmux (closed="
                  + actual.closed()
                  + "):\n"
                  + actual.text()
                  + "\n  rerun: -Dmcmux.fuzz.seed="
                  + SEED
                  + " -Dmcmux.fuzz.only="
                  + i);
        }
      }
      try {
        assertInStep("bfz_step_" + i);
        // Each stats call is one connection of its own; anything more is mcmux reconnecting.
        long now = Long.parseLong(upstream.stats().get("total_connections"));
        if (upstreamConnections >= 0 && now != upstreamConnections + 1) {
          throw new AssertionError(
              "mcmux opened "
                  + (now - upstreamConnections - 1)
                  + " new upstream connection(s): one was closed, e.g. on a desync");
        }
        upstreamConnections = now;
      } catch (AssertionError e) {
        throw new AssertionError(
            where + ", after " + BinaryPackets.escape(stream) + ": " + e.getMessage(), e);
      }
      ran++;
    }
    System.out.println(
        "BinaryFuzzDifferentialIT ran "
            + ran
            + " streams ("
            + exempt
            + " closed with answers memcached lost, "
            + finished
            + " exchanges finished by filler, "
            + retried
            + " run twice), regenerated "
            + generator.rejected
            + " rejected ones");
    assertTrue(ran >= Math.min(ONLY >= 0 ? 1 : 50, CASES), "only " + ran + " streams ran");
  }

  /**
   * Found by the test above: memcached reads a binary request's header, extras and key into its 16
   * KiB read buffer, and closes the connection without an answer when they cannot fit and more
   * bytes arrive; mcmux waited for the whole key, then answered an error before closing.
   */
  @Test
  void keysTooLongForMemcachedsReadBufferCloseSilently() {
    List<String> differences = new ArrayList<>();
    int[][] cases = {
      {16360, 16360, 16360}, {16361, 16361, 16361}, {20000, 20100, 20000}, {65535, 70000, 3}
    };
    for (int[] c : cases) {
      byte[] packet = BinaryPackets.raw(0x00, c[0], 0, c[2], 1, 0, bytes("k".repeat(c[1])));
      for (boolean split : new boolean[] {false, true}) {
        if (split && packet.length > 17_000) {
          continue;
        }
        Answer expected = BinaryDifferentialIT.exchange(direct.port(), packet, split);
        Answer actual = BinaryDifferentialIT.exchange(mcmux.port(), packet, split);
        if (!expected.equals(actual)) {
          differences.add(
              "key of "
                  + c[0]
                  + " bytes, "
                  + c[1]
                  + " sent: memcached "
                  + expected
                  + ", mcmux "
                  + actual);
        }
      }
    }
    assertTrue(differences.isEmpty(), String.join("\n", differences));
  }

  /**
   * {@link BinaryDifferentialIT#exchange}, then, when the sentinel was not answered (the stream
   * left the side inside a value or a swallowed body), {@link #FILLER} and the sentinel again:
   * memcached holds answers it queued until such a body is complete, which mcmux does not (the same
   * exemption as in the ASCII tests), so only a completed body gives comparable answers.
   */
  /** memcached's answer to a stream, and whether it took the filler to answer the sentinel. */
  private record Direct(Answer answer, boolean neededFiller) {}

  private static Direct exchangeDirect(byte[] stream, boolean split) {
    Duration quiet = BinaryDifferentialIT.QUIET;
    Answer first = BinaryDifferentialIT.exchange(direct.port(), stream, split, quiet);
    if (first.closed() || answeredSentinel(first)) {
      return new Direct(first, false);
    }
    return new Direct(filled(direct.port(), stream, quiet), true);
  }

  /**
   * mcmux's answer to the stream memcached just answered. Where memcached answered the sentinel,
   * mcmux must too, but only after forwarding everything before it over TLS (a filler is thousands
   * of quiet requests), which on a busy or cold machine can take longer than the quiet period
   * memcached needs: that exchange waits longer for it, which costs nothing when mcmux answers.
   */
  private static Answer exchangeMcmux(byte[] stream, boolean split, Direct memcached) {
    Duration quiet = BinaryDifferentialIT.QUIET;
    Duration patient = answeredSentinel(memcached.answer()) ? Duration.ofSeconds(10) : quiet;
    Answer first =
        BinaryDifferentialIT.exchange(
            mcmux.port(), stream, split, memcached.neededFiller() ? quiet : patient);
    if (first.closed() || answeredSentinel(first)) {
      return first;
    }
    return filled(mcmux.port(), stream, patient);
  }

  /** The stream again, then the sentinel and a filler that completes any body it left open. */
  private static Answer filled(int port, byte[] stream, Duration quiet) {
    finished++;
    // In one write: 3-byte pieces of the filler would take long and frame nothing new.
    return BinaryDifferentialIT.exchange(
        port, concat(stream, BinaryDifferentialIT.SENTINEL, FILLER), false, quiet);
  }

  private static boolean answeredSentinel(Answer a) {
    return a.text().endsWith(BinaryDifferentialIT.describe(BinaryDifferentialIT.SENTINEL_ANSWER));
  }

  /**
   * The same answers, or both closed with memcached's answers the start of mcmux's: memcached loses
   * answers it had not sent when it closes on a bad magic byte in the same read.
   */
  private static boolean agree(Answer memcached, Answer mcmux) {
    return memcached.equals(mcmux)
        || (memcached.closed() && mcmux.closed() && mcmux.text().startsWith(memcached.text()));
  }

  private static int finished;
  private static int retried;

  /**
   * Silent requests (quiet gets of a key never stored) that complete any body of up to {@link
   * #MAX_OPEN_BODY} bytes; once they realign, they answer nothing.
   */
  private static final byte[] FILLER;

  /** The longest body a stream may leave open at its end. */
  private static final int MAX_OPEN_BODY = 60_000;

  static {
    byte[] one = request(0x09, new byte[0], bytes("~"), new byte[0], 7, 0);
    ByteArrayOutputStream filler = new ByteArrayOutputStream();
    while (filler.size() < MAX_OPEN_BODY + 2 * 24 + 1024) {
      filler.writeBytes(one);
    }
    FILLER = filler.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    return BinaryPackets.concat(parts);
  }

  /** A new ASCII client of each side stores and reads back {@code key}. */
  private static void assertInStep(String key) {
    String expected = "STORED\r\nVALUE " + key + " 0 2\r\nok\r\nEND\r\n";
    for (int port : new int[] {mcmux.port(), direct.port()}) {
      try (TextClient c = TextClient.connect(port)) {
        c.send("set " + key + " 0 0 2\r\nok\r\nget " + key + "\r\n");
        String answer = c.readLine() + "\r\n" + c.readUntilEnd();
        if (!answer.equals(expected)) {
          throw new AssertionError(
              (port == direct.port() ? "memcached" : "mcmux")
                  + " is out of step: a new client's set/get answered "
                  + answer.replace("\r\n", "\\r\\n"));
        }
      }
    }
  }

  /** Makes mutated binary request streams from a seeded generator. */
  static final class Generator {
    private static final int[] GETS = {0x00, 0x09, 0x0c, 0x0d};
    private static final int[] STORES = {0x01, 0x02, 0x03, 0x11, 0x12, 0x13};
    private static final int[] CONCATS = {0x0e, 0x0f, 0x19, 0x1a};
    private static final int[] COUNTERS = {0x05, 0x06, 0x15, 0x16};
    private static final int[] TOUCHES = {0x1c, 0x1d, 0x1e, 0x23, 0x24};
    private static final String[] KEYS = {"a", "b", "n", "k1", "a b", "\u0000\r\n"};
    private static final int[] EXPTIMES = {0, 100_000, 0x7fffffff - 1, 1_000_000_000};
    private static final long[] NUMBERS = {0, 1, 5, 10, -1L, Long.MIN_VALUE, 4294967296L};
    private static final long[] EDGE_LENGTHS = {
      0, 1, 2, 3, 4, 7, 8, 20, 24, 250, 251, 0xffff, 0x7fffffff, 0x80000000L, 0xffffffffL
    };

    final Random random;
    int rejected;

    Generator(Random random) {
      this.random = random;
    }

    byte[] next() {
      while (true) {
        byte[] candidate = candidate();
        if (acceptable(candidate)) {
          return candidate;
        }
        rejected++;
      }
    }

    private byte[] candidate() {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int packets = 1 + random.nextInt(8);
      for (int i = 0; i < packets; i++) {
        out.writeBytes(packet(i + 1));
      }
      byte[] b = out.toByteArray();
      int mutations = random.nextInt(MAX_MUTATIONS + 1);
      for (int i = 0; i < mutations; i++) {
        b = mutate(b);
      }
      return b;
    }

    private byte[] packet(int opaque) {
      byte[] key = bytes(KEYS[random.nextInt(KEYS.length)]);
      long cas = random.nextInt(4) == 0 ? 1 + random.nextInt(40) : 0;
      byte[] none = new byte[0];
      return switch (random.nextInt(14)) {
        case 0, 1 -> request(pick(GETS), none, key, none, opaque, 0);
        case 2, 3, 4 ->
            request(
                pick(STORES),
                ByteBuffer.allocate(8)
                    .putInt(random.nextBoolean() ? 0 : (int) NUMBERS[random.nextInt(7)])
                    .putInt(EXPTIMES[random.nextInt(EXPTIMES.length)])
                    .array(),
                key,
                value(),
                opaque,
                cas);
        case 5 -> request(pick(CONCATS), none, key, value(), opaque, cas);
        case 6 -> request(random.nextBoolean() ? 0x04 : 0x14, none, key, none, opaque, cas);
        case 7 -> {
          int exptime = random.nextInt(3) == 0 ? -1 : EXPTIMES[random.nextInt(EXPTIMES.length)];
          yield request(
              pick(COUNTERS),
              ByteBuffer.allocate(20)
                  .putLong(NUMBERS[random.nextInt(NUMBERS.length)])
                  .putLong(NUMBERS[random.nextInt(NUMBERS.length)])
                  .putInt(exptime)
                  .array(),
              key,
              none,
              opaque,
              cas);
        }
        case 8 ->
            request(
                pick(TOUCHES),
                ByteBuffer.allocate(4).putInt(EXPTIMES[random.nextInt(EXPTIMES.length)]).array(),
                key,
                none,
                opaque,
                0);
        case 9, 10 -> bare(0x0a, opaque);
        case 11 -> bare(pick(new int[] {0x0b, 0x08, 0x18, 0x20, 0x0a, 0x0a}), opaque);
        case 12 ->
            random.nextInt(4) == 0
                ? bare(random.nextBoolean() ? 0x07 : 0x17, opaque)
                : request(0x09, none, key, none, opaque, 0);
        default ->
            request(pick(new int[] {0x1b, 0x30, 0x40, 0x21, 0xfe}), none, key, value(), opaque, 0);
      };
    }

    private byte[] value() {
      int n = random.nextInt(4) == 0 ? 0 : random.nextInt(30);
      byte[] v = new byte[n];
      for (int i = 0; i < n; i++) {
        v[i] =
            (byte) (random.nextInt(3) == 0 ? '0' + random.nextInt(10) : 'a' + random.nextInt(26));
      }
      return v;
    }

    private byte[] mutate(byte[] b) {
      List<Integer> headers = headerOffsets(b);
      switch (random.nextInt(8)) {
        case 0 -> {
          if (b.length > 0) {
            b[random.nextInt(b.length)] = (byte) random.nextInt(256);
          }
          return b;
        }
        case 1 -> {
          // A header length field set to an edge value.
          if (!headers.isEmpty()) {
            int h = headers.get(random.nextInt(headers.size()));
            long v = EDGE_LENGTHS[random.nextInt(EDGE_LENGTHS.length)];
            switch (random.nextInt(3)) {
              case 0 -> putShort(b, h + 2, (int) v);
              case 1 -> {
                if (h + 4 < b.length) {
                  b[h + 4] = (byte) v;
                }
              }
              default -> putInt(b, h + 8, v);
            }
          }
          return b;
        }
        case 2 -> {
          if (!headers.isEmpty()) {
            int h = headers.get(random.nextInt(headers.size()));
            if (h + 1 < b.length) {
              b[h + 1] = (byte) random.nextInt(0x28);
            }
          }
          return b;
        }
        case 3 -> {
          int at = random.nextInt(b.length + 1);
          return splice(b, at, 0, packet(99));
        }
        case 4 -> {
          int at = random.nextInt(b.length + 1);
          int n = Math.min(b.length - at, 1 + random.nextInt(8));
          return splice(b, at, n, new byte[0]);
        }
        case 5 -> {
          int at = random.nextInt(b.length + 1);
          byte[] add = new byte[1 + random.nextInt(4)];
          random.nextBytes(add);
          return splice(b, at, 0, add);
        }
        case 6 -> {
          if (b.length == 0) {
            return b;
          }
          int from = random.nextInt(b.length);
          int to = Math.min(b.length, from + 1 + random.nextInt(30));
          return splice(b, to, 0, java.util.Arrays.copyOfRange(b, from, to));
        }
        default -> {
          return java.util.Arrays.copyOf(b, random.nextInt(b.length + 1));
        }
      }
    }

    /**
     * Whether {@code b} avoids every exemption, wherever a request header might start (mutations
     * can shift the framing anywhere).
     */
    static boolean acceptable(byte[] b) {
      if (b.length == 0 || b.length > MAX_STREAM) {
        return false;
      }
      long now = System.currentTimeMillis() / 1000;
      int streamLength = b.length;
      // A header cut short at the end is completed by the sentinel that follows the stream.
      b = BinaryPackets.concat(b, BinaryDifferentialIT.SENTINEL);
      for (int h : headerOffsets(b)) {
        if (h >= streamLength) {
          break;
        }
        if (h + 1 >= b.length) {
          continue;
        }
        int op = b[h + 1] & 0xff;
        if (op == 0x10) {
          return false;
        }
        if (h + 4 < b.length) {
          int keyLength = ((b[h + 2] & 0xff) << 8) | (b[h + 3] & 0xff);
          if (keyLength >= 188 && keyLength <= 250) {
            return false;
          }
        }
        if (h + 12 <= b.length) {
          long body = ByteBuffer.wrap(b, h + 8, 4).getInt() & 0xffffffffL;
          if (h + 24 + body > b.length && body > MAX_OPEN_BODY) {
            // It could leave a body open longer than the filler completes.
            return false;
          }
        }
        int exptimeAt =
            switch (op) {
              case 0x01, 0x02, 0x03, 0x11, 0x12, 0x13 -> h + 28;
              case 0x05, 0x06, 0x15, 0x16 -> h + 40;
              case 0x1c, 0x1d, 0x1e, 0x23, 0x24, 0x08, 0x18 -> h + 24;
              default -> -1;
            };
        if (exptimeAt >= 0 && exptimeAt + 4 <= b.length) {
          long exptime = ByteBuffer.wrap(b, exptimeAt, 4).getInt() & 0xffffffffL;
          boolean flush = op == 0x08 || op == 0x18;
          boolean counter = op == 0x05 || op == 0x06 || op == 0x15 || op == 0x16;
          if (flush ? exptime != 0 : !(counter && exptime == 0xffffffffL) && timed(exptime, now)) {
            return false;
          }
        }
      }
      return true;
    }

    /** An exptime whose effect depends on when each server's clock ticks, or past 2038. */
    private static boolean timed(long exptime, long now) {
      return (exptime >= 1 && exptime <= 600)
          || Math.abs(exptime - now) <= 86_400
          || exptime > Integer.MAX_VALUE;
    }

    private static List<Integer> headerOffsets(byte[] b) {
      List<Integer> at = new ArrayList<>();
      for (int i = 0; i < b.length; i++) {
        if (b[i] == (byte) 0x80) {
          at.add(i);
        }
      }
      return at;
    }

    private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
      byte[] out = new byte[b.length - remove + insert.length];
      System.arraycopy(b, 0, out, 0, at);
      System.arraycopy(insert, 0, out, at, insert.length);
      System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
      return out;
    }

    private static void putShort(byte[] b, int at, int v) {
      for (int i = 0; i < 2 && at + i < b.length; i++) {
        b[at + i] = (byte) (v >>> (8 * (1 - i)));
      }
    }

    private static void putInt(byte[] b, int at, long v) {
      for (int i = 0; i < 4 && at + i < b.length; i++) {
        b[at + i] = (byte) (v >>> (8 * (3 - i)));
      }
    }

    private int pick(int[] options) {
      return options[random.nextInt(options.length)];
    }
  }
}
