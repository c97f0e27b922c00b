package dev.mcmux.frontend;

import dev.mcmux.testing.Differential;
import dev.mcmux.testing.LeakDetection;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link AsciiFuzzDifferentialIT}'s randomised differential test with meta commands in the mix:
 * {@code mg ms md ma mn} with random flags ({@code q}, {@code O} opaques, base64 keys, modes, bad
 * and duplicate flags) among classic commands, mutated the same way, sent to memcached directly and
 * through mcmux, whole or split; the same answers, the same close behaviour, and mcmux's upstream
 * connection still in step (a new client's set/get, no upstream connection replaced).
 *
 * <p>Compared outside {@link MetaDifferentialIT}'s exemptions: returned CAS, TTL and last-access
 * digits are masked; {@code me} and a quiet {@code ma} that may create its item are never
 * generated; expiries near the clock are avoided as in the ASCII test. Same system properties as
 * {@link AsciiFuzzDifferentialIT} ({@code mcmux.fuzz.seed}, {@code .only}, {@code .cases}, {@code
 * .budget-seconds}, {@code .max-mutations}).
 */
@ExtendWith(LeakDetection.class)
class MetaFuzzDifferentialIT {

  @TempDir static Path dir;
  static Differential diff;

  @BeforeAll
  static void start() {
    diff = Differential.start(dir);
  }

  @AfterAll
  static void stop() {
    if (diff != null) {
      diff.close();
    }
  }

  @Test
  void mutatedMetaPipelinesGetTheSameAnswers() {
    AsciiFuzzDifferentialIT.fuzz(
        "MetaFuzzDifferentialIT", diff, true, MetaFuzzDifferentialIT::maskServerValues);
  }

  /** Hides the digits two servers may differ in: returned CAS, remaining TTL, last access. */
  static String maskServerValues(String answer) {
    return answer
        .replaceAll(" c[0-9]+", " c#")
        .replaceAll(" t-?[0-9]+", " t#")
        .replaceAll(" l[0-9]+", " l#");
  }
}
