package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.mcmux.testing.Differential;
import dev.mcmux.testing.Differential.Answer;
import dev.mcmux.testing.Differential.Delivery;
import dev.mcmux.testing.Differential.Result;
import dev.mcmux.testing.LeakDetection;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Differential test of the ASCII protocol: each request below goes to a plain memcached directly
 * and through mcmux to a TLS memcached with the same options ({@code -I 1k}), once in one write and
 * once split into single bytes (small chunks when long), and both must answer the same bytes and
 * close, or not, alike. Only the exemptions below may differ; each is asserted as such.
 *
 * <p>Exemptions (mcmux differs from memcached 1.6.18 by design):
 *
 * <pre>
 * request                        | memcached                       | mcmux                              | why
 * -------------------------------+---------------------------------+------------------------------------+-------------------------------
 * watch, lru_crawler, lru,       | runs it (streams logs, changes  | CLIENT_ERROR &lt;word&gt; is not        | acts on the whole server; watch
 * slabs, shutdown, cache_memlimit| settings) or ERROR              | supported through mcmux; stays open| turns a shared connection into
 * extstore, debugtime, misbehave,|                                 |                                    | a log stream
 * refresh_certs                  |                                 |                                    |
 * stats ARG, ARG other than      | answers, resets counters,       | CLIENT_ERROR this stats argument is| reset/detail change a shared
 * settings items slabs sizes     | toggles detail, dumps keys      | not supported through mcmux        | server; cachedump shows every
 * conns                          |                                 |                                    | tenant's keys
 * stats [settings|items|...]     | its own values                  | the upstream's values              | another server: compared by
 *                                |                                 |                                    | shape (STAT lines, END) only
 * version                        | VERSION 1.6.18                  | the upstream's VERSION, learned at | same binary here, so compared
 *                                |                                 | connect                            | like any other request
 * non-get line with its LF after | ERROR if the LF was in the same | always closes                      | mcmux cannot know memcached's
 * byte 2048 (under 16 KiB)       | read, else closes               |                                    | read boundaries
 * get/gets line over 16 MiB      | reads on, unlimited             | closes (max-buffered-bytes-per-    | bounded memory
 *                                |                                 | client)                            |
 * retrieval with a key over 250  | also drops the unsent answers of| answers every request; touches no  | mcmux never loses an answer
 * bytes, pipelined after other   | the requests before it (and gat | key of the failed request          |
 * requests in the same read      | touched the keys before it)     |                                    |
 * a line memcached closes on     | closes without sending the      | sends those answers, then closes   | mcmux never loses an answer
 * (HTTP/, long line) pipelined   | answers it queued in that read  |                                    |
 * after other requests           |                                 |                                    |
 * requests queued in one read    | holds their answers until the   | sends them at once; for a value    | mcmux answers as soon as it
 * before a data block that has   | block is complete, drops them if| over item_size_max, its error too  | knows; framing is the same
 * not arrived yet                | the client leaves first; also   |                                    | (the block is swallowed alike)
 *                                | holds a too-large value's error |                                    |
 * value of 965..1024 bytes       | SERVER_ERROR object too large   | forwards it; the upstream answers  | equal answers: compared below;
 * (slab limit .. item_size_max)  | for cache                       | the same error                     | mcmux checks item_size_max only
 * bget                           | get                             | get                                | equal: compared below
 * first byte 0x80 (binary        | speaks the binary protocol on   | the same (BinaryDifferentialIT     | equal: compared below
 * protocol)                      | that connection                 | covers it)                         |
 * </pre>
 *
 * <p>Cases avoid what depends on timing in memcached itself: exptimes are 0, negative, or far
 * enough away; a retrieval with a bad key, or a line memcached closes on, comes first or right
 * after a successful get (whose answers memcached sends at once); non-get lines over 2048 bytes are
 * longer than memcached's 16 KiB read buffer, so memcached closes however they are split; data
 * blocks are complete. A few cases also come from a client that half-closes after writing.
 */
@ExtendWith(LeakDetection.class)
class AsciiDifferentialIT {

  @TempDir static Path dir;
  static Differential diff;

  private static final String K250 = "k".repeat(250);
  private static final String K251 = "k".repeat(251);
  private static final String E125 = "\u00e9".repeat(125);
  private static final String E126 = "\u00e9".repeat(126);
  private static final int STORED_MAX = Differential.LARGEST_STORED_VALUE;
  private static final int ITEM_MAX = Differential.ITEM_SIZE_MAX;
  private static final Pattern STATS_SHAPE =
      Pattern.compile(
          "(STAT [^\\r\\n]+\\r\\n)*END\\r\\n" + Pattern.quote(Differential.SENTINEL_ANSWER));

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

  /** Requests both must answer identically, in one write and split. */
  private static List<Case> sameAnswers() {
    List<Case> c = new ArrayList<>();
    // Unknown and empty commands.
    c.add(same("unknown command", "foo\r\nfoo bar baz\r\n"));
    c.add(same("commands are case-sensitive", "GET k\r\nSet k 0 0 1\r\nv\r\n"));
    c.add(same("one-byte command", "s\r\ng\r\n"));
    c.add(same("empty line", "\r\n"));
    c.add(same("bare LF line", "\n"));
    c.add(same("spaces only", "   \r\n"));
    c.add(same("CR CR LF", "\r\r\n"));
    c.add(same("commands without arguments", "get\r\ngets\r\ngat\r\ngats\r\nbget\r\n"));
    c.add(same("more than 23 tokens", "set k 0 0 1 " + "x ".repeat(25) + "\r\nv\r\n"));
    c.add(same("HTTP request", "GET / HTTP/1.1\r\nget k\r\n"));
    c.add(same("last token HTTP/", "foo bar HTTP/\r\nget k\r\n"));
    c.add(same("HTTP without slash", "foo bar HTTPx\r\n"));

    // Storage commands, valid.
    c.add(same("set then get", "set k 0 0 5\r\nhello\r\nget k\r\n"));
    c.add(same("empty value", "set k 0 0 0\r\n\r\nget k\r\n"));
    c.add(same("value holding CRLF and END", "set k 0 0 7\r\nEND\r\nab\r\nget k\r\n"));
    c.add(same("add", "add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nget k\r\n"));
    c.add(
        same(
            "replace",
            "replace k 0 0 1\r\na\r\nset k 0 0 1\r\nb\r\nreplace k 0 0 1\r\nc\r\nget k\r\n"));
    c.add(
        same(
            "append and prepend",
            "append k 0 0 1\r\nx\r\nprepend k 0 0 1\r\nx\r\nset k 0 0 1\r\nb\r\n"
                + "append k 0 0 1\r\nc\r\nprepend k 0 0 1\r\na\r\nget k\r\n"));
    c.add(
        same(
            "cas mismatch and missing key",
            "cas k 0 0 1 1\r\nv\r\nset k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 1\r\nb\r\nget k\r\n"));
    c.add(same("cas 2^64-1", "set k 0 0 1\r\na\r\ncas k 0 0 1 18446744073709551615\r\nb\r\n"));
    c.add(same("cas 2^64", "cas k 0 0 1 18446744073709551616\r\nb\r\n"));
    c.add(same("cas negative", "cas k 0 0 1 -1\r\nb\r\ncas k 0 0 1 +5\r\nb\r\n"));
    c.add(same("cas without unique", "cas k 0 0 1\r\nb\r\n"));
    c.add(same("set with a token too few", "set k 0 0\r\nv\r\n"));
    c.add(same("set with a token too many", "set k 0 0 1 noreply x\r\nv\r\n"));
    c.add(same("set NOREPLY is not noreply", "set k 0 0 1 NOREPLY\r\nv\r\n"));

    // Numbers.
    c.add(same("flags wrap mod 2^32", "set k 4294967301 0 1\r\nv\r\ngets k\r\n"));
    c.add(
        same(
            "flags 2^32-1 and 2^32",
            "set a 4294967295 0 1\r\nv\r\nset b 4294967296 0 1\r\nv\r\nget a b\r\n"));
    c.add(same("flags 2^64-1", "set k 18446744073709551615 0 1\r\nv\r\nget k\r\n"));
    c.add(same("flags 2^64", "set k 18446744073709551616 0 1\r\nv\r\n"));
    c.add(same("flags negative", "set k -1 0 1\r\nv\r\nset k -0 0 1\r\nv\r\nget k\r\n"));
    c.add(same("flags +1 and 01", "set a +1 0 1\r\nv\r\nset b 01 0 1\r\nv\r\nget a b\r\n"));
    c.add(same("flags non-numeric", "set k 1x 0 1\r\nv\r\nset k x 0 1\r\nv\r\n"));
    c.add(same("exptime negative expires", "set k 0 -1 1\r\nv\r\nget k\r\n"));
    c.add(same("exptime wraps to 0", "set k 0 4294967296 1\r\nv\r\nget k\r\n"));
    c.add(same("exptime wraps to -1", "set k 0 9223372036854775807 1\r\nv\r\nget k\r\n"));
    c.add(same("exptime out of long range", "set k 0 9223372036854775808 1\r\nv\r\n"));
    c.add(same("exptime +0 and 00", "set a 0 +0 1\r\nv\r\nset b 0 00 1\r\nv\r\nget a b\r\n"));
    c.add(same("exptime non-numeric", "set k 0 abc 1\r\nv\r\n"));
    c.add(same("length +1 and 01", "set a 0 0 +1\r\nv\r\nset b 0 0 01\r\nv\r\nget a b\r\n"));
    c.add(same("length negative", "set k 0 0 -1\r\nv\r\n"));
    c.add(same("length wraps mod 2^32", "set k 0 0 4294967297\r\nv\r\nget k\r\n"));
    c.add(same("length wraps negative", "set k 0 0 2147483648\r\nv\r\n"));
    c.add(same("length over INT_MAX-2", "set k 0 0 2147483646\r\nv\r\n"));
    c.add(same("length non-numeric", "set k 0 0 abc\r\nv\r\nset k 0 0 1a\r\nv\r\n"));
    c.add(same("number ended by tab", "set k 0\t0 0 1\r\nv\r\nset k\t0 0 0 1\r\nv\r\nget k\r\n"));
    c.add(same("number ended by CR", "set k 0 0 1\rv\r\nx\r\nget k\r\n"));
    c.add(same("number with a trailing minus", "set k 18446744073709551615\t- 0 1\r\nv\r\n"));

    // Data blocks.
    c.add(same("bad data chunk", "set k 0 0 1\r\nvvx\r\nget k\r\n"));
    c.add(same("short data", "set k 0 0 5\r\nab\r\nget k\r\n"));
    c.add(same("data ended by LF only", "set k 0 0 1\r\nv\n\r\nget k\r\n"));
    c.add(same("data ended by CR only", "set k 0 0 1\r\nv\rget k\r\n"));
    c.add(same("bare LF line ends", "set k 0 0 1\nv\r\nget k\n"));
    c.add(same("bare LF after data", "set k 0 0 1\nv\nget k\n"));
    c.add(same("data never completed", "set k 0 0 10\r\nabc"));

    // Item size: memcached's slab limit, item_size_max, and beyond.
    c.add(same("largest value stored", value("set", "k", STORED_MAX) + "get k\r\n"));
    c.add(same("just over the slab limit", value("set", "k", STORED_MAX + 1) + "get k\r\n"));
    c.add(same("exactly item_size_max", value("set", "k", ITEM_MAX) + "get k\r\n"));
    c.add(same("just over item_size_max", value("set", "k", ITEM_MAX + 1) + "get k\r\n"));
    c.add(same("well over item_size_max", value("set", "k", 100_000) + "get k\r\n"));
    c.add(
        same(
            "too large set unlinks the old value",
            "set k 0 0 1\r\nv\r\n" + value("set", "k", 5000) + "get k\r\n"));
    c.add(
        same(
            "too large set in the slab zone unlinks too",
            "set k 0 0 1\r\nv\r\n" + value("set", "k", 1000) + "get k\r\n"));
    c.add(
        same(
            "too large append keeps the old value",
            "set k 0 0 1\r\nv\r\n" + value("append", "k", 5000) + "get k\r\n"));
    c.add(same("too large add and cas", value("add", "k", 2000) + value("cas", "k", 2000)));
    c.add(same("too large with noreply", value("set k", 5000, "noreply") + "get k\r\n"));

    // Keys: the limit counts bytes.
    c.add(same("key of 250 bytes", "set " + K250 + " 0 0 1\r\nv\r\nget " + K250 + "\r\n"));
    c.add(same("get with a key of 251 bytes", "get " + K251 + "\r\n"));
    c.add(same("set with a key of 251 bytes", "set " + K251 + " 0 0 1\r\nv\r\n"));
    c.add(
        same(
            "other commands with a key of 251 bytes",
            "incr "
                + K251
                + " 1\r\ndecr "
                + K251
                + " 1\r\ntouch "
                + K251
                + " 0\r\ndelete "
                + K251
                + "\r\n"));
    c.add(same("key of 125 x e-acute", "set " + E125 + " 0 0 1\r\nv\r\nget " + E125 + "\r\n"));
    c.add(same("get with a key of 126 x e-acute", "get " + E126 + "\r\n"));
    c.add(same("set with a key of 126 x e-acute", "set " + E126 + " 0 0 1\r\nv\r\n"));
    c.add(same("tab inside a key", "set a\tb 0 0 1\r\nx\r\nget a\tb\r\nget a\r\n"));
    c.add(same("tab is not a separator", "get\tk\r\n"));
    c.add(
        same("high bytes in a key", bytes("set \u00ff\u0080 0 0 1\r\nv\r\nget \u00ff\u0080\r\n")));
    c.add(same("CR inside a line", "set a 0 0 1\r\nv\r\nget a\rget b\r\nget a\r\r\n"));

    // NUL ends the line.
    c.add(same("NUL in a get", "set a 0 0 1\r\nv\r\nget a\u0000zzz\r\n"));
    c.add(same("NUL after a storage line", "set k 0 0 1\u0000 junk\r\nv\r\nget k\r\n"));
    c.add(same("NUL inside a key", "set k\u0000 0 0 1\r\nv\r\n"));
    c.add(same("NUL alone", "\u0000\r\n"));

    // Retrieval.
    c.add(
        same(
            "multi-get with duplicates",
            "set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a a b a\r\n"));
    c.add(
        same(
            "multi-get with one bad key, after a get",
            "set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a\r\nget a " + K251 + " b\r\nget b\r\n"));
    c.add(same("gets", "set a 0 0 1\r\n1\r\ngets a b\r\n"));
    c.add(same("gat and gats", "set a 0 0 1\r\n1\r\ngat 100 a b\r\ngats 0 a\r\n"));
    c.add(same("gat with a bad exptime", "set a 0 0 1\r\n1\r\ngat abc a\r\ngats 1x a\r\n"));
    c.add(same("gat without keys", "gat 100\r\ngats 0 \r\n"));
    c.add(same("gat with negative exptime expires", "set a 0 0 1\r\n1\r\ngat -1 a\r\nget a\r\n"));
    c.add(same("gat with a bad key first", "gat 0 " + K251 + " a\r\n"));
    c.add(same("get noreply is a key", "set noreply 0 0 1\r\nv\r\nget k noreply\r\n"));
    c.add(same("bget", "set a 0 0 1\r\n1\r\nbget a\r\n"));
    c.add(same("get of 40 keys", "set k7 0 0 1\r\nv\r\nget " + keys(40, "k") + "\r\n"));
    c.add(
        same(
            "get of 9000 keys, over 16 KB",
            "set a 0 0 1\r\nv\r\nget " + "a ".repeat(10_000) + "\r\n"));
    c.add(
        same(
            "gets of 9000 keys, over 16 KB",
            "set a 0 0 1\r\nv\r\ngets " + "a b ".repeat(4_500) + "\r\n"));
    c.add(same("get line of 17000 bytes", "get " + "a".repeat(17_000) + "\r\nget a\r\n"));
    c.add(
        same(
            "get line after 100 spaces",
            " ".repeat(100) + "get " + "b ".repeat(9_000) + "\r\nget a\r\n"));

    // incr and decr.
    c.add(same("incr and decr", "set n 0 0 1\r\n5\r\nincr n 3\r\ndecr n 1\r\nget n\r\n"));
    c.add(same("incr grows the value", "set n 0 0 1\r\n9\r\nincr n 1\r\nget n\r\n"));
    c.add(same("incr wraps at 2^64", "set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n"));
    c.add(same("incr by 2^64-1", "set n 0 0 1\r\n1\r\nincr n 18446744073709551615\r\n"));
    c.add(same("decr stops at zero", "set n 0 0 1\r\n5\r\ndecr n 10\r\n"));
    c.add(same("decr by 2^64-1", "set n 0 0 2\r\n10\r\ndecr n 18446744073709551615\r\n"));
    c.add(
        same(
            "incr with bad deltas",
            "set n 0 0 1\r\n5\r\nincr n 18446744073709551616\r\nincr n -1\r\nincr n abc\r\n"
                + "incr n +5\r\nincr n 05\r\nincr n \t5\r\nincr n 5x\r\n"));
    c.add(same("incr non-numeric value", "set s 0 0 1\r\nx\r\nincr s 1\r\ndecr s 1\r\n"));
    c.add(same("incr missing key", "incr nokey 1\r\ndecr nokey 1\r\n"));
    c.add(same("incr token counts", "incr n\r\nincr n 1 noreply x\r\ndecr\r\n"));

    // delete and touch.
    c.add(
        same(
            "delete forms",
            "set k 0 0 1\r\nv\r\ndelete k 0\r\ndelete k\r\ndelete k 5\r\ndelete k 0 0\r\n"
                + "delete k x y z\r\ndelete\r\n"));
    c.add(same("delete then get", "set k 0 0 1\r\nv\r\ndelete k\r\nget k\r\n"));
    c.add(
        same(
            "touch",
            "set k 0 0 1\r\nv\r\ntouch k 100\r\ntouch k abc\r\ntouch nokey 100\r\ntouch k\r\n"
                + "touch k 1 2 3\r\nget k\r\n"));
    c.add(
        same("touch with negative exptime expires", "set k 0 0 1\r\nv\r\ntouch k -1\r\nget k\r\n"));

    // noreply on every command that takes it, errors included.
    c.add(same("set noreply", "set k 0 0 1 noreply\r\nv\r\nget k\r\n"));
    c.add(same("noreply storage family", noreplyStorage()));
    c.add(same("set noreply with a bad number", "set k 0 0 abc noreply\r\nv\r\nget k\r\n"));
    c.add(same("set noreply with a bad data chunk", "set k 0 0 1 noreply\r\nvv\r\nget k\r\n"));
    c.add(same("set noreply with a long key", "set " + K251 + " 0 0 1 noreply\r\nv\r\n"));
    c.add(same("set noreply with a negative length", "set k 0 0 -1 noreply\r\nv\r\n"));
    c.add(same("cas noreply", "cas k 0 0 1 5 noreply\r\nv\r\ncas k 0 0 1 x noreply\r\nv\r\n"));
    c.add(
        same(
            "incr and decr noreply",
            "set n 0 0 1\r\n5\r\nincr n 2 noreply\r\ndecr n 1 noreply\r\nincr n abc noreply\r\n"
                + "incr nokey 1 noreply\r\nincr "
                + K251
                + " 1 noreply\r\nget n\r\n"));
    c.add(
        same("incr noreply on a non-number", "set s 0 0 1\r\nx\r\nincr s 1 noreply\r\nget s\r\n"));
    c.add(
        same(
            "delete noreply",
            "set k 0 0 1\r\nv\r\ndelete k noreply\r\ndelete k noreply\r\ndelete k 0 noreply\r\n"
                + "delete k 5 noreply\r\ndelete "
                + K251
                + " noreply\r\nget k\r\n"));
    c.add(
        same(
            "touch noreply",
            "set k 0 0 1\r\nv\r\ntouch k 100 noreply\r\ntouch k abc noreply\r\n"
                + "touch nokey 0 noreply\r\nget k\r\n"));
    c.add(
        same(
            "flush_all noreply",
            "set k 0 0 1\r\nv\r\nflush_all noreply\r\nget k\r\nflush_all 0 noreply\r\n"
                + "flush_all abc noreply\r\nflush_all noreply noreply\r\n"));
    c.add(
        same(
            "verbosity noreply",
            "verbosity 1 noreply\r\nverbosity abc noreply\r\nverbosity noreply\r\n"
                + "verbosity 0 noreply\r\n"));

    // flush_all, version, verbosity.
    c.add(same("flush_all", "set k 0 0 1\r\nv\r\nflush_all\r\nget k\r\n"));
    c.add(same("flush_all 0", "set k 0 0 1\r\nv\r\nflush_all 0\r\nget k\r\n"));
    c.add(same("flush_all -1", "set k 0 0 1\r\nv\r\nflush_all -1\r\nget k\r\n"));
    c.add(same("flush_all with a delay", "set k 0 0 1\r\nv\r\nflush_all 100\r\nget k\r\n"));
    c.add(same("flush_all bad forms", "flush_all abc\r\nflush_all 0 0 0\r\nflush_all 0 extra\r\n"));
    c.add(same("version", "version\r\nversion extra\r\n"));
    c.add(same("verbosity bare", "verbosity\r\n"));
    c.add(same("verbosity with a level", "verbosity 1\r\nverbosity 0\r\n"));
    c.add(same("verbosity bad forms", "verbosity abc\r\nverbosity -1\r\nverbosity 1 2 3\r\n"));

    // quit.
    c.add(same("quit", "quit\r\n"));
    c.add(same("quit with an argument", "quit now\r\nget k\r\n"));
    c.add(same("quit in a pipeline", "set a 0 0 1\r\nv\r\nget a\r\nquit\r\nget a\r\n"));
    c.add(same("quit after local answers", "foo\r\nverbosity 1\r\nverbosity 0\r\nquit\r\nfoo\r\n"));

    // Long lines: both close, however the line is split, when it is longer than memcached's read.
    c.add(same("set line of 17000 bytes", "set " + "a".repeat(17_000) + "\r\nget a\r\n"));
    c.add(same("unknown line of 17000 bytes", "foo " + "a".repeat(17_000) + "\r\nget a\r\n"));
    c.add(same("gat line of 20000 bytes", "gat 0 " + "a ".repeat(10_000) + "\r\n"));
    c.add(
        same(
            "get line after 101 spaces",
            " ".repeat(101) + "get " + "b ".repeat(9_000) + "\r\nget a\r\n"));
    c.add(same("line of exactly 2048 bytes and LF", "foo " + "a".repeat(2042) + "\r\nget a\r\n"));

    // Order of local and upstream answers.
    c.add(
        same(
            "local and upstream answers interleaved",
            "get a\r\nfoo\r\nset a 0 0 1\r\nv\r\nset a 0 0 x\r\nget a\r\nversion\r\n"
                + "verbosity 1 noreply\r\nverbosity 0\r\n"
                + value("set", "a", 2000)
                + "get a\r\n"));
    c.add(same("pipeline of 1500 gets", "set a 0 0 1\r\nv\r\n" + "get a\r\n".repeat(1500)));
    c.add(same("pipeline of 1500 errors", "foo\r\n".repeat(1500) + "get a\r\n"));
    c.add(same("pipeline of 500 sets", sets(500)));
    return c;
  }

  /** Requests whose answers differ by design; both sides' answers are asserted. */
  private static List<Exempt> exemptions() {
    List<Exempt> e = new ArrayList<>();
    String notSupported = " is not supported through mcmux\r\n";
    e.add(exempt("watch", "watch\r\n", null, "CLIENT_ERROR watch" + notSupported));
    e.add(
        exempt(
            "watch with flags",
            "watch fetchers mutations\r\n",
            null,
            "CLIENT_ERROR watch" + notSupported));
    e.add(
        exempt(
            "lru_crawler metadump",
            "lru_crawler metadump all\r\n",
            null,
            "CLIENT_ERROR lru_crawler" + notSupported));
    for (String word :
        List.of(
            "lru_crawler",
            "lru",
            "slabs",
            "cache_memlimit",
            "extstore",
            "debugtime",
            "misbehave")) {
      e.add(exempt(word, word + "\r\n", open("ERROR\r\n"), "CLIENT_ERROR " + word + notSupported));
    }
    e.add(
        exempt(
            "slabs automove", "slabs automove 1\r\n", null, "CLIENT_ERROR slabs" + notSupported));
    e.add(
        exempt(
            "cache_memlimit 100",
            "cache_memlimit 100\r\n",
            null,
            "CLIENT_ERROR cache_memlimit" + notSupported));
    e.add(
        exempt(
            "shutdown",
            "shutdown\r\n",
            open("ERROR: shutdown not enabled\r\n"),
            "CLIENT_ERROR shutdown" + notSupported));
    e.add(
        exempt(
            "refresh_certs",
            "refresh_certs\r\n",
            null,
            "CLIENT_ERROR refresh_certs" + notSupported));

    String stats = "CLIENT_ERROR this stats argument is not supported through mcmux\r\n";
    e.add(exempt("stats reset", "stats reset\r\n", null, stats));
    e.add(exempt("stats detail on", "stats detail on\r\n", null, stats));
    e.add(exempt("stats detail dump", "stats detail dump\r\n", open("END\r\n"), stats));
    e.add(exempt("stats cachedump", "stats cachedump 1 1\r\n", null, stats));
    e.add(exempt("stats unknown", "stats foo\r\n", open("ERROR\r\n"), stats));

    // memcached decides by its read boundaries; one write of a short line is one read.
    e.add(
        new Exempt(
            "non-get line with its LF after byte 2048",
            bytes("foo " + "a".repeat(2100) + "\r\nget a\r\n"),
            List.of(Delivery.ONE_WRITE),
            open("ERROR\r\nEND\r\n"),
            new Answer(new byte[0], true).describe()));
    e.add(
        new Exempt(
            "non-get line with its LF after byte 2048, split",
            bytes("set " + "a".repeat(3000) + "\r\nget a\r\n"),
            List.of(Delivery.SMALL_CHUNKS),
            null,
            new Answer(new byte[0], true).describe()));
    e.add(
        new Exempt(
            "get line over max-buffered-bytes-per-client",
            bytes("get " + "a ".repeat(8 * 1024 * 1024 + 512) + "\r\n"),
            List.of(Delivery.ONE_WRITE),
            null,
            new Answer(new byte[0], true).describe()));
    // memcached drops the queued answers of the set and of its data line.
    e.add(
        new Exempt(
            "bad-key get pipelined after other requests",
            bytes("set " + K251 + " 0 0 1\r\nv\r\nget " + K251 + "\r\n"),
            List.of(Delivery.ONE_WRITE),
            open("CLIENT_ERROR bad command line format\r\n"),
            open(
                "CLIENT_ERROR bad command line format\r\nERROR\r\n"
                    + "CLIENT_ERROR bad command line format\r\n")));
    // memcached closes at once: answers it queued in the same read are lost.
    e.add(
        new Exempt(
            "answers queued before an HTTP line",
            bytes("foo\r\nGET / HTTP/1.1\r\n"),
            List.of(Delivery.ONE_WRITE),
            new Answer(new byte[0], true).describe(),
            new Answer(bytes("ERROR\r\n"), true).describe()));
    e.add(
        new Exempt(
            "answers queued before a long line",
            bytes("foo\r\nset " + "a".repeat(17_000) + "\r\n"),
            List.of(Delivery.ONE_WRITE),
            new Answer(new byte[0], true).describe(),
            new Answer(bytes("ERROR\r\n"), true).describe()));
    // memcached sends the answers queued in one read only once the data block after them is in.
    e.add(
        new Exempt(
            "answers queued before an unfinished data block",
            bytes("foo\r\nset k 0 0 100\r\nabc"),
            List.of(Delivery.ONE_WRITE),
            unfinished(""),
            unfinished("ERROR\r\n")));
    e.add(
        new Exempt(
            "too large value not sent yet",
            bytes("set k 0 0 5000\r\nabc"),
            List.of(Delivery.ONE_WRITE, Delivery.SINGLE_BYTES),
            unfinished(""),
            unfinished("SERVER_ERROR object too large for cache\r\n")));
    e.add(
        new Exempt(
            "length INT_MAX-2 is swallowed",
            bytes("set k 0 0 2147483645\r\nv\r\nget k\r\n"),
            List.of(Delivery.ONE_WRITE, Delivery.SINGLE_BYTES),
            unfinished(""),
            unfinished("SERVER_ERROR object too large for cache\r\n")));
    return e;
  }

  /**
   * Requests sent in one write by a client that then shuts down its sending side, as {@code printf
   * ... | nc -N} does: both must answer every complete request and close. Open: with more requests
   * in flight than max-outstanding-per-client (1024), mcmux drops the rest of its answers, so the
   * pipelines here stay under that.
   */
  private static List<Case> halfClosed() {
    List<Case> c = new ArrayList<>();
    c.add(same("set then get", "set k 0 0 5\r\nhello\r\nget k\r\n"));
    c.add(same("errors and local answers", "foo\r\nverbosity 1\r\nverbosity 0\r\nversion\r\n"));
    c.add(same("line without LF at the end", "get k\r\nget k"));
    c.add(same("data block without its end", "set k 0 0 5\r\nab"));
    c.add(same("quit in a pipeline", "set a 0 0 1\r\nv\r\nget a\r\nquit\r\nget a\r\n"));
    c.add(same("get of 9000 keys", "set a 0 0 1\r\nv\r\nget " + "a ".repeat(9_000) + "\r\n"));
    c.add(same("pipeline of 1000 gets", "set a 0 0 1\r\nv\r\n" + "get a\r\n".repeat(1000)));
    return c;
  }

  /** Stats values differ between two servers: both answers must be STAT lines and END. */
  private static List<String> statsRequests() {
    return List.of(
        "stats\r\n",
        "stats settings\r\n",
        "stats items\r\n",
        "stats slabs\r\n",
        "stats sizes\r\n",
        "stats conns\r\n",
        "stats  settings \r\n");
  }

  @TestFactory
  Stream<DynamicNode> sameAnswerAsMemcached() {
    return sameAnswers().stream()
        .map(
            c ->
                dynamicContainer(
                    c.name,
                    Stream.of(Delivery.ONE_WRITE, Delivery.splitFor(c.request))
                        .map(
                            d ->
                                dynamicTest(
                                    d.name(),
                                    () -> {
                                      Result r = diff.run(c.request, d, c.name.hashCode());
                                      assertEquals(
                                          r.memcached().describe(),
                                          r.mcmux().describe(),
                                          () -> c.name + " (" + d + "): " + r);
                                    }))));
  }

  /**
   * memcached speaks binary to a connection whose first byte is 0x80, and so does mcmux; every
   * binary opcode is compared in BinaryDifferentialIT.
   */
  @Test
  void binaryProtocolIsSpokenFromTheFirstByte() {
    byte[] noop = new byte[24];
    noop[0] = (byte) 0x80;
    noop[1] = 0x0a;
    byte[] noopResponse = noop.clone();
    noopResponse[0] = (byte) 0x81;
    assertEquals(
        new Answer(noopResponse, false).describe(), diff.memcachedFirstBytes(noop).describe());
    assertEquals(new Answer(noopResponse, false).describe(), diff.mcmuxFirstBytes(noop).describe());
  }

  @TestFactory
  Stream<DynamicNode> halfClosedClientsGetEveryAnswer() {
    return halfClosed().stream()
        .map(
            c ->
                dynamicTest(
                    c.name,
                    () -> {
                      Result r = diff.run(c.request, Delivery.HALF_CLOSE, 1);
                      assertEquals(
                          r.memcached().describe(), r.mcmux().describe(), () -> c.name + ": " + r);
                      assertTrue(r.mcmux().closed(), () -> c.name + " left open: " + r);
                    }));
  }

  @TestFactory
  Stream<DynamicNode> exemptionsAreAsDocumented() {
    return exemptions().stream()
        .map(
            e ->
                dynamicContainer(
                    e.name,
                    e.deliveries.stream()
                        .map(
                            d ->
                                dynamicTest(
                                    d.name(),
                                    () -> {
                                      if (e.memcached != null) {
                                        Answer m = diff.memcachedOnly(e.request, d, 1);
                                        assertEquals(e.memcached, m.describe(), "memcached");
                                      }
                                      Answer x = diff.mcmuxOnly(e.request, d, 1);
                                      assertEquals(e.mcmux, x.describe(), "mcmux");
                                      diff.assertInStep("instep_" + Math.abs(e.name.hashCode()));
                                    }))));
  }

  @TestFactory
  Stream<DynamicNode> statsHaveTheSameShape() {
    return statsRequests().stream()
        .map(
            s ->
                dynamicTest(
                    Differential.escape(bytes(s)),
                    () -> {
                      Result r = diff.run(bytes(s), Delivery.ONE_WRITE, 1);
                      for (Answer a : List.of(r.memcached(), r.mcmux())) {
                        assertTrue(!a.closed(), () -> "closed: " + r);
                        assertTrue(
                            STATS_SHAPE
                                .matcher(new String(a.bytes(), StandardCharsets.ISO_8859_1))
                                .matches(),
                            () -> "not STAT lines and END: " + r);
                      }
                    }));
  }

  // ---- the table's vocabulary ----

  private record Case(String name, byte[] request) {}

  /**
   * An exemption: what each side answers ({@link Answer#describe()} form; null: memcached is not
   * asked, because the request would change its state or stream).
   */
  private record Exempt(
      String name, byte[] request, List<Delivery> deliveries, String memcached, String mcmux) {}

  private static Case same(String name, String request) {
    return new Case(name, bytes(request));
  }

  private static Case same(String name, byte[] request) {
    return new Case(name, request);
  }

  private static Exempt exempt(String name, String request, String memcached, String mcmuxLines) {
    return new Exempt(
        name,
        bytes(request),
        List.of(Delivery.ONE_WRITE, Delivery.SINGLE_BYTES),
        memcached,
        open(mcmuxLines));
  }

  /** The describe() form of an answer that ends with the sentinel's, connection open. */
  private static String open(String lines) {
    return Differential.escape(bytes(lines + Differential.SENTINEL_ANSWER)) + " <open>";
  }

  /** The describe() form of an answer that swallowed the sentinel, connection open. */
  private static String unfinished(String lines) {
    return Differential.escape(bytes(lines)) + " <open>";
  }

  /** One byte per character (Latin-1), except e-acute, which becomes its two UTF-8 bytes. */
  private static byte[] bytes(String s) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      if (ch == '\u00e9') {
        out.writeBytes("\u00e9".getBytes(StandardCharsets.UTF_8));
      } else if (ch <= 0xff) {
        out.write(ch);
      } else {
        throw new IllegalArgumentException("unexpected character in a case: " + (int) ch);
      }
    }
    return out.toByteArray();
  }

  /** A storage command for {@code key} with a value of {@code n} bytes. */
  private static String value(String command, String key, int n) {
    String cas = command.equals("cas") ? " 1" : "";
    return command + " " + key + " 0 0 " + n + cas + "\r\n" + "x".repeat(n) + "\r\n";
  }

  /** {@code command} (with its key) and a value of {@code n} bytes, then {@code suffix}. */
  private static String value(String commandAndKey, int n, String suffix) {
    return commandAndKey + " 0 0 " + n + " " + suffix + "\r\n" + "x".repeat(n) + "\r\n";
  }

  private static String keys(int n, String prefix) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append(prefix).append(i);
    }
    return b.toString();
  }

  private static String sets(int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append("set s").append(i).append(" 0 0 2\r\n").append(i % 100 + 10).append("\r\n");
    }
    return b.append("get s0 s250 s499\r\n").toString();
  }

  private static String noreplyStorage() {
    return "add k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\n"
        + "replace k 0 0 1 noreply\r\nc\r\nreplace nokey 0 0 1 noreply\r\nc\r\n"
        + "append k 0 0 1 noreply\r\nd\r\nprepend k 0 0 1 noreply\r\ne\r\n"
        + "append nokey 0 0 1 noreply\r\nd\r\nget k\r\n";
  }
}
