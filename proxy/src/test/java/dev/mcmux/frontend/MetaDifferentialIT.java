package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.mcmux.testing.Differential;
import dev.mcmux.testing.Differential.Answer;
import dev.mcmux.testing.Differential.Delivery;
import dev.mcmux.testing.Differential.Result;
import dev.mcmux.testing.LeakDetection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Differential test of the meta protocol: each request below goes to a plain memcached 1.6.18
 * directly and through mcmux to a TLS memcached with the same options ({@code -I 1k}), in one write
 * and split into single bytes (small chunks when long); both must answer the same bytes and close,
 * or not, alike. mcmux sends every meta request upstream with its own opaque and without {@code q},
 * so these cases prove the client never sees either.
 *
 * <p>Exemptions (mcmux differs from memcached 1.6.18, by design or because it cannot know):
 *
 * <pre>
 * request                          | memcached                        | mcmux                            | why
 * ---------------------------------+----------------------------------+----------------------------------+------------------------------
 * returned c (CAS), me's cas= la=  | this server's values             | the upstream's values            | two servers; compared with
 * exp=, returned t and l           |                                  |                                  | the digits masked
 * ma q N&lt;ttl&gt; on a miss that    | HD (or VA): only an increment is | nothing: an increment and a      | the reply does not say which
 * creates the item                 | quiet, not a creation            | creation answer alike            | happened; asserted below
 * ms with a value of 965..1024     | SERVER_ERROR object too large    | forwards it; upstream answers the| equal answers: compared below
 * bytes (slab limit..item size)    |                                  | same                             |
 * ms, mg, md, ma of 18 tokens      | echoes nothing extra             | sends it upstream without mcmux's| equal answers: compared below;
 * without O or q                   |                                  | tag (no token left for it)       | that response is not checked
 *                                  |                                  |                                  | against a tag
 * mg/ma with an opaque over 32     | CLIENT_ERROR opaque token too    | forwards the client's opaque, so | equal answers: compared below
 * bytes                            | long after the command ran       | the command runs as well         |
 * me                               | item internals                   | the upstream's item internals    | read-only, forwarded untagged
 * mn                               | MN after flushing                | MN in the client's order         | equal: compared below
 * </pre>
 */
@ExtendWith(LeakDetection.class)
class MetaDifferentialIT {

  @TempDir static Path dir;
  static Differential diff;

  private static final String K250 = "k".repeat(250);
  private static final String K251 = "k".repeat(251);
  private static final String O32 = "O" + "x".repeat(31);
  private static final String O33 = "O" + "x".repeat(32);

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

  private static List<Case> cases() {
    List<Case> c = new ArrayList<>();
    // mg
    c.add(same("mg miss", "mg k v\r\nmg k\r\nmg k s v f t k O123\r\nmg k O\r\n"));
    c.add(
        same(
            "mg hit with every value flag",
            "ms k 5 F77\r\nhello\r\nmg k v\r\nmg k s v f k O99 q\r\nmg k h\r\nmg k\r\n"));
    c.add(masked("mg returns cas", "ms k 1\r\na\r\nmg k c v\r\nmg k O5 c\r\n"));
    c.add(masked("mg ttl and last access", "ms k 1 T0\r\na\r\nmg k t l h\r\n"));
    c.add(masked("mg touch", "ms k 1\r\na\r\nmg k T-1 v\r\nmg k v\r\n"));
    c.add(same("mg vivify", "mg k N0 v t\r\nmg k v t\r\nmg k N0 v\r\n"));
    c.add(same("mg no update", "ms k 1\r\na\r\nmg k u h\r\nmg k h\r\nmg k h\r\n"));
    c.add(
        masked(
            "mg stale and win tokens",
            "ms k 1 T0\r\na\r\nmd k I T0\r\nmg k v c\r\nmg k v\r\nmg k R30 v\r\n"));
    c.add(same("mg ignores the mode and cas flags", "mg k MX C5 J1 D1 I P L\r\n"));
    // ms
    c.add(same("ms then get", "ms k 5\r\nhello\r\nget k\r\nmg k v f\r\n"));
    c.add(
        same(
            "ms flags",
            "ms k 2 F123 T0\r\nhi\r\nmg k f v t\r\nms k 1 F4294967301\r\nx\r\nmg k f\r\n"));
    c.add(
        same(
            "ms modes",
            "ms k 1 ME\r\na\r\nms k 1 ME\r\nb\r\nms k 1 MA\r\nc\r\nms k 1 MP\r\nz\r\n"
                + "ms x 1 MR\r\nr\r\nms k 1 MR\r\nr\r\nms k 1 MS\r\ns\r\nmg k v\r\n"
                + "ms y 1 MA\r\na\r\nms y 1 MP\r\na\r\n"));
    c.add(same("ms cas mismatch", "ms k 1\r\na\r\nms k 1 C1\r\nb\r\nmg k v\r\nms q 1 C1\r\nb\r\n"));
    c.add(masked("ms returns cas and key", "ms k 1 O2 k c\r\nx\r\nms k 1 c O3\r\ny\r\n"));
    c.add(same("ms empty value", "ms k 0\r\n\r\nmg k v s\r\n"));
    c.add(same("ms value holding CRLF", "ms k 7\r\nEND\r\nab\r\nmg k v\r\n"));
    c.add(same("ms invalidate needs cas", "ms k 1 I\r\na\r\nmg k v\r\n"));
    // md
    c.add(same("md", "md k\r\nms k 1\r\na\r\nmd k q\r\nmd k q\r\nmd k\r\nmg k v\r\n"));
    c.add(same("md opaque and key", "md k O1 k\r\nms k 1\r\na\r\nmd k k O2\r\n"));
    c.add(same("md cas mismatch", "ms k 1\r\na\r\nmd k C1\r\nmd k C1 q\r\nmg k v\r\n"));
    c.add(same("md invalidate", "ms k 1\r\na\r\nmd k I T30 q\r\nmg k v\r\nmd k I\r\n"));
    // ma
    c.add(
        same(
            "ma",
            "ma n\r\nms n 2\r\n10\r\nma n\r\nma n v\r\nma n MD D3 v\r\nma n q\r\nma n v q\r\n"
                + "mg n v\r\nma n M- D100 v\r\nma n M+ D18446744073709551615 v\r\n"));
    c.add(same("ma vivify", "ma n N0 J5 v\r\nma n v\r\nma m N0 v k O1\r\n"));
    c.add(same("ma non-numeric", "ms k 1\r\nx\r\nma k\r\nma k q\r\n"));
    c.add(same("ma missing", "ma k q\r\nma k O1 q k\r\nma k MI\r\n"));
    c.add(masked("ma returns cas and ttl", "ms n 1 T0\r\n1\r\nma n c t v\r\n"));
    // base64 keys
    c.add(
        same(
            "base64 keys",
            "ms Zm9v 3 b\r\nbar\r\nmg Zm9v b v k\r\nmg foo v k\r\nmg Zm9v!! b v\r\n"
                + "mg Zm9v b k\r\nmd Zm9v b q\r\nmg foo v\r\n"));
    c.add(
        same(
            "base64 binary key",
            "ms AAEC/w== 2 b\r\nhi\r\nmg AAEC/w== b v k\r\nma AAEC/w== b\r\nmd AAEC/w== b k\r\n"
                + "mg AAEC/w== b k O1\r\n"));
    c.add(same("base64 miss returns the key", "mg Zm9vYg== b k O2\r\nma Zg== b k\r\n"));
    c.add(same("base64 stops at padding", "ms Zg==Zm9v 1 b\r\nx\r\nmg f v\r\nmg Zg== b v\r\n"));
    c.add(
        same(
            "bad base64",
            "mg Zm9 b\r\nms Zm9 1 b\r\nx\r\nmd Zm9 b\r\nma Zm9 b\r\nmg A=== b\r\nme Zm9 b\r\n"));
    // errors from parsing alone
    c.add(same("meta without key", "mg\r\nms\r\nmd\r\nma\r\nme\r\nms k\r\n"));
    c.add(same("unknown meta command", "mz k\r\nmgg k\r\nMG k\r\n"));
    c.add(same("duplicate flags", "mg k v v\r\nms k 1 T0 T1\r\nx\r\nmd k q q\r\nma k v v\r\n"));
    c.add(same("invalid flags", "mg k Z\r\nms k 1 Z\r\nx\r\nmd k Z\r\nma k Z\r\nmg k \u00e9\r\n"));
    c.add(
        same(
            "bad numbers",
            "mg k Tx\r\nmg k Nx\r\nmg k R\r\nmg k F-1\r\nmg k Cx\r\nmg k Jx\r\nmg k D-1\r\n"
                + "mg k Tx Jx\r\nmg k Tx Z\r\nmd k Tx\r\nma k Dx\r\nma k J-1\r\n"));
    c.add(same("numbers as strtol reads them", "ms k 1 T+0 F+05\r\nx\r\nmg k f v T\t0\r\n"));
    c.add(
        same(
            "mode tokens",
            "mg k M\r\nms k 1 M\r\nx\r\nms k 1 MX\r\nx\r\nms k 1 MEE\r\nx\r\nma k MX\r\n"
                + "ma k MDD\r\nmd k MX\r\n"));
    c.add(
        same(
            "long keys",
            "mg "
                + K251
                + " v\r\nmg "
                + K250
                + " v\r\nms "
                + K251
                + " 1\r\nx\r\nmd "
                + K251
                + "\r\nma "
                + K251
                + "\r\nme "
                + K251
                + "\r\n"));
    c.add(
        same(
            "too many tokens",
            "mg k "
                + tokens(18)
                + "\r\nms k 1 "
                + tokens(17)
                + "\r\nx\r\nmd k "
                + tokens(18)
                + "\r\nma k "
                + tokens(18)
                + "\r\n"));
    c.add(
        same(
            "19 tokens leave no room for the tag",
            "mg k "
                + flags(17)
                + "\r\nmd k "
                + flags(17)
                + "\r\nms k 1\r\na\r\nmg k "
                + flags(17)
                + "\r\n"));
    c.add(
        same(
            "opaque lengths",
            "mg k "
                + O32
                + "\r\nmg k "
                + O33
                + "\r\nms k 1 "
                + O33
                + "\r\nx\r\nmd k "
                + O33
                + "\r\nma k "
                + O33
                + "\r\nms k 1 "
                + O32
                + "\r\nx\r\nmd k "
                + O32
                + "\r\n"));
    c.add(
        same(
            "over-long opaque after the command ran",
            "ms k 1\r\na\r\nmg k T0 v "
                + O33
                + "\r\nmg k "
                + O33
                + " N0\r\nmg z N0 "
                + O33
                + "\r\nmg z v\r\nms n 1\r\n1\r\nma n "
                + O33
                + "\r\nmg n v\r\n"));
    c.add(same("ms bad mode before long opaque", "ms k 1 " + O33 + " MX\r\nx\r\n"));
    // ms framing
    c.add(
        same(
            "ms bad lengths",
            "ms k x\r\nab\r\nms k -1\r\nab\r\nms k 4294967297\r\nx\r\nms k 1\tz\r\ny\r\n"));
    c.add(same("ms bad data chunk", "ms k 1\r\nxx\r\nms k 1 q\r\nxx\r\nmg k v\r\n"));
    c.add(
        same(
            "ms too large",
            "ms k 1\r\na\r\nms k 1025 T0\r\n" + "x".repeat(1025) + "\r\nmg k v\r\n"));
    c.add(
        same(
            "ms too large quiet",
            "ms k 1\r\na\r\nms k 2000 q\r\n" + "x".repeat(2000) + "\r\nmg k v\r\n"));
    c.add(
        same(
            "ms over the slab limit",
            "ms k 1\r\na\r\nms k 1000\r\n" + "x".repeat(1000) + "\r\nmg k v\r\n"));
    c.add(
        same(
            "ms largest stored value",
            "ms k "
                + Differential.LARGEST_STORED_VALUE
                + "\r\n"
                + "x".repeat(Differential.LARGEST_STORED_VALUE)
                + "\r\nmg k s\r\n"));
    c.add(same("ms error swallows the data", "ms k 1 Z\r\nmg k v\r\nmg k v\r\n"));
    // quiet mode and mn
    c.add(
        same(
            "quiet mode",
            "mg k q\r\nmg k q v O1\r\nms k 1 q\r\na\r\nmg k q v O2\r\nms k 1 q ME\r\nb\r\n"
                + "md k q\r\nmd k q O3\r\nma k q\r\nmn\r\n"));
    c.add(same("mn barriers", "mn\r\nmg a q\r\nmg b q\r\nmn\r\nmn foo bar\r\nmn\r\n"));
    c.add(
        masked(
            "pipeline of everything",
            "ms a 1 q O1\r\n1\r\nms Yg== 2 b T0 c\r\nbb\r\nmg a v q O2\r\nmg b v k c\r\n"
                + "mg zz q k O3\r\nma a v D9\r\nmd a q\r\nmd a q O4\r\nmg k Z\r\nmn\r\n"
                + "ms c 2\r\nxxx\r\nmg c v\r\nme b\r\nmn\r\n"));
    // me
    c.add(
        masked(
            "me",
            "me k\r\nms k 1\r\na\r\nme k\r\nme k b\r\nms Zm9v 2 b\r\nxy\r\nme Zm9v b\r\nme Zm9v\r\n"));
    c.add(same("me ignores flags", "me k v q O1\r\n"));
    return c;
  }

  @TestFactory
  Stream<DynamicNode> sameAnswerAsMemcached() {
    return cases().stream()
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
                                      Result r = diff.run(c.request, d, c.name.hashCode(), true);
                                      assertEquals(
                                          c.view(r.memcached()),
                                          c.view(r.mcmux()),
                                          () -> c.name + " (" + d + "): " + r);
                                    }))));
  }

  /** Every unmasked case above, one after the other in one stream, whole and in small chunks. */
  @TestFactory
  Stream<DynamicNode> allCasesInOneStream() {
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    for (Case c : cases()) {
      if (!c.mask) {
        all.writeBytes(c.request);
      }
    }
    byte[] request = all.toByteArray();
    return Stream.of(Delivery.ONE_WRITE, Delivery.SMALL_CHUNKS)
        .map(
            d ->
                dynamicTest(
                    d.name(),
                    () -> {
                      Result r = diff.run(request, d, 7, true);
                      assertEquals(r.memcached().describe(), r.mcmux().describe(), () -> "" + r);
                    }));
  }

  /** A client that half-closes after writing still gets every answer, quiet mode applied. */
  @TestFactory
  Stream<DynamicNode> halfClosedClientsGetEveryAnswer() {
    return Stream.of(
            "mg k q\r\nmn\r\n",
            "ms k 1 q\r\na\r\nmg k v O1\r\nmd k q\r\nmd k q\r\n",
            "ms k 2\r\nab")
        .map(
            s ->
                dynamicTest(
                    Differential.escape(bytes(s)),
                    () -> {
                      Result r = diff.run(bytes(s), Delivery.HALF_CLOSE, 1);
                      assertEquals(r.memcached().describe(), r.mcmux().describe(), () -> "" + r);
                    }));
  }

  /** The one exemption in answers: a quiet ma that creates its item. */
  @TestFactory
  Stream<DynamicNode> quietArithmeticThatCreatesIsSilentThroughMcmux() {
    byte[] request = bytes("ma v q N0 J5\r\nma v q N0 J5 v\r\nmg v v\r\n");
    return Stream.of(
        dynamicTest(
            "memcached",
            () ->
                assertEquals(
                    open("HD\r\nVA 1\r\n6\r\n"),
                    diff.run(request, Delivery.ONE_WRITE, 1).memcached().describe())),
        dynamicTest(
            "mcmux",
            () ->
                assertEquals(
                    open("VA 1\r\n6\r\n"),
                    diff.run(request, Delivery.ONE_WRITE, 1).mcmux().describe())));
  }

  // ---- the table's vocabulary ----

  /**
   * One request; {@code mask} hides the digits of values that differ between two servers (CAS,
   * remaining TTL, seconds since last access, me's internals).
   */
  private record Case(String name, byte[] request, boolean mask) {
    String view(Answer a) {
      if (!mask) {
        return a.describe();
      }
      String s = new String(a.bytes(), StandardCharsets.ISO_8859_1);
      s =
          s.replaceAll(" c[0-9]+", " c#")
              .replaceAll(" t[0-9]+", " t#")
              .replaceAll(" l[0-9]+", " l#")
              .replaceAll("cas=[0-9]+", "cas=#")
              .replaceAll("la=[0-9]+", "la=#")
              .replaceAll("exp=-?[0-9]+", "exp=#");
      return Differential.escape(s.getBytes(StandardCharsets.ISO_8859_1))
          + (a.closed() ? " <closed>" : " <open>");
    }
  }

  private static Case same(String name, String request) {
    return new Case(name, bytes(request), false);
  }

  private static Case masked(String name, String request) {
    return new Case(name, bytes(request), true);
  }

  private static String open(String lines) {
    return Differential.escape(bytes(lines + Differential.SENTINEL_ANSWER)) + " <open>";
  }

  /** {@code n} tokens O0 O1 ..., which memcached counts before it looks at them. */
  private static String tokens(int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append('O').append(i);
    }
    return b.toString();
  }

  /** {@code n} distinct harmless flags without O or q. */
  private static String flags(int n) {
    String all = "skftlhuPLIcCJDMFR";
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      char f = all.charAt(i % all.length());
      String t =
          switch (f) {
            case 'C', 'J', 'D', 'F' -> f + "1";
            case 'R' -> "R30";
            case 'M' -> "MS";
            default -> String.valueOf(f);
          };
      b.append(i == 0 ? "" : " ").append(t);
    }
    return b.toString();
  }

  /** One byte per character (Latin-1), except e-acute, which becomes its two UTF-8 bytes. */
  private static byte[] bytes(String s) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(s.length() + 16);
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
}
