package dev.mcmux.cli;

import dev.mcmux.admin.AdminServer;
import dev.mcmux.config.HostPort;
import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.frontend.McmuxServer;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/** {@code mcmux run}: validates every setting, then serves until the process is told to stop. */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description =
        "Start the proxy. Settings: flags > MCMUX_* environment > --config file > defaults.")
final class RunCommand implements Callable<Integer> {

  private static final Logger log = LoggerFactory.getLogger(RunCommand.class);

  @ParentCommand Main main;

  @Spec CommandSpec spec;

  @Mixin SettingsOptions options;

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter err = spec.commandLine().getErr();
    McmuxServer server;
    AdminServer admin = null;
    Settings settings;
    try {
      settings = options.load(main.env());
      Logging.configure(settings.operations().logFormat().name());
      Main.noSampledLeakTrackingUnlessAsked();
      log.info("mcmux {} starting", VersionProvider.mcmuxVersion());
      server = McmuxServer.start(settings);
    } catch (InvalidSettingException e) {
      return Main.fail(err, e.getMessage(), Main.EXIT_USAGE);
    } catch (Exception e) {
      log.debug("start failed", e);
      return Main.fail(err, Main.reason(e), Main.EXIT_FAILURE);
    }
    // Before /readyz can answer: a SIGHUP or SIGTERM sent as soon as mcmux is ready must find
    // mcmux's handlers, not the JVM's default, which ends the process.
    installSignals(server, settings);
    try {
      if (settings.admin().listen().isPresent()) {
        admin = startAdmin(settings.admin().listen().get(), server);
      }
    } catch (Exception e) {
      server.close();
      return Main.fail(
          err, "mcmux.admin.listen: cannot bind: " + Main.reason(e), Main.EXIT_FAILURE);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "mcmux-shutdown"));
    server.awaitTermination();
    if (admin != null) {
      admin.close();
    }
    return 0;
  }

  static AdminServer startAdmin(HostPort listen, McmuxServer server) throws InterruptedException {
    return AdminServer.start(
        listen.host(),
        listen.port(),
        new AdminServer.Endpoints(
            server::scrapeMetrics, server::healthy, server::ready, server::statusJson));
  }

  /**
   * SIGHUP reloads certificates; SIGTERM and SIGINT stop gracefully and exit 0, which the JVM's
   * default handling (exit 143 after shutdown hooks) would not.
   */
  private static void installSignals(McmuxServer server, Settings settings) {
    Signal.handle(new Signal("HUP"), s -> server.reloadTls());
    java.util.concurrent.atomic.AtomicBoolean stopping =
        new java.util.concurrent.atomic.AtomicBoolean();
    SignalHandler stop =
        s -> {
          if (!stopping.compareAndSet(false, true)) {
            return;
          }
          Thread t =
              new Thread(
                  () -> {
                    server.shutdownGracefully(
                        settings.operations().drainDelay(), settings.operations().gracePeriod());
                    System.exit(0);
                  },
                  "mcmux-graceful-shutdown");
          t.start();
        };
    Signal.handle(new Signal("TERM"), stop);
    Signal.handle(new Signal("INT"), stop);
  }
}
