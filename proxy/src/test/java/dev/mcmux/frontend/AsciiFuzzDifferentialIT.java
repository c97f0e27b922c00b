package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.Differential;
import dev.mcmux.testing.Differential.Delivery;
import dev.mcmux.testing.Differential.Result;
import dev.mcmux.testing.LeakDetection;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Randomised differential test: pipelines of valid requests, mutated (bytes flipped, inserted,
 * deleted, duplicated; requests spliced in; numbers replaced by edge values; spaces and line ends
 * changed), go to memcached directly and through mcmux, in one write or split, and must get the
 * same answers and the same close behaviour. After each pipeline a new client of mcmux must still
 * be able to set and get a fresh key, so mcmux's upstream connection is still in step, and the
 * upstream memcached's {@code total_connections} must show that mcmux opened no new connection (it
 * would have replaced one it closed on a desync).
 *
 * <p>The seed is printed and named in every failure; rerun one with {@code
 * -Dmcmux.fuzz.seed=<seed>} (and {@code -Dmcmux.fuzz.only=<case>} to send only that pipeline).
 * {@code -Dmcmux.fuzz.cases=<n>} sets how many pipelines run, {@code
 * -Dmcmux.fuzz.budget-seconds=<s>} the most time they may take (45 s unless set), {@code
 * -Dmcmux.fuzz.max-mutations=<n>} how many mutations a pipeline gets at most (4 unless set).
 *
 * <p>Generated pipelines avoid what {@link AsciiDifferentialIT} lists as exemptions (meta commands,
 * refused commands, stats, keys over 250 bytes, lines over 2048 bytes) and whatever memcached
 * itself answers by the clock: an exptime that expires within minutes, or a delayed flush_all,
 * could expire an item between two ticks of one server's clock and not the other's. A pipeline that
 * leaves a data block open is finished by short lines before the answers are compared.
 */
@ExtendWith(LeakDetection.class)
class AsciiFuzzDifferentialIT {

  private static final int CASES = Integer.getInteger("mcmux.fuzz.cases", 300);
  private static final long SEED = Long.getLong("mcmux.fuzz.seed", System.nanoTime());
  private static final int ONLY = Integer.getInteger("mcmux.fuzz.only", -1);
  private static final int MAX_MUTATIONS = Integer.getInteger("mcmux.fuzz.max-mutations", 4);
  private static final Duration BUDGET =
      Duration.ofSeconds(Long.getLong("mcmux.fuzz.budget-seconds", 45));

  @TempDir static Path dir;
  static Differential diff;

  @BeforeAll
  static void start() {
    diff = Differential.start(dir);
  }

  @AfterAll
  static void stop() {
    if (diff != null) {
      diff.close();
    }
  }

  @Test
  void mutatedPipelinesGetTheSameAnswers() {
    fuzz("AsciiFuzzDifferentialIT", diff, false, UnaryOperator.identity());
  }

  /**
   * Runs generated pipelines against both sides until {@link #CASES} or {@link #BUDGET}: answers
   * compared after {@code view} (which may mask values two servers legitimately differ in), then a
   * new client's set/get through mcmux, and no new upstream connection: one that mcmux closed on a
   * desync would have been replaced, which memcached's {@code total_connections} shows.
   */
  static void fuzz(String name, Differential diff, boolean meta, UnaryOperator<String> view) {
    System.out.println(name + " seed " + SEED + " (-Dmcmux.fuzz.seed=" + SEED + ")");
    Generator generator = new Generator(new Random(SEED), meta);
    long deadline = System.nanoTime() + BUDGET.toNanos();
    int ran = 0;
    int rejected = 0;
    int unfinished = 0;
    long upstreamConnections = -1;
    for (int i = 0; i < CASES && System.nanoTime() < deadline; i++) {
      byte[] request = generator.next();
      rejected += generator.rejected;
      Delivery delivery = generator.delivery(request);
      long chunkSeed = generator.random.nextLong();
      if (ONLY >= 0 && i != ONLY) {
        continue;
      }
      String where = "seed " + SEED + " case " + i + " (" + delivery + ")";
      Result r = diff.run(request, delivery, chunkSeed, true);
      String expected = view(r.memcached(), view);
      String actual = view(r.mcmux(), view);
      if (!expected.equals(actual) && stillInsideDataBlock(r)) {
        // The finisher was too short; memcached holds the answers queued before the block.
        unfinished++;
        if (!startsWith(r.mcmux().bytes(), r.memcached().bytes())) {
          throw new AssertionError(
              where
                  + ": memcached's answer is not the start of mcmux's.\n  request: \""
                  + Differential.escape(request)
                  + "\"\n  "
                  + r);
        }
      } else if (!expected.equals(actual)) {
        throw new AssertionError(
            where
                + ": memcached and mcmux differ.\n  request: \""
                + Differential.escape(request)
                + "\"\n  memcached: "
                + expected
                + "\n      mcmux: "
                + actual
                + "\n  rerun: -Dmcmux.fuzz.seed="
                + SEED
                + " -Dmcmux.fuzz.only="
                + i);
      }
      try {
        diff.assertInStep("fz_step_" + i);
        // Each stats call is one connection of its own; anything more is mcmux reconnecting.
        long now = upstreamTotalConnections(diff);
        if (upstreamConnections >= 0 && now != upstreamConnections + 1) {
          throw new AssertionError(
              "mcmux opened "
                  + (now - upstreamConnections - 1)
                  + " new upstream connection(s): one was closed, e.g. on a desync");
        }
        upstreamConnections = now;
      } catch (AssertionError e) {
        throw new AssertionError(
            where + ", after request \"" + Differential.escape(request) + "\": " + e.getMessage(),
            e);
      }
      ran++;
    }
    System.out.println(
        name
            + " ran "
            + ran
            + " pipelines ("
            + unfinished
            + " left inside a data block), regenerated "
            + rejected
            + " rejected ones");
    assertTrue(ran >= Math.min(ONLY >= 0 ? 1 : 50, CASES), "only " + ran + " pipelines ran");
  }

  /** memcached's count of connections ever accepted by mcmux's upstream. */
  static long upstreamTotalConnections(Differential diff) {
    return Long.parseLong(diff.upstream().stats().get("total_connections"));
  }

  /** An answer as compared: its bytes seen through {@code view}, then whether it closed. */
  private static String view(Differential.Answer a, UnaryOperator<String> view) {
    String text = view.apply(new String(a.bytes(), StandardCharsets.ISO_8859_1));
    return Differential.escape(text.getBytes(StandardCharsets.ISO_8859_1))
        + (a.closed() ? " <closed>" : " <open>");
  }

  /** Both sides still open, neither answered a sentinel: both inside the same long data block. */
  private static boolean stillInsideDataBlock(Result r) {
    return !r.memcached().closed()
        && !r.mcmux().closed()
        && !r.memcached().sentinelAnswered()
        && !r.mcmux().sentinelAnswered();
  }

  private static boolean startsWith(byte[] bytes, byte[] prefix) {
    return bytes.length >= prefix.length
        && java.util.Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
  }

  /** Makes mutated pipelines of memcached requests from a seeded generator. */
  static final class Generator {

    private static final String[] KEYS = {"a", "b", "c", "n", "k1", "kk"};
    private static final String DATA_CHARS = "abcdefghijklnopqrstuvwxyz0123456789";
    private static final String[] STORAGE = {"set", "add", "replace", "append", "prepend"};
    private static final String[] FLAGS = {"0", "5", "4294967295"};
    private static final String[] NUMBERS = {
      "0",
      "1",
      "+1",
      "01",
      "-1",
      "-0",
      "00",
      "007",
      "5",
      "10",
      "20",
      "4294967295",
      "4294967296",
      "4294967301",
      "2147483647",
      "2147483648",
      "-2147483648",
      "18446744073709551615",
      "18446744073709551616",
      "9223372036854775807",
      "9223372036854775808",
      "99999999999999999999",
      "1x",
      "x",
      "",
      "\t1",
      "1\t",
      "1\r",
      "+",
      "-"
    };

    /** Bytes inserted or flipped in; no 'm', so no meta command can appear. */
    private static final byte[] ALPHABET =
        " \r\n\u0000\t0123456789-+abcdefghijklnopqrstuvwxyz_\u0080\u00ff"
            .getBytes(StandardCharsets.ISO_8859_1);

    /** Words that name exempted commands; a pipeline holding one is generated again. */
    private static final String[] EXEMPT_WORDS = {
      "stats",
      "watch",
      "lru",
      "slabs",
      "shutdown",
      "cache_memlimit",
      "extstore",
      "debugtime",
      "misbehave",
      "refresh_certs"
    };

    /** Commands with an exptime, and the index of the token that holds it. */
    private static final String[] TIMED = {
      "set", "add", "replace", "append", "prepend", "cas", "touch", "gat", "gats", "flush_all"
    };

    private static final int[] TIMED_TOKEN = {3, 3, 3, 3, 3, 3, 2, 1, 1, 1};

    final Random random;
    int rejected;

    /** Whether meta commands are generated too (and the meta exemptions avoided). */
    final boolean meta;

    Generator(Random random) {
      this(random, false);
    }

    Generator(Random random, boolean meta) {
      this.random = random;
      this.meta = meta;
    }

    /** The next acceptable pipeline; {@link #rejected} counts those generated again. */
    byte[] next() {
      rejected = 0;
      while (true) {
        byte[] candidate = candidate();
        if (acceptable(candidate, meta)) {
          return candidate;
        }
        rejected++;
      }
    }

    Delivery delivery(byte[] request) {
      return switch (random.nextInt(3)) {
        case 0 -> Delivery.ONE_WRITE;
        case 1 -> request.length <= 1024 ? Delivery.SINGLE_BYTES : Delivery.SMALL_CHUNKS;
        default -> Delivery.SMALL_CHUNKS;
      };
    }

    private byte[] candidate() {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int requests = 1 + random.nextInt(6);
      for (int i = 0; i < requests; i++) {
        out.writeBytes(request());
      }
      List<Byte> bytes = new ArrayList<>();
      for (byte b : out.toByteArray()) {
        bytes.add(b);
      }
      int mutations = random.nextInt(MAX_MUTATIONS + 1);
      for (int i = 0; i < mutations; i++) {
        mutate(bytes);
      }
      byte[] result = new byte[bytes.size()];
      for (int i = 0; i < result.length; i++) {
        result[i] = bytes.get(i);
      }
      return result;
    }

    private byte[] request() {
      if (meta && random.nextInt(3) != 0) {
        return metaRequest().getBytes(StandardCharsets.ISO_8859_1);
      }
      String k = pick(KEYS);
      String noreply = random.nextInt(4) == 0 ? " noreply" : "";
      String text =
          switch (random.nextInt(16)) {
            case 0, 1, 2 -> {
              String data = data();
              yield pick(STORAGE)
                  + " "
                  + k
                  + " "
                  + pick(FLAGS)
                  + " 0 "
                  + data.length()
                  + noreply
                  + "\r\n"
                  + data
                  + "\r\n";
            }
            case 3 -> {
              String data = data();
              String cas = pick(new String[] {"1", "18446744073709551615", "3", "12"});
              yield "cas "
                  + k
                  + " 0 0 "
                  + data.length()
                  + " "
                  + cas
                  + noreply
                  + "\r\n"
                  + data
                  + "\r\n";
            }
            case 4 -> {
              String number = pick(new String[] {"0", "5", "18446744073709551615", "42", "x"});
              yield "set n 0 0 " + number.length() + "\r\n" + number + "\r\n";
            }
            case 5, 6 -> pick(new String[] {"get", "gets", "bget"}) + " " + keys() + "\r\n";
            case 7 -> pick(new String[] {"gat", "gats"}) + " 0 " + keys() + "\r\n";
            case 8 -> {
              String delta = pick(new String[] {"1", "5", "0", "18446744073709551615"});
              yield pick(new String[] {"incr", "decr"}) + " " + k + " " + delta + noreply + "\r\n";
            }
            case 9 -> "delete " + k + (random.nextBoolean() ? " 0" : "") + noreply + "\r\n";
            case 10 -> "touch " + k + " 0" + noreply + "\r\n";
            case 11 -> "flush_all" + (random.nextBoolean() ? " 0" : "") + noreply + "\r\n";
            case 12 -> pick(new String[] {"version\r\n", "verbosity 0" + noreply + "\r\n"});
            case 13 -> random.nextInt(4) == 0 ? "quit\r\n" : "get " + k + "\r\n";
            case 14 -> pick(new String[] {"foo\r\n", "\r\n", "get\r\n", "set " + k + "\r\n"});
            default -> "get " + k + " " + k + "\r\n";
          };
      return text.getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * One meta command with a random set of flags for it, sometimes with flags memcached rejects;
     * never {@code me}, and never {@code ma} with both {@code q} and {@code N} (exemptions).
     */
    private String metaRequest() {
      String k = pick(KEYS);
      String key = k;
      if (random.nextInt(5) == 0) {
        key =
            java.util.Base64.getEncoder().encodeToString(k.getBytes(StandardCharsets.ISO_8859_1))
                + " b";
      }
      return switch (random.nextInt(9)) {
        case 0, 1 ->
            "mg "
                + key
                + metaFlags("v", "f", "s", "k", "h", "u", "q", "c", "t", "l", "O", "T", "N", "E")
                + "\r\n";
        case 2, 3, 4 -> {
          String data = data();
          String length = random.nextInt(20) == 0 ? pick(NUMBERS) : "" + data.length();
          yield "ms "
              + key
              + " "
              + length
              + metaFlags("T", "F", "I", "q", "O", "k", "c", "M", "C", "E", "s", "f")
              + "\r\n"
              + data
              + "\r\n";
        }
        case 5 -> "md " + key + metaFlags("q", "O", "k", "I", "T", "C", "x") + "\r\n";
        case 6 -> {
          String flags = metaFlags("q", "O", "v", "t", "c", "N", "J", "D", "M", "k");
          if (flags.contains(" q") && flags.contains(" N")) {
            flags = flags.replace(" q", "");
          }
          yield "ma " + key + flags + "\r\n";
        }
        case 7 -> "mn\r\n";
        default ->
            pick(
                new String[] {
                  "mg\r\n",
                  "ms " + k + "\r\n",
                  "mg " + k + " v v\r\n",
                  "mz " + k + "\r\n",
                  "mg " + k + " Zz\r\n",
                  "ms " + k + " 2 q MZ\r\nab\r\n",
                  "mg " + k + " O" + "x".repeat(40) + " v\r\n",
                  "mg Zm9 b v\r\n"
                });
      };
    }

    /** Some of the given flag letters, each with a value where it takes one, in random order. */
    private String metaFlags(String... letters) {
      List<String> chosen = new ArrayList<>();
      for (String letter : letters) {
        if (random.nextInt(3) == 0) {
          chosen.add(letter + flagValue(letter));
        }
      }
      java.util.Collections.shuffle(chosen, random);
      StringBuilder b = new StringBuilder();
      for (String f : chosen) {
        b.append(' ').append(f);
      }
      return b.toString();
    }

    private String flagValue(String letter) {
      return switch (letter) {
        case "O" -> pick(new String[] {"1", "77", "abc", "", "x".repeat(32)});
        case "T", "N" -> pick(new String[] {"0", "-1", "100000", "x"});
        case "F" -> pick(FLAGS);
        case "C", "E" -> pick(new String[] {"1", "3", "12", "18446744073709551615", "x"});
        case "J", "D" -> pick(new String[] {"0", "1", "5", "18446744073709551615", "-1"});
        case "M" -> pick(new String[] {"S", "E", "A", "P", "R", "I", "D", "+", "-", "X", "SS"});
        default -> "";
      };
    }

    private String data() {
      int n = random.nextInt(4) == 0 ? 0 : random.nextInt(21);
      StringBuilder b = new StringBuilder(n);
      for (int i = 0; i < n; i++) {
        b.append(DATA_CHARS.charAt(random.nextInt(DATA_CHARS.length())));
      }
      return b.toString();
    }

    private String keys() {
      int n = 1 + random.nextInt(4);
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < n; i++) {
        b.append(i == 0 ? "" : " ").append(pick(KEYS));
      }
      return b.toString();
    }

    private void mutate(List<Byte> b) {
      int size = b.size();
      switch (random.nextInt(9)) {
        case 0 -> {
          if (size > 0) {
            b.set(random.nextInt(size), anyByte());
          }
        }
        case 1 -> b.add(random.nextInt(size + 1), anyByte());
        case 2 -> {
          if (size > 0) {
            b.remove(random.nextInt(size));
          }
        }
        case 3 -> insert(b, random.nextInt(size + 1), request());
        case 4 -> {
          if (size > 0) {
            int from = random.nextInt(size);
            int to = Math.min(size, from + 1 + random.nextInt(20));
            List<Byte> copy = new ArrayList<>(b.subList(from, to));
            b.addAll(to, copy);
          }
        }
        case 5 -> replaceNumber(b);
        case 6 -> {
          int at = randomIndexOf(b, (byte) ' ');
          if (at >= 0) {
            insert(b, at, " ".repeat(1 + random.nextInt(3)).getBytes(StandardCharsets.ISO_8859_1));
          }
        }
        case 7 -> replaceLineEnd(b);
        default -> replaceNumber(b);
      }
    }

    private byte anyByte() {
      return random.nextInt(8) == 0
          ? (byte) random.nextInt(256)
          : ALPHABET[random.nextInt(ALPHABET.length)];
    }

    /** Replaces a random run of digits with an edge-case number. */
    private void replaceNumber(List<Byte> b) {
      List<Integer> starts = new ArrayList<>();
      for (int i = 0; i < b.size(); i++) {
        if (isDigit(b.get(i)) && (i == 0 || !isDigit(b.get(i - 1)))) {
          starts.add(i);
        }
      }
      if (starts.isEmpty()) {
        return;
      }
      int at = starts.get(random.nextInt(starts.size()));
      int end = at;
      while (end < b.size() && isDigit(b.get(end))) {
        end++;
      }
      b.subList(at, end).clear();
      insert(b, at, pick(NUMBERS).getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Replaces a random CRLF with another line ending, or none. */
    private void replaceLineEnd(List<Byte> b) {
      List<Integer> ends = new ArrayList<>();
      for (int i = 0; i + 1 < b.size(); i++) {
        if (b.get(i) == '\r' && b.get(i + 1) == '\n') {
          ends.add(i);
        }
      }
      if (ends.isEmpty()) {
        return;
      }
      int at = ends.get(random.nextInt(ends.size()));
      b.subList(at, at + 2).clear();
      String replacement = pick(new String[] {"\n", "\r", "\r\r\n", "\r\n\r\n", "", " \r\n"});
      insert(b, at, replacement.getBytes(StandardCharsets.ISO_8859_1));
    }

    /**
     * Whether {@code p} avoids every exemption and every answer that depends on memcached's clock.
     * The checks look at every offset where a command word starts, not only at line starts, because
     * a data block can end anywhere.
     */
    static boolean acceptable(byte[] p, boolean meta) {
      String s = new String(p, StandardCharsets.ISO_8859_1);
      if (!meta && s.indexOf('m') >= 0) {
        return false;
      }
      if (meta && !metaAcceptable(s)) {
        return false;
      }
      for (String word : EXEMPT_WORDS) {
        if (s.contains(word)) {
          return false;
        }
      }
      int run = 0;
      int line = 0;
      for (byte c : p) {
        run = c == ' ' || c == '\n' || c == 0 ? 0 : run + 1;
        line = c == '\n' ? 0 : line + 1;
        if (run > 250 || line > 2048) {
          return false;
        }
      }
      for (int w = 0; w < TIMED.length; w++) {
        for (int at = s.indexOf(TIMED[w]); at >= 0; at = s.indexOf(TIMED[w], at + 1)) {
          String token = token(s, at, TIMED_TOKEN[w]);
          if (token != null && timeSensitive(TIMED[w], token)) {
            return false;
          }
          String length = w < 6 ? token(s, at, 4) : null;
          if (length != null && longSwallow(length)) {
            return false;
          }
        }
      }
      return true;
    }

    /**
     * The meta exemptions and clock dependencies: no {@code me} (the item's internals), no {@code
     * ma} with both {@code q} and {@code N} (a quiet creation is silent through mcmux), no {@code
     * T} or {@code N} token whose expiry is near, no {@code ms} leaving a long data block open.
     * Tokens are looked at wherever they start, as a data block can end anywhere.
     */
    private static boolean metaAcceptable(String s) {
      if (s.contains("me")) {
        return false;
      }
      for (String token : s.split("[ \r\n\0]")) {
        if (token.length() > 1
            && (token.charAt(0) == 'T' || token.charAt(0) == 'N')
            && timeSensitive("set", token.substring(1))) {
          return false;
        }
      }
      for (int at = s.indexOf("ma"); at >= 0; at = s.indexOf("ma", at + 1)) {
        int lf = s.indexOf('\n', at);
        String line = " " + s.substring(at, lf < 0 ? s.length() : lf).replace('\0', ' ');
        if (line.contains(" q") && line.contains(" N")) {
          return false;
        }
      }
      for (int at = s.indexOf("ms"); at >= 0; at = s.indexOf("ms", at + 1)) {
        String length = token(s, at, 2);
        if (length != null && longSwallow(length)) {
          return false;
        }
      }
      return true;
    }

    /**
     * Whether a storage command's length would leave a data block open longer than the finisher:
     * memcached holds its answers until such a block is complete (an exemption).
     */
    private static boolean longSwallow(String token) {
      int length = (int) strtol(token);
      return length > Differential.FINISHER_BYTES - 1000 && length <= Integer.MAX_VALUE - 2;
    }

    /** Token {@code index} of the line that starts at {@code at}, as memcached splits it. */
    private static String token(String s, int at, int index) {
      int lf = s.indexOf('\n', at);
      String line = s.substring(at, lf < 0 ? s.length() : lf);
      int nul = line.indexOf('\0');
      if (nul >= 0) {
        line = line.substring(0, nul);
      }
      int i = 0;
      for (String t : line.split(" ")) {
        if (!t.isEmpty() && i++ == index) {
          return t;
        }
      }
      return null;
    }

    /**
     * Whether an exptime token could make the answer depend on when each server's clock ticks: a
     * delayed flush, an exptime that expires within minutes, a negative one that lands near 0 on
     * memcached's relative clock, or an absolute time near now.
     */
    private static boolean timeSensitive(String command, String token) {
      long v = strtol(token);
      int exptime = (int) v;
      if (command.equals("flush_all")) {
        return exptime > 0;
      }
      long now = System.currentTimeMillis() / 1000;
      return (exptime >= 1 && exptime <= 600)
          || (exptime <= -2 && exptime >= -1_000_000)
          || Math.abs(exptime - now) <= 86_400;
    }

    /** C's strtol, leniently: leading white space, a sign, digits; 0 when there are none. */
    private static long strtol(String t) {
      int i = 0;
      while (i < t.length() && (t.charAt(i) == ' ' || (t.charAt(i) >= 9 && t.charAt(i) <= 13))) {
        i++;
      }
      boolean negative = false;
      if (i < t.length() && (t.charAt(i) == '+' || t.charAt(i) == '-')) {
        negative = t.charAt(i) == '-';
        i++;
      }
      long v = 0;
      while (i < t.length() && t.charAt(i) >= '0' && t.charAt(i) <= '9') {
        v = v * 10 + (t.charAt(i) - '0');
        i++;
      }
      return negative ? -v : v;
    }

    private static boolean isDigit(byte b) {
      return b >= '0' && b <= '9';
    }

    private int randomIndexOf(List<Byte> b, byte value) {
      List<Integer> at = new ArrayList<>();
      for (int i = 0; i < b.size(); i++) {
        if (b.get(i) == value) {
          at.add(i);
        }
      }
      return at.isEmpty() ? -1 : at.get(random.nextInt(at.size()));
    }

    private static void insert(List<Byte> b, int at, byte[] bytes) {
      List<Byte> add = new ArrayList<>(bytes.length);
      for (byte x : bytes) {
        add.add(x);
      }
      b.addAll(at, add);
    }

    private String pick(String[] options) {
      return options[random.nextInt(options.length)];
    }
  }
}
