import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;

/**
 * Finds, per flavour, two node names with a ketama point in common, and keys that land on that
 * point, for the "collision-*" node sets: they show which node a client picks on a tie. Only a
 * search aid: the vectors for those sets still come from the real libraries.
 *
 * <p>Usage: java tools/golden/FindCollisions.java
 */
public class FindCollisions {
  public static void main(String[] args) throws Exception {
    find("libmemcached", "MD5", i -> "tie" + i + ".example.com");
    find("spymemcached", "MD5", i -> "tie" + i + ".example.com/10.9." + (i >> 8) + "." + (i & 255) + ":11211");
    find("elasticache", "SHA-384", i -> "10.9." + (i >> 8) + "." + (i & 255) + ":11211");
  }

  interface Name {
    String of(int i);
  }

  static void find(String flavour, String alg, Name name) throws Exception {
    MessageDigest md = MessageDigest.getInstance(alg);
    Map<Integer, Integer> owner = new HashMap<>();
    for (int i = 0; ; i++) {
      for (int r = 0; r < 40; r++) {
        byte[] d = md.digest((name.of(i) + "-" + r).getBytes(StandardCharsets.UTF_8));
        for (int h = 0; h < 4; h++) {
          int p = le(d, h * 4);
          Integer prev = owner.putIfAbsent(p, i);
          if (prev != null && prev != i) {
            System.out.printf("%s: %s and %s share point %08x%n", flavour, name.of(prev), name.of(i), p);
            keys(md, p);
            return;
          }
        }
      }
    }
  }

  /** Keys whose hash falls just before the shared point, so that it is the one they land on. */
  static void keys(MessageDigest md, int point) {
    long target = Integer.toUnsignedLong(point);
    int found = 0;
    for (int k = 0; found < 8; k++) {
      String key = "tie:" + k;
      long h = Integer.toUnsignedLong(le(md.digest(key.getBytes(StandardCharsets.UTF_8)), 0));
      // Within 2^32/4000 below the point: on a ring of two nodes (320 points) it is very likely
      // that no other point lies in between; the vectors from the real library decide anyway.
      if (h <= target && target - h < (1L << 32) / 4000) {
        System.out.println("  key " + key);
        found++;
      }
    }
  }

  static int le(byte[] b, int at) {
    return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
  }
}
