package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;
import java.util.List;

/**
 * One fully parsed and validated ASCII request; the only thing that may be re-encoded upstream.
 *
 * <p>Numbers are stored exactly as memcached keeps them after parsing: {@code flags} is the 32-bit
 * value (print it unsigned), {@code exptime} the wrapped 32-bit value, {@code cas} and {@code
 * delta} unsigned 64-bit values held in a {@code long} (print with {@link Long#toUnsignedString}).
 * Keys are raw bytes, never decoded to text. {@code data} is the value block without its trailing
 * CRLF, a retained buffer that whoever holds the request must {@link #release()}.
 *
 * @param command the command
 * @param keys the keys in client order (retrieval: one or more; single-key commands: one; others:
 *     none)
 * @param flags client flags of a storage command
 * @param exptime expiry of storage, touch, gat and gats commands; the delay of {@code flush_all}
 *     when {@code hasDelay}
 * @param cas the unique of a {@code cas} command
 * @param delta the amount of {@code incr}/{@code decr}
 * @param noreply whether the client asked for no reply
 * @param hasDelay whether {@code flush_all} was given a delay argument
 * @param data the value of a storage command, or null
 * @param arguments the raw argument text of {@code stats} (e.g. {@code settings}), or null
 */
public record AsciiRequest(
    Command command,
    List<byte[]> keys,
    int flags,
    int exptime,
    long cas,
    long delta,
    boolean noreply,
    boolean hasDelay,
    ByteBuf data,
    byte[] arguments)
    implements ReferenceCounted {

  @Override
  public int refCnt() {
    return data == null ? 1 : data.refCnt();
  }

  @Override
  public AsciiRequest retain() {
    if (data != null) {
      data.retain();
    }
    return this;
  }

  @Override
  public AsciiRequest retain(int increment) {
    if (data != null) {
      data.retain(increment);
    }
    return this;
  }

  @Override
  public AsciiRequest touch() {
    return this;
  }

  @Override
  public AsciiRequest touch(Object hint) {
    if (data != null) {
      data.touch(hint);
    }
    return this;
  }

  @Override
  public boolean release() {
    return data == null || data.release();
  }

  @Override
  public boolean release(int decrement) {
    return data == null || data.release(decrement);
  }
}
