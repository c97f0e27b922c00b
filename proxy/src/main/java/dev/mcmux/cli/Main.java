package dev.mcmux.cli;

import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Entry point of the mcmux command line: parses the subcommand and maps failures to exit codes. */
@Command(
    name = "mcmux",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Local TLS multiplexing sidecar for memcached.",
    subcommands = {RunCommand.class, ValidateCommand.class, CheckCommand.class, BenchCommand.class})
public final class Main implements Callable<Integer> {

  /** Exit code for a bad setting or flag; nothing was bound. */
  static final int EXIT_USAGE = 2;

  /** Exit code for any other failure at start. */
  static final int EXIT_FAILURE = 1;

  private final Map<String, String> env;

  @Spec CommandSpec spec;

  private Main(Map<String, String> env) {
    this.env = env;
  }

  public static void main(String[] args) {
    keepPerThreadBufferCaches();
    noNettyFlightRecorderEventsUnlessAsked();
    System.exit(
        execute(
            args,
            System.getenv(),
            new PrintWriter(System.out, true),
            new PrintWriter(System.err, true)));
  }

  /**
   * Netty's adaptive allocator takes a heap of 512 MiB or less for a small machine and then shares
   * its buffer magazines between threads behind locks instead of giving each event loop its own; a
   * sidecar's heap is small by design while its direct memory has its own bound, and that shared
   * path cost a fifth of the event loop's Java time under load (docs/bench.md). Must run before any
   * Netty class loads; an explicit {@code -Dio.netty.allocator.lowMemory} still wins.
   */
  static void keepPerThreadBufferCaches() {
    defaultProperty("io.netty.allocator.lowMemory", "false");
  }

  /** Sets a system property to mcmux's value unless the operator gave it with {@code -D}. */
  private static void defaultProperty(String name, String value) {
    if (System.getProperty(name) == null) {
      System.setProperty(name, value);
    }
  }

  /** Runs the command line with the given environment and streams; returns the exit code. */
  static int execute(String[] args, Map<String, String> env, PrintWriter out, PrintWriter err) {
    CommandLine cli = new CommandLine(new Main(env));
    cli.setOut(out);
    cli.setErr(err);
    cli.setParameterExceptionHandler(
        (e, a) -> {
          String command = e.getCommandLine().getCommandSpec().qualifiedName();
          return fail(
              e.getCommandLine().getErr(),
              e.getMessage() + " (see '" + command + " --help')",
              EXIT_USAGE);
        });
    cli.setExecutionExceptionHandler((e, c, parsed) -> fail(c.getErr(), reason(e), EXIT_FAILURE));
    int code = cli.execute(args);
    out.flush();
    err.flush();
    return code;
  }

  Map<String, String> env() {
    return env;
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return EXIT_USAGE;
  }

  /** Prints {@code mcmux: message} as one line and returns {@code code}. */
  static int fail(PrintWriter err, String message, int code) {
    err.println("mcmux: " + message.strip().replaceAll("\\s*\\R\\s*", " "));
    err.flush();
    return code;
  }

  /** A one-line reason for an unexpected exception. */
  static String reason(Throwable t) {
    String m = t.getMessage();
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }

  /**
   * Keeps Netty from registering its JFR events unless {@code -Dio.netty.jfr.enabled} asks for
   * them: when it does, the JDK builds the metadata of all its own events too, about 2 MiB of
   * metaspace and heap that an idle sidecar keeps for nothing. Must run before Netty's {@code
   * PlatformDependent} is loaded.
   */
  static void noNettyFlightRecorderEventsUnlessAsked() {
    defaultProperty("io.netty.jfr.enabled", "false");
  }

  /**
   * Turns off Netty's sampled leak tracking unless {@code -Dio.netty.leakDetection.level} asks for
   * it: it wraps some buffers, which makes byte reads megamorphic and cost the data path about a
   * third of its user time. The test suite runs at paranoid level.
   */
  static void noSampledLeakTrackingUnlessAsked() {
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      io.netty.util.ResourceLeakDetector.setLevel(
          io.netty.util.ResourceLeakDetector.Level.DISABLED);
    }
  }
}
