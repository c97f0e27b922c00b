package dev.mcmux.testing;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** Polls a condition until it holds or a deadline passes, the tests' only way to wait. */
public final class Await {

  private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
  private static final long MAX_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private Await() {}

  /** A check that may throw; a throw counts as "not yet" and is kept as the cause on timeout. */
  @FunctionalInterface
  public interface Check {
    boolean holds() throws Exception;
  }

  /** Returns once {@code check} holds; fails with {@code what} and the last exception otherwise. */
  public static void until(String what, Duration timeout, Check check) {
    result(what, timeout, () -> check.holds() ? Boolean.TRUE : null);
  }

  /**
   * Returns the first non-null result of {@code attempt}; throws and nulls mean "try again".
   *
   * @throws AssertionError when {@code timeout} passes first, naming {@code what}
   */
  public static <T> T result(String what, Duration timeout, Callable<T> attempt) {
    long deadline = System.nanoTime() + timeout.toNanos();
    long pause = FIRST_PAUSE_NANOS;
    Exception last = null;
    while (true) {
      try {
        T value = attempt.call();
        if (value != null) {
          return value;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for " + what, e);
      } catch (Exception e) {
        last = e;
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError("timed out after " + timeout.toMillis() + " ms: " + what, last);
      }
      // Backing off between polls keeps a slow condition from burning a CPU the server needs.
      LockSupport.parkNanos(Math.min(pause, left));
      pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
    }
  }
}
