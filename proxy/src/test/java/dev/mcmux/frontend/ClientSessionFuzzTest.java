package dev.mcmux.frontend;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The ordering property of {@link ClientSessionOrderTest}, with scenarios chosen by the fuzzer so
 * that coverage guides it towards rare interleavings; {@code proxy/fuzz.sh} runs it for real. The
 * fuzzer also chooses whether clients mix meta commands into their pipelines and whether every
 * other client speaks the binary protocol.
 */
class ClientSessionFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void scenario(FuzzedDataProvider data) {
    SessionWorld.Choices choices = bound -> data.consumeInt(0, bound - 1);
    SessionWorld world = SessionWorld.draw(choices);
    if (data.consumeBoolean()) {
      world.withMeta();
    }
    if (data.consumeBoolean()) {
      world.withBinary();
    }
    world.runScenario(choices, data.consumeInt(0, 150));
  }
}
