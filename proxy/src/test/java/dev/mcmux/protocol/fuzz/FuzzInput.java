package dev.mcmux.protocol.fuzz;

import java.util.Arrays;

/**
 * The layout every fuzz test here reads its raw input with, so a seed file stays mostly readable
 * protocol text: one settings byte, then {@code n} cut points of two bytes each, then a fixed
 * number of header bytes the test defines, then the payload.
 *
 * <p>The high nibble of the settings byte is {@code n}; the low nibble is left to the test. Cut
 * points are taken modulo the payload length plus one, so every value is valid and the fuzzer
 * explores split positions as freely as it explores bytes.
 */
final class FuzzInput {

  final int settings;
  final byte[] header;
  final byte[] payload;

  /** Where the payload is cut into chunks, ascending, without duplicates, without 0 or length. */
  final int[] cuts;

  private FuzzInput(int settings, byte[] header, byte[] payload, int[] cuts) {
    this.settings = settings;
    this.header = header;
    this.payload = payload;
    this.cuts = cuts;
  }

  /**
   * Reads {@code raw}; a short input leaves missing header bytes zero.
   *
   * @param headerBytes how many bytes after the cut points the test reads as its own header
   */
  static FuzzInput parse(byte[] raw, int headerBytes) {
    if (raw.length == 0) {
      return new FuzzInput(0, new byte[headerBytes], raw, new int[0]);
    }
    int settings = raw[0] & 0x0F;
    int wanted = (raw[0] & 0xF0) >>> 4;
    int n = Math.min(wanted, (raw.length - 1) / 2);
    int headerStart = 1 + 2 * n;
    int payloadStart = Math.min(raw.length, headerStart + headerBytes);
    byte[] header = Arrays.copyOf(Arrays.copyOfRange(raw, headerStart, payloadStart), headerBytes);
    byte[] payload = Arrays.copyOfRange(raw, payloadStart, raw.length);
    int[] cuts = new int[n];
    for (int i = 0; i < n; i++) {
      int v = ((raw[1 + 2 * i] & 0xFF) << 8) | (raw[2 + 2 * i] & 0xFF);
      cuts[i] = v % (payload.length + 1);
    }
    int[] sorted =
        Arrays.stream(cuts).filter(c -> c > 0 && c < payload.length).sorted().distinct().toArray();
    return new FuzzInput(settings, header, payload, sorted);
  }

  /** The payload cut at {@link #cuts}: the chunks a socket might have delivered it in. */
  byte[][] chunks() {
    byte[][] chunks = new byte[cuts.length + 1][];
    int from = 0;
    for (int i = 0; i <= cuts.length; i++) {
      int to = i < cuts.length ? cuts[i] : payload.length;
      chunks[i] = Arrays.copyOfRange(payload, from, to);
      from = to;
    }
    return chunks;
  }

  /** The payload one byte at a time, for short inputs where that is cheap. */
  byte[][] bytewise() {
    byte[][] chunks = new byte[payload.length][];
    for (int i = 0; i < payload.length; i++) {
      chunks[i] = new byte[] {payload[i]};
    }
    return chunks;
  }
}
