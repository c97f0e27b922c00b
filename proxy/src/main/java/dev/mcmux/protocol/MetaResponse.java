package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A parsed view of one framed meta response ({@link ResponseShape#META}), and the allocation-free
 * helpers the data path uses on such frames: find mcmux's sequence tag, give the client back its
 * own opaque.
 *
 * <p>A view holds no reference of its own: it is valid only while the frame it was parsed from is.
 */
public final class MetaResponse {

  /** The first word of a meta response. */
  public enum Status {
    /** Success with no value ({@code HD}). */
    HD,
    /** Success with a value ({@code VA <len> ...} then the data). */
    VA,
    /** Miss of {@code mg} or {@code me} ({@code EN}). */
    EN,
    /** Not found ({@code NF}). */
    NF,
    /** Not stored ({@code NS}). */
    NS,
    /** Exists: a CAS mismatch ({@code EX}). */
    EX,
    /** The answer to {@code mn}. */
    MN,
    /** The answer to {@code me} for an existing item. */
    ME,
    /** memcached's {@code ERROR}. */
    ERROR,
    /** A {@code CLIENT_ERROR ...} line. */
    CLIENT_ERROR,
    /** A {@code SERVER_ERROR ...} line. */
    SERVER_ERROR;

    /** True for the three error lines, which never carry flags or an opaque. */
    public boolean isError() {
      return this == ERROR || this == CLIENT_ERROR || this == SERVER_ERROR;
    }
  }

  private final Status status;
  private final List<byte[]> flags;
  private final ByteBuf value;
  private final String errorMessage;

  private MetaResponse(Status status, List<byte[]> flags, ByteBuf value, String errorMessage) {
    this.status = status;
    this.flags = flags;
    this.value = value;
    this.errorMessage = errorMessage;
  }

  /**
   * Parses a frame the framer accepted as {@link ResponseShape#META}; the frame is not modified and
   * its reference stays with the caller.
   *
   * @throws IllegalArgumentException if it is not a meta response
   */
  public static MetaResponse parse(ByteBuf frame) {
    int from = frame.readerIndex();
    int end = frame.writerIndex();
    int lf = frame.indexOf(from, end, (byte) '\n');
    if (lf < from + 2 || frame.getByte(lf - 1) != '\r') {
      throw new IllegalArgumentException("not a response line");
    }
    int lineEnd = lf - 1;
    Status status = status(frame, from, lineEnd - from);
    if (status == null) {
      throw new IllegalArgumentException("not a meta response");
    }
    if (status.isError()) {
      int sp = frame.indexOf(from, lineEnd, (byte) ' ');
      String message =
          sp < 0 ? "" : frame.toString(sp + 1, lineEnd - sp - 1, StandardCharsets.US_ASCII);
      return new MetaResponse(status, Collections.emptyList(), null, message);
    }
    List<byte[]> flags = new ArrayList<>();
    int p = from + 2;
    long valueLength = -1;
    while (p < lineEnd) {
      if (frame.getByte(p) == ' ') {
        p++;
        continue;
      }
      int sp = frame.indexOf(p, lineEnd, (byte) ' ');
      int te = sp < 0 ? lineEnd : sp;
      byte[] token = new byte[te - p];
      frame.getBytes(p, token);
      if (status == Status.VA && valueLength < 0) {
        valueLength = Long.parseLong(new String(token, StandardCharsets.US_ASCII));
      } else {
        flags.add(token);
      }
      p = te;
    }
    ByteBuf value = null;
    if (status == Status.VA) {
      if (valueLength < 0 || lf + 1 + valueLength + 2 > end) {
        throw new IllegalArgumentException("VA frame shorter than its length");
      }
      value = frame.slice(lf + 1, (int) valueLength);
    }
    return new MetaResponse(status, Collections.unmodifiableList(flags), value, null);
  }

  /** The status word. */
  public Status status() {
    return status;
  }

  /** Every returned flag token in memcached's order, letter included (e.g. {@code c42}). */
  public List<byte[]> flags() {
    return flags;
  }

  /** Whether a flag token starting with {@code letter} was returned. */
  public boolean hasFlag(char letter) {
    return flag(letter) != null;
  }

  /** The returned token for {@code letter} without the letter (e.g. {@code 42} for c), or null. */
  public byte[] flag(char letter) {
    for (byte[] f : flags) {
      if (f.length > 0 && f[0] == letter) {
        return java.util.Arrays.copyOfRange(f, 1, f.length);
      }
    }
    return null;
  }

  /**
   * The token for {@code letter} as an unsigned 64-bit number (c, f, s, t, l, h), or {@code absent}
   * when not returned; {@code t-1} (no expiry) gives -1.
   */
  public long numericFlag(char letter, long absent) {
    byte[] v = flag(letter);
    if (v == null) {
      return absent;
    }
    String s = new String(v, StandardCharsets.US_ASCII);
    return s.startsWith("-") ? Long.parseLong(s) : Long.parseUnsignedLong(s);
  }

  /** The value of a {@code VA} response without its CRLF (a slice of the frame), else null. */
  public ByteBuf value() {
    return value;
  }

  /** For an error line, the text after the error word (may be empty); null otherwise. */
  public String errorMessage() {
    return errorMessage;
  }

  /** The status of the line at {@code [pos, pos+lineLen)} (CRLF optional), or null. */
  public static Status status(ByteBuf in, int pos, int lineLen) {
    if (AsciiResponseFramer.isErrorLine(in, pos, lineLen)) {
      byte first = in.getByte(pos);
      return first == 'E' ? Status.ERROR : first == 'C' ? Status.CLIENT_ERROR : Status.SERVER_ERROR;
    }
    if (lineLen < 2 || (lineLen > 2 && !isEndOfWord(in.getByte(pos + 2)))) {
      return null;
    }
    byte a = in.getByte(pos);
    byte b = in.getByte(pos + 1);
    return switch (a) {
      case 'H' -> b == 'D' ? Status.HD : null;
      case 'V' -> b == 'A' && lineLen > 3 && in.getByte(pos + 2) == ' ' ? Status.VA : null;
      case 'E' -> b == 'N' ? Status.EN : b == 'X' ? Status.EX : null;
      case 'N' -> b == 'F' ? Status.NF : b == 'S' ? Status.NS : null;
      case 'M' -> b == 'N' ? Status.MN : b == 'E' ? Status.ME : null;
      default -> null;
    };
  }

  private static boolean isEndOfWord(byte b) {
    return b == ' ' || b == '\r';
  }

  /**
   * Whether the response at {@code [from, from+len)} answers the request tagged {@code tag}: its
   * first line carries the token {@code O<tag>}, or it is an error line (memcached's errors carry
   * no opaque).
   */
  public static boolean carriesTag(ByteBuf in, int from, int len, long tag) {
    int lf = in.indexOf(from, from + len, (byte) '\n');
    if (lf < 0) {
      return false;
    }
    if (AsciiResponseFramer.isErrorLine(in, from, lf + 1 - from)) {
      return true;
    }
    return findTag(in, from, lf - 1, tag) >= 0;
  }

  /**
   * Finds the token {@code O<tag>} among the space-separated tokens of {@code [from, lineEnd)}
   * after the first.
   *
   * @return the index of its {@code O}, or -1
   */
  static int findTag(ByteBuf in, int from, int lineEnd, long tag) {
    int digits = AsciiRequestEncoder.unsignedLength(tag);
    int p = in.indexOf(from, lineEnd, (byte) ' ');
    while (p >= 0 && p < lineEnd) {
      int s = p + 1;
      int sp = in.indexOf(s, lineEnd, (byte) ' ');
      int te = sp < 0 ? lineEnd : sp;
      if (te - s == 1 + digits && in.getByte(s) == 'O' && digitsEqual(in, s + 1, te, tag)) {
        return s;
      }
      p = sp;
    }
    return -1;
  }

  private static boolean digitsEqual(ByteBuf in, int from, int to, long tag) {
    long v = tag;
    for (int i = to - 1; i >= from; i--) {
      byte b = in.getByte(i);
      if (b != '0' + (int) Long.remainderUnsigned(v, 10)) {
        return false;
      }
      v = Long.divideUnsigned(v, 10);
    }
    return v == 0;
  }

  /**
   * Replaces mcmux's {@code O<tag>} in the frame's first line with the client's opaque token (or
   * removes it when {@code clientOpaque} is null), keeping every other byte. Takes over {@code
   * frame}; returns the frame itself when it carries no tag (an error line) or when the client's
   * token fits in the tag's place, which is then rewritten in the frame.
   */
  public static ByteBuf restoreOpaque(
      ByteBuf frame, long tag, byte[] clientOpaque, ByteBufAllocator alloc) {
    int from = frame.readerIndex();
    int end = frame.writerIndex();
    int lf = frame.indexOf(from, end, (byte) '\n');
    if (lf < 0) {
      return frame;
    }
    int at = findTag(frame, from, lf - 1, tag);
    if (at < 0) {
      return frame;
    }
    int tokenEnd = at + 1 + AsciiRequestEncoder.unsignedLength(tag);
    int keepBefore = at - 1 - from; // without the space before the tag
    int extra = clientOpaque == null ? 0 : 1 + clientOpaque.length;
    int shift = tokenEnd - (at - 1) - extra;
    if (shift >= 0 && !frame.isReadOnly()) {
      // The client's token fits where the tag was (always when it sent none): move the few bytes
      // before the tag right, write the token before the tag's end, and start the frame later.
      // No buffer per answer, and a multi-line answer stays one buffer.
      for (int i = keepBefore - 1; i >= 0; i--) {
        frame.setByte(from + shift + i, frame.getByte(from + i));
      }
      if (clientOpaque != null) {
        int tokenAt = from + shift + keepBefore;
        frame.setByte(tokenAt, ' ');
        frame.setBytes(tokenAt + 1, clientOpaque);
      }
      return frame.readerIndex(from + shift);
    }
    int lineRest = lf + 1 - tokenEnd;
    ByteBuf head = alloc.buffer(keepBefore + extra + lineRest);
    head.writeBytes(frame, from, keepBefore);
    if (clientOpaque != null) {
      head.writeByte(' ');
      head.writeBytes(clientOpaque);
    }
    head.writeBytes(frame, tokenEnd, lineRest);
    if (lf + 1 == end) {
      frame.release();
      return head;
    }
    CompositeByteBuf both = alloc.compositeBuffer(2);
    both.addComponent(true, head);
    both.addComponent(true, frame.retainedSlice(lf + 1, end - lf - 1));
    frame.release();
    return both;
  }
}
