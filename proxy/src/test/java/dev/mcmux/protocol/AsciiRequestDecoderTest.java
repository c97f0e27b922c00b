package dev.mcmux.protocol;

import static dev.mcmux.protocol.DecoderHarness.bytes;
import static dev.mcmux.protocol.DecoderHarness.decodeBytewise;
import static dev.mcmux.protocol.DecoderHarness.decodeChunks;
import static dev.mcmux.protocol.DecoderHarness.decodeSplit;
import static dev.mcmux.protocol.DecoderHarness.decodeWhole;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every expectation here was first observed on Debian's memcached 1.6.18 (started with {@code -U 0
 * -m 64}), except where a comment names an exemption of {@link AsciiRequestDecoder}. The tests use
 * a value limit of {@value DecoderHarness#MAX_VALUE} bytes; the server was checked with its default
 * 1 MiB item size.
 */
class AsciiRequestDecoderTest {

  private static final String ERROR = "REPLY ERROR";
  private static final String BAD_FORMAT = "REPLY CLIENT_ERROR bad command line format";
  private static final String BAD_CHUNK = "REPLY CLIENT_ERROR bad data chunk";
  private static final String BAD_EXPTIME = "REPLY CLIENT_ERROR invalid exptime argument";
  private static final String BAD_DELTA = "REPLY CLIENT_ERROR invalid numeric delta argument";
  private static final String BAD_DELETE =
      "REPLY CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
  private static final String TOO_LARGE = "REPLY SERVER_ERROR object too large for cache";
  private static final String SILENT = "SILENT";
  private static final String END = "REPLY END";
  private static final String CLOSE = "CLOSE";
  private static final String VERSION = "REQ version";

  private static final String K250 = "k".repeat(250);
  private static final String K251 = "k".repeat(251);

  /** One input and what memcached made of it. */
  record Case(String name, byte[] input, List<String> expected, boolean terminal) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case c(String name, String input, String... expected) {
    return new Case(name, bytes(input), List.of(expected), false);
  }

  /** A case that must end the input: it closes, or leaves the decoder waiting for more. */
  private static Case last(String name, String input, String... expected) {
    return new Case(name, bytes(input), List.of(expected), true);
  }

  private static String tokens(String prefix, int n) {
    return IntStream.range(0, n).mapToObj(i -> prefix + i).collect(Collectors.joining(" "));
  }

  static List<Case> cases() {
    List<Case> l = new ArrayList<>();

    // Command words, separators and line ends.
    l.add(c("version", "version\r\n", VERSION));
    l.add(c("version ignores arguments", "version foo bar\r\n", VERSION));
    l.add(c("command words are case-sensitive", "VERSION\r\n", ERROR));
    l.add(c("GET is not get", "GET a\r\n", ERROR));
    l.add(c("Set is not set", "Set k 0 0 1\r\n", ERROR));
    // A bare CRLF keeps its CR: the line is the one-byte command "\r".
    l.add(c("empty line CRLF", "\r\n", ERROR));
    l.add(c("empty line LF", "\n", ERROR));
    l.add(c("spaces only", "  \r\n", ERROR));
    l.add(c("single space", " \r\n", ERROR));
    l.add(c("CR CR LF", "\r\r\n", ERROR));
    l.add(c("one-letter command", "x\r\n", ERROR));
    l.add(c("unknown command", "xy\r\n", ERROR));
    l.add(c("NUL first", "\0get a\r\n", ERROR));
    l.add(c("NUL ends the line", "get a\0zzz\r\n", "REQ get a"));
    l.add(c("NUL mid keys", "get a b\0 c\r\n", "REQ get a b"));
    l.add(c("leading spaces", "  get a\r\n", "REQ get a"));
    l.add(c("bare LF", "get a\n", "REQ get a"));
    l.add(c("only one CR is stripped", "get a\r\r\n", "REQ get a\\x0d"));
    l.add(c("repeated and trailing spaces", "get a  b \r\n", "REQ get a b"));
    l.add(c("tab is part of a key", "get a\tb\r\n", "REQ get a\\x09b"));
    l.add(c("tab is not a separator after get", "get\ta\r\n", ERROR));
    l.add(c("bget is get", "bget a\r\n", "REQ get a"));
    l.add(c("bare get", "get\r\n", ERROR));
    l.add(c("get and a space", "get \r\n", ERROR));
    l.add(c("bare gets", "gets\r\n", ERROR));
    l.add(c("duplicate keys", "get k k k\r\n", "REQ get k k k"));
    l.add(c("gets", "gets a b\r\n", "REQ gets a b"));

    // Retrieval across memcached's 24-token windows, and key limits.
    l.add(
        c("get 23 keys", "get " + tokens("t", 22) + " a\r\n", "REQ get " + tokens("t", 22) + " a"));
    l.add(
        c("get 41 keys", "get " + tokens("t", 40) + " a\r\n", "REQ get " + tokens("t", 40) + " a"));
    l.add(
        c(
            "bad key after the first window",
            "get " + tokens("t", 40) + " " + K251 + "\r\n",
            BAD_FORMAT));
    l.add(c("one bad key in a multi-get", "get a " + K251 + " b\r\n", BAD_FORMAT));
    l.add(c("key of 250 bytes", "get " + K250 + "\r\n", "REQ get " + K250));
    // Keys are bytes: 126 two-byte characters are 252 bytes.
    String e126 = "\u00c3\u00a9".repeat(126);
    l.add(c("key of 126 e-acute", "get " + e126 + "\r\n", BAD_FORMAT));
    l.add(
        c(
            "key of 125 e-acute",
            "get " + e126.substring(2) + "\r\n",
            "REQ get " + "\\xc3\\xa9".repeat(125)));
    l.add(c("gat", "gats 10 a b\r\n", "REQ gats 10 a b"));
    l.add(c("gat without keys", "gat 10\r\n", END));
    l.add(c("gats without keys", "gats 1\r\n", END));
    l.add(c("bare gat", "gat\r\n", ERROR));
    l.add(c("gat bad exptime", "gat x k\r\n", BAD_EXPTIME));
    l.add(c("gats bad exptime alone", "gats x\r\n", BAD_EXPTIME));
    l.add(c("gat exptime checked before keys", "gat x " + K251 + "\r\n", BAD_EXPTIME));
    l.add(c("gat bad key", "gat 10 " + K251 + "\r\n", BAD_FORMAT));
    l.add(c("gat exptime wraps", "gat 4294967296 a\r\n", "REQ gat 0 a"));
    l.add(c("gat exptime out of long range", "gat 9223372036854775808 a\r\n", BAD_EXPTIME));

    // Storage commands and their numbers.
    l.add(c("set", "set k 0 0 1\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(
        c(
            "set with CRLF in the value",
            "set k 0 0 2\r\n\r\n\r\n",
            "REQ set k 0 0 2 data=\\x0d\\x0a"));
    l.add(c("empty value", "set k 0 0 0\r\n\r\n", "REQ set k 0 0 0 data="));
    l.add(c("add", "add k 1 2 1\r\nx\r\n", "REQ add k 1 2 1 data=x"));
    l.add(c("replace", "replace k 0 0 1\r\nx\r\n", "REQ replace k 0 0 1 data=x"));
    l.add(c("append", "append k 0 0 1\r\nx\r\n", "REQ append k 0 0 1 data=x"));
    l.add(c("prepend", "prepend k 0 0 1\r\nx\r\n", "REQ prepend k 0 0 1 data=x"));
    l.add(c("set noreply", "set k 0 0 1 noreply\r\nx\r\n", "REQ set k 0 0 1 data=x noreply"));
    l.add(c("extra token is ignored", "set k 0 0 1 foo\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(c("flags wrap mod 2^32", "set k 4294967301 0 1\r\nx\r\n", "REQ set k 5 0 1 data=x"));
    l.add(
        c(
            "flags max",
            "set k 18446744073709551615 0 1\r\nx\r\n",
            "REQ set k 4294967295 0 1 data=x"));
    l.add(c("flags over 64 bits", "set k 18446744073709551616 0 1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("flags negative", "set k -1 0 1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("flags minus zero", "set k -0 0 1\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    // strtoul negates -18446744073709551615 to 1, which does not look negative, so it passes.
    l.add(
        c(
            "flags huge negative",
            "set k -18446744073709551615 0 1\r\nx\r\n",
            "REQ set k 1 0 1 data=x"));
    l.add(
        c(
            "flags negative past 2^63",
            "set k -9223372036854775809 0 1\r\nx\r\n",
            "REQ set k 4294967295 0 1 data=x"));
    l.add(c("plus sign and leading zero", "set k +1 0 01\r\nx\r\n", "REQ set k 1 0 1 data=x"));
    l.add(c("exptime negative", "set k 0 -1 1\r\nx\r\n", "REQ set k 0 -1 1 data=x"));
    l.add(c("exptime wraps", "set k 0 4294967297 1\r\nx\r\n", "REQ set k 0 1 1 data=x"));
    l.add(c("exptime vertical tab", "set k 0 \u000b5 1\r\nx\r\n", "REQ set k 0 5 1 data=x"));
    l.add(c("length wraps", "set k 0 0 4294967297\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(
        c(
            "length wraps from negative",
            "set k 0 0 -4294967295\r\nx\r\n",
            "REQ set k 0 0 1 data=x"));
    l.add(c("length negative", "set k 0 0 -1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("length over INT_MAX-2", "set k 0 0 2147483646\r\n", BAD_FORMAT));
    l.add(c("length not a number", "set k 0 0 x\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("length with junk", "set k 0 0 1x\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("length sign only", "set k 0 0 -\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("length two signs", "set k 0 0 +-1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("length over long", "set k 0 0 9223372036854775808\r\nx\r\n", BAD_FORMAT, ERROR));
    // LONG_MIN cut to 32 bits is 0, so two bytes "x\r" are read as the block.
    l.add(c("length LONG_MIN", "set k 0 0 -9223372036854775808\r\nx\r\n", BAD_CHUNK, ERROR));
    // strtol stops at whitespace, and memcached accepts whatever follows it.
    l.add(c("tab and junk after length", "set k 0 0 1\t-\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(c("tab before length", "set k 0 0 \t1\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(c("CR after length", "set k 0 0 1\r\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(c("form feed after length", "set k 0 0 1\u000c\r\nx\r\n", "REQ set k 0 0 1 data=x"));
    l.add(c("too few tokens", "set k 0 0\r\n", ERROR));
    l.add(c("too many tokens", "set k 0 0 1 noreply x\r\n", ERROR));
    l.add(c("noreply where the length goes", "set k 0 0 noreply\r\nx\r\n", SILENT, ERROR));
    l.add(c("key of 251 bytes", "set " + K251 + " 0 0 1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("key of 251 bytes noreply", "set " + K251 + " 0 0 1 noreply\r\nx\r\n", SILENT, ERROR));
    l.add(
        c(
            "key of 250 bytes noreply",
            "set " + K250 + " 0 0 1 noreply\r\nx\r\n",
            "REQ set " + K250 + " 0 0 1 data=x noreply"));

    // Bad data chunks: length+2 bytes are read, then parsing resumes.
    l.add(c("bad data chunk", "set k 0 0 1\r\nxx\r\nget k\r\n", BAD_CHUNK, ERROR, "REQ get k"));
    l.add(
        c(
            "bad data chunk noreply",
            "set k 0 0 1 noreply\r\nxx\r\nget k\r\n",
            SILENT,
            ERROR,
            "REQ get k"));
    l.add(c("LF then the next command", "set k 0 0 1\r\na\nget k\r\n", BAD_CHUNK, ERROR));
    l.add(
        c(
            "LF then the next command noreply",
            "set k 0 0 1 noreply\r\na\nget k\r\n",
            SILENT,
            ERROR));

    // cas
    l.add(
        c(
            "cas max unique",
            "cas k 0 0 1 18446744073709551615\r\nx\r\n",
            "REQ cas k 0 0 1 18446744073709551615 data=x"));
    l.add(
        c(
            "cas unique over 64 bits",
            "cas k 0 0 1 18446744073709551616\r\nx\r\n",
            BAD_FORMAT,
            ERROR));
    l.add(c("cas unique negative", "cas k 0 0 1 -1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(
        c(
            "cas unique negative past 2^63",
            "cas k 0 0 1 -9223372036854775809\r\nx\r\n",
            "REQ cas k 0 0 1 9223372036854775807 data=x"));
    l.add(c("cas without unique", "cas k 0 0 1\r\nx\r\n", ERROR, ERROR));
    l.add(c("cas bad unique noreply", "cas k 0 0 1 x noreply\r\nx\r\n", SILENT, ERROR));
    l.add(c("cas noreply", "cas k 0 0 1 7 noreply\r\nx\r\n", "REQ cas k 0 0 1 7 data=x noreply"));

    // incr and decr
    l.add(c("incr", "incr n 1\r\n", "REQ incr n 1"));
    l.add(c("decr noreply", "decr n 2 noreply\r\n", "REQ decr n 2 noreply"));
    l.add(
        c("incr max delta", "incr n 18446744073709551615\r\n", "REQ incr n 18446744073709551615"));
    l.add(c("incr bad delta", "incr n x\r\n", BAD_DELTA));
    l.add(c("incr negative delta", "incr n -1\r\n", BAD_DELTA));
    l.add(c("incr delta over 64 bits", "incr n 18446744073709551616\r\n", BAD_DELTA));
    l.add(c("incr bad delta noreply", "incr n x noreply\r\n", SILENT));
    l.add(c("incr extra token", "incr n 1 foo\r\n", "REQ incr n 1"));
    l.add(c("incr without delta", "incr n\r\n", ERROR));
    l.add(c("decr too many tokens", "decr n 1 2 3\r\n", ERROR));
    l.add(c("incr long key", "incr " + K251 + " 1\r\n", BAD_FORMAT));
    l.add(c("incr long key noreply", "incr " + K251 + " 1 noreply\r\n", SILENT));

    // touch
    l.add(c("touch", "touch k 10\r\n", "REQ touch k 10"));
    l.add(c("touch noreply", "touch k 10 noreply\r\n", "REQ touch k 10 noreply"));
    l.add(c("touch bad exptime", "touch k x\r\n", BAD_EXPTIME));
    l.add(c("touch bad exptime noreply", "touch k x noreply\r\n", SILENT));
    l.add(c("touch without exptime", "touch k\r\n", ERROR));
    l.add(c("touch extra token", "touch k 10 foo\r\n", "REQ touch k 10"));
    l.add(c("touch exptime over long", "touch k 9223372036854775808\r\n", BAD_EXPTIME));
    l.add(c("touch exptime long max", "touch k 9223372036854775807\r\n", "REQ touch k -1"));
    l.add(c("touch exptime wraps", "touch k 4294967296\r\n", "REQ touch k 0"));
    l.add(c("touch key checked first", "touch " + K251 + " x\r\n", BAD_FORMAT));

    // delete
    l.add(c("delete", "delete k\r\n", "REQ delete k"));
    l.add(c("delete 0", "delete k 0\r\n", "REQ delete k"));
    l.add(c("delete 5", "delete k 5\r\n", BAD_DELETE));
    l.add(c("delete 00", "delete k 00\r\n", BAD_DELETE));
    l.add(c("delete noreply", "delete k noreply\r\n", "REQ delete k noreply"));
    l.add(c("delete 0 noreply", "delete k 0 noreply\r\n", "REQ delete k noreply"));
    l.add(c("delete 5 noreply", "delete k 5 noreply\r\n", SILENT));
    l.add(c("delete 0 foo", "delete k 0 foo\r\n", BAD_DELETE));
    l.add(c("delete noreply 0", "delete k noreply 0\r\n", BAD_DELETE));
    l.add(c("bare delete", "delete\r\n", ERROR));
    l.add(c("delete too many tokens", "delete k 0 noreply x\r\n", ERROR));
    l.add(c("delete long key", "delete " + K251 + "\r\n", BAD_FORMAT));
    l.add(c("delete long key noreply", "delete " + K251 + " noreply\r\n", SILENT));
    l.add(c("delete long key 5", "delete " + K251 + " 5\r\n", BAD_DELETE));
    l.add(c("delete a key named noreply", "delete noreply\r\n", "REQ delete noreply"));

    // flush_all
    l.add(c("flush_all", "flush_all\r\n", "REQ flush_all"));
    l.add(c("flush_all 0", "flush_all 0\r\n", "REQ flush_all 0"));
    l.add(c("flush_all -1", "flush_all -1\r\n", "REQ flush_all -1"));
    l.add(c("flush_all noreply", "flush_all noreply\r\n", "REQ flush_all noreply"));
    l.add(c("flush_all delay noreply", "flush_all 10 noreply\r\n", "REQ flush_all 10 noreply"));
    l.add(c("flush_all extra token", "flush_all 10 foo\r\n", "REQ flush_all 10"));
    l.add(c("flush_all bad delay", "flush_all foo\r\n", BAD_EXPTIME));
    l.add(c("flush_all bad delay noreply", "flush_all foo noreply\r\n", SILENT));
    l.add(c("flush_all noreply first", "flush_all noreply 10\r\n", BAD_EXPTIME));
    l.add(c("flush_all noreply twice", "flush_all noreply noreply\r\n", SILENT));
    l.add(c("flush_all too many tokens", "flush_all 1 2 3\r\n", ERROR));
    l.add(c("flush_all delay over long", "flush_all 9223372036854775808\r\n", BAD_EXPTIME));
    l.add(c("flush_all delay wraps", "flush_all 4294967296\r\n", "REQ flush_all 0"));

    // verbosity, quit, stats
    l.add(c("bare verbosity", "verbosity\r\n", ERROR));
    l.add(c("verbosity", "verbosity 1\r\n", "REQ verbosity"));
    l.add(c("verbosity bad level", "verbosity x\r\n", BAD_FORMAT));
    l.add(c("verbosity noreply alone", "verbosity noreply\r\n", SILENT));
    l.add(c("verbosity noreply", "verbosity 1 noreply\r\n", "REQ verbosity noreply"));
    l.add(c("verbosity extra token", "verbosity 1 foo\r\n", "REQ verbosity"));
    l.add(c("verbosity too many tokens", "verbosity 1 2 3\r\n", ERROR));
    l.add(c("quit", "quit\r\n", "REQ quit"));
    l.add(c("quit ignores arguments", "quit foo\r\n", "REQ quit"));
    l.add(c("stats", "stats\r\n", "REQ stats"));
    l.add(c("stats arguments", "stats foo\r\n", "REQ stats [foo]"));
    l.add(
        c("stats arguments rejoined", "stats  detail   dump \r\n", "REQ stats [detail\\x20dump]"));
    l.add(c("stats noreply is an argument", "stats noreply\r\n", "REQ stats [noreply]"));
    l.add(
        c(
            "stats past the token window",
            "stats items " + tokens("t", 40) + "\r\n",
            "REQ stats [items\\x20" + tokens("t", 40).replace(" ", "\\x20") + "]"));
    l.add(c("version past the token window", "version " + tokens("t", 40) + "\r\n", VERSION));

    // HTTP requests close the connection, but only where memcached's dispatch reaches that check.
    l.add(last("HTTP request", "GET / HTTP/1.1\r\nversion\r\n", CLOSE));
    l.add(last("HTTP version alone", "HTTP/1.1\r\n", CLOSE));
    l.add(last("HTTP prefix", "foo HTTP/\r\n", CLOSE));
    l.add(c("not quite HTTP", "foo HTTP\r\n", ERROR));
    l.add(c("HTTP after a g word", "gopher / HTTP/1.1\r\n", ERROR));
    l.add(last("HTTP as 23rd token", "foo " + tokens("t", 21) + " HTTP/1.1\r\n", CLOSE));
    // Only the first 23 tokens are looked at, so the 24th is not the "last token".
    l.add(c("HTTP as 24th token", "foo " + tokens("t", 22) + " HTTP/1.1\r\n", ERROR));
    l.add(last("HTTP as 23rd of 24 tokens", "foo " + tokens("t", 21) + " HTTP/1.1 x\r\n", CLOSE));
    l.add(c("two-letter m word", "mz\r\n", ERROR));

    // Exemption: commands mcmux never forwards.
    for (String word :
        List.of(
            "watch",
            "lru_crawler",
            "lru",
            "slabs",
            "shutdown",
            "cache_memlimit",
            "extstore",
            "debugtime",
            "misbehave",
            "refresh_certs")) {
      l.add(
          c(
              "unsupported " + word,
              word + " x\r\n",
              "REPLY CLIENT_ERROR " + word + " is not supported through mcmux"));
    }

    // Meta commands: parsed as memcached 1.6.18 parses them, re-emitted canonically with mcmux's
    // own opaque (written here as tag 7), q and the client's opaque kept aside.
    String x31 = "x".repeat(31);
    String x32 = "x".repeat(32);
    l.add(c("mn", "mn\r\nversion\r\n", "META mn", VERSION));
    l.add(c("mn ignores its tokens", "mn x y\r\n", "META mn"));
    l.add(c("mg", "mg k v\r\nversion\r\n", "META mg k v O7", VERSION));
    l.add(c("mg bare", "mg k\r\n", "META mg k O7"));
    l.add(
        c(
            "mg opaque in place, q aside",
            "mg k s O123 q v\r\n",
            "META mg k s O7 v quiet opaque=O123"));
    l.add(c("mg empty opaque", "mg k O\r\n", "META mg k O7 opaque=O"));
    l.add(c("mg canonical flag tokens", "mg k vxyz T+010 kfoo\r\n", "META mg k v T10 k O7"));
    l.add(c("mg exptime cut to 32 bits", "mg k T4294967297\r\n", "META mg k T1 O7"));
    l.add(c("mg base64 key", "mg Zm9v b v\r\n", "META mg Zm9v b v O7 routing=foo"));
    l.add(
        c(
            "mg base64 skips bytes outside the alphabet",
            "mg Zm9v!! b\r\n",
            "META mg Zm9v b O7 routing=foo"));
    l.add(c("mg base64 stops at padding", "mg Zg==Zm9v b\r\n", "META mg Zg== b O7 routing=f"));
    l.add(c("mg bad base64", "mg Zm9 b v\r\n", "REPLY CLIENT_ERROR error decoding key"));
    l.add(c("mg base64 of three pads", "mg A=== b\r\n", "REPLY CLIENT_ERROR error decoding key"));
    l.add(c("mg no key", "mg\r\nversion\r\n", ERROR, VERSION));
    l.add(c("mg long key", "mg " + K251 + " v\r\n", BAD_FORMAT));
    l.add(c("mg 250-byte key", "mg " + K250 + "\r\n", "META mg " + K250 + " O7"));
    l.add(
        c(
            "mg too many tokens",
            "mg k " + tokens("O", 18) + "\r\n",
            "REPLY CLIENT_ERROR options flags are too long"));
    l.add(c("mg duplicate flag", "mg k v v\r\n", "REPLY CLIENT_ERROR duplicate flag"));
    l.add(c("mg unknown flag", "mg k Z\r\n", "REPLY CLIENT_ERROR invalid flag"));
    l.add(c("mg high byte flag", "mg k \u00e9\r\n", "REPLY CLIENT_ERROR duplicate flag"));
    l.add(c("mg bad number", "mg k Tx\r\n", "REPLY CLIENT_ERROR bad token in command line format"));
    l.add(c("mg bad F keeps the default error", "mg k F-1\r\n", BAD_FORMAT));
    l.add(
        c(
            "mg last error wins",
            "mg k Tx Jx\r\n",
            "REPLY CLIENT_ERROR invalid numeric initial value"));
    l.add(c("mg invalid flag beats", "mg k Tx Z\r\n", "REPLY CLIENT_ERROR invalid flag"));
    l.add(
        c("mg M of wrong length", "mg k M\r\n", "REPLY CLIENT_ERROR incorrect length for M token"));
    l.add(c("mg ignores the mode", "mg k MX\r\n", "META mg k MX O7"));
    l.add(
        c(
            "mg over-long opaque goes upstream as it is",
            "mg k O" + x32 + " v\r\n",
            "META mg k O" + x32 + " v untagged opaque=O" + x32));
    l.add(c("md", "md k q C5\r\n", "META md k C5 O7 quiet"));
    l.add(
        c(
            "md too many tokens",
            "md k " + tokens("O", 18) + "\r\n",
            "REPLY CLIENT_ERROR options flags too long"));
    l.add(c("md flag error", "md k Tx\r\n", "REPLY CLIENT_ERROR invalid or duplicate flag"));
    l.add(
        c(
            "md opaque too long",
            "md k O" + x32 + "\r\n",
            "REPLY CLIENT_ERROR opaque token too long"));
    l.add(c("md opaque of 32 bytes", "md k O" + x31 + "\r\n", "META md k O7 opaque=O" + x31));
    l.add(c("ma", "ma k\r\n", "META ma k O7"));
    l.add(c("ma mode and numbers", "ma k MD D+05 J007 N0 v\r\n", "META ma k MD D5 J7 N0 v O7"));
    l.add(c("ma bad mode", "ma k MX\r\n", "REPLY CLIENT_ERROR invalid mode for ma M token"));
    l.add(
        c("ma M of wrong length", "ma k MDD\r\n", "REPLY CLIENT_ERROR invalid or duplicate flag"));
    l.add(c("ma bad delta", "ma k D-1\r\n", "REPLY CLIENT_ERROR invalid or duplicate flag"));
    l.add(
        c("ma max delta", "ma k D18446744073709551615\r\n", "META ma k D18446744073709551615 O7"));
    l.add(
        c(
            "mg opaque cut to one byte over the limit upstream",
            "mg k O" + x32 + "yyy\r\n",
            "META mg k O" + x32 + " untagged opaque=O" + x32 + "yyy"));
    l.add(
        c(
            "ma over-long opaque goes upstream as it is",
            "ma k O" + x32 + "\r\n",
            "META ma k O" + x32 + " untagged opaque=O" + x32));
    l.add(c("me", "me k\r\n", "META me k untagged"));
    l.add(c("me base64", "me Zm9v b\r\n", "META me Zm9v b untagged routing=foo"));
    l.add(c("me ignores other tokens", "me k zz b\r\n", "META me k untagged"));
    l.add(c("me bad base64", "me Zm9 b\r\n", BAD_FORMAT));
    l.add(c("me without key", "me\r\n", BAD_FORMAT));
    l.add(c("unknown meta command", "mz k\r\n", ERROR));
    l.add(c("ms", "ms k 1\r\nx\r\nversion\r\n", "META ms k 1 O7 data=x", VERSION));
    l.add(
        c(
            "ms flags",
            "ms k 3 T0 F5 q\r\nxyz\r\nversion\r\n",
            "META ms k 3 T0 F5 O7 quiet data=xyz",
            VERSION));
    l.add(
        c(
            "ms flags wrap",
            "ms k 1 F4294967301 C18446744073709551615\r\nx\r\n",
            "META ms k 1 F5 C18446744073709551615 O7 data=x"));
    l.add(
        c(
            "ms unknown flag swallows the data",
            "ms k 1 Z\r\nx\r\nversion\r\n",
            "REPLY CLIENT_ERROR invalid flag",
            VERSION));
    l.add(
        c(
            "ms length wraps",
            "ms k 4294967297\r\nx\r\nversion\r\n",
            "META ms k 1 O7 data=x",
            VERSION));
    l.add(
        c("ms length with tab", "ms k 1\tz\r\nx\r\nversion\r\n", "META ms k 1 O7 data=x", VERSION));
    l.add(
        c(
            "ms bad chunk is length+2 and answered even quiet",
            "ms k 1 q\r\nxx\r\nversion\r\n",
            BAD_CHUNK,
            ERROR,
            VERSION));
    l.add(c("ms without length", "ms k\r\nversion\r\n", BAD_FORMAT, VERSION));
    l.add(c("bare ms", "ms\r\nversion\r\n", ERROR, VERSION));
    l.add(c("ms bad length", "ms k x\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("ms negative length", "ms k -1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(c("ms long key", "ms " + K251 + " 1\r\nx\r\n", BAD_FORMAT, ERROR));
    l.add(
        c(
            "ms with 19 tokens",
            "ms k 1 T0 F0 O1 k c q I s t f v h u P L N0\r\nx\r\nversion\r\n",
            "META ms k 1 T0 F0 O7 k c I s t f v h u P L N0 quiet opaque=O1 data=x",
            VERSION));
    l.add(
        c(
            "ms with 19 tokens and no room for the tag",
            "ms k 1 T0 F0 k c I s t f v h u P L N0 C0 l\r\nx\r\n",
            "META ms k 1 T0 F0 k c I s t f v h u P L N0 C0 l untagged data=x"));
    l.add(
        c(
            "ms with 20 tokens",
            "ms k 1 " + tokens("O", 17) + "\r\nx\r\n",
            "REPLY CLIENT_ERROR options flags too long",
            ERROR));
    l.add(
        c(
            "ms bad mode swallows",
            "ms k 1 MX\r\nx\r\nversion\r\n",
            "REPLY CLIENT_ERROR invalid mode for ms M token",
            VERSION));
    l.add(
        c(
            "ms over-long opaque swallows",
            "ms k 1 O" + x32 + "\r\nx\r\nversion\r\n",
            "REPLY CLIENT_ERROR opaque token too long",
            VERSION));
    l.add(
        c(
            "ms bad mode before long opaque",
            "ms k 1 O" + x32 + " MX\r\nx\r\n",
            "REPLY CLIENT_ERROR invalid mode for ms M token"));
    l.add(c("ms base64", "ms Zm9v 1 b\r\nx\r\n", "META ms Zm9v 1 b O7 routing=foo data=x"));
    l.add(
        c(
            "ms too large unlinks the key",
            "ms Zm9v 1025 b T0\r\n" + "x".repeat(1025) + "\r\nversion\r\n",
            "META md Zm9v b O7 routing=foo then REPLY SERVER_ERROR object too large for cache",
            VERSION));
    l.add(
        c(
            "pipelined meta",
            "mg a v q O1\r\nms b 2 q\r\nhi\r\nmn\r\nmd c q\r\n",
            "META mg a v O7 quiet opaque=O1",
            "META ms b 2 O7 quiet data=hi",
            "META mn",
            "META md c O7 quiet"));

    // Too-large values: answered, then length+2 bytes swallowed; a set also unlinks the key.
    String big = "x".repeat(1025);
    l.add(
        c(
            "set too large",
            "set k 0 0 1025\r\n" + big + "\r\nversion\r\n",
            TOO_LARGE + " after delete k",
            VERSION));
    l.add(
        c(
            "set too large noreply",
            "set k 0 0 1025 noreply\r\n" + big + "\r\nversion\r\n",
            SILENT + " after delete k noreply",
            VERSION));
    l.add(c("add too large", "add k 0 0 1025\r\n" + big + "\r\nversion\r\n", TOO_LARGE, VERSION));
    l.add(c("cas too large", "cas k 0 0 1025 1\r\n" + big + "\r\nversion\r\n", TOO_LARGE, VERSION));
    l.add(
        c(
            "too large swallows exactly length+2",
            "set k 0 0 1025\r\n" + big + "XYget k\r\n",
            TOO_LARGE + " after delete k",
            "REQ get k"));
    l.add(
        c(
            "largest accepted value",
            "set k 0 0 1024\r\n" + "v".repeat(1024) + "\r\n",
            "REQ set k 0 0 1024 data=" + "v".repeat(1024)));
    l.add(
        last(
            "too large, block still arriving",
            "set k 0 0 2147483645\r\nversion\r\n",
            TOO_LARGE + " after delete k"));

    // Long lines. memcached closes when over 2048 bytes without LF are buffered.
    String keys600 = tokens("key", 600);
    l.add(c("long get", "get " + keys600 + "\r\n", "REQ get " + keys600));
    l.add(c("long gets", "gets " + keys600 + "\r\n", "REQ gets " + keys600));
    l.add(
        c(
            "long get after 100 spaces",
            " ".repeat(100) + "get " + keys600 + "\r\n",
            "REQ get " + keys600));
    l.add(last("long get after 101 spaces", " ".repeat(101) + "get " + keys600 + "\r\n", CLOSE));
    l.add(last("long gat", "gat 0 " + keys600 + "\r\n", CLOSE));
    l.add(last("long get with a tab", "get\t" + keys600 + "\r\n", CLOSE));
    l.add(last("long bget", "bget " + keys600 + "\r\n", CLOSE));
    l.add(last("long set line", "set k 0 0 1" + " ".repeat(2990) + "\r\nx\r\n", CLOSE));
    l.add(last("long line without LF", "version" + " ".repeat(3000), CLOSE));
    l.add(c("2048 bytes then LF", "version" + " ".repeat(2041) + "\n", VERSION));
    l.add(c("2047 bytes then CRLF", "version" + " ".repeat(2040) + "\r\n", VERSION));
    l.add(last("2049 bytes then LF", "version" + " ".repeat(2042) + "\n", CLOSE));
    l.add(last("2048 bytes then CRLF", "version" + " ".repeat(2041) + "\r\n", CLOSE));
    // Exemption: memcached has no limit for get lines, mcmux has maxGetLineBytes.
    String keys1300 = tokens("key", 1300);
    l.add(last("get line over the mcmux limit", "get " + keys1300 + "\r\n", CLOSE));

    // Incomplete input: nothing yet.
    l.add(last("line without LF", "get a"));
    l.add(last("value not complete", "set k 0 0 5\r\nab"));
    l.add(last("value without CRLF yet", "set k 0 0 1\r\nx"));
    return l;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void wholeInput(Case c) {
    assertEquals(c.expected(), decodeWhole(c.input()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void splitAtEveryByte(Case c) {
    for (int at = 1; at < c.input().length; at++) {
      assertEquals(c.expected(), decodeSplit(c.input(), at), "split before byte " + at);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void oneByteAtATime(Case c) {
    assertEquals(c.expected(), decodeBytewise(c.input()));
  }

  @Test
  void allCasesPipelinedInOneStream() {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    List<String> expected = new ArrayList<>();
    for (Case c : cases()) {
      if (!c.terminal()) {
        all.writeBytes(c.input());
        expected.addAll(c.expected());
      }
    }
    byte[] input = all.toByteArray();
    assertEquals(expected, decodeWhole(input));
    assertEquals(expected, decodeBytewise(input));
    Random random = new Random(20260714);
    for (int round = 0; round < 50; round++) {
      assertEquals(expected, decodeChunks(randomChunks(input, random)), "round " + round);
    }
  }

  static List<byte[]> randomChunks(byte[] input, Random random) {
    List<byte[]> chunks = new ArrayList<>();
    int i = 0;
    while (i < input.length) {
      int n = Math.min(input.length - i, 1 + random.nextInt(random.nextBoolean() ? 8 : 3000));
      chunks.add(Arrays.copyOfRange(input, i, i + n));
      i += n;
    }
    return chunks;
  }

  @Test
  void numbersAreKeptAsMemcachedStoresThem() {
    AsciiRequest r =
        only("cas k 4294967295 -2 3 18446744073709551615 noreply\r\nabc\r\n").request();
    try {
      assertEquals(Command.CAS, r.command());
      assertEquals(-1, r.flags());
      assertEquals(-2, r.exptime());
      assertEquals(-1L, r.cas());
      assertEquals(3, r.data().readableBytes());
      assertEquals(true, r.noreply());
      assertArrayEquals(bytes("k"), r.keys().get(0));
      assertNull(r.arguments());
    } finally {
      r.release();
    }
    AsciiRequest incr = only("incr k 18446744073709551615\r\n").request();
    assertEquals(-1L, incr.delta());
    assertNull(incr.data());
    AsciiRequest stats = only("stats\r\n").request();
    assertNull(stats.arguments());
    AsciiRequest flush = only("flush_all 7\r\n").request();
    assertEquals(7, flush.exptime());
    assertEquals(true, flush.hasDelay());
  }

  private static DecodeResult.Request only(String input) {
    ByteBuf in = Unpooled.wrappedBuffer(bytes(input));
    try {
      DecodeResult r = DecoderHarness.decoder().decode(in);
      assertFalse(in.isReadable(), "input left over");
      return assertInstanceOf(DecodeResult.Request.class, r);
    } finally {
      in.release();
    }
  }

  @Test
  void valueIsAZeroCopySliceOfTheInput() {
    ByteBuf in = Unpooled.buffer();
    in.writeBytes(bytes("set k 0 0 3\r\nabc\r\nget k\r\n"));
    AsciiRequestDecoder d = DecoderHarness.decoder();
    DecodeResult.Request set = assertInstanceOf(DecodeResult.Request.class, d.decode(in));
    ByteBuf data = set.request().data();
    assertEquals(2, in.refCnt(), "the slice retains the input");
    assertEquals("abc", data.toString(StandardCharsets.US_ASCII));
    in.setByte(13, 'A');
    assertEquals("Abc", data.toString(StandardCharsets.US_ASCII), "the value shares the input");
    DecodeResult.Request get = assertInstanceOf(DecodeResult.Request.class, d.decode(in));
    assertEquals("REQ get k", DecoderHarness.describe(get));
    assertSame(DecodeResult.NEED_MORE, d.decode(in));
    set.request().release();
    assertEquals(1, in.refCnt());
    in.release();
    assertEquals(0, data.refCnt());
  }

  @Test
  void swallowDiscardsBytesWhileWaiting() {
    AsciiRequestDecoder d = DecoderHarness.decoder();
    ByteBuf in = Unpooled.buffer();
    try {
      in.writeBytes(bytes("set k 0 0 2000\r\n"));
      in.writeBytes(new byte[500]);
      DecodeResult.LocalReply reply = assertInstanceOf(DecodeResult.LocalReply.class, d.decode(in));
      assertEquals(TOO_LARGE + " after delete k", DecoderHarness.describe(reply));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
      assertFalse(in.isReadable(), "swallowed bytes are discarded, not kept");
      in.writeBytes(new byte[1500]);
      in.writeBytes(bytes("\r\nversion\r\n"));
      assertEquals(VERSION, DecoderHarness.describe(d.decode(in)));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
    } finally {
      in.release();
    }
  }

  @Test
  void needMoreConsumesNothingOtherwise() {
    AsciiRequestDecoder d = DecoderHarness.decoder();
    ByteBuf in = Unpooled.buffer();
    try {
      in.writeBytes(bytes("set k 0 0 10\r\nabc"));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
      assertEquals(0, in.readerIndex());
      in.writeBytes(bytes("get a b"));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
      assertEquals(0, in.readerIndex());
    } finally {
      in.release();
    }
  }

  @Test
  void maxValueBytesCanChange() {
    AsciiRequestDecoder d = DecoderHarness.decoder();
    d.maxValueBytes(2);
    assertEquals(2, d.maxValueBytes());
    ByteBuf in = Unpooled.wrappedBuffer(bytes("add k 0 0 3\r\nabc\r\nadd k 0 0 2\r\nab\r\n"));
    try {
      assertEquals(TOO_LARGE, DecoderHarness.describe(d.decode(in)));
      DecodeResult.Request r = assertInstanceOf(DecodeResult.Request.class, d.decode(in));
      assertEquals("REQ add k 0 0 2 data=ab", DecoderHarness.describe(r));
      r.request().release();
    } finally {
      in.release();
    }
    assertThrows(IllegalArgumentException.class, () -> d.maxValueBytes(-1));
  }

  @Test
  void getLinesCanBeUnlimited() {
    AsciiRequestDecoder d = new AsciiRequestDecoder(1024, Integer.MAX_VALUE);
    String keys = tokens("key", 5000);
    ByteBuf in = Unpooled.buffer();
    try {
      in.writeBytes(bytes("get " + keys));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
      in.writeBytes(bytes("\r\nget a\r\n"));
      assertEquals("REQ get " + keys, DecoderHarness.describe(d.decode(in)));
      assertEquals("REQ get a", DecoderHarness.describe(d.decode(in)));
      assertSame(DecodeResult.NEED_MORE, d.decode(in));
    } finally {
      in.release();
    }
  }

  @Test
  void getLineLimitIsAtLeastMemcachedsLineLimit() {
    assertThrows(IllegalArgumentException.class, () -> new AsciiRequestDecoder(1024, 2047));
    new AsciiRequestDecoder(1024, AsciiRequestDecoder.MAX_LINE_BYTES);
  }

  @Test
  void repliesAreFreshArrays() {
    ByteBuf in = Unpooled.wrappedBuffer(bytes("xy\r\nxy\r\n"));
    try {
      AsciiRequestDecoder d = DecoderHarness.decoder();
      byte[] first = ((DecodeResult.LocalReply) d.decode(in)).reply();
      first[0] = 'Z';
      byte[] second = ((DecodeResult.LocalReply) d.decode(in)).reply();
      assertEquals("ERROR\r\n", new String(second, StandardCharsets.US_ASCII));
    } finally {
      in.release();
    }
  }
}
