package dev.mcmux.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

/**
 * Small responses in buffers of their own, made without garbage: a small response held for a slow
 * client then pins only its own bytes, never the upstream buffer it was framed in.
 *
 * <p>Copies are read out of the source into the new buffer, never written into it: Netty 4.2's
 * adaptive buffers implement {@code setBytes} from a slice through two new NIO {@code ByteBuffer}
 * views (two objects per response), while {@code getBytes} into a direct buffer copies memory by
 * address.
 */
public final class ResponseCopy {

  /** Responses shorter than this are copied; longer ones are handed on as slices. */
  public static final int COPY_BELOW = 16 * 1024;

  private ResponseCopy() {}

  /**
   * The next {@code length} bytes of {@code in} in a new buffer of exactly that size; advances
   * {@code in}. Framing a small response this way instead of as a slice makes no slice object and
   * leaves the upstream buffer unshared, so it can be compacted.
   */
  public static ByteBuf readCopy(ByteBufAllocator alloc, ByteBuf in, int length) {
    ByteBuf copy = alloc.directBuffer(length);
    in.getBytes(in.readerIndex(), copy, 0, length);
    copy.writerIndex(length);
    in.skipBytes(length);
    return copy;
  }

  /**
   * {@code frame} itself when it is already a buffer of its own holding exactly its bytes (as
   * {@link #readCopy} makes them), else a new such buffer with its bytes, releasing {@code frame}.
   */
  public static ByteBuf compact(ByteBufAllocator alloc, ByteBuf frame) {
    int length = frame.readableBytes();
    if (frame.unwrap() == null
        && !(frame instanceof CompositeByteBuf)
        && frame.readerIndex() == 0
        && frame.capacity() == length) {
      return frame;
    }
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
