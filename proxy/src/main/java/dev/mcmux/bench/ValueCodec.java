package dev.mcmux.bench;

import io.netty.buffer.ByteBuf;

/**
 * Derives the value written for a key at a version and checks a value read back against it.
 *
 * <p>A value is a 37-byte ASCII header followed by a printable body:
 *
 * <pre>K&lt;key id&gt;V&lt;version&gt;R&lt;run id&gt;C&lt;checksum&gt;|&lt;body&gt;</pre>
 *
 * with each field 8 lowercase hex digits. The body is a pseudo-random stream seeded by (run id, key
 * id, version); the checksum covers those three and the body. The memcached flags of every value
 * are its version. A read value passes only if its length, key id, run id, flags, version bounds,
 * checksum and every body byte agree, so a value of another key, of another run or process, a stale
 * or never-written version, a truncated or corrupted value all fail, each with its own {@link
 * Verdict}.
 *
 * <p>Immutable and allocation-free on the hot path; shared by all event loops of a target run.
 */
public final class ValueCodec {

  /** Bytes of the header: {@code K}, {@code V}, {@code R}, {@code C}, {@code |} and 4 × 8 hex. */
  public static final int HEADER_LENGTH = 37;

  /** The smallest value size the codec can write: the header alone. */
  public static final int MIN_VALUE_SIZE = HEADER_LENGTH;

  private static final byte[] HEX = {
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'
  };

  // Printable so that a value fetched by hand (telnet, memcached-tool) is readable.
  private static final byte[] ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private static final int KEY_AT = 1;
  private static final int VERSION_AT = 10;
  private static final int RUN_AT = 19;
  private static final int CHECK_AT = 28;

  /** The outcome of {@link #verify}; everything but {@link #OK} is a mismatch. */
  public enum Verdict {
    OK("ok"),
    WRONG_LENGTH("wrong length"),
    MALFORMED_HEADER("not a value this tool writes (bad header)"),
    WRONG_KEY("value of another key"),
    FOREIGN_RUN("value written by another bench run or process"),
    WRONG_FLAGS("flags do not match the value's version"),
    STALE_VERSION("older than a version already known to be stored"),
    FUTURE_VERSION("a version that was never written"),
    BAD_CHECKSUM("checksum does not match: corrupted"),
    NOT_DERIVED("body differs from the derivation for its key and version");

    private final String description;

    Verdict(String description) {
      this.description = description;
    }

    /** What went wrong, in a few words. */
    public String description() {
      return description;
    }
  }

  private final int valueSize;
  private final int runId;

  /**
   * A codec for values of {@code valueSize} bytes written by the run {@code runId}.
   *
   * @throws IllegalArgumentException when {@code valueSize} is below {@link #MIN_VALUE_SIZE}
   */
  public ValueCodec(int valueSize, int runId) {
    if (valueSize < MIN_VALUE_SIZE) {
      throw new IllegalArgumentException(
          "value size " + valueSize + " is below the minimum of " + MIN_VALUE_SIZE + " bytes");
    }
    this.valueSize = valueSize;
    this.runId = runId;
  }

  /** The size of every value. */
  public int valueSize() {
    return valueSize;
  }

  /** The run id stamped into every value. */
  public int runId() {
    return runId;
  }

  /** The memcached flags stored with {@code version}. */
  public static int flags(int version) {
    return version;
  }

  /** Appends the value of {@code keyId} at {@code version}: exactly {@link #valueSize()} bytes. */
  public void write(ByteBuf out, int keyId, int version) {
    out.ensureWritable(valueSize);
    int start = out.writerIndex();
    out.writeByte('K');
    writeHex(out, keyId);
    out.writeByte('V');
    writeHex(out, version);
    out.writeByte('R');
    writeHex(out, runId);
    out.writeByte('C');
    out.writeZero(8);
    out.writeByte('|');
    long state = seed(keyId, version);
    long hash = hashStart(keyId, version);
    int body = valueSize - HEADER_LENGTH;
    for (int i = body >>> 3; i > 0; i--) {
      state += GOLDEN;
      long word = printable(mix(state));
      out.writeLong(word);
      hash = step(hash, word);
    }
    int tail = body & 7;
    if (tail > 0) {
      state += GOLDEN;
      long word = printable(mix(state)) & tailMask(tail);
      for (int i = 0; i < tail; i++) {
        out.writeByte((int) (word >>> (56 - 8 * i)));
      }
      hash = step(hash, word);
    }
    setHex(out, start + CHECK_AT, finish(hash));
  }

  /**
   * Checks a value read for {@code keyId}.
   *
   * @param flags the flags memcached returned with it
   * @param minVersion the oldest version the value may have: one known to be stored before the get
   *     was sent
   * @param maxVersion the newest version written for the key so far
   */
  public Verdict verify(
      int keyId, long flags, ByteBuf buf, int index, int length, int minVersion, int maxVersion) {
    if (length != valueSize) {
      return Verdict.WRONG_LENGTH;
    }
    if (buf.getByte(index) != 'K'
        || buf.getByte(index + VERSION_AT - 1) != 'V'
        || buf.getByte(index + RUN_AT - 1) != 'R'
        || buf.getByte(index + CHECK_AT - 1) != 'C'
        || buf.getByte(index + HEADER_LENGTH - 1) != '|') {
      return Verdict.MALFORMED_HEADER;
    }
    long key = parseHex(buf, index + KEY_AT);
    long version = parseHex(buf, index + VERSION_AT);
    long run = parseHex(buf, index + RUN_AT);
    long check = parseHex(buf, index + CHECK_AT);
    if (key < 0 || version < 0 || version > Integer.MAX_VALUE || run < 0 || check < 0) {
      return Verdict.MALFORMED_HEADER;
    }
    if (key != keyId) {
      return Verdict.WRONG_KEY;
    }
    if ((int) run != runId) {
      return Verdict.FOREIGN_RUN;
    }
    if (flags != version) {
      return Verdict.WRONG_FLAGS;
    }
    if (version < minVersion) {
      return Verdict.STALE_VERSION;
    }
    if (version > maxVersion) {
      return Verdict.FUTURE_VERSION;
    }
    // One pass: the checksum of what arrived, and whether it equals what this run derives.
    long state = seed(keyId, (int) version);
    long hash = hashStart(keyId, (int) version);
    boolean derived = true;
    int at = index + HEADER_LENGTH;
    int body = valueSize - HEADER_LENGTH;
    for (int i = body >>> 3; i > 0; i--, at += 8) {
      state += GOLDEN;
      long got = buf.getLong(at);
      derived &= got == printable(mix(state));
      hash = step(hash, got);
    }
    int tail = body & 7;
    if (tail > 0) {
      state += GOLDEN;
      long got = 0;
      for (int i = 0; i < tail; i++) {
        got |= (buf.getByte(at + i) & 0xffL) << (56 - 8 * i);
      }
      derived &= got == (printable(mix(state)) & tailMask(tail));
      hash = step(hash, got);
    }
    if ((finish(hash) & 0xffffffffL) != check) {
      return Verdict.BAD_CHECKSUM;
    }
    return derived ? Verdict.OK : Verdict.NOT_DERIVED;
  }

  /**
   * The checksum a header should carry for the body of the value at {@code index}, as if it were
   * {@code keyId} at {@code version} of this run; lets tests forge self-consistent values.
   */
  int checksumOf(ByteBuf buf, int index, int keyId, int version) {
    long hash = hashStart(keyId, version);
    int at = index + HEADER_LENGTH;
    int body = valueSize - HEADER_LENGTH;
    for (int i = body >>> 3; i > 0; i--, at += 8) {
      hash = step(hash, buf.getLong(at));
    }
    int tail = body & 7;
    if (tail > 0) {
      long got = 0;
      for (int i = 0; i < tail; i++) {
        got |= (buf.getByte(at + i) & 0xffL) << (56 - 8 * i);
      }
      hash = step(hash, got);
    }
    return finish(hash);
  }

  /** Overwrites the checksum field of the value at {@code index}; for tests. */
  static void setChecksum(ByteBuf buf, int index, int checksum) {
    setHex(buf, index + CHECK_AT, checksum);
  }

  /** A one-line account of a failed check, for reports: the verdict and the start of the value. */
  public static String describe(Verdict verdict, ByteBuf buf, int index, int length) {
    StringBuilder s = new StringBuilder(verdict.description()).append(": ");
    s.append(length).append(" bytes '");
    int shown = Math.min(length, 48);
    for (int i = 0; i < shown; i++) {
      int b = buf.getByte(index + i) & 0xff;
      if (b >= 0x20 && b < 0x7f && b != '\\' && b != '\'') {
        s.append((char) b);
      } else {
        s.append(String.format("\\x%02x", b));
      }
    }
    return s.append(shown < length ? "...'" : "'").toString();
  }

  private long seed(int keyId, int version) {
    return mix(((long) runId << 32 | (keyId & 0xffffffffL)) ^ mix(version + GOLDEN));
  }

  private long hashStart(int keyId, int version) {
    return step(step(step(0x6A09E667F3BCC908L, keyId), version), runId);
  }

  // SplitMix64's finaliser: a fast bijective mix with good avalanche.
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static long step(long hash, long word) {
    return mix(hash ^ word) + GOLDEN;
  }

  private static int finish(long hash) {
    return (int) (hash ^ (hash >>> 32));
  }

  /** The bytes of a random word mapped onto a 64-symbol printable alphabet, big-endian. */
  private static long printable(long random) {
    long word = 0;
    for (int i = 0; i < 8; i++) {
      word = (word << 8) | ALPHABET[(int) (random >>> (i * 8)) & 63];
    }
    return word;
  }

  private static long tailMask(int bytes) {
    return -1L << (64 - 8 * bytes);
  }

  private static void writeHex(ByteBuf out, int value) {
    int at = out.writerIndex();
    out.writeZero(8);
    setHex(out, at, value);
  }

  private static void setHex(ByteBuf out, int at, int value) {
    for (int i = 7; i >= 0; i--) {
      out.setByte(at + i, HEX[value & 15]);
      value >>>= 4;
    }
  }

  /** Eight lowercase hex digits as an unsigned value, or -1 if any is not one. */
  private static long parseHex(ByteBuf buf, int at) {
    long value = 0;
    for (int i = 0; i < 8; i++) {
      int c = buf.getByte(at + i);
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else {
        return -1;
      }
      value = (value << 4) | digit;
    }
    return value;
  }
}
