package dev.mcmux.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

// The extension runs here too: a leak caught inside a test is consumed, so it must not fail it.
@ExtendWith(LeakDetection.class)
class LeakDetectionTest {

  @Test
  void reportsABufferThatWasNeverReleased() {
    String hint = leakOneBuffer(ByteBufAllocator.DEFAULT);

    List<String> leaks = LeakDetection.collectLeaks();

    assertEquals(1, leaks.size(), leaks.toString());
    assertTrue(leaks.get(0).startsWith("LEAK of ByteBuf"), leaks.get(0));
    assertTrue(leaks.get(0).contains(hint), leaks.get(0));
  }

  @Test
  void failsTheCheckWithNettysReportAndTheScope() {
    String hint = leakOneBuffer(PooledByteBufAllocator.DEFAULT);

    AssertionError failure =
        assertThrows(AssertionError.class, () -> new LeakDetection().assertNoLeaks("scope-x"));

    assertTrue(failure.getMessage().startsWith("1 Netty resource leak(s) in scope-x"));
    assertTrue(failure.getMessage().contains(hint), failure.getMessage());
    assertTrue(failure.getMessage().contains("leakOneBuffer"), "carries the allocation trace");
  }

  @Test
  void seesLeaksFromEveryAllocatorAndForgetsWhatItReported() {
    String pooled = leakOneBuffer(PooledByteBufAllocator.DEFAULT);
    String unpooled = leakOneBuffer(UnpooledByteBufAllocator.DEFAULT);

    String all = String.join("\n", LeakDetection.collectLeaks());

    assertTrue(all.contains(pooled) && all.contains(unpooled), all);
    assertEquals(List.of(), LeakDetection.collectLeaks());
  }

  @Test
  void seesLeaksOfResourcesOtherThanBuffers() throws Exception {
    leakOneSslContext();

    String all = String.join("\n", LeakDetection.collectLeaks());

    assertTrue(all.startsWith("LEAK of ReferenceCountedOpenSslContext"), all);
  }

  private static void leakOneSslContext() throws Exception {
    // The reference-counted OpenSSL context is tracked by its own detector, not the ByteBuf one.
    SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL_REFCNT).build();
  }

  @Test
  void releasedAndStillReachableBuffersAreNotLeaks() {
    ByteBuf kept = ByteBufAllocator.DEFAULT.directBuffer(64);
    for (int i = 0; i < 100; i++) {
      ByteBuf buf = ByteBufAllocator.DEFAULT.directBuffer(128);
      buf.writeLong(i);
      buf.release();
    }

    assertEquals(List.of(), LeakDetection.collectLeaks());
    assertTrue(kept.release());
  }

  /** Leaks in its own frame so the buffer is unreachable once it returns. */
  private static String leakOneBuffer(ByteBufAllocator allocator) {
    String hint = "deliberate-leak-" + UUID.randomUUID();
    ByteBuf buf = allocator.directBuffer(16);
    buf.touch(hint);
    buf.writeInt(42);
    return hint;
  }
}
