package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import java.util.List;

/**
 * Writes the canonical upstream form of a parsed request: single spaces, numbers in their plain
 * form (flags and cas unsigned), no {@code noreply}, CRLF.
 *
 * <p>{@code noreply} is never written because upstream must always answer (DESIGN.md invariant 2);
 * mcmux drops the reply itself. Every line written here parses back, in memcached and in {@link
 * AsciiRequestDecoder}, to the request it was written from.
 */
public final class AsciiRequestEncoder {

  /**
   * The longest get or gets line, CRLF included, to send upstream in one piece: some services
   * reject lines of 16 KiB and more.
   */
  public static final int MAX_UPSTREAM_GET_LINE_BYTES = 16 * 1024 - 1;

  /**
   * The longest line of any other command, CRLF included, that memcached never closes the
   * connection on: its LF must come within the first {@value AsciiRequestDecoder#MAX_LINE_BYTES} +
   * 1 bytes. A canonical gat line can be a byte or two longer than the client's (an exptime such as
   * {@code 2147483648} is re-written as {@code -2147483648}, a bare LF becomes CRLF), so split gat
   * and gats lines to this.
   */
  public static final int MAX_UPSTREAM_LINE_BYTES = AsciiRequestDecoder.MAX_LINE_BYTES + 1;

  private static final byte SP = ' ';
  private static final byte[] CRLF = {'\r', '\n'};

  private AsciiRequestEncoder() {}

  /**
   * Writes the request line of {@code r}, ending in CRLF. For a storage command only the header
   * line is written: the caller writes {@code r.data()} and then {@code \r\n} itself.
   *
   * @throws IllegalArgumentException for {@code quit} and {@code verbosity}, which mcmux answers
   *     itself and never forwards
   */
  public static void writeLine(AsciiRequest r, ByteBuf out) {
    Command c = r.command();
    switch (c) {
      case GET, GETS, GAT, GATS ->
          writeRetrieval(c, r.exptime(), r.keys(), 0, r.keys().size(), out);
      case SET, ADD, REPLACE, APPEND, PREPEND, CAS -> {
        writeCommandAndKey(c, r.keys().get(0), out);
        out.writeByte(SP);
        writeUnsigned(Integer.toUnsignedLong(r.flags()), out);
        out.writeByte(SP);
        writeSigned(r.exptime(), out);
        out.writeByte(SP);
        writeUnsigned(r.data().readableBytes(), out);
        if (c == Command.CAS) {
          out.writeByte(SP);
          writeUnsigned(r.cas(), out);
        }
        out.writeBytes(CRLF);
      }
      case DELETE -> {
        writeCommandAndKey(c, r.keys().get(0), out);
        out.writeBytes(CRLF);
      }
      case INCR, DECR -> {
        writeCommandAndKey(c, r.keys().get(0), out);
        out.writeByte(SP);
        writeUnsigned(r.delta(), out);
        out.writeBytes(CRLF);
      }
      case TOUCH -> {
        writeCommandAndKey(c, r.keys().get(0), out);
        out.writeByte(SP);
        writeSigned(r.exptime(), out);
        out.writeBytes(CRLF);
      }
      case FLUSH_ALL -> {
        out.writeBytes(c.wireNameShared());
        if (r.hasDelay()) {
          out.writeByte(SP);
          writeSigned(r.exptime(), out);
        }
        out.writeBytes(CRLF);
      }
      case STATS -> {
        out.writeBytes(c.wireNameShared());
        if (r.arguments() != null) {
          out.writeByte(SP);
          out.writeBytes(r.arguments());
        }
        out.writeBytes(CRLF);
      }
      case VERSION -> {
        out.writeBytes(c.wireNameShared());
        out.writeBytes(CRLF);
      }
      case QUIT, VERBOSITY ->
          throw new IllegalArgumentException(c + " is answered by mcmux and never forwarded");
    }
  }

  /**
   * Writes a retrieval line for {@code keys[from, to)}, e.g. one part of a long multi-get.
   *
   * @param exptime written after the command for {@code gat}/{@code gats}, ignored otherwise
   */
  public static void writeRetrieval(
      Command cmd, int exptime, List<byte[]> keys, int from, int to, ByteBuf out) {
    checkRetrieval(cmd, keys, from, to);
    out.writeBytes(cmd.wireNameShared());
    if (hasExptime(cmd)) {
      out.writeByte(SP);
      writeSigned(exptime, out);
    }
    for (int i = from; i < to; i++) {
      out.writeByte(SP);
      out.writeBytes(keys.get(i));
    }
    out.writeBytes(CRLF);
  }

  /** The exact number of bytes {@link #writeRetrieval} writes for the same arguments. */
  public static int retrievalLineLength(
      Command cmd, int exptime, List<byte[]> keys, int from, int to) {
    checkRetrieval(cmd, keys, from, to);
    int n = cmd.wireNameShared().length + CRLF.length;
    if (hasExptime(cmd)) {
      n += 1 + signedLength(exptime);
    }
    for (int i = from; i < to; i++) {
      n += 1 + keys.get(i).length;
    }
    return n;
  }

  /**
   * Where the next part of a split multi-get ends: the largest {@code to} such that the line for
   * {@code keys[from, to)} is at most {@code maxLineBytes}, but always at least one key.
   *
   * @return an index in {@code (from, keys.size()]}
   */
  public static int retrievalPartEnd(
      Command cmd, int exptime, List<byte[]> keys, int from, int maxLineBytes) {
    int size = keys.size();
    if (from < 0 || from >= size) {
      throw new IndexOutOfBoundsException("from " + from + " of " + size + " keys");
    }
    int n = retrievalLineLength(cmd, exptime, keys, from, from + 1);
    int to = from + 1;
    while (to < size) {
      int next = n + 1 + keys.get(to).length;
      if (next > maxLineBytes) {
        break;
      }
      n = next;
      to++;
    }
    return to;
  }

  /** The longest line to send upstream in one piece for {@code cmd}, CRLF included. */
  public static int maxUpstreamLineBytes(Command cmd) {
    return cmd == Command.GET || cmd == Command.GETS
        ? MAX_UPSTREAM_GET_LINE_BYTES
        : MAX_UPSTREAM_LINE_BYTES;
  }

  private static void checkRetrieval(Command cmd, List<byte[]> keys, int from, int to) {
    if (!cmd.isRetrieval()) {
      throw new IllegalArgumentException(cmd + " is not a retrieval command");
    }
    if (from < 0 || to > keys.size() || from >= to) {
      throw new IndexOutOfBoundsException(
          "keys [" + from + ", " + to + ") of " + keys.size() + " keys");
    }
  }

  private static boolean hasExptime(Command cmd) {
    return cmd == Command.GAT || cmd == Command.GATS;
  }

  private static void writeCommandAndKey(Command c, byte[] key, ByteBuf out) {
    out.writeBytes(c.wireNameShared());
    out.writeByte(SP);
    out.writeBytes(key);
  }

  private static void writeSigned(int value, ByteBuf out) {
    if (value < 0) {
      out.writeByte('-');
      writeUnsigned(-(long) value, out);
    } else {
      writeUnsigned(value, out);
    }
  }

  private static int signedLength(int value) {
    return value < 0 ? 1 + unsignedLength(-(long) value) : unsignedLength(value);
  }

  /** Writes {@code value} as an unsigned 64-bit decimal number without allocating. */
  public static void writeUnsigned(long value, ByteBuf out) {
    int len = unsignedLength(value);
    out.ensureWritable(len);
    int at = out.writerIndex() + len;
    long v = value;
    if (v < 0) {
      long q = Long.divideUnsigned(v, 10);
      out.setByte(--at, '0' + (int) (v - q * 10));
      v = q;
    }
    do {
      out.setByte(--at, '0' + (int) (v % 10));
      v /= 10;
    } while (v != 0);
    out.writerIndex(out.writerIndex() + len);
  }

  static int unsignedLength(long value) {
    if (value < 0) {
      return 1 + unsignedLength(Long.divideUnsigned(value, 10));
    }
    int len = 1;
    for (long v = value; v >= 10; v /= 10) {
      len++;
    }
    return len;
  }
}
