package dev.mcmux.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Starts the servers that tests need as child processes that cannot outlive the test JVM: a
 * shutdown hook kills them on a normal exit, and on Linux the kernel kills them when the JVM dies
 * without running hooks (a parent-death signal set by util-linux's {@code setpriv}).
 */
final class ChildProcesses {

  private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
  private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

  /*
   * The parent-death signal fires when the *thread* that forked the child ends, not the process.
   * Forking from one thread that lives as long as the JVM keeps a server from being killed
   * because, say, a JUnit timeout thread that started it finished.
   */
  private static final ExecutorService LAUNCHER =
      Executors.newSingleThreadExecutor(
          task -> {
            Thread thread = new Thread(task, "test-process-launcher");
            thread.setDaemon(true);
            return thread;
          });

  static {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  for (Process process : LIVE) {
                    process.destroyForcibly();
                  }
                },
                "kill-test-processes"));
  }

  private ChildProcesses() {}

  /**
   * Starts {@code command} with stdout and stderr appended to {@code log} and stdin left open (a
   * pipe nobody writes to), and registers it for killing at JVM exit.
   */
  static Process start(List<String> command, Path log) {
    return start(command, java.util.Map.of(), log);
  }

  /**
   * Like {@link #start(List, Path)}, with {@code environment} added to (and overriding) the test
   * JVM's own environment.
   */
  static Process start(List<String> command, java.util.Map<String, String> environment, Path log) {
    List<String> full = new ArrayList<>();
    if (Files.isExecutable(SETPRIV)) {
      full.addAll(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
    }
    full.addAll(command);
    try {
      Files.writeString(
          log,
          "---- " + String.join(" ", command) + System.lineSeparator(),
          java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.APPEND);
      Process process =
          LAUNCHER
              .submit(
                  () -> {
                    ProcessBuilder builder =
                        new ProcessBuilder(full)
                            .redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
                    builder.environment().putAll(environment);
                    return builder.start();
                  })
              .get();
      LIVE.add(process);
      process.onExit().thenRun(() -> LIVE.remove(process));
      return process;
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot start " + command, e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting " + command, e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Sends a signal by name ({@code STOP}, {@code CONT}, ...) with the {@code kill} command. */
  static void signal(Process process, String signal) {
    try {
      Process kill =
          new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid()))
              .redirectErrorStream(true)
              .start();
      String output = new String(kill.getInputStream().readAllBytes());
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IllegalStateException("kill -" + signal + " " + process.pid() + ": " + output);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * The process state letter from {@code /proc/PID/stat} ({@code T} when stopped by a signal), or
   * {@code '?'} when the process is gone.
   */
  static char state(Process process) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
      // The command name in parentheses may contain spaces; the state follows its ')'.
      return stat.charAt(stat.lastIndexOf(')') + 2);
    } catch (IOException e) {
      return '?';
    }
  }

  /** Waits for the process to exit; returns false if it did not within {@code timeout}. */
  static boolean awaitExit(Process process, Duration timeout) {
    try {
      return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The last {@code maxChars} characters of a log file, for failure messages. */
  static String tail(Path log, int maxChars) {
    try {
      String text = Files.exists(log) ? Files.readString(log) : "";
      return text.length() <= maxChars ? text : "..." + text.substring(text.length() - maxChars);
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }
}
