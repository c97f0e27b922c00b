package dev.mcmux.testing;

import dev.mcmux.config.SettingsLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * mcmux as operators run it: the shaded {@code target/mcmux.jar} in a JVM of its own, with the
 * container image's JVM options, configured through {@code MCMUX_*} variables.
 *
 * <p>A separate process has its own file-descriptor limit and its own memory, so a test can hold as
 * many client sockets as mcmux does and read mcmux's resident memory alone. Netty's leak detector
 * runs at the level the test JVM was given (paranoid in the build); {@link #leakReports} returns
 * what it logged.
 */
public final class McmuxProcess implements AutoCloseable {
  /** The shaded jar; the failsafe phase runs after {@code package}, which builds it. */
  public static final Path JAR = Path.of("target", "mcmux.jar");

  /** The image definition whose {@code JAVA_TOOL_OPTIONS} the child runs with. */
  public static final Path DOCKERFILE = Path.of("..", "Dockerfile");

  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
  private static final Pattern TOOL_OPTIONS =
      Pattern.compile("^ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"", Pattern.MULTILINE);

  private final Process process;
  private final Path log;
  private final int port;
  private final int adminPort;
  private final HttpClient http = HttpClient.newHttpClient();

  private McmuxProcess(Process process, Path log, int port, int adminPort) {
    this.process = process;
    this.log = log;
    this.port = port;
    this.adminPort = adminPort;
  }

  /** A builder for mcmux in front of {@code upstreamPort} on localhost, trusting {@code caFile}. */
  public static Builder inFrontOf(int upstreamPort, Path caFile, Path workDir) {
    return new Builder(workDir)
        .set("mcmux.upstream.endpoints", "localhost:" + upstreamPort)
        .set("mcmux.tls.ca-file", caFile.toString());
  }

  /**
   * The image's {@code JAVA_TOOL_OPTIONS} from the Dockerfile, with its {@code /tmp/} paths moved
   * into {@code workDir} so parallel runs do not share Netty's unpacked libraries.
   */
  public static String imageJavaToolOptions(Path workDir) {
    try {
      Matcher m = TOOL_OPTIONS.matcher(Files.readString(DOCKERFILE));
      if (!m.find()) {
        throw new IllegalStateException(DOCKERFILE + " has no ENV JAVA_TOOL_OPTIONS=\"...\" line");
      }
      return m.group(1).replace("/tmp/", workDir.toAbsolutePath() + "/");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The TCP port clients connect to. */
  public int port() {
    return port;
  }

  /** The operating-system process id. */
  public long pid() {
    return process.pid();
  }

  /** A plaintext client connected to mcmux. */
  public TextClient client() {
    return TextClient.connect(port);
  }

  /** The body of {@code GET path} on the admin listener; fails on any status but 200. */
  public String admin(String path) {
    try {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
                  .timeout(Duration.ofSeconds(10))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new AssertionError("GET " + path + " answered " + r.statusCode() + ": " + r.body());
      }
      return r.body();
    } catch (IOException e) {
      throw new UncheckedIOException("GET " + path + " from mcmux pid " + pid(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * The value of one Prometheus series from {@code /metrics}, named with its labels exactly as
   * exposed (for example {@code mcmux_client_connections} or {@code
   * mcmux_upstream_connections{node="localhost:1234",state="up"}}); the sum when {@code series} is
   * a bare name that has labelled series; fails when there is none.
   */
  public double metric(String series) {
    String scrape = admin("/metrics");
    double sum = 0;
    boolean found = false;
    for (String line : scrape.lines().toList()) {
      if (line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      String name = line.substring(0, space);
      boolean matches =
          name.equals(series) || (series.indexOf('{') < 0 && name.startsWith(series + "{"));
      if (matches) {
        sum += Double.parseDouble(line.substring(space + 1));
        found = true;
      }
    }
    if (!found) {
      throw new AssertionError("no series " + series + " in /metrics:\n" + scrape);
    }
    return sum;
  }

  /** Resident memory of the process in bytes ({@code VmRSS} of {@code /proc/PID/status}). */
  public long residentBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.trim().split("\\s+");
          return Long.parseLong(parts[1]) * 1024;
        }
      }
      throw new IllegalStateException("no VmRSS for pid " + pid());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Runs a full garbage collection in the child ({@code jcmd PID GC.run}), so that buffers lost
   * without a release become visible to Netty's leak detector, which reports them at its next
   * allocation.
   */
  public void collectGarbage() {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    try {
      Process p =
          new ProcessBuilder(jcmd.toString(), Long.toString(pid()), "GC.run")
              .redirectErrorStream(true)
              .start();
      String output = new String(p.getInputStream().readAllBytes());
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new AssertionError("jcmd " + pid() + " GC.run failed: " + output);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Netty's leak reports in the log so far (each starts with {@code LEAK:}). */
  public List<String> leakReports() {
    return logText().lines().filter(l -> l.contains("LEAK:")).toList();
  }

  /** Everything the process wrote so far. */
  public String logText() {
    return ChildProcesses.tail(log, Integer.MAX_VALUE);
  }

  /**
   * Stops it with SIGTERM, as an orchestrator does, and returns its exit code; kills it if it does
   * not exit within the grace period.
   */
  public int stop() {
    process.destroy();
    if (!ChildProcesses.awaitExit(process, STOP_TIMEOUT)) {
      process.destroyForcibly();
      ChildProcesses.awaitExit(process, STOP_TIMEOUT);
      throw new AssertionError("mcmux pid " + pid() + " ignored SIGTERM for " + STOP_TIMEOUT);
    }
    return process.exitValue();
  }

  /** Kills the process if it still runs; the log stays for diagnosis. */
  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
      ChildProcesses.awaitExit(process, STOP_TIMEOUT);
    }
  }

  /** Collects settings and JVM options, then starts the child. */
  public static final class Builder {
    private final Path workDir;
    private final Map<String, String> settings = new LinkedHashMap<>();
    private final List<String> jvmOptions = new ArrayList<>();

    private Builder(Path workDir) {
      this.workDir = workDir;
      settings.put("mcmux.listen", "127.0.0.1:" + Ports.freeLoopbackPort());
      settings.put("mcmux.admin.listen", "127.0.0.1:" + Ports.freeLoopbackPort());
      // Tests want failures reported fast.
      settings.put("mcmux.upstream.reconnect-backoff-min", "20ms");
      settings.put("mcmux.upstream.reconnect-backoff-max", "500ms");
      String leakLevel = System.getProperty("io.netty.leakDetection.level");
      jvmOptions.add(
          "-Dio.netty.leakDetection.level=" + (leakLevel == null ? "paranoid" : leakLevel));
    }

    /** Sets one setting by its HOCON path, passed as its {@code MCMUX_*} variable. */
    public Builder set(String path, String value) {
      settings.put(path, value);
      return this;
    }

    /** Adds a JVM option after the image's {@code JAVA_TOOL_OPTIONS}. */
    public Builder jvmOption(String option) {
      jvmOptions.add(option);
      return this;
    }

    /** Starts mcmux and waits until {@code /readyz} answers 200. */
    public McmuxProcess start() {
      if (!Files.exists(JAR)) {
        throw new IllegalStateException("the package phase builds " + JAR.toAbsolutePath());
      }
      Map<String, String> env = new LinkedHashMap<>();
      env.put("JAVA_TOOL_OPTIONS", imageJavaToolOptions(workDir));
      settings.forEach((path, value) -> env.put(SettingsLoader.envVarName(path), value));
      List<String> command = new ArrayList<>();
      command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      command.addAll(jvmOptions);
      command.addAll(List.of("-jar", JAR.toString(), "run"));
      Path log = workDir.resolve("mcmux-" + System.nanoTime() + ".log");
      Process process = ChildProcesses.start(command, env, log);
      int port = Integer.parseInt(settings.get("mcmux.listen").replaceAll(".*:", ""));
      int adminPort = Integer.parseInt(settings.get("mcmux.admin.listen").replaceAll(".*:", ""));
      McmuxProcess mcmux = new McmuxProcess(process, log, port, adminPort);
      try {
        Await.until(
            "mcmux pid " + process.pid() + " to be ready",
            START_TIMEOUT,
            () -> {
              if (!process.isAlive()) {
                throw new AssertionError(
                    "mcmux exited with "
                        + process.exitValue()
                        + ": "
                        + ChildProcesses.tail(log, 4_000));
              }
              try {
                mcmux.admin("/readyz");
                return true;
              } catch (AssertionError | UncheckedIOException e) {
                return false;
              }
            });
      } catch (AssertionError e) {
        mcmux.close();
        throw new AssertionError(e.getMessage() + "; log: " + ChildProcesses.tail(log, 4_000), e);
      }
      return mcmux;
    }
  }
}
