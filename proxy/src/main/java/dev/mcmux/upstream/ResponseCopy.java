package dev.mcmux.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** Copies a small response out of the upstream buffer it was framed in, without garbage. */
public final class ResponseCopy {

  private ResponseCopy() {}

  /**
   * A fresh buffer of exactly {@code frame}'s readable bytes; releases {@code frame}. A small
   * response held for a slow client then pins only its own bytes, never the upstream chunk.
   *
   * <p>The copy is read from {@code frame} into the new buffer, never written into it: Netty 4.2's
   * adaptive buffers implement {@code setBytes} from a slice through two new NIO {@code ByteBuffer}
   * views (two objects per response), while {@code getBytes} into a direct buffer copies memory by
   * address.
   */
  public static ByteBuf compact(ByteBufAllocator alloc, ByteBuf frame) {
    int length = frame.readableBytes();
    ByteBuf copy = alloc.directBuffer(length);
    try {
      frame.getBytes(frame.readerIndex(), copy, 0, length);
      copy.writerIndex(length);
    } catch (RuntimeException e) {
      copy.release();
      throw e;
    } finally {
      frame.release();
    }
    return copy;
  }
}
