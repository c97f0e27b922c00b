package dev.mcmux.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * A blocking memcached text-protocol client for tests, over TCP, TLS or a Unix-domain socket, whose
 * every read has a deadline and fails the test with the bytes received so far.
 *
 * <p>Lines are decoded and encoded as UTF-8; use the byte methods where exact bytes matter.
 */
public final class TextClient implements AutoCloseable {

  /** How long a read waits for data unless {@link #withTimeout} says otherwise. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

  private static final int CONNECT_TIMEOUT_MILLIS = 2_000;
  private static final int HISTORY_LIMIT = 4_096;

  private final Transport transport;
  private final String peer;
  private Duration timeout = DEFAULT_TIMEOUT;
  private byte[] buffer = new byte[8_192];
  private int start;
  private int end;
  // The tail of everything received, so a failure can show what the peer actually said.
  private final ByteArrayOutputStream history = new ByteArrayOutputStream();
  private long historyDropped;

  private TextClient(Transport transport, String peer) {
    this.transport = transport;
    this.peer = peer;
  }

  /** Connects over plain TCP to {@code 127.0.0.1:port}. */
  public static TextClient connect(int port) {
    return connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
  }

  /** Connects over plain TCP. */
  public static TextClient connect(InetSocketAddress address) {
    Socket socket = new Socket();
    try {
      socket.setTcpNoDelay(true);
      socket.connect(address, CONNECT_TIMEOUT_MILLIS);
      return over(socket);
    } catch (IOException e) {
      closeQuietly(socket);
      throw new UncheckedIOException("cannot connect to " + address, e);
    }
  }

  /** Connects to a Unix-domain stream socket. */
  public static TextClient connectUnix(Path socketFile) {
    try {
      SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      try {
        channel.connect(UnixDomainSocketAddress.of(socketFile));
        return new TextClient(new ChannelTransport(channel), "unix:" + socketFile);
      } catch (IOException e) {
        channel.close();
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot connect to unix:" + socketFile, e);
    }
  }

  /** Wraps a connected socket, for instance an {@link javax.net.ssl.SSLSocket}; takes it over. */
  public static TextClient over(Socket socket) {
    try {
      return new TextClient(
          new SocketTransport(socket), String.valueOf(socket.getRemoteSocketAddress()));
    } catch (IOException e) {
      closeQuietly(socket);
      throw new UncheckedIOException(e);
    }
  }

  /** Sets how long each read may wait for more data. */
  public TextClient withTimeout(Duration readTimeout) {
    this.timeout = readTimeout;
    return this;
  }

  /** Sends {@code text} encoded as UTF-8, exactly as given (add the {@code \r\n} yourself). */
  public TextClient send(String text) {
    return send(text.getBytes(StandardCharsets.UTF_8));
  }

  /** Sends raw bytes. */
  public TextClient send(byte[] bytes) {
    try {
      transport.write(bytes);
      return this;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot send to " + peer, e);
    }
  }

  /**
   * Reads one line and returns it without its {@code \r\n}.
   *
   * @throws AssertionError on timeout, on end of stream, or if the line ends in a bare {@code \n}
   */
  public String readLine() {
    return new String(readLineBytes(), StandardCharsets.UTF_8);
  }

  /** Like {@link #readLine()}, as bytes. */
  public byte[] readLineBytes() {
    // Counted from start, because fill() may move the unread bytes to the front of the buffer.
    int checked = 0;
    while (true) {
      for (int i = start + checked; i < end; i++) {
        if (buffer[i] == '\n') {
          if (i == start || buffer[i - 1] != '\r') {
            throw failure("a line ending in a bare LF");
          }
          byte[] line = Arrays.copyOfRange(buffer, start, i - 1);
          start = i + 1;
          return line;
        }
      }
      checked = end - start;
      fill("the end of a line");
    }
  }

  /** Reads exactly {@code n} bytes. */
  public byte[] readExactly(int n) {
    while (end - start < n) {
      fill(n + " bytes");
    }
    byte[] bytes = Arrays.copyOfRange(buffer, start, start + n);
    start += n;
    return bytes;
  }

  /**
   * Reads one whole multi-line response and returns it verbatim, {@code \r\n}s included: lines up
   * to {@code END}, or up to a single {@code ERROR}, {@code CLIENT_ERROR ...} or {@code
   * SERVER_ERROR ...} line. Data blocks announced by {@code VALUE} or {@code CONFIG} lines are read
   * by their length, so a value containing {@code END\r\n} does not end the response.
   */
  public String readUntilEnd() {
    StringBuilder response = new StringBuilder();
    while (true) {
      String line = readLine();
      response.append(line).append("\r\n");
      if (line.equals("END")
          || line.equals("ERROR")
          || line.startsWith("CLIENT_ERROR")
          || line.startsWith("SERVER_ERROR")) {
        return response.toString();
      }
      if (line.startsWith("VALUE ") || line.startsWith("CONFIG ")) {
        String[] parts = line.split(" ");
        if (parts.length < 4) {
          throw failure("a well-formed value header, not '" + line + "'");
        }
        int length;
        try {
          length = Integer.parseInt(parts[3]);
        } catch (NumberFormatException e) {
          throw failure("a value length in '" + line + "'");
        }
        byte[] block = readExactly(length + 2);
        if (block[length] != '\r' || block[length + 1] != '\n') {
          throw failure("a data block of " + length + " bytes followed by \\r\\n");
        }
        response.append(new String(block, StandardCharsets.UTF_8));
      }
    }
  }

  /** Asserts that the peer closes the connection without sending anything more. */
  public void expectEof() {
    if (end > start) {
      throw failure("end of stream, but unread bytes remain");
    }
    try {
      int n = transport.read(buffer, end, buffer.length - end, timeout);
      if (n >= 0) {
        record(end, n);
        end += n;
        throw failure("end of stream, but more bytes arrived");
      }
    } catch (SocketTimeoutException e) {
      throw failure("end of stream within " + timeout.toMillis() + " ms");
    } catch (IOException e) {
      // A reset or a TLS close without close_notify still means the peer went away.
    }
  }

  /** Everything received so far (at most the last few KiB), escaped for a failure message. */
  public String received() {
    String prefix = historyDropped > 0 ? "[" + historyDropped + " earlier bytes dropped] " : "";
    return prefix + escape(history.toByteArray());
  }

  /** Closes the connection; safe to call twice. */
  @Override
  public void close() {
    try {
      transport.close();
    } catch (IOException e) {
      // Closing is best effort: the test has its answer already.
    }
  }

  private void fill(String waitingFor) {
    if (start > 0 && start == end) {
      start = end = 0;
    }
    if (end == buffer.length) {
      if (start > 0) {
        System.arraycopy(buffer, start, buffer, 0, end - start);
        end -= start;
        start = 0;
      } else {
        buffer = Arrays.copyOf(buffer, buffer.length * 2);
      }
    }
    int n;
    try {
      n = transport.read(buffer, end, buffer.length - end, timeout);
    } catch (SocketTimeoutException e) {
      throw failure(waitingFor + " within " + timeout.toMillis() + " ms");
    } catch (IOException e) {
      AssertionError error = failure(waitingFor + ", but reading failed: " + e);
      error.initCause(e);
      throw error;
    }
    if (n < 0) {
      throw failure(waitingFor + ", but the connection was closed");
    }
    record(end, n);
    end += n;
  }

  private void record(int offset, int n) {
    history.write(buffer, offset, n);
    if (history.size() > 2 * HISTORY_LIMIT) {
      byte[] all = history.toByteArray();
      historyDropped += all.length - HISTORY_LIMIT;
      history.reset();
      history.write(all, all.length - HISTORY_LIMIT, HISTORY_LIMIT);
    }
  }

  private AssertionError failure(String expected) {
    return new AssertionError(
        "from " + peer + ": expected " + expected + "; received so far: \"" + received() + "\"");
  }

  private static String escape(byte[] bytes) {
    StringBuilder out = new StringBuilder();
    for (byte b : bytes) {
      int c = b & 0xff;
      switch (c) {
        case '\r' -> out.append("\\r");
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        case '\\' -> out.append("\\\\");
        case '"' -> out.append("\\\"");
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

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // Already failing with the real cause.
    }
  }

  /** The byte pipe under the client; reads return -1 at end of stream. */
  private interface Transport {
    int read(byte[] into, int offset, int length, Duration timeout) throws IOException;

    void write(byte[] bytes) throws IOException;

    void close() throws IOException;
  }

  /** A {@link Socket}, which also covers TLS through {@link javax.net.ssl.SSLSocket}. */
  private static final class SocketTransport implements Transport {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    SocketTransport(Socket socket) throws IOException {
      this.socket = socket;
      this.in = socket.getInputStream();
      this.out = socket.getOutputStream();
    }

    @Override
    public int read(byte[] into, int offset, int length, Duration timeout) throws IOException {
      socket.setSoTimeout((int) Math.max(1, timeout.toMillis()));
      return in.read(into, offset, length);
    }

    @Override
    public void write(byte[] bytes) throws IOException {
      out.write(bytes);
      out.flush();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  /**
   * A Unix-domain {@link SocketChannel}: blocking channels ignore {@code SO_TIMEOUT}, so this one
   * is non-blocking and waits in a {@link Selector} with the deadline.
   */
  private static final class ChannelTransport implements Transport {
    private final SocketChannel channel;
    private final Selector selector;
    private final SelectionKey key;

    ChannelTransport(SocketChannel channel) throws IOException {
      this.channel = channel;
      channel.configureBlocking(false);
      this.selector = Selector.open();
      this.key = channel.register(selector, 0);
    }

    @Override
    public int read(byte[] into, int offset, int length, Duration timeout) throws IOException {
      ByteBuffer target = ByteBuffer.wrap(into, offset, length);
      long deadline = System.nanoTime() + timeout.toNanos();
      key.interestOps(SelectionKey.OP_READ);
      while (true) {
        int n = channel.read(target);
        if (n != 0) {
          return n;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new SocketTimeoutException("read timed out");
        }
        selector.select(Math.max(1, left / 1_000_000));
        selector.selectedKeys().clear();
      }
    }

    @Override
    public void write(byte[] bytes) throws IOException {
      ByteBuffer source = ByteBuffer.wrap(bytes);
      long deadline = System.nanoTime() + DEFAULT_TIMEOUT.toNanos();
      key.interestOps(SelectionKey.OP_WRITE);
      while (source.hasRemaining()) {
        if (channel.write(source) == 0) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            throw new SocketTimeoutException("write timed out: the peer is not reading");
          }
          selector.select(Math.max(1, left / 1_000_000));
          selector.selectedKeys().clear();
        }
      }
    }

    @Override
    public void close() throws IOException {
      try {
        selector.close();
      } finally {
        channel.close();
      }
    }
  }
}
