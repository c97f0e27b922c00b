package dev.mcmux.cli;

import io.netty.handler.ssl.OpenSsl;
import io.netty.util.Version;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** What {@code --version} prints: mcmux, Java, Netty and whether OpenSSL can be used. */
final class VersionProvider implements IVersionProvider {

  // Written into the jar by Maven; absent when running from an IDE or target/classes.
  private static final String POM_PROPERTIES = "/META-INF/maven/dev.mcmux/mcmux/pom.properties";

  static String mcmuxVersion() {
    try (InputStream in = VersionProvider.class.getResourceAsStream(POM_PROPERTIES)) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        return p.getProperty("version", "unknown");
      }
    } catch (IOException e) {
      // Fall through: a version string is not worth failing for.
    }
    return "(development build)";
  }

  @Override
  public String[] getVersion() {
    Version netty = Version.identify().get("netty-handler");
    String tls =
        OpenSsl.isAvailable()
            ? "OpenSSL (BoringSSL) available"
            : "OpenSSL unavailable (" + OpenSsl.unavailabilityCause() + "), JDK TLS only";
    return new String[] {
      "mcmux " + mcmuxVersion(),
      "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")",
      "Netty " + (netty == null ? "unknown" : netty.artifactVersion()) + ", " + tls
    };
  }
}
