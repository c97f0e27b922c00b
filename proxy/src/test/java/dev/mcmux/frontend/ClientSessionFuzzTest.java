package dev.mcmux.frontend;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The ordering property of {@link ClientSessionOrderTest}, with scenarios chosen by the fuzzer so
 * that coverage guides it towards rare interleavings; {@code proxy/fuzz.sh} runs it for real.
 */
class ClientSessionFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void scenario(FuzzedDataProvider data) {
    SessionWorld.Choices choices = bound -> data.consumeInt(0, bound - 1);
    SessionWorld.draw(choices).runScenario(choices, data.consumeInt(0, 150));
  }
}
