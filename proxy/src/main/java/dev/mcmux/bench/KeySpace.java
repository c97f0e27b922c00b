package dev.mcmux.bench;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * The keys {@code key:0} .. {@code key:<n-1>} as ASCII bytes, computed once so that the hot loop
 * never formats a key.
 */
public final class KeySpace {

  private static final byte[] PREFIX = "key:".getBytes(StandardCharsets.US_ASCII);

  // One array for all keys rather than a byte[] per key: a million keys stay one object.
  private final byte[] bytes;
  private final int[] offsets;

  /** Builds {@code count} keys. */
  public KeySpace(int count) {
    if (count < 1) {
      throw new IllegalArgumentException("at least one key is needed");
    }
    offsets = new int[count + 1];
    int total = 0;
    for (int i = 0; i < count; i++) {
      offsets[i] = total;
      total += PREFIX.length + digits(i);
    }
    offsets[count] = total;
    bytes = new byte[total];
    for (int i = 0; i < count; i++) {
      int at = offsets[i];
      System.arraycopy(PREFIX, 0, bytes, at, PREFIX.length);
      writeDecimal(bytes, at + PREFIX.length, i);
    }
  }

  /** How many keys there are. */
  public int size() {
    return offsets.length - 1;
  }

  /** The length in bytes of key {@code id}. */
  public int length(int id) {
    return offsets[id + 1] - offsets[id];
  }

  /** Appends key {@code id} to {@code out}. */
  public void write(ByteBuf out, int id) {
    out.writeBytes(bytes, offsets[id], length(id));
  }

  /** Whether {@code length} bytes of {@code buf} at {@code index} are exactly key {@code id}. */
  public boolean matches(ByteBuf buf, int index, int length, int id) {
    int start = offsets[id];
    if (length != offsets[id + 1] - start) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      if (buf.getByte(index + i) != bytes[start + i]) {
        return false;
      }
    }
    return true;
  }

  /** Key {@code id} as text, for reports only. */
  public String name(int id) {
    return new String(bytes, offsets[id], length(id), StandardCharsets.US_ASCII);
  }

  /** The number of decimal digits of a non-negative int. */
  static int digits(int value) {
    int n = 1;
    while (value >= 10) {
      value /= 10;
      n++;
    }
    return n;
  }

  private static void writeDecimal(byte[] into, int at, int value) {
    for (int i = at + digits(value) - 1; i >= at; i--) {
      into[i] = (byte) ('0' + value % 10);
      value /= 10;
    }
  }

  /** Appends a non-negative int in decimal without creating a String. */
  static void writeDecimal(ByteBuf out, int value) {
    int n = digits(value);
    int at = out.writerIndex();
    out.ensureWritable(n);
    for (int i = at + n - 1; i >= at; i--) {
      out.setByte(i, '0' + value % 10);
      value /= 10;
    }
    out.writerIndex(at + n);
  }
}
