package dev.mcmux.cli;

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
    try {
      Settings settings = options.load(main.env());
      log.info("mcmux {} starting", VersionProvider.mcmuxVersion());
      server = McmuxServer.start(settings);
    } catch (InvalidSettingException e) {
      return Main.fail(err, e.getMessage(), Main.EXIT_USAGE);
    } catch (Exception e) {
      log.debug("start failed", e);
      return Main.fail(err, Main.reason(e), Main.EXIT_FAILURE);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "mcmux-shutdown"));
    server.awaitTermination();
    return 0;
  }
}
