package dev.mcmux.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClusterConfigTest {

  @Test
  void parsesTheElastiCacheForm() {
    ClusterConfig c =
        ClusterConfig.parse(
            "12\nmycluster.abc.0001.use1.cache.amazonaws.com|10.82.235.120|11211"
                + " mycluster.abc.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n");
    assertEquals(12, c.version());
    assertEquals(
        List.of(
            new ClusterConfig.Node(
                "mycluster.abc.0001.use1.cache.amazonaws.com", "10.82.235.120", 11211),
            new ClusterConfig.Node(
                "mycluster.abc.0002.use1.cache.amazonaws.com", "10.80.249.27", 11211)),
        c.nodes());
  }

  @Test
  void aNodeMayHaveNoIpYet() {
    ClusterConfig c = ClusterConfig.parse("3\n1node.example|  |11212\n".replace("  ", ""));
    assertEquals(new ClusterConfig.Node("1node.example", "", 11212), c.nodes().get(0));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "12 host|1.2.3.4|11211",
        "x\nhost|1.2.3.4|11211\n",
        "12\n\n",
        "12\nhost|1.2.3.4\n",
        "12\nhost|1.2.3.4|port\n",
        "12\nhost|1.2.3.4|70000\n",
        "12\n|1.2.3.4|11211\n"
      })
  void rejectsAnythingElseWithAReason(String body) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ClusterConfig.parse(body));
    assertEquals(false, e.getMessage().isBlank());
  }
}
