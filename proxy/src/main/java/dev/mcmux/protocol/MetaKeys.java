package dev.mcmux.protocol;

import java.util.Arrays;

/**
 * Base64 for meta-command keys ({@code b} flag), decoding exactly as memcached 1.6.18 does so a key
 * routes by the same bytes memcached stores it under.
 *
 * <p>memcached's decoder skips every byte outside the alphabet (and {@code =}), needs a multiple of
 * four alphabet bytes, stops after the first block that holds padding, and fails on a block with
 * three or four padding bytes: {@code Zm9v!} decodes to {@code foo}, {@code Zg==Zm9v} to {@code f}.
 */
public final class MetaKeys {

  private static final byte[] ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static final int SKIP = 0x80;
  private static final int[] DECODE = new int[256];

  static {
    Arrays.fill(DECODE, SKIP);
    for (int i = 0; i < ALPHABET.length; i++) {
      DECODE[ALPHABET[i]] = i;
    }
    DECODE['='] = 0;
  }

  private MetaKeys() {}

  /**
   * Decodes {@code src} as memcached's {@code base64_decode} does.
   *
   * @return the decoded bytes, or null where memcached's decoder returns 0 (its failure)
   */
  public static byte[] decode(byte[] src) {
    int count = 0;
    for (byte b : src) {
      if (DECODE[b & 0xFF] != SKIP) {
        count++;
      }
    }
    if (count == 0 || count % 4 != 0) {
      return null;
    }
    byte[] out = new byte[count / 4 * 3];
    int pos = 0;
    int[] block = new int[4];
    int n = 0;
    int pad = 0;
    for (byte b : src) {
      int v = DECODE[b & 0xFF];
      if (v == SKIP) {
        continue;
      }
      if (b == '=') {
        pad++;
      }
      block[n++] = v;
      if (n == 4) {
        out[pos++] = (byte) ((block[0] << 2) | (block[1] >> 4));
        out[pos++] = (byte) ((block[1] << 4) | (block[2] >> 2));
        out[pos++] = (byte) ((block[2] << 6) | block[3]);
        n = 0;
        if (pad > 0) {
          if (pad > 2) {
            return null;
          }
          pos -= pad;
          break;
        }
      }
    }
    return pos == 0 ? null : Arrays.copyOf(out, pos);
  }

  /** Standard base64 with padding, as memcached writes keys back. */
  public static byte[] encode(byte[] src) {
    byte[] out = new byte[(src.length + 2) / 3 * 4];
    int o = 0;
    int i = 0;
    for (; i + 3 <= src.length; i += 3) {
      int v = ((src[i] & 0xFF) << 16) | ((src[i + 1] & 0xFF) << 8) | (src[i + 2] & 0xFF);
      out[o++] = ALPHABET[v >>> 18];
      out[o++] = ALPHABET[(v >>> 12) & 0x3F];
      out[o++] = ALPHABET[(v >>> 6) & 0x3F];
      out[o++] = ALPHABET[v & 0x3F];
    }
    int rest = src.length - i;
    if (rest > 0) {
      int v = (src[i] & 0xFF) << 16;
      if (rest == 2) {
        v |= (src[i + 1] & 0xFF) << 8;
      }
      out[o++] = ALPHABET[v >>> 18];
      out[o++] = ALPHABET[(v >>> 12) & 0x3F];
      out[o++] = rest == 2 ? ALPHABET[(v >>> 6) & 0x3F] : (byte) '=';
      out[o++] = '=';
    }
    return out;
  }
}
