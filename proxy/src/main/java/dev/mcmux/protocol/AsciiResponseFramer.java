package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Finds where one upstream ASCII response ends, given the shape the head request expects.
 *
 * <p>It never forwards or copies anything: it only measures. State is kept between calls so a large
 * response arriving in many reads is scanned once, not once per read. Anything that cannot belong
 * to the expected response is reported as a desync rather than guessed at.
 */
public final class AsciiResponseFramer {
  /** Longer header lines than this cannot come from memcached (keys are at most 250 bytes). */
  static final int MAX_HEADER_LINE = 8192;

  private final long maxValueBytes;

  /** Bytes of the current frame already known to be complete elements (VALUE blocks, STATs). */
  private int scanned;

  /**
   * @param maxValueBytes a VALUE longer than this is treated as a desync
   */
  public AsciiResponseFramer(long maxValueBytes) {
    this.maxValueBytes = maxValueBytes;
  }

  /** Forgets progress on the current frame; call after a frame was consumed or on close. */
  public void reset() {
    scanned = 0;
  }

  /**
   * Returns the length of the complete response at {@code in.readerIndex()}, or -1 if more bytes
   * are needed. Does not move the reader index.
   */
  public int frameLength(ByteBuf in, ResponseShape shape) throws UpstreamDesyncException {
    int start = in.readerIndex();
    int end = in.writerIndex();
    while (true) {
      int pos = start + scanned;
      int lf = in.indexOf(pos, Math.min(end, pos + MAX_HEADER_LINE), (byte) '\n');
      if (lf < 0) {
        if (end - pos >= MAX_HEADER_LINE) {
          throw new UpstreamDesyncException("response line longer than " + MAX_HEADER_LINE);
        }
        return -1;
      }
      if (lf == pos || in.getByte(lf - 1) != '\r') {
        throw new UpstreamDesyncException("response line not ended by CRLF");
      }
      int lineLen = lf + 1 - pos;
      boolean first = scanned == 0;
      if (isErrorLine(in, pos, lineLen)) {
        // An error ends any response: alone, or after VALUEs memcached had already queued.
        return frameDone(lf + 1 - start);
      }
      switch (shape) {
        case LINE -> {
          if (startsWith(in, pos, lineLen, VALUE)
              || startsWith(in, pos, lineLen, STAT)
              || isEnd(in, pos, lineLen)) {
            throw new UpstreamDesyncException("multi-line response where one line was expected");
          }
          return frameDone(lineLen);
        }
        case RETRIEVAL -> {
          if (isEnd(in, pos, lineLen)) {
            return frameDone(lf + 1 - start);
          }
          if (!startsWith(in, pos, lineLen, VALUE)) {
            throw new UpstreamDesyncException(
                first ? "unexpected reply to a retrieval" : "unexpected line inside VALUE list");
          }
          long dataLen = valueLength(in, pos, lf - 1);
          long blockEnd = (long) lf + 1 + dataLen + 2;
          if (blockEnd > end) {
            return -1;
          }
          int crlf = (int) blockEnd - 2;
          if (in.getByte(crlf) != '\r' || in.getByte(crlf + 1) != '\n') {
            throw new UpstreamDesyncException("VALUE data not followed by CRLF");
          }
          scanned = (int) blockEnd - start;
        }
        case META -> {
          MetaResponse.Status status = MetaResponse.status(in, pos, lineLen);
          if (status == null) {
            throw new UpstreamDesyncException("unexpected reply to a meta request");
          }
          if (status != MetaResponse.Status.VA) {
            return frameDone(lineLen);
          }
          long dataLen = metaValueLength(in, pos + 3, lf - 1);
          long blockEnd = (long) lf + 1 + dataLen + 2;
          if (blockEnd > end) {
            return -1;
          }
          int crlf = (int) blockEnd - 2;
          if (in.getByte(crlf) != '\r' || in.getByte(crlf + 1) != '\n') {
            throw new UpstreamDesyncException("VA data not followed by CRLF");
          }
          return frameDone((int) blockEnd - start);
        }
        case STATS -> {
          if (isEnd(in, pos, lineLen)) {
            return frameDone(lf + 1 - start);
          }
          if (!startsWith(in, pos, lineLen, STAT)) {
            throw new UpstreamDesyncException("unexpected line in a stats reply");
          }
          scanned = lf + 1 - start;
        }
      }
    }
  }

  private int frameDone(int length) {
    scanned = 0;
    return length;
  }

  private static final byte[] VALUE = {'V', 'A', 'L', 'U', 'E', ' '};
  private static final byte[] STAT = {'S', 'T', 'A', 'T', ' '};
  private static final byte[] ERROR = {'E', 'R', 'R', 'O', 'R'};
  private static final byte[] CLIENT_ERROR = {
    'C', 'L', 'I', 'E', 'N', 'T', '_', 'E', 'R', 'R', 'O', 'R'
  };
  private static final byte[] SERVER_ERROR = {
    'S', 'E', 'R', 'V', 'E', 'R', '_', 'E', 'R', 'R', 'O', 'R'
  };

  /** True for {@code ERROR}, {@code CLIENT_ERROR ...} and {@code SERVER_ERROR ...} lines. */
  public static boolean isErrorLine(ByteBuf in, int pos, int lineLen) {
    return startsWith(in, pos, lineLen, ERROR)
        || startsWith(in, pos, lineLen, CLIENT_ERROR)
        || startsWith(in, pos, lineLen, SERVER_ERROR);
  }

  private static boolean isEnd(ByteBuf in, int pos, int lineLen) {
    return lineLen == 5
        && in.getByte(pos) == 'E'
        && in.getByte(pos + 1) == 'N'
        && in.getByte(pos + 2) == 'D';
  }

  static boolean startsWith(ByteBuf in, int pos, int lineLen, byte[] prefix) {
    if (lineLen < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (in.getByte(pos + i) != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  /** Parses the length of {@code VA <len> <flags>*}, starting at its first digit. */
  private long metaValueLength(ByteBuf in, int p, int lineEnd) throws UpstreamDesyncException {
    return digitsUpTo(in, p, lineEnd, "VA");
  }

  private long digitsUpTo(ByteBuf in, int p, int lineEnd, String what)
      throws UpstreamDesyncException {
    long n = 0;
    int digits = 0;
    while (p < lineEnd) {
      byte b = in.getByte(p);
      if (b == ' ') {
        break;
      }
      if (b < '0' || b > '9' || ++digits > 10) {
        throw new UpstreamDesyncException("malformed " + what + " length");
      }
      n = n * 10 + (b - '0');
      p++;
    }
    if (digits == 0 || n > maxValueBytes) {
      throw new UpstreamDesyncException(what + " length out of range");
    }
    return n;
  }

  /** Parses the fourth token of {@code VALUE <key> <flags> <bytes> [<cas>]}. */
  private long valueLength(ByteBuf in, int pos, int lineEnd) throws UpstreamDesyncException {
    int p = pos + VALUE.length;
    // Skip key and flags: two tokens separated by single spaces, as memcached writes them.
    for (int skip = 0; skip < 2; skip++) {
      int sp = in.indexOf(p, lineEnd, (byte) ' ');
      if (sp < 0 || sp == p) {
        throw new UpstreamDesyncException("malformed VALUE line");
      }
      p = sp + 1;
    }
    long n = 0;
    int digits = 0;
    while (p < lineEnd) {
      byte b = in.getByte(p);
      if (b == ' ') {
        break;
      }
      if (b < '0' || b > '9' || ++digits > 10) {
        throw new UpstreamDesyncException("malformed VALUE length");
      }
      n = n * 10 + (b - '0');
      p++;
    }
    if (digits == 0 || n > maxValueBytes) {
      throw new UpstreamDesyncException("VALUE length out of range");
    }
    return n;
  }
}
