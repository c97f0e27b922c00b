package dev.mcmux.cli;

import ch.qos.logback.classic.Level;
import dev.mcmux.check.CheckReport;
import dev.mcmux.check.EndpointCheck;
import dev.mcmux.check.Failure;
import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.config.SettingsLoader;
import dev.mcmux.upstream.TlsContextFactory;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code mcmux check}: connects to one memcached endpoint exactly as {@code mcmux run} would and
 * says, step by step, what works and why something does not; exit 0 only when all of it works.
 */
@Command(
    name = "check",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
      "Connect to ENDPOINT as mcmux would (DNS, TCP, TLS, memcached) and explain what fails.",
      "TLS settings come from flags > MCMUX_* environment > --config file > defaults, as for run."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:every step works",
      "1:a step failed (last line: mcmux check: FAILED: ...)",
      "2:bad flags"
    })
final class CheckCommand implements Callable<Integer> {

  @ParentCommand Main main;

  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "ENDPOINT",
      description = "host:port of the memcached endpoint (port 11211 when omitted).")
  String endpoint;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "HOCON file with settings under mcmux { }, as for run.")
  Path config;

  @Option(
      names = "--ca-file",
      paramLabel = "FILE",
      description = "PEM CA bundle to trust (mcmux.tls.ca-file); default: the system trust store.")
  String caFile;

  @Option(
      names = "--server-name",
      paramLabel = "NAME",
      description = "Name to send as SNI and verify (mcmux.tls.server-name); default: the host.")
  String serverName;

  @Option(
      names = "--cert-file",
      paramLabel = "FILE",
      description = "PEM client certificate chain (mcmux.tls.cert-file).")
  String certFile;

  @Option(
      names = "--key-file",
      paramLabel = "FILE",
      description = "PEM private key of --cert-file (mcmux.tls.key-file).")
  String keyFile;

  @Option(
      names = "--key-password",
      paramLabel = "PASSWORD",
      description =
          "Password of an encrypted --key-file (mcmux.tls.key-password); prefer"
              + " MCMUX_TLS_KEY_PASSWORD, which other users cannot see in ps.")
  String keyPassword;

  @Option(
      names = "--timeout",
      paramLabel = "DURATION",
      defaultValue = "5s",
      converter = DurationConverter.class,
      description =
          "Time allowed for each step: DNS, connect, handshake, each request (default: ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(
      names = "--insecure",
      description = "Do not verify the certificate or host name (mcmux.tls.verify = false).")
  boolean insecure;

  @Option(names = "--json", description = "Print one JSON object instead of text.")
  boolean json;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    CheckReport report;
    // The report names the engine and trust source itself; the factory's INFO lines about them
    // would only interleave with it on a terminal. Its warnings still show.
    Logger factoryLog = LoggerFactory.getLogger(TlsContextFactory.class);
    Level before = null;
    if (factoryLog instanceof ch.qos.logback.classic.Logger logback) {
      before = logback.getLevel();
      logback.setLevel(Level.WARN);
    }
    try {
      Settings settings = SettingsLoader.load(Optional.ofNullable(config), main.env(), overrides());
      report =
          EndpointCheck.run(
              new EndpointCheck.Target(
                  settings.upstream().endpoints().get(0),
                  settings.tls(),
                  settings.runtime().transport(),
                  timeout,
                  timeout));
    } catch (InvalidSettingException e) {
      report =
          CheckReport.failed(
              new Failure(
                  Failure.Kind.SETTINGS,
                  e.getMessage(),
                  "mcmux run would refuse to start with these settings too"));
    } finally {
      if (factoryLog instanceof ch.qos.logback.classic.Logger logback) {
        logback.setLevel(before);
      }
    }
    out.print(json ? report.toJson() : report.toText());
    out.flush();
    return report.ok() ? 0 : Main.EXIT_FAILURE;
  }

  private Map<String, String> overrides() {
    Map<String, String> o = new LinkedHashMap<>();
    o.put("mcmux.upstream.endpoints", endpoint);
    put(o, "mcmux.tls.ca-file", caFile);
    put(o, "mcmux.tls.server-name", serverName);
    put(o, "mcmux.tls.cert-file", certFile);
    put(o, "mcmux.tls.key-file", keyFile);
    put(o, "mcmux.tls.key-password", keyPassword);
    if (insecure) {
      o.put("mcmux.tls.verify", "false");
    }
    // The handler enforces the handshake timeout itself, as it does for mcmux run.
    o.put("mcmux.tls.handshake-timeout", timeout.toMillis() + "ms");
    o.put("mcmux.upstream.connect-timeout", timeout.toMillis() + "ms");
    return o;
  }

  private static void put(Map<String, String> o, String path, String value) {
    if (value != null) {
      o.put(path, value);
    }
  }

  /** Reads {@code 500ms}, {@code 5s}, {@code 1.5s} or {@code 1m}; a bare number is refused. */
  static final class DurationConverter implements ITypeConverter<Duration> {
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m)");

    @Override
    public Duration convert(String value) {
      Matcher m = DURATION.matcher(value.strip().toLowerCase(Locale.ROOT));
      if (!m.matches()) {
        throw new TypeConversionException(
            "'" + value + "' is not a duration such as 500ms, 5s or 1m");
      }
      double amount = Double.parseDouble(m.group(1));
      long unitMillis =
          switch (m.group(2)) {
            case "ms" -> 1;
            case "s" -> 1_000;
            default -> 60_000;
          };
      long millis = Math.round(amount * unitMillis);
      if (millis < 1) {
        throw new TypeConversionException("'" + value + "' must be at least 1ms");
      }
      return Duration.ofMillis(millis);
    }
  }
}
