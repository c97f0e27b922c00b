package dev.mcmux.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** CPU time of other processes, such as the proxy under test, read from Linux's {@code /proc}. */
final class ProcessCpu {

  /** {@code /proc} counts in USER_HZ ticks, 100 a second on every architecture Java runs on. */
  private static final long NANOS_PER_TICK = 10_000_000L;

  private ProcessCpu() {}

  /**
   * User plus system CPU time of process {@code pid} and all its threads so far, in nanoseconds; -1
   * when it cannot be read (the process is gone, or there is no {@code /proc}).
   */
  static long nanos(long pid) {
    try {
      return parse(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** The sum of {@link #nanos(long)} over {@code pids}, -1 when any of them cannot be read. */
  static long nanos(List<Long> pids) {
    long sum = 0;
    for (long pid : pids) {
      long n = nanos(pid);
      if (n < 0) {
        return -1;
      }
      sum += n;
    }
    return sum;
  }

  /** User plus system time from the text of {@code /proc/PID/stat}, in nanoseconds. */
  static long parse(String stat) {
    // The command name in parentheses may itself hold spaces and ')'; the fields after the last
    // ')' are fixed: the state (field 3) first, user and system time in fields 14 and 15.
    String[] fields = stat.substring(stat.lastIndexOf(')') + 1).trim().split(" +");
    return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * NANOS_PER_TICK;
  }
}
