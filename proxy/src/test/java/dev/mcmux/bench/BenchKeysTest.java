package dev.mcmux.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Key bytes, request encoding and the per-key version bounds. */
class BenchKeysTest {

  @Test
  void keysAreKeyColonNumber() {
    KeySpace keys = new KeySpace(1001);
    assertEquals(1001, keys.size());
    assertEquals("key:0", keys.name(0));
    assertEquals("key:1000", keys.name(1000));
    assertEquals(8, keys.length(1000));
    ByteBuf buf = Unpooled.copiedBuffer("xkey:17y", StandardCharsets.US_ASCII);
    assertTrue(keys.matches(buf, 1, 6, 17));
    assertFalse(keys.matches(buf, 1, 6, 18));
    assertFalse(keys.matches(buf, 1, 5, 17));
  }

  @Test
  void requestsAreWhatMemcachedExpects() {
    KeySpace keys = new KeySpace(100);
    ValueCodec codec = new ValueCodec(40, 1);
    RequestWriter writer = new RequestWriter(keys, codec);
    ByteBuf out = Unpooled.buffer();
    writer.get(out, 42);
    assertEquals("get key:42\r\n", out.toString(StandardCharsets.US_ASCII));
    out.clear();
    writer.set(out, 7, 1234);
    String set = out.toString(StandardCharsets.US_ASCII);
    assertTrue(set.startsWith("set key:7 1234 0 40\r\nK00000007V000004d2R00000001C"), set);
    assertTrue(set.endsWith("\r\n"));
    assertEquals("set key:7 1234 0 40\r\n".length() + 40 + 2, set.length());
  }

  @Test
  void decimalWriterMatchesToString() {
    ByteBuf out = Unpooled.buffer();
    for (int v : new int[] {0, 9, 10, 99, 100, 123_456_789, Integer.MAX_VALUE}) {
      out.clear();
      KeySpace.writeDecimal(out, v);
      assertEquals(Integer.toString(v), out.toString(StandardCharsets.US_ASCII));
    }
  }

  @Test
  void theFloorRisesOnlyWhenAKeyIsQuiet() {
    KeyVersions v = new KeyVersions(3);
    assertEquals(-1, v.latest(0));
    assertEquals(0, v.issue(0)); // preload
    v.stored(0);
    assertEquals(0, v.floor(0));

    // Two overlapping sets: the server may apply them in either order.
    assertEquals(1, v.issue(0));
    assertEquals(2, v.issue(0));
    v.stored(0);
    assertEquals(0, v.floor(0), "one of the pair is still in flight");
    assertEquals(3, v.issue(0)); // joins the same group
    v.stored(0);
    v.stored(0);
    assertEquals(1, v.floor(0), "the smallest version of the group that overlapped");
    assertEquals(3, v.latest(0));

    assertEquals(4, v.issue(0));
    v.stored(0);
    assertEquals(4, v.floor(0));
  }

  @Test
  void aFailedSetFreezesTheFloorOfItsKey() {
    KeyVersions v = new KeyVersions(1);
    v.issue(0);
    v.stored(0);
    v.issue(0); // 1, fails: it may still land later
    v.failed(0);
    v.issue(0); // 2
    v.stored(0);
    assertEquals(0, v.floor(0));
    assertEquals(2, v.latest(0));
  }

  @Test
  void durationsAndTargetsParse() {
    assertEquals(java.time.Duration.ofSeconds(30), DurationParser.parse("30s"));
    assertEquals(java.time.Duration.ofMillis(500), DurationParser.parse("500ms"));
    assertEquals(java.time.Duration.ofMinutes(2), DurationParser.parse("2m"));
    assertEquals(java.time.Duration.ofMillis(1500), DurationParser.parse("1.5"));
    assertEquals("2m", DurationParser.format(java.time.Duration.ofMinutes(2)));
    assertEquals("1500ms", DurationParser.format(java.time.Duration.ofMillis(1500)));

    Target plain = Target.parse("plain=127.0.0.1:11311");
    assertEquals(new Target("plain", "127.0.0.1", 11311, false), plain);
    Target tls = Target.parse("tls=TLS://localhost");
    assertEquals(new Target("tls", "localhost", 11211, true), tls);
    assertEquals("tls://localhost:11211", tls.address());
    assertEquals(new Target("v6", "::1", 5, false), Target.parse("v6=[::1]:5"));
  }
}
