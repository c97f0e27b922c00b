package dev.mcmux.cli;

import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.config.SettingsLoader;
import dev.mcmux.upstream.TlsContextFactory;
import dev.mcmux.upstream.TlsContextFactory.CertificateInfo;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code mcmux validate}: checks the settings and TLS files as {@code run} would and prints the
 * effective settings, without binding anything or contacting a server.
 */
@Command(
    name = "validate",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Check settings and TLS files, print the effective settings, bind nothing.")
final class ValidateCommand implements Callable<Integer> {

  @ParentCommand Main main;

  @Spec CommandSpec spec;

  @Mixin SettingsOptions options;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Settings settings;
    TlsContextFactory tls;
    try {
      settings = options.load(main.env());
      tls = TlsContextFactory.create(settings.tls());
      for (Settings named : settings.clusters()) {
        try {
          TlsContextFactory.create(named.tls());
        } catch (InvalidSettingException e) {
          throw SettingsLoader.inCluster(named.name(), e);
        }
      }
    } catch (InvalidSettingException e) {
      return Main.fail(err, e.getMessage(), Main.EXIT_USAGE);
    } catch (RuntimeException e) {
      return Main.fail(err, Main.reason(e), Main.EXIT_FAILURE);
    }
    out.print(SettingsLoader.describe(settings));
    out.println("# tls engine: " + tls.engineName());
    if (settings.tls().verify() && tls.caCertificates().isEmpty()) {
      out.println("# trusted: the system trust store");
    }
    for (CertificateInfo ca : tls.caCertificates()) {
      out.println("# trusted CA: " + ca.subject() + ", expires " + ca.notAfter());
    }
    for (CertificateInfo cert : tls.clientCertificates()) {
      out.println("# client certificate: " + cert.subject() + ", expires " + cert.notAfter());
    }
    out.flush();
    return 0;
  }
}
