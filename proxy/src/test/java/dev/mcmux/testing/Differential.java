package dev.mcmux.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sends the same bytes to a plain memcached directly and to mcmux in front of a second, TLS-only
 * memcached started with the same options, and records what each side answered and whether it hung
 * up.
 *
 * <p>Every exchange uses a fresh connection per side. It first resets both servers to the same
 * state ({@code verbosity 0}, {@code flush_all}) and waits for that to be answered; then it writes
 * the request (in one write, byte by byte, or in small chunks), then a sentinel: a {@code set} and
 * {@code get} of a key no case uses. Collection ends when a side hangs up, when its output ends
 * with the sentinel's answer (which nothing else produces), or after a quiet period: the last
 * happens only when the request left the server reading a data block that swallowed the sentinel.
 * When the answers differ, both sides get a longer quiet period before the result is final, so a
 * slow side is not mistaken for a different one. Optionally a data block left open is finished with
 * short lines and a second sentinel ({@link #run(byte[], Delivery, long, boolean)}); {@link
 * Delivery#HALF_CLOSE} instead shuts the client's sending side and waits for the close; {@link
 * #mcmuxFirstBytes} sends a request as the first bytes of a connection, with no setup at all.
 *
 * <p>Both servers see exactly the same requests, so they stay in lockstep: even the CAS counter,
 * which {@code gets} shows and no flush resets, has the same value on both. A request that only one
 * side may see must therefore not store anything ({@link #mcmuxOnly}).
 */
public final class Differential implements AutoCloseable {

  /** Both memcacheds' {@code -I}: small, so that too-large values are cheap to send. */
  public static final int ITEM_SIZE_MAX = 1024;

  /**
   * The largest value memcached 1.6.18 stores under a one-byte key with flags 0: its own limit is
   * item_size_max minus its item header. Values from here to {@link #ITEM_SIZE_MAX} are forwarded
   * by mcmux and refused by its upstream.
   */
  public static final int LARGEST_STORED_VALUE = 964;

  /** The answer to the sentinel request; no request of a case produces it. */
  public static final String SENTINEL_ANSWER = "STORED\r\nVALUE __sentinel 0 1\r\nS\r\nEND\r\n";

  private static final byte[] SENTINEL_REQUEST =
      ascii("set __sentinel 0 0 1\r\nS\r\nget __sentinel\r\n");
  private static final byte[] SENTINEL_ANSWER_BYTES = ascii(SENTINEL_ANSWER);

  /** The sentinel sent after the finisher: another value, so a late first answer is no match. */
  private static final byte[] SECOND_SENTINEL_REQUEST =
      ascii("set __sentinel 0 0 1\r\nT\r\nget __sentinel\r\n");

  private static final byte[] SECOND_SENTINEL_ANSWER =
      ascii("STORED\r\nVALUE __sentinel 0 1\r\nT\r\nEND\r\n");
  private static final byte[] SETUP = ascii("verbosity 0\r\nflush_all\r\n");
  private static final byte[] SETUP_ANSWER = ascii("OK\r\nOK\r\n");

  /** How many bytes of short lines finish a data block left open by a request. */
  public static final int FINISHER_BYTES = 64 * 1000;

  private static final byte[] FINISHER = ascii(("x".repeat(998) + "\r\n").repeat(64));

  /** -I below the default slab chunk size needs a smaller chunk, or memcached refuses to start. */
  private static final String[] MEMCACHED_ARGS = {"-o", "slab_chunk_max=512"};

  private static final Duration QUIET = Duration.ofMillis(200);
  // Only answers that differ wait this long, so it costs nothing when the sides agree; a 10,000-key
  // get merged under paranoid leak detection on a loaded 2-core machine outlasted 1.5 s.
  private static final Duration SETTLE_QUIET = Duration.ofMillis(5000);
  private static final Duration LONE_QUIET = Duration.ofMillis(400);
  private static final Duration MAX_ANSWER_TIME = Duration.ofSeconds(20);
  private static final Duration SETUP_TIMEOUT = Duration.ofSeconds(5);
  private static final int SMALL_CHUNK_MAX = 64;

  private final MemcachedProcess direct;
  private final MemcachedProcess upstream;
  private final McmuxHarness mcmux;
  private final ExecutorService executor;

  private Differential(MemcachedProcess direct, MemcachedProcess upstream, McmuxHarness mcmux) {
    this.direct = direct;
    this.upstream = upstream;
    this.mcmux = mcmux;
    AtomicInteger threads = new AtomicInteger();
    this.executor =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "differential-" + threads.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Starts a plain memcached, a TLS memcached with the same options, and mcmux in front of the
   * latter; returns once mcmux has learned the upstream's item size.
   *
   * @param dir where the test certificates go
   */
  public static Differential start(Path dir) {
    TestPki pki = TestPki.create(dir);
    MemcachedProcess plain = null;
    MemcachedProcess tls = null;
    McmuxHarness proxy = null;
    try {
      plain = MemcachedProcess.plain().itemSizeMax(ITEM_SIZE_MAX).args(MEMCACHED_ARGS).start();
      tls =
          MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST))
              .itemSizeMax(ITEM_SIZE_MAX)
              .args(MEMCACHED_ARGS)
              .start();
      McmuxHarness started = McmuxHarness.inFrontOf(tls.port(), pki.caFile()).start();
      proxy = started;
      Await.until(
          "mcmux to learn item_size_max " + ITEM_SIZE_MAX + " from its upstream",
          Duration.ofSeconds(10),
          () -> started.server().node().itemSizeMax() == ITEM_SIZE_MAX);
      return new Differential(plain, tls, proxy);
    } catch (RuntimeException | AssertionError e) {
      if (proxy != null) {
        proxy.close();
      }
      if (tls != null) {
        tls.close();
      }
      if (plain != null) {
        plain.close();
      }
      throw e;
    }
  }

  /** How a request's bytes are written. */
  public enum Delivery {
    /** One write call. */
    ONE_WRITE,
    /** One write call per byte. */
    SINGLE_BYTES,
    /** Writes of 1 to 64 bytes, sizes from a seeded generator. */
    SMALL_CHUNKS,
    /**
     * One write, then the client shuts its side down ({@code printf ... | nc -N}) and sends no
     * sentinel: the server should answer every complete request and then close.
     */
    HALF_CLOSE;

    /** Byte by byte for short requests, small chunks for long ones. */
    public static Delivery splitFor(byte[] request) {
      return request.length <= 1024 ? SINGLE_BYTES : SMALL_CHUNKS;
    }
  }

  /**
   * What one side answered after its setup: every byte, and whether it hung up.
   *
   * @param bytes the answer, the sentinel's included when it was answered
   * @param closed whether the side closed the connection
   * @param sentinelAnswered whether the last sentinel sent was answered; not part of equality
   */
  public record Answer(byte[] bytes, boolean closed, boolean sentinelAnswered) {

    /** An answer to compare with, as a test expects it. */
    public Answer(byte[] bytes, boolean closed) {
      this(bytes, closed, !closed);
    }

    /** The answer escaped for messages and comparisons, then {@code <open>} or {@code <closed>}. */
    public String describe() {
      return text() + (closed ? " <closed>" : " <open>");
    }

    /** The answer as escaped text: CR, LF, tab, backslash and non-printable bytes escaped. */
    public String text() {
      return escape(bytes);
    }

    /** Whether the two answers have the same bytes and the same close behaviour. */
    public boolean sameAs(Answer other) {
      return closed == other.closed && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Answer a && sameAs(a);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(bytes) * 31 + Boolean.hashCode(closed);
    }

    @Override
    public String toString() {
      return describe();
    }
  }

  /**
   * The two sides' answers to one request.
   *
   * @param memcached what memcached answered directly
   * @param mcmux what mcmux answered
   */
  public record Result(Answer memcached, Answer mcmux) {

    /** Whether both sides answered the same bytes and agreed on closing. */
    public boolean same() {
      return memcached.sameAs(mcmux);
    }

    @Override
    public String toString() {
      return "memcached: " + memcached.describe() + "\n    mcmux: " + mcmux.describe();
    }
  }

  /** Sends {@code request} to both sides at once and returns both answers. */
  public Result run(byte[] request, Delivery delivery, long seed) {
    return run(request, delivery, seed, false);
  }

  /**
   * Sends {@code request} to both sides at once and returns both answers.
   *
   * @param finish when a side has not answered the sentinel (the request left it inside a data
   *     block), send it {@link #FINISHER_BYTES} bytes of short lines and the sentinel again:
   *     memcached holds the answers it queued in the same read until such a block is complete,
   *     which mcmux does not (an exemption), so only a completed block gives comparable answers
   */
  public Result run(byte[] request, Delivery delivery, long seed, boolean finish) {
    try (Exchange a = new Exchange(direct.port(), true);
        Exchange b = new Exchange(mcmux.port(), true)) {
      Future<?> other = executor.submit(() -> a.deliver(request, delivery, seed));
      b.deliver(request, delivery, seed);
      join(other);
      a.await(QUIET);
      b.await(QUIET);
      if (finish && !(a.answeredSentinel() && b.answeredSentinel())) {
        a.finish();
        b.finish();
        a.await(QUIET);
        b.await(QUIET);
      }
      Result result = new Result(a.answer(), b.answer());
      if (!result.same()) {
        a.await(SETTLE_QUIET);
        b.await(SETTLE_QUIET);
        result = new Result(a.answer(), b.answer());
      }
      return result;
    }
  }

  /**
   * Sends {@code request} to mcmux only, for exemptions: nothing it sends upstream may store, or
   * the two servers leave lockstep.
   */
  public Answer mcmuxOnly(byte[] request, Delivery delivery, long seed) {
    return runOne(mcmux.port(), request, delivery, seed);
  }

  /** Sends {@code request} to the plain memcached only; it must not store anything either. */
  public Answer memcachedOnly(byte[] request, Delivery delivery, long seed) {
    return runOne(direct.port(), request, delivery, seed);
  }

  private Answer runOne(int port, byte[] request, Delivery delivery, long seed) {
    try (Exchange e = new Exchange(port, true)) {
      e.deliver(request, delivery, seed);
      e.await(QUIET);
      if (!e.answeredSentinel()) {
        // No other side to compare with, so no settle round: give a slow side more time here.
        e.await(LONE_QUIET);
      }
      return e.answer();
    }
  }

  /**
   * Sends {@code request} as the very first bytes of a new connection to mcmux, with no setup and
   * no sentinel, and returns what it answered within a quiet period; memcached decides the protocol
   * of a connection by its first byte.
   */
  public Answer mcmuxFirstBytes(byte[] request) {
    return firstBytes(mcmux.port(), request);
  }

  /** Like {@link #mcmuxFirstBytes}, to the plain memcached; it must not store anything. */
  public Answer memcachedFirstBytes(byte[] request) {
    return firstBytes(direct.port(), request);
  }

  private Answer firstBytes(int port, byte[] request) {
    try (Exchange e = new Exchange(port, false)) {
      e.deliver(request, Delivery.ONE_WRITE, 0, false);
      e.await(QUIET);
      e.await(LONE_QUIET);
      return e.answer();
    }
  }

  /**
   * Asserts that a new client of each side can still store and read back {@code key}: mcmux's
   * upstream connection is in step with it. The plain memcached gets the same requests so both stay
   * in lockstep.
   */
  public void assertInStep(String key) {
    String expected = "STORED\r\nVALUE " + key + " 0 2\r\nok\r\nEND\r\n";
    for (int port : new int[] {mcmux.port(), direct.port()}) {
      try (TextClient c = TextClient.connect(port)) {
        c.send("set " + key + " 0 0 2\r\nok\r\nget " + key + "\r\n");
        String answer = c.readLine() + "\r\n" + c.readUntilEnd();
        if (!answer.equals(expected)) {
          throw new AssertionError(
              (port == direct.port() ? "memcached" : "mcmux")
                  + " is out of step: a new client's set/get of "
                  + key
                  + " answered "
                  + escape(answer.getBytes(StandardCharsets.UTF_8)));
        }
      }
    }
  }

  /** The plain memcached that requests reach directly. */
  public MemcachedProcess memcached() {
    return direct;
  }

  /** The TLS memcached behind mcmux. */
  public MemcachedProcess upstream() {
    return upstream;
  }

  /** The mcmux under test. */
  public McmuxHarness mcmux() {
    return mcmux;
  }

  @Override
  public void close() {
    executor.shutdownNow();
    try {
      mcmux.close();
    } finally {
      try {
        upstream.close();
      } finally {
        direct.close();
      }
    }
  }

  /** Escapes bytes the way failure messages show them. */
  public static String escape(byte[] bytes) {
    StringBuilder out = new StringBuilder(bytes.length + 16);
    for (byte b : bytes) {
      int c = b & 0xff;
      switch (c) {
        case '\r' -> out.append("\\r");
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c >= 0x20 && c < 0x7f) {
            out.append((char) c);
          } else {
            out.append(String.format("\\x%02x", c));
          }
        }
      }
    }
    return out.toString();
  }

  private static void join(Future<?> f) {
    try {
      f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException(cause);
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  /** One connection to one side; a thread of its own reads everything the side answers. */
  private final class Exchange implements AutoCloseable {
    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final String peer;
    private byte[] received = new byte[4096];
    private int size;
    private boolean eof;
    private boolean closing;
    private long lastDataNanos;
    private byte[] sentinelAnswer = SENTINEL_ANSWER_BYTES;

    Exchange(int port, boolean setup) {
      peer = port == direct.port() ? "memcached" : "mcmux";
      socket = new Socket();
      try {
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2_000);
        out = socket.getOutputStream();
        in = socket.getInputStream();
        if (setup) {
          setup();
        }
      } catch (IOException e) {
        closeQuietly();
        throw new UncheckedIOException("cannot open a connection to " + peer, e);
      } catch (RuntimeException | AssertionError e) {
        closeQuietly();
        throw e;
      }
      executor.execute(this::readLoop);
    }

    /** Brings the server to the common starting state and reads exactly its answer to that. */
    private void setup() throws IOException {
      out.write(SETUP);
      out.flush();
      socket.setSoTimeout((int) SETUP_TIMEOUT.toMillis());
      byte[] answer = new byte[SETUP_ANSWER.length];
      int n = 0;
      try {
        while (n < answer.length) {
          int r = in.read(answer, n, answer.length - n);
          if (r < 0) {
            break;
          }
          n += r;
        }
      } catch (SocketTimeoutException e) {
        // Reported below with what did arrive.
      }
      if (n != answer.length || !Arrays.equals(answer, SETUP_ANSWER)) {
        throw new AssertionError(
            peer
                + " answered the setup with \""
                + escape(Arrays.copyOf(answer, n))
                + "\", expected \""
                + escape(SETUP_ANSWER)
                + "\"");
      }
      socket.setSoTimeout(0);
    }

    private void readLoop() {
      byte[] buffer = new byte[65536];
      try {
        while (true) {
          int n = in.read(buffer);
          if (n < 0) {
            break;
          }
          append(buffer, n);
        }
      } catch (IOException e) {
        // A reset is a close too; when we close the socket ourselves nobody reads the answer.
      }
      synchronized (this) {
        if (!closing) {
          eof = true;
        }
        notifyAll();
      }
    }

    private synchronized void append(byte[] buffer, int n) {
      if (size + n > received.length) {
        received = Arrays.copyOf(received, Math.max(received.length * 2, size + n));
      }
      System.arraycopy(buffer, 0, received, size, n);
      size += n;
      lastDataNanos = System.nanoTime();
      notifyAll();
    }

    /** Writes the request as {@code delivery} says, then the sentinel request. */
    void deliver(byte[] request, Delivery delivery, long seed) {
      deliver(request, delivery, seed, true);
    }

    /** Writes the request as {@code delivery} says, then the sentinel request if asked to. */
    void deliver(byte[] request, Delivery delivery, long seed, boolean sentinel) {
      if (!sentinel) {
        synchronized (this) {
          sentinelAnswer = null;
        }
      }
      try {
        switch (delivery) {
          case ONE_WRITE -> out.write(request);
          case HALF_CLOSE -> {
            synchronized (this) {
              sentinelAnswer = null;
            }
            out.write(request);
            out.flush();
            socket.shutdownOutput();
            return;
          }
          case SINGLE_BYTES -> {
            for (byte b : request) {
              out.write(b);
            }
          }
          case SMALL_CHUNKS -> {
            Random random = new Random(seed);
            for (int at = 0; at < request.length; ) {
              int n = Math.min(request.length - at, 1 + random.nextInt(SMALL_CHUNK_MAX));
              out.write(request, at, n);
              at += n;
            }
          }
        }
        if (sentinel) {
          out.write(SENTINEL_REQUEST);
        }
        out.flush();
      } catch (IOException e) {
        // The side hung up while we wrote: what it answered before that is still read.
      }
    }

    /**
     * Waits until the side hung up, answered the latest sentinel, or said nothing for {@code
     * quiet}; bytes waiting in the socket (a reader held up by a collector pause) are not quiet.
     *
     * @throws AssertionError if it is still talking after {@link #MAX_ANSWER_TIME}
     */
    synchronized void await(Duration quiet) {
      long start = System.nanoTime();
      long deadline = start + MAX_ANSWER_TIME.toNanos();
      while (!eof && !endsWithSentinel()) {
        long now = System.nanoTime();
        long quietEnd = Math.max(lastDataNanos, start) + quiet.toNanos();
        if (now >= quietEnd) {
          if (unreadBytes() == 0) {
            return;
          }
          quietEnd = now + TimeUnit.MILLISECONDS.toNanos(10);
        }
        if (now >= deadline) {
          throw new AssertionError(
              peer + " still answering after " + MAX_ANSWER_TIME.toSeconds() + " s");
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, Math.min(quietEnd, deadline) - now);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError("interrupted", e);
        }
      }
    }

    /** Writes the finisher and the sentinel again, unless the side hung up. */
    void finish() {
      synchronized (this) {
        if (eof || sentinelAnswer == null) {
          return;
        }
      }
      try {
        synchronized (this) {
          sentinelAnswer = SECOND_SENTINEL_ANSWER;
        }
        out.write(FINISHER);
        out.write(SECOND_SENTINEL_REQUEST);
        out.flush();
      } catch (IOException e) {
        // It hung up meanwhile: its answer says so.
      }
    }

    synchronized boolean answeredSentinel() {
      return endsWithSentinel();
    }

    private boolean endsWithSentinel() {
      if (sentinelAnswer == null) {
        return false;
      }
      int n = sentinelAnswer.length;
      return size >= n && Arrays.equals(received, size - n, size, sentinelAnswer, 0, n);
    }

    private int unreadBytes() {
      try {
        return in.available();
      } catch (IOException e) {
        return 0;
      }
    }

    synchronized Answer answer() {
      return new Answer(Arrays.copyOf(received, size), eof, endsWithSentinel());
    }

    @Override
    public void close() {
      synchronized (this) {
        closing = true;
      }
      closeQuietly();
    }

    private void closeQuietly() {
      try {
        socket.close();
      } catch (IOException e) {
        // Nothing left to learn from this connection.
      }
    }
  }
}
