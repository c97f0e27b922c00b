package dev.mcmux.protocol;

import static dev.mcmux.protocol.BinaryProtocol.*;

import io.netty.buffer.ByteBuf;

/**
 * Parses binary-protocol requests exactly as memcached 1.6.18 frames them ({@code
 * try_read_command_binary} and {@code dispatch_bin_command}), so that mcmux and memcached always
 * agree on where one request ends and the next begins.
 *
 * <p>memcached's framing rules, which this class reproduces byte for byte:
 *
 * <ul>
 *   <li>It acts once the header, extras and key have arrived; a first byte other than the request
 *       magic closes the connection without an answer. Header, extras and key must fit its 16 KiB
 *       read buffer: a longer key closes the connection, without an answer, once more than 16 KiB
 *       of the request have arrived.
 *   <li>Key or key plus extras longer than the body: "unknown command", then close. A key over 250
 *       bytes, or lengths an opcode does not allow: "invalid arguments", then close.
 *   <li>An unknown opcode is answered "unknown command" and the next {@code bodylen} bytes after
 *       its extras and key are swallowed: memcached swallows the whole body length again, so it
 *       discards the key and extras' length of what follows too.
 *   <li>{@code touch}, {@code gat*} and {@code stat} consume only their extras and key; body bytes
 *       beyond those are read as the next request.
 *   <li>A value over the size limit is answered "too large" and swallowed; a {@code set}'s old
 *       value is then unlinked.
 * </ul>
 *
 * <p>The decoder holds no reference to its input between calls except a retained slice inside a
 * returned request's value.
 */
public final class BinaryRequestDecoder {
  private static final byte[] EMPTY = new byte[0];

  /**
   * memcached's {@code READ_BUFFER_SIZE}, which a binary request's header, extras and key share.
   */
  static final int READ_BUFFER_BYTES = 16384;

  private long maxValueBytes;

  /** Bytes still to discard, as memcached's {@code conn_swallow} does. */
  private long swallowRemaining;

  /**
   * @param maxValueBytes values longer than this are rejected as too large
   */
  public BinaryRequestDecoder(long maxValueBytes) {
    maxValueBytes(maxValueBytes);
  }

  /** Updates the value limit (the server's item size may be learned later). */
  public void maxValueBytes(long maxValueBytes) {
    if (maxValueBytes < 0) {
      throw new IllegalArgumentException("maxValueBytes must not be negative: " + maxValueBytes);
    }
    this.maxValueBytes = maxValueBytes;
  }

  /** Decodes at most one request from the head of {@code in}. */
  public BinaryDecodeResult decode(ByteBuf in) {
    if (swallowRemaining > 0) {
      int n = (int) Math.min(in.readableBytes(), swallowRemaining);
      in.skipBytes(n);
      swallowRemaining -= n;
      if (swallowRemaining > 0) {
        return BinaryDecodeResult.NEED_MORE;
      }
    }
    int r = in.readerIndex();
    int available = in.readableBytes();
    if (available < HEADER_BYTES) {
      return BinaryDecodeResult.NEED_MORE;
    }
    if (in.getByte(r) != REQUEST_MAGIC) {
      in.skipBytes(available);
      return new BinaryDecodeResult.Close(EMPTY);
    }
    int opcode = in.getUnsignedByte(r + 1);
    int keyLength = in.getUnsignedShort(r + 2);
    int extrasLength = in.getUnsignedByte(r + 4);
    long bodyLength = in.getUnsignedInt(r + 8);
    int opaque = in.getInt(r + 12);
    long cas = in.getLong(r + 16);
    int head = HEADER_BYTES + extrasLength + keyLength;
    if (head > READ_BUFFER_BYTES && available > READ_BUFFER_BYTES) {
      // memcached reads header, extras and key into its fixed read buffer: when they cannot fit,
      // the next bytes to arrive find the buffer full and it closes the connection, saying nothing.
      in.skipBytes(available);
      return new BinaryDecodeResult.Close(EMPTY);
    }
    if (available < head) {
      return BinaryDecodeResult.NEED_MORE;
    }
    if (keyLength > bodyLength || keyLength + extrasLength > bodyLength) {
      in.skipBytes(head);
      return new BinaryDecodeResult.Close(error(opcode, opaque, UNKNOWN_COMMAND));
    }
    if (keyLength > MAX_KEY_BYTES) {
      in.skipBytes(head);
      return invalid(opcode, opaque);
    }
    int extras = r + HEADER_BYTES;
    int keyAt = extras + extrasLength;
    boolean noKey = keyLength == 0;
    boolean noExtras = extrasLength == 0;
    switch (loudForm(opcode)) {
      case VERSION, NOOP, QUIT -> {
        if (!noExtras || !noKey || bodyLength != 0) {
          return protocolError(in, head, opcode, opaque);
        }
        in.skipBytes(head);
        return simple(opcode, opaque, cas, EMPTY, 0, false);
      }
      case FLUSH -> {
        if (!noKey || bodyLength != extrasLength || (extrasLength != 0 && extrasLength != 4)) {
          return protocolError(in, head, opcode, opaque);
        }
        int delay = extrasLength == 4 ? in.getInt(extras) : 0;
        in.skipBytes(head);
        return simple(opcode, opaque, cas, EMPTY, delay, extrasLength == 4);
      }
      case GET, GETK, DELETE -> {
        if (!noExtras || bodyLength != keyLength || noKey) {
          return protocolError(in, head, opcode, opaque);
        }
        byte[] key = key(in, keyAt, keyLength);
        in.skipBytes(head);
        return simple(opcode, opaque, cas, key, 0, false);
      }
      case INCREMENT, DECREMENT -> {
        if (noKey || extrasLength != 20 || bodyLength != keyLength + 20L) {
          return protocolError(in, head, opcode, opaque);
        }
        byte[] key = key(in, keyAt, keyLength);
        long delta = in.getLong(extras);
        long initial = in.getLong(extras + 8);
        int exptime = in.getInt(extras + 16);
        in.skipBytes(head);
        return new BinaryDecodeResult.Request(
            new BinaryRequest(opcode, opaque, cas, key, 0, exptime, true, delta, initial, null));
      }
      case TOUCH, GAT, GATK -> {
        if (extrasLength != 4 || noKey) {
          return protocolError(in, head, opcode, opaque);
        }
        byte[] key = key(in, keyAt, keyLength);
        int exptime = in.getInt(extras);
        // Only extras and key are consumed: memcached reads any further body bytes as a request.
        in.skipBytes(head);
        return simple(opcode, opaque, cas, key, exptime, true);
      }
      case STAT -> {
        if (!noExtras) {
          return protocolError(in, head, opcode, opaque);
        }
        byte[] key = key(in, keyAt, keyLength);
        in.skipBytes(head);
        return simple(opcode, opaque, cas, key, 0, false);
      }
      case SET, ADD, REPLACE -> {
        if (extrasLength != 8 || noKey || bodyLength < keyLength + 8L) {
          return protocolError(in, head, opcode, opaque);
        }
        return storage(
            in,
            opcode,
            opaque,
            cas,
            head,
            bodyLength,
            in.getInt(extras),
            in.getInt(extras + 4),
            keyAt,
            keyLength);
      }
      case APPEND, PREPEND -> {
        if (noKey || !noExtras) {
          return protocolError(in, head, opcode, opaque);
        }
        return storage(in, opcode, opaque, cas, head, bodyLength, 0, 0, keyAt, keyLength);
      }
      case SASL_LIST_MECHS -> {
        if (!noExtras || !noKey || bodyLength != 0) {
          return protocolError(in, head, opcode, opaque);
        }
        in.skipBytes(head);
        return new BinaryDecodeResult.LocalReply(error(opcode, opaque, UNKNOWN_COMMAND), null);
      }
      case SASL_AUTH, SASL_STEP -> {
        if (!noExtras || noKey) {
          return protocolError(in, head, opcode, opaque);
        }
        in.skipBytes(head);
        // memcached without SASL swallows the rest of the body after the key.
        swallow(bodyLength - keyLength);
        return new BinaryDecodeResult.LocalReply(error(opcode, opaque, UNKNOWN_COMMAND), null);
      }
      default -> {
        in.skipBytes(head);
        // The key and extras were already consumed, yet memcached swallows the full body length.
        swallow(bodyLength);
        return new BinaryDecodeResult.LocalReply(error(opcode, opaque, UNKNOWN_COMMAND), null);
      }
    }
  }

  private BinaryDecodeResult storage(
      ByteBuf in,
      int opcode,
      int opaque,
      long cas,
      int head,
      long bodyLength,
      int flags,
      int exptime,
      int keyAt,
      int keyLength) {
    long valueLength = bodyLength - (head - HEADER_BYTES);
    // memcached holds the value length in a signed int: 2 GiB or more is "too large" there too,
    // and swallow() then discards nothing, as memcached's negative swallow count does.
    if (valueLength > maxValueBytes || valueLength > Integer.MAX_VALUE) {
      byte[] key = key(in, keyAt, keyLength);
      in.skipBytes(head);
      swallow(valueLength);
      return new BinaryDecodeResult.LocalReply(
          error(opcode, opaque, E2BIG), loudForm(opcode) == SET ? key : null);
    }
    if (in.readableBytes() < head + valueLength) {
      return BinaryDecodeResult.NEED_MORE;
    }
    byte[] key = key(in, keyAt, keyLength);
    in.skipBytes(head);
    ByteBuf value = in.readRetainedSlice((int) valueLength);
    return new BinaryDecodeResult.Request(
        new BinaryRequest(opcode, opaque, cas, key, flags, exptime, true, 0, 0, value));
  }

  private void swallow(long bytes) {
    // memcached keeps the count in an int: a length of 2 GiB or more swallows nothing.
    int asInt = (int) bytes;
    swallowRemaining = asInt > 0 ? asInt : 0;
  }

  private static BinaryDecodeResult simple(
      int opcode, int opaque, long cas, byte[] key, int exptime, boolean hasExptime) {
    return new BinaryDecodeResult.Request(
        new BinaryRequest(opcode, opaque, cas, key, 0, exptime, hasExptime, 0, 0, null));
  }

  private static BinaryDecodeResult protocolError(ByteBuf in, int head, int opcode, int opaque) {
    in.skipBytes(head);
    return invalid(opcode, opaque);
  }

  private static BinaryDecodeResult invalid(int opcode, int opaque) {
    return new BinaryDecodeResult.Close(error(opcode, opaque, EINVAL));
  }

  private static byte[] error(int opcode, int opaque, int status) {
    return BinaryResponses.error(opcode, opaque, status);
  }

  private static byte[] key(ByteBuf in, int at, int length) {
    byte[] key = new byte[length];
    in.getBytes(at, key);
    return key;
  }
}
