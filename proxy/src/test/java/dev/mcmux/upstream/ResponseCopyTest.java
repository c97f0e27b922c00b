package dev.mcmux.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ResponseCopyTest {
  // Without leak tracking, so buffers are not wrapped and the no-copy path is reachable.
  private final ByteBufAllocator alloc = new UnpooledByteBufAllocator(true, true);

  private static ByteBuf ascii(ByteBufAllocator alloc, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    return alloc.directBuffer(b.length * 4).writeBytes(b);
  }

  @Test
  void readCopyTakesExactlyTheFrameAndAdvances() {
    ByteBuf in = ascii(alloc, "STORED\r\nEND\r\n");
    ByteBuf frame = ResponseCopy.readCopy(alloc, in, 8);
    assertEquals("STORED\r\n", frame.toString(StandardCharsets.US_ASCII));
    assertEquals(8, frame.capacity());
    assertEquals(8, in.readerIndex());
    assertEquals(1, in.refCnt(), "the upstream buffer is not shared with the frame");
    frame.release();
    in.release();
  }

  @Test
  void aFrameReadCopyMadeIsKeptAsItIs() {
    ByteBuf in = ascii(alloc, "END\r\n");
    ByteBuf frame = ResponseCopy.readCopy(alloc, in, 5);
    assertSame(frame, ResponseCopy.compact(alloc, frame));
    assertEquals(1, frame.refCnt());
    frame.release();
    in.release();
  }

  @Test
  void aSliceIsCopiedAndReleased() {
    ByteBuf in = ascii(alloc, "VALUE k 0 1\r\nx\r\nEND\r\n");
    ByteBuf slice = in.readRetainedSlice(in.readableBytes());
    assertEquals(2, in.refCnt());
    ByteBuf copy = ResponseCopy.compact(alloc, slice);
    assertNotSame(slice, copy);
    assertEquals(1, in.refCnt(), "the slice no longer pins the upstream buffer");
    assertEquals("VALUE k 0 1\r\nx\r\nEND\r\n", copy.toString(StandardCharsets.US_ASCII));
    assertEquals(copy.readableBytes(), copy.capacity());
    copy.release();
    in.release();
  }

  @Test
  void aCompositeOrOversizedBufferIsCopied() {
    ByteBuf part = ascii(alloc, "VALUE k 0 1\r\nx\r\n");
    CompositeByteBuf merged = alloc.compositeDirectBuffer(2);
    merged.addComponent(true, part.retainedSlice());
    merged.addComponent(
        true, Unpooled.wrappedBuffer("END\r\n".getBytes(StandardCharsets.US_ASCII)));
    ByteBuf copy = ResponseCopy.compact(alloc, merged);
    assertNotSame(merged, copy);
    assertEquals(0, merged.refCnt());
    assertEquals(1, part.refCnt());
    assertEquals("VALUE k 0 1\r\nx\r\nEND\r\n", copy.toString(StandardCharsets.US_ASCII));
    copy.release();

    ByteBuf roomy = ascii(alloc, "OK\r\n");
    ByteBuf exact = ResponseCopy.compact(alloc, roomy);
    assertNotSame(roomy, exact, "spare capacity would be held for nothing");
    assertEquals(4, exact.capacity());
    assertEquals(0, roomy.refCnt());
    exact.release();
    part.release();
  }
}
