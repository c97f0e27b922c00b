package dev.mcmux.bench;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Frames one memcached ASCII response to a single-key {@code get} or to a {@code set} at the reader
 * index of a buffer, without consuming it.
 *
 * <p>The caller knows which request is at the head of the connection's queue and calls {@link
 * #parseGet} or {@link #parseStore}; the parser reports the frame length and fills in its fields
 * ({@link #kind()}, {@link #flags()}, {@link #valueIndex()}, ...) for the caller to inspect before
 * skipping the frame. One instance per connection; not thread-safe; allocates only on protocol
 * errors.
 */
public final class ResponseParser {

  /** Returned when the buffer does not yet hold the whole response. */
  public static final int INCOMPLETE = -1;

  /**
   * Returned when the bytes are not a response to the request: the connection is out of step with
   * the server and must be closed. {@link #problem()} says why.
   */
  public static final int UNEXPECTED = -2;

  /** Longest response line accepted before a line feed (memcached's are far shorter). */
  static final int MAX_LINE = 8192;

  private static final int MAX_VALUE_BYTES = 1 << 30;

  /** What a framed response was. */
  public enum Kind {
    /** {@code VALUE ... END}: a hit. */
    VALUE,
    /** A bare {@code END}: a miss. */
    MISS,
    STORED,
    NOT_STORED,
    EXISTS,
    NOT_FOUND,
    /** {@code ERROR}: the server did not know the command. */
    ERROR,
    CLIENT_ERROR,
    SERVER_ERROR
  }

  private static final byte[] VALUE_ = ascii("VALUE ");
  private static final byte[] END = ascii("END");
  private static final byte[] END_CRLF = ascii("END\r\n");
  private static final byte[] STORED = ascii("STORED");
  private static final byte[] NOT_STORED = ascii("NOT_STORED");
  private static final byte[] EXISTS = ascii("EXISTS");
  private static final byte[] NOT_FOUND = ascii("NOT_FOUND");
  private static final byte[] ERROR = ascii("ERROR");
  private static final byte[] CLIENT_ERROR = ascii("CLIENT_ERROR");
  private static final byte[] SERVER_ERROR = ascii("SERVER_ERROR");

  private Kind kind;
  private boolean keyMatches;
  private long flags;
  private int valueIndex;
  private int valueLength;
  private int lineStart;
  private int lineLength;
  private String problem;

  // Set by parseNumber: the value and the index just past the digits.
  private long number;
  private int numberEnd;

  /**
   * Frames the response to {@code get <key id>}: a hit, a miss, or an error line.
   *
   * @return the frame length, {@link #INCOMPLETE} or {@link #UNEXPECTED}
   */
  public int parseGet(ByteBuf in, KeySpace keys, int keyId) {
    int r = in.readerIndex();
    int lineEnd = lineEnd(in, r);
    if (lineEnd < 0) {
      return lineEnd;
    }
    int frame = lineEnd + 2 - r;
    if (startsWith(in, r, lineEnd, VALUE_)) {
      return parseValue(in, r, lineEnd, keys, keyId);
    }
    if (equals(in, r, lineEnd, END)) {
      return framed(Kind.MISS, r, lineEnd, frame);
    }
    int error = errorLine(in, r, lineEnd, frame);
    return error != UNEXPECTED ? error : unexpected(in, r, lineEnd, "get");
  }

  /**
   * Frames the response to a storage command ({@code set}).
   *
   * @return the frame length, {@link #INCOMPLETE} or {@link #UNEXPECTED}
   */
  public int parseStore(ByteBuf in) {
    int r = in.readerIndex();
    int lineEnd = lineEnd(in, r);
    if (lineEnd < 0) {
      return lineEnd;
    }
    int frame = lineEnd + 2 - r;
    if (equals(in, r, lineEnd, STORED)) {
      return framed(Kind.STORED, r, lineEnd, frame);
    }
    if (equals(in, r, lineEnd, NOT_STORED)) {
      return framed(Kind.NOT_STORED, r, lineEnd, frame);
    }
    if (equals(in, r, lineEnd, EXISTS)) {
      return framed(Kind.EXISTS, r, lineEnd, frame);
    }
    if (equals(in, r, lineEnd, NOT_FOUND)) {
      return framed(Kind.NOT_FOUND, r, lineEnd, frame);
    }
    int error = errorLine(in, r, lineEnd, frame);
    return error != UNEXPECTED ? error : unexpected(in, r, lineEnd, "set");
  }

  /** What the last framed response was. */
  public Kind kind() {
    return kind;
  }

  /** For {@link Kind#VALUE}: whether the key in the VALUE line is the one requested. */
  public boolean keyMatches() {
    return keyMatches;
  }

  /** For {@link Kind#VALUE}: the flags, as an unsigned 32-bit number. */
  public long flags() {
    return flags;
  }

  /** For {@link Kind#VALUE}: where the data block starts in the buffer. */
  public int valueIndex() {
    return valueIndex;
  }

  /** For {@link Kind#VALUE}: the length of the data block. */
  public int valueLength() {
    return valueLength;
  }

  /** The first line of the last response as text, for error reports (allocates). */
  public String line(ByteBuf in) {
    return in.toString(lineStart, Math.min(lineLength, 200), StandardCharsets.ISO_8859_1);
  }

  /** After {@link #UNEXPECTED}: why the bytes are not a response. */
  public String problem() {
    return problem;
  }

  private int parseValue(ByteBuf in, int r, int lineEnd, KeySpace keys, int keyId) {
    int keyStart = r + VALUE_.length;
    int keyEnd = in.indexOf(keyStart, lineEnd, (byte) ' ');
    if (keyEnd <= keyStart) {
      return unexpected(in, r, lineEnd, "get (no key or flags in VALUE line)");
    }
    keyMatches = keys.matches(in, keyStart, keyEnd - keyStart, keyId);
    if (!parseNumber(in, keyEnd + 1, lineEnd) || number > 0xffffffffL) {
      return unexpected(in, r, lineEnd, "get (bad flags)");
    }
    long valueFlags = number;
    int at = numberEnd;
    if (at >= lineEnd || in.getByte(at) != ' ') {
      return unexpected(in, r, lineEnd, "get (no length)");
    }
    if (!parseNumber(in, at + 1, lineEnd) || number > MAX_VALUE_BYTES) {
      return unexpected(in, r, lineEnd, "get (bad length)");
    }
    int bytes = (int) number;
    at = numberEnd;
    // A cas unique follows only for gets; accept it so that the parser does not depend on it.
    if (at < lineEnd
        && (in.getByte(at) != ' ' || !parseNumber(in, at + 1, lineEnd) || numberEnd != lineEnd)) {
      return unexpected(in, r, lineEnd, "get (junk after length)");
    }
    int dataStart = lineEnd + 2;
    long frameEnd = (long) dataStart + bytes + 2 + END_CRLF.length;
    if (frameEnd > in.writerIndex()) {
      return INCOMPLETE;
    }
    int dataEnd = dataStart + bytes;
    if (in.getByte(dataEnd) != '\r' || in.getByte(dataEnd + 1) != '\n') {
      return unexpected(in, r, lineEnd, "get (data block not ended by CRLF)");
    }
    if (!startsWith(in, dataEnd + 2, dataEnd + 2 + END_CRLF.length, END_CRLF)) {
      return unexpected(in, r, lineEnd, "get (a single-key get answered more than one VALUE)");
    }
    kind = Kind.VALUE;
    flags = valueFlags;
    valueIndex = dataStart;
    valueLength = bytes;
    lineStart = r;
    lineLength = lineEnd - r;
    return (int) (frameEnd - r);
  }

  private int errorLine(ByteBuf in, int r, int lineEnd, int frame) {
    if (equals(in, r, lineEnd, ERROR)) {
      return framed(Kind.ERROR, r, lineEnd, frame);
    }
    if (startsWithWord(in, r, lineEnd, CLIENT_ERROR)) {
      return framed(Kind.CLIENT_ERROR, r, lineEnd, frame);
    }
    if (startsWithWord(in, r, lineEnd, SERVER_ERROR)) {
      return framed(Kind.SERVER_ERROR, r, lineEnd, frame);
    }
    return UNEXPECTED;
  }

  private int framed(Kind k, int r, int lineEnd, int frame) {
    kind = k;
    lineStart = r;
    lineLength = lineEnd - r;
    return frame;
  }

  /** The index of the CR of the line at {@code r}, or INCOMPLETE / UNEXPECTED. */
  private int lineEnd(ByteBuf in, int r) {
    int limit = Math.min(in.writerIndex(), r + MAX_LINE);
    int lf = in.indexOf(r, limit, (byte) '\n');
    if (lf < 0) {
      if (limit - r >= MAX_LINE) {
        problem = "a response line longer than " + MAX_LINE + " bytes";
        kind = null;
        return UNEXPECTED;
      }
      return INCOMPLETE;
    }
    if (lf == r || in.getByte(lf - 1) != '\r') {
      problem = "a response line not ended by CRLF: '" + printable(in, r, lf) + "'";
      kind = null;
      return UNEXPECTED;
    }
    return lf - 1;
  }

  private int unexpected(ByteBuf in, int r, int lineEnd, String request) {
    problem = "unexpected answer to " + request + ": '" + printable(in, r, lineEnd) + "'";
    kind = null;
    return UNEXPECTED;
  }

  /** Parses unsigned decimal digits at {@code at}; false when there are none or too many. */
  private boolean parseNumber(ByteBuf in, int at, int end) {
    long value = 0;
    int i = at;
    while (i < end) {
      int c = in.getByte(i);
      if (c < '0' || c > '9') {
        break;
      }
      value = value * 10 + (c - '0');
      if (value > 0xffffffffffL) {
        return false;
      }
      i++;
    }
    number = value;
    numberEnd = i;
    return i > at;
  }

  private static boolean equals(ByteBuf in, int from, int to, byte[] word) {
    return to - from == word.length && startsWith(in, from, to, word);
  }

  private static boolean startsWith(ByteBuf in, int from, int to, byte[] prefix) {
    if (to - from < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (in.getByte(from + i) != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  /** {@code word} alone or followed by a space (and a message). */
  private static boolean startsWithWord(ByteBuf in, int from, int to, byte[] word) {
    return startsWith(in, from, to, word)
        && (to - from == word.length || in.getByte(from + word.length) == ' ');
  }

  private static String printable(ByteBuf in, int from, int to) {
    int end = Math.min(to, from + 120);
    StringBuilder s = new StringBuilder();
    for (int i = from; i < end; i++) {
      int b = in.getByte(i) & 0xff;
      s.append(b >= 0x20 && b < 0x7f ? String.valueOf((char) b) : String.format("\\x%02x", b));
    }
    return end < to ? s.append("...").toString() : s.toString();
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
