package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;

/**
 * One fully parsed and validated binary-protocol request; the only form in which a binary request
 * may be translated upstream.
 *
 * <p>Numbers are kept as memcached reads them from the wire: {@code flags} and {@code exptime} are
 * 32-bit values, {@code cas}, {@code delta} and {@code initial} unsigned 64-bit values held in a
 * {@code long}. {@code opaque} is returned to the client unchanged. {@code value} is the value of a
 * storage request, a retained buffer that whoever holds the request must {@link #release()}.
 *
 * @param opcode the opcode as the client sent it (a quiet opcode stays quiet here)
 * @param opaque the client's opaque, echoed in every response packet
 * @param cas the CAS of the request header (0 when none)
 * @param key the key bytes (empty for opcodes without a key; {@code stat}'s group name)
 * @param flags client flags of set/add/replace
 * @param exptime expiry of set/add/replace, incr/decr, touch/gat, or the delay of flush
 * @param hasExptime whether a flush carried its 4-byte delay
 * @param delta the amount of incr/decr
 * @param initial the value incr/decr stores when the key is missing
 * @param value the value of set/add/replace/append/prepend, or null
 */
public record BinaryRequest(
    int opcode,
    int opaque,
    long cas,
    byte[] key,
    int flags,
    int exptime,
    boolean hasExptime,
    long delta,
    long initial,
    ByteBuf value) {

  /** The opcode this request runs as (its non-quiet form). */
  public int loudOpcode() {
    return BinaryProtocol.loudForm(opcode);
  }

  /** True when the client asked for no answer on success. */
  public boolean quiet() {
    return BinaryProtocol.isQuiet(opcode);
  }

  /** Frees the value, if any. */
  public void release() {
    if (value != null) {
      value.release();
    }
  }
}
