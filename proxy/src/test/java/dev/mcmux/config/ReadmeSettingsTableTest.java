package dev.mcmux.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * README's configuration table names every setting of {@code reference.conf} and nothing else, so a
 * setting added to one cannot be forgotten in the other (seven had been).
 */
class ReadmeSettingsTableTest {

  private static final Pattern CODE = Pattern.compile("`([a-z0-9.-]+)`");

  @Test
  void everyReferenceSettingHasARowAndEveryRowASetting() throws IOException {
    Config reference =
        ConfigFactory.parseResources(getClass().getClassLoader(), "reference.conf").resolve();
    Set<String> settings = new TreeSet<>();
    for (Map.Entry<String, ?> e : reference.getConfig("mcmux").entrySet()) {
      settings.add("mcmux." + e.getKey());
    }
    // clusters = {} has no leaves; it is a setting all the same.
    settings.add("mcmux.clusters");

    Set<String> documented = documentedSettings(readme());

    Set<String> missing = new TreeSet<>(settings);
    missing.removeAll(documented);
    Set<String> unknown = new TreeSet<>(documented);
    unknown.removeAll(settings);
    assertEquals(Set.of(), missing, "settings in reference.conf without a README row");
    assertEquals(Set.of(), unknown, "README rows naming no setting of reference.conf");
  }

  /**
   * The names in the first cell of each row of the table under "Configuration reference": a full
   * path, then optionally its siblings by their last segment ({@code `mcmux.tls.cert-file`,
   * `key-file`}).
   */
  static Set<String> documentedSettings(String readme) {
    int start = readme.indexOf("### Configuration reference");
    int header = readme.indexOf("| setting |", start);
    Set<String> out = new TreeSet<>();
    for (String line : readme.substring(header).split("\n", -1)) {
      if (!line.startsWith("|")) {
        break;
      }
      String firstCell = line.substring(1, line.indexOf('|', 1));
      Matcher m = CODE.matcher(firstCell);
      String parent = null;
      while (m.find()) {
        String name = m.group(1);
        if (name.startsWith("mcmux.")) {
          out.add(name);
          parent = name.substring(0, name.lastIndexOf('.') + 1);
        } else if (parent != null) {
          out.add(parent + name);
        }
      }
    }
    return out;
  }

  private static String readme() throws IOException {
    // Surefire runs in the module directory; the README is the repository's.
    Path path = Path.of("..", "README.md");
    return Files.readString(path);
  }
}
