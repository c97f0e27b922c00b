package dev.mcmux.frontend;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The process-wide budget for response bytes held on behalf of clients (waiting for an earlier
 * response, or for a slow client to read), so 10,000 clients cannot together exhaust memory.
 */
public final class BufferBudget {
  private final long limit;
  private final AtomicLong used = new AtomicLong();

  public BufferBudget(long limit) {
    this.limit = limit;
  }

  /** Takes {@code bytes} from the budget; false (and nothing taken) when that would exceed it. */
  public boolean tryAcquire(long bytes) {
    long now = used.addAndGet(bytes);
    if (now > limit) {
      used.addAndGet(-bytes);
      return false;
    }
    return true;
  }

  /** Returns bytes taken by {@link #tryAcquire}. */
  public void release(long bytes) {
    used.addAndGet(-bytes);
  }

  /** Bytes currently held. */
  public long used() {
    return used.get();
  }

  /** The configured limit. */
  public long limit() {
    return limit;
  }
}
