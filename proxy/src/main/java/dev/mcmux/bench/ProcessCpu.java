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
   * User and system CPU time of process {@code pid} and all its threads so far, in nanoseconds;
   * null when it cannot be read (the process is gone, or there is no {@code /proc}).
   */
  static long[] nanos(long pid) {
    try {
      return parse(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** {@link #nanos(long)} added up over {@code pids}; null when any of them cannot be read. */
  static long[] nanos(List<Long> pids) {
    long[] sum = new long[2];
    for (long pid : pids) {
      long[] n = nanos(pid);
      if (n == null) {
        return null;
      }
      sum[0] += n[0];
      sum[1] += n[1];
    }
    return sum;
  }

  /** User and system time from the text of {@code /proc/PID/stat}, in nanoseconds. */
  static long[] parse(String stat) {
    // The command name in parentheses may itself hold spaces and ')'; the fields after the last
    // ')' are fixed: the state (field 3) first, user and system time in fields 14 and 15.
    String[] fields = stat.substring(stat.lastIndexOf(')') + 1).trim().split(" +");
    return new long[] {
      Long.parseLong(fields[11]) * NANOS_PER_TICK, Long.parseLong(fields[12]) * NANOS_PER_TICK
    };
  }
}
