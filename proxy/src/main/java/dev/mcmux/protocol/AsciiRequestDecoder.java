package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Parses the memcached ASCII requests of one client connection exactly as memcached 1.6.18 does.
 *
 * <p>Not thread-safe and not a Netty handler: {@link #decode} is called repeatedly on the
 * connection's cumulation buffer until it answers {@link DecodeResult.NeedMore}. Every other result
 * consumed exactly the bytes it stands for; {@code NeedMore} consumes nothing, except while the
 * decoder is discarding the data block of a rejected request (memcached's {@code conn_swallow}).
 *
 * <p>What memcached does, and therefore what this class does (each checked against 1.6.18):
 *
 * <ul>
 *   <li>A line ends at LF; one CR before the LF is dropped only when the line has more than one
 *       byte before the LF (so a bare {@code \r\n} is the one-byte command {@code \r}); the line
 *       then ends at its first NUL. Tokens are separated by spaces only; a tab is part of a token.
 *   <li>At most 23 tokens are looked at, except by the retrieval commands, which read every key.
 *   <li>Numbers follow C's {@code strtol}/{@code strtoul}/{@code strtoull}: leading whitespace, a
 *       sign and leading zeros are accepted, and the number may be followed by whitespace and
 *       anything else inside its token; flags, exptime and lengths are then cut to 32 bits.
 *   <li>{@code noreply} is the last of those tokens; once a command has read it, every reply of
 *       that command is suppressed, its errors included, even {@code CLIENT_ERROR bad data chunk}.
 *       {@code ERROR} for a wrong token count comes before that and is always sent.
 *   <li>A data block is read as length+2 bytes whatever they hold; if the last two are not CRLF the
 *       answer is {@code CLIENT_ERROR bad data chunk} and parsing resumes after them.
 *   <li>A line over 2048 bytes closes the connection unless it starts, after at most 100 spaces,
 *       with {@code get } or {@code gets }; an unknown command whose last token starts with {@code
 *       HTTP/} closes it too.
 * </ul>
 *
 * <p>memcached picks the binary protocol for a connection whose first byte is {@code 0x80}; the
 * caller must do the same and use this decoder only for the other connections.
 *
 * <p>Exemptions, where mcmux deliberately differs from memcached:
 *
 * <ul>
 *   <li>{@code watch}, {@code lru_crawler}, {@code lru}, {@code slabs}, {@code shutdown}, {@code
 *       cache_memlimit}, {@code extstore}, {@code debugtime}, {@code misbehave} and {@code
 *       refresh_certs} are answered {@code CLIENT_ERROR <word> is not supported through mcmux} and
 *       the connection stays open: they act on a whole server, or turn a shared connection into a
 *       log stream.
 *   <li>Meta commands ({@code mg ms md ma me}) become {@link DecodeResult.Meta}: errors memcached
 *       finds from the line alone are answered here, in its words and order of checks; the data
 *       block of a rejected {@code ms} is swallowed exactly where memcached swallows it (once the
 *       key is at most 250 bytes, the line at most 19 tokens and the length valid). {@code mn} is a
 *       {@code Meta} the caller answers in its turn. An {@code ma}/{@code mg} whose opaque is over
 *       32 bytes is passed on: memcached fails it only after running it.
 *   <li>memcached closes a connection on a long line only when more than 2048 bytes of it are
 *       buffered without an LF, so whether it closes depends on how the line was split into TCP
 *       segments; mcmux always closes on a line whose LF comes after byte 2048.
 *   <li>get and gets lines, unlimited in memcached, are limited to {@code maxGetLineBytes}; longer
 *       ones close the connection.
 *   <li>A value over {@code maxValueBytes} is rejected with memcached's too-large answer; memcached
 *       itself uses its slab limit (item size minus the item header).
 *   <li>A retrieval with one key over 250 bytes is answered with a single {@code CLIENT_ERROR} and
 *       touches no key; memcached has then already touched the keys before it ({@code gat}), and
 *       also drops replies of earlier pipelined requests that are still unsent.
 *   <li>{@code bget}, a forgotten alias of {@code get}, is decoded as {@code get}.
 * </ul>
 */
public final class AsciiRequestDecoder {

  /** memcached closes a connection whose line runs past this many bytes, unless it is a get. */
  public static final int MAX_LINE_BYTES = 2048;

  /** The longest key memcached accepts, in bytes. */
  public static final int MAX_KEY_BYTES = 250;

  /** memcached's {@code MAX_TOKENS}: it tokenizes at most this many minus one tokens at a time. */
  private static final int MAX_TOKENS = 24;

  /** memcached's {@code MFLAG_MAX_OPT_LENGTH}: an {@code ms} with more tokens is not read. */
  private static final int META_MAX_TOKENS = 20;

  /** More leading spaces than this disqualify a long line from the get exemption. */
  private static final int MAX_LEADING_SPACES = 100;

  private static final int INT_MAX_MINUS_2 = Integer.MAX_VALUE - 2;

  private static final int KEPT_TOKEN_CAPACITY = 1024;

  private static final byte[] ERROR = ascii("ERROR\r\n");
  private static final byte[] BAD_FORMAT = ascii("CLIENT_ERROR bad command line format\r\n");
  private static final byte[] BAD_DATA_CHUNK = ascii("CLIENT_ERROR bad data chunk\r\n");
  private static final byte[] BAD_EXPTIME = ascii("CLIENT_ERROR invalid exptime argument\r\n");
  private static final byte[] BAD_DELTA = ascii("CLIENT_ERROR invalid numeric delta argument\r\n");
  private static final byte[] BAD_DELETE =
      ascii("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  private static final byte[] TOO_LARGE = ascii("SERVER_ERROR object too large for cache\r\n");
  private static final byte[] META_FLAGS_ARE_TOO_LONG =
      ascii("CLIENT_ERROR options flags are too long\r\n");
  private static final byte[] META_TOO_LONG = ascii("CLIENT_ERROR options flags too long\r\n");
  private static final byte[] META_BAD_OR_DUPLICATE_FLAG =
      ascii("CLIENT_ERROR invalid or duplicate flag\r\n");
  private static final byte[] META_OPAQUE_TOO_LONG =
      ascii("CLIENT_ERROR opaque token too long\r\n");
  private static final byte[][] NO_FLAGS = new byte[0][];
  private static final byte[] END = ascii("END\r\n");
  private static final byte[] NOTHING = new byte[0];

  private static final byte[] W_GET = ascii("get");
  private static final byte[] W_GETS = ascii("gets");
  private static final byte[] W_GAT = ascii("gat");
  private static final byte[] W_GATS = ascii("gats");
  private static final byte[] W_BGET = ascii("bget");
  private static final byte[] W_SET = ascii("set");
  private static final byte[] W_ADD = ascii("add");
  private static final byte[] W_APPEND = ascii("append");
  private static final byte[] W_REPLACE = ascii("replace");
  private static final byte[] W_PREPEND = ascii("prepend");
  private static final byte[] W_CAS = ascii("cas");
  private static final byte[] W_INCR = ascii("incr");
  private static final byte[] W_DECR = ascii("decr");
  private static final byte[] W_DELETE = ascii("delete");
  private static final byte[] W_TOUCH = ascii("touch");
  private static final byte[] W_STATS = ascii("stats");
  private static final byte[] W_FLUSH_ALL = ascii("flush_all");
  private static final byte[] W_VERSION = ascii("version");
  private static final byte[] W_CONFIG = ascii("config");
  private static final byte[] W_CLUSTER = ascii("cluster");
  private static final byte[] W_QUIT = ascii("quit");
  private static final byte[] W_VERBOSITY = ascii("verbosity");
  private static final byte[] W_NOREPLY = ascii("noreply");
  private static final byte[] W_ZERO = ascii("0");
  private static final byte[] HTTP_PREFIX = ascii("HTTP/");
  private static final byte[] GET_SP = ascii("get ");
  private static final byte[] GETS_SP = ascii("gets ");

  /** Commands mcmux never forwards; see the exemptions above. */
  private static final byte[][] UNSUPPORTED = {
    ascii("watch"),
    ascii("lru_crawler"),
    ascii("lru"),
    ascii("slabs"),
    ascii("shutdown"),
    ascii("cache_memlimit"),
    ascii("extstore"),
    ascii("debugtime"),
    ascii("misbehave"),
    ascii("refresh_certs"),
  };

  private final int maxGetLineBytes;
  private long maxValueBytes;

  /** Bytes of a rejected data block still to discard before the next command line. */
  private long swallowRemaining;

  /** Bytes at the head of the input already known to hold no LF; saves rescanning long lines. */
  private int scannedWithoutLf;

  /** Absolute reader indexes of the tokens of the current line. */
  private int[] tokenStart = new int[MAX_TOKENS];

  private int[] tokenEnd = new int[MAX_TOKENS];
  private int tokenCount;

  /** The value of the last successful number parse. */
  private long parsed;

  /** What {@link #metaPreparse} found on the current line. */
  private String metaError;

  private final boolean[] metaSeen = new boolean[127];
  private final byte[][] metaFlags = new byte[MAX_TOKENS][];
  private int metaFlagCount;
  private byte[] metaOpaque;
  private int metaOpaqueIndex;
  private boolean metaQuiet;
  private boolean metaBase64;
  private byte[] metaDecodedKey;
  private byte metaMode;

  /**
   * Creates a decoder for one client connection.
   *
   * @param maxValueBytes values longer than this are rejected as too large (the server's {@code
   *     item_size_max})
   * @param maxGetLineBytes get/gets lines longer than this close the connection; at least {@value
   *     #MAX_LINE_BYTES}, the limit memcached applies to every other line
   */
  public AsciiRequestDecoder(long maxValueBytes, int maxGetLineBytes) {
    if (maxGetLineBytes < MAX_LINE_BYTES) {
      throw new IllegalArgumentException(
          "maxGetLineBytes must be at least " + MAX_LINE_BYTES + ": " + maxGetLineBytes);
    }
    maxValueBytes(maxValueBytes);
    this.maxGetLineBytes = maxGetLineBytes;
  }

  /** Sets the size above which values are rejected, e.g. once the server's item size is known. */
  public void maxValueBytes(long maxValueBytes) {
    if (maxValueBytes < 0) {
      throw new IllegalArgumentException("maxValueBytes must not be negative: " + maxValueBytes);
    }
    this.maxValueBytes = maxValueBytes;
  }

  /** The size above which values are currently rejected. */
  public long maxValueBytes() {
    return maxValueBytes;
  }

  /**
   * Decodes the next request at the head of {@code in}.
   *
   * @param in the client's cumulation buffer; its reader index advances past what was consumed
   * @return the outcome; after {@link DecodeResult.Close} the caller must stop decoding
   */
  public DecodeResult decode(ByteBuf in) {
    if (swallowRemaining > 0) {
      int n = (int) Math.min(in.readableBytes(), swallowRemaining);
      in.skipBytes(n);
      swallowRemaining -= n;
      if (swallowRemaining > 0) {
        return DecodeResult.NEED_MORE;
      }
    }
    int readable = in.readableBytes();
    if (readable == 0) {
      return DecodeResult.NEED_MORE;
    }
    int start = in.readerIndex();
    int lf = findLf(in, start, readable, MAX_LINE_BYTES);
    if (lf < 0) {
      if (readable <= MAX_LINE_BYTES) {
        return DecodeResult.NEED_MORE;
      }
      if (!startsLikeGet(in, start)) {
        in.skipBytes(readable);
        return new DecodeResult.Close(NOTHING);
      }
      lf = findLf(in, start, readable, maxGetLineBytes);
      if (lf < 0) {
        if (readable > maxGetLineBytes) {
          in.skipBytes(readable);
          return new DecodeResult.Close(NOTHING);
        }
        return DecodeResult.NEED_MORE;
      }
    }
    scannedWithoutLf = 0;
    int end = start + lf;
    if (lf > 1 && in.getByte(end - 1) == '\r') {
      end--;
    }
    int nul = in.indexOf(start, end, (byte) 0);
    if (nul >= 0) {
      end = nul;
    }
    tokenize(in, start, end);
    DecodeResult result = dispatch(in, start + lf + 1);
    if (tokenStart.length > KEPT_TOKEN_CAPACITY) {
      // One huge multi-get should not pin its token arrays for the life of the connection.
      tokenStart = new int[MAX_TOKENS];
      tokenEnd = new int[MAX_TOKENS];
    }
    return result;
  }

  /**
   * Finds the LF ending the line at {@code start} among its first {@code limit + 1} bytes.
   *
   * @return the LF's offset from {@code start}, or -1
   */
  private int findLf(ByteBuf in, int start, int readable, int limit) {
    int to = (int) Math.min(readable, limit + 1L);
    if (scannedWithoutLf < to) {
      int i = in.indexOf(start + scannedWithoutLf, start + to, (byte) '\n');
      if (i >= 0) {
        return i - start;
      }
      scannedWithoutLf = to;
    }
    return -1;
  }

  /** memcached's test for a long line it keeps reading: at most 100 spaces, then get or gets. */
  private static boolean startsLikeGet(ByteBuf in, int start) {
    int i = start;
    while (in.getByte(i) == ' ') {
      if (++i - start > MAX_LEADING_SPACES) {
        return false;
      }
    }
    return regionEquals(in, i, GET_SP) || regionEquals(in, i, GETS_SP);
  }

  private void tokenize(ByteBuf in, int from, int to) {
    tokenCount = 0;
    int i = from;
    while (i < to) {
      if (in.getByte(i) == ' ') {
        i++;
        continue;
      }
      int s = i;
      int sp = in.indexOf(i, to, (byte) ' ');
      i = sp < 0 ? to : sp;
      if (tokenCount == tokenStart.length) {
        tokenStart = Arrays.copyOf(tokenStart, tokenCount * 2);
        tokenEnd = Arrays.copyOf(tokenEnd, tokenCount * 2);
      }
      tokenStart[tokenCount] = s;
      tokenEnd[tokenCount] = i;
      tokenCount++;
    }
  }

  /**
   * Decides the outcome of the tokenized line.
   *
   * @param lineEnd the reader index just past the line's LF
   */
  private DecodeResult dispatch(ByteBuf in, int lineEnd) {
    // memcached's ntokens: the tokens it looked at plus its terminal token.
    int ntok = Math.min(tokenCount, MAX_TOKENS - 1) + 1;
    if (ntok < 2 || length(0) < 2) {
      return reply(in, lineEnd, ERROR);
    }
    int cmdStart = tokenStart[0];
    byte first = in.getByte(cmdStart);
    int cmdLen = length(0);
    if (first == 'm' && cmdLen == 2) {
      return meta(in, lineEnd, in.getByte(cmdStart + 1), ntok);
    }
    switch (first) {
      case 'g':
        if (ntok < 3) {
          return reply(in, lineEnd, ERROR);
        } else if (tokenIs(in, 0, W_GET)) {
          return retrieval(in, lineEnd, Command.GET);
        } else if (tokenIs(in, 0, W_GETS)) {
          return retrieval(in, lineEnd, Command.GETS);
        } else if (tokenIs(in, 0, W_GAT)) {
          return retrieval(in, lineEnd, Command.GAT);
        } else if (tokenIs(in, 0, W_GATS)) {
          return retrieval(in, lineEnd, Command.GATS);
        }
        return reply(in, lineEnd, ERROR);
      case 's':
        if (tokenIs(in, 0, W_SET)) {
          return storage(in, lineEnd, Command.SET, ntok);
        } else if (tokenIs(in, 0, W_STATS)) {
          return stats(in, lineEnd);
        }
        return unsupportedOrError(in, lineEnd);
      case 'a':
        if (tokenIs(in, 0, W_ADD)) {
          return storage(in, lineEnd, Command.ADD, ntok);
        } else if (tokenIs(in, 0, W_APPEND)) {
          return storage(in, lineEnd, Command.APPEND, ntok);
        }
        return reply(in, lineEnd, ERROR);
      case 'c':
        if (tokenIs(in, 0, W_CAS)) {
          return storage(in, lineEnd, Command.CAS, ntok);
        } else if (tokenIs(in, 0, W_CONFIG)) {
          // Only ElastiCache's discovery request; memcached itself answers ERROR to any config.
          return ntok == 4 && tokenIs(in, 1, W_GET) && tokenIs(in, 2, W_CLUSTER)
              ? request(in, lineEnd, simple(Command.CONFIG_GET_CLUSTER, false))
              : reply(in, lineEnd, ERROR);
        }
        return unsupportedOrError(in, lineEnd);
      case 'i':
        if (tokenIs(in, 0, W_INCR)) {
          return arithmetic(in, lineEnd, Command.INCR, ntok);
        }
        return reply(in, lineEnd, ERROR);
      case 'd':
        if (tokenIs(in, 0, W_DELETE)) {
          return delete(in, lineEnd, ntok);
        } else if (tokenIs(in, 0, W_DECR)) {
          return arithmetic(in, lineEnd, Command.DECR, ntok);
        }
        return unsupportedOrError(in, lineEnd);
      case 't':
        if (tokenIs(in, 0, W_TOUCH)) {
          return touch(in, lineEnd, ntok);
        }
        return reply(in, lineEnd, ERROR);
      default:
        break;
    }
    if (tokenIs(in, 0, W_REPLACE)) {
      return storage(in, lineEnd, Command.REPLACE, ntok);
    } else if (tokenIs(in, 0, W_PREPEND)) {
      return storage(in, lineEnd, Command.PREPEND, ntok);
    } else if (tokenIs(in, 0, W_BGET)) {
      return ntok < 3 ? reply(in, lineEnd, ERROR) : retrieval(in, lineEnd, Command.GET);
    } else if (tokenIs(in, 0, W_FLUSH_ALL)) {
      return flushAll(in, lineEnd, ntok);
    } else if (tokenIs(in, 0, W_VERSION)) {
      return request(in, lineEnd, simple(Command.VERSION, false));
    } else if (tokenIs(in, 0, W_QUIT)) {
      return request(in, lineEnd, simple(Command.QUIT, false));
    } else if (tokenIs(in, 0, W_VERBOSITY)) {
      return verbosity(in, lineEnd, ntok);
    }
    DecodeResult unsupported = unsupported(in, lineEnd);
    if (unsupported != null) {
      return unsupported;
    }
    // memcached treats a stray HTTP request as a sign of a confused client and hangs up.
    if (regionEquals(in, tokenStart[ntok - 2], tokenEnd[ntok - 2], HTTP_PREFIX)) {
      in.readerIndex(lineEnd);
      return new DecodeResult.Close(NOTHING);
    }
    return reply(in, lineEnd, ERROR);
  }

  private DecodeResult retrieval(ByteBuf in, int lineEnd, Command command) {
    int firstKey = 1;
    int exptime = 0;
    if (command == Command.GAT || command == Command.GATS) {
      if (!parseStrtol(in, 1)) {
        return reply(in, lineEnd, BAD_EXPTIME);
      }
      exptime = (int) parsed;
      firstKey = 2;
    }
    int n = tokenCount - firstKey;
    for (int i = firstKey; i < tokenCount; i++) {
      if (length(i) > MAX_KEY_BYTES) {
        return reply(in, lineEnd, BAD_FORMAT);
      }
    }
    if (n == 0) {
      // Only gat/gats can get here, e.g. "gat 10": memcached answers an empty result.
      return reply(in, lineEnd, END);
    }
    List<byte[]> keys;
    if (n == 1) {
      keys = List.of(tokenBytes(in, firstKey));
    } else {
      byte[][] array = new byte[n][];
      for (int i = 0; i < n; i++) {
        array[i] = tokenBytes(in, firstKey + i);
      }
      keys = Arrays.asList(array);
    }
    return request(
        in, lineEnd, new AsciiRequest(command, keys, 0, exptime, 0, 0, false, false, null, null));
  }

  private DecodeResult storage(ByteBuf in, int lineEnd, Command command, int ntok) {
    boolean cas = command == Command.CAS;
    int min = cas ? 7 : 6;
    if (ntok != min && ntok != min + 1) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = noreplyAt(in, ntok - 2);
    if (length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    if (!parseStrtoul(in, 2)) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    int flags = (int) parsed;
    if (!parseStrtol(in, 3)) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    int exptime = (int) parsed;
    if (!parseStrtol(in, 4)) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    int length = (int) parsed;
    long casUnique = 0;
    if (cas) {
      if (!parseStrtoull(in, 5)) {
        return reply(in, lineEnd, noreply, BAD_FORMAT);
      }
      casUnique = parsed;
    }
    if (length < 0 || length > INT_MAX_MINUS_2) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    if (length > maxValueBytes) {
      AsciiRequest delete = null;
      if (command == Command.SET) {
        // memcached unlinks the old value of a set it cannot store, so no stale value survives.
        delete =
            new AsciiRequest(
                Command.DELETE, List.of(tokenBytes(in, 1)), 0, 0, 0, 0, noreply, false, null, null);
      }
      in.readerIndex(lineEnd);
      swallowRemaining = length + 2L;
      return new DecodeResult.LocalReply(noreply ? NOTHING : TOO_LARGE.clone(), delete);
    }
    int dataStart = lineEnd;
    if (in.writerIndex() - dataStart < length + 2L) {
      return DecodeResult.NEED_MORE;
    }
    if (in.getByte(dataStart + length) != '\r' || in.getByte(dataStart + length + 1) != '\n') {
      return reply(in, dataStart + length + 2, noreply, BAD_DATA_CHUNK);
    }
    byte[] key = tokenBytes(in, 1);
    in.readerIndex(dataStart);
    ByteBuf data = in.readRetainedSlice(length);
    in.skipBytes(2);
    return new DecodeResult.Request(
        new AsciiRequest(
            command, List.of(key), flags, exptime, casUnique, 0, noreply, false, data, null));
  }

  private DecodeResult arithmetic(ByteBuf in, int lineEnd, Command command, int ntok) {
    if (ntok != 4 && ntok != 5) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = noreplyAt(in, ntok - 2);
    if (length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    if (!parseStrtoull(in, 2)) {
      return reply(in, lineEnd, noreply, BAD_DELTA);
    }
    return request(
        in,
        lineEnd,
        new AsciiRequest(
            command, List.of(tokenBytes(in, 1)), 0, 0, 0, parsed, noreply, false, null, null));
  }

  private DecodeResult touch(ByteBuf in, int lineEnd, int ntok) {
    if (ntok != 4 && ntok != 5) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = noreplyAt(in, ntok - 2);
    if (length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    if (!parseStrtol(in, 2)) {
      return reply(in, lineEnd, noreply, BAD_EXPTIME);
    }
    return request(
        in,
        lineEnd,
        new AsciiRequest(
            Command.TOUCH,
            List.of(tokenBytes(in, 1)),
            0,
            (int) parsed,
            0,
            0,
            noreply,
            false,
            null,
            null));
  }

  private DecodeResult delete(ByteBuf in, int lineEnd, int ntok) {
    if (ntok < 3 || ntok > 5) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = false;
    if (ntok > 3) {
      // The old "delete <key> <time>" form survives only with a time of exactly "0".
      boolean holdIsZero = tokenIs(in, 2, W_ZERO);
      noreply = noreplyAt(in, ntok - 2);
      boolean valid =
          (ntok == 4 && (holdIsZero || noreply)) || (ntok == 5 && holdIsZero && noreply);
      if (!valid) {
        return reply(in, lineEnd, noreply, BAD_DELETE);
      }
    }
    if (length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    return request(
        in,
        lineEnd,
        new AsciiRequest(
            Command.DELETE, List.of(tokenBytes(in, 1)), 0, 0, 0, 0, noreply, false, null, null));
  }

  private DecodeResult flushAll(ByteBuf in, int lineEnd, int ntok) {
    if (ntok < 2 || ntok > 4) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = noreplyAt(in, ntok - 2);
    boolean hasDelay = ntok != (noreply ? 3 : 2);
    int delay = 0;
    if (hasDelay) {
      if (!parseStrtol(in, 1)) {
        return reply(in, lineEnd, noreply, BAD_EXPTIME);
      }
      delay = (int) parsed;
    }
    return request(
        in,
        lineEnd,
        new AsciiRequest(
            Command.FLUSH_ALL, List.of(), 0, delay, 0, 0, noreply, hasDelay, null, null));
  }

  private DecodeResult verbosity(ByteBuf in, int lineEnd, int ntok) {
    if (ntok != 3 && ntok != 4) {
      return reply(in, lineEnd, ERROR);
    }
    boolean noreply = noreplyAt(in, ntok - 2);
    if (!parseStrtoul(in, 1)) {
      return reply(in, lineEnd, noreply, BAD_FORMAT);
    }
    return request(in, lineEnd, simple(Command.VERBOSITY, noreply));
  }

  private DecodeResult stats(ByteBuf in, int lineEnd) {
    byte[] arguments = null;
    if (tokenCount > 1) {
      // Re-joined with single spaces: upstream tokenizes this exactly as it did the original.
      int size = -1;
      for (int i = 1; i < tokenCount; i++) {
        size += length(i) + 1;
      }
      arguments = new byte[size];
      int p = 0;
      for (int i = 1; i < tokenCount; i++) {
        if (i > 1) {
          arguments[p++] = ' ';
        }
        in.getBytes(tokenStart[i], arguments, p, length(i));
        p += length(i);
      }
    }
    return request(
        in,
        lineEnd,
        new AsciiRequest(Command.STATS, List.of(), 0, 0, 0, 0, false, false, null, arguments));
  }

  private DecodeResult meta(ByteBuf in, int lineEnd, byte second, int ntok) {
    return switch (second) {
      case 'g' -> metaCommand(in, lineEnd, Command.MG, ntok);
      case 's' -> metaSet(in, lineEnd, ntok);
      case 'd' -> metaCommand(in, lineEnd, Command.MD, ntok);
      case 'a' -> metaCommand(in, lineEnd, Command.MA, ntok);
      case 'n' -> {
        // memcached answers mn whatever follows it on the line.
        in.readerIndex(lineEnd);
        yield new DecodeResult.Meta(
            new MetaRequest(
                Command.MN, NOTHING, NOTHING, false, NO_FLAGS, 0, null, false, false, null),
            null);
      }
      case 'e' -> metaDebug(in, lineEnd, ntok);
      default -> reply(in, lineEnd, ERROR);
    };
  }

  /** {@code mg}, {@code md} and {@code ma}: memcached's checks in its order, then the flags. */
  private DecodeResult metaCommand(ByteBuf in, int lineEnd, Command command, int ntok) {
    if (ntok < 3) {
      return reply(in, lineEnd, ERROR);
    }
    if (length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, BAD_FORMAT);
    }
    if (ntok > META_MAX_TOKENS) {
      return reply(in, lineEnd, command == Command.MG ? META_FLAGS_ARE_TOO_LONG : META_TOO_LONG);
    }
    if (!metaPreparse(in, 2, ntok)) {
      return reply(
          in,
          lineEnd,
          command == Command.MG ? ascii(metaError + "\r\n") : META_BAD_OR_DUPLICATE_FLAG);
    }
    boolean opaqueTooLong = metaOpaque != null && metaOpaque.length > MetaRequest.MAX_OPAQUE_BYTES;
    if (command == Command.MA && !(metaMode == 0 || "I+D-".indexOf(metaMode) >= 0)) {
      return reply(in, lineEnd, ascii("CLIENT_ERROR invalid mode for ma M token\r\n"));
    }
    if (command == Command.MD && opaqueTooLong) {
      // md checks its opaque before it touches the item; mg and ma only afterwards.
      return reply(in, lineEnd, META_OPAQUE_TOO_LONG);
    }
    in.readerIndex(lineEnd);
    return new DecodeResult.Meta(metaRequest(in, command, opaqueTooLong, null), null);
  }

  /**
   * {@code ms}: which errors come before memcached knows the data length (nothing swallowed) and
   * which after (the data block is swallowed) decides the framing of everything that follows.
   */
  private DecodeResult metaSet(ByteBuf in, int lineEnd, int ntok) {
    if (ntok < 3) {
      return reply(in, lineEnd, ERROR);
    }
    if (length(1) > MAX_KEY_BYTES || ntok == 3) {
      return reply(in, lineEnd, BAD_FORMAT);
    }
    if (ntok > META_MAX_TOKENS) {
      return reply(in, lineEnd, META_TOO_LONG);
    }
    if (!parseStrtol(in, 2)) {
      return reply(in, lineEnd, BAD_FORMAT);
    }
    int length = (int) parsed;
    if (length < 0 || length > INT_MAX_MINUS_2) {
      return reply(in, lineEnd, BAD_FORMAT);
    }
    byte[] error = null;
    if (!metaPreparse(in, 3, ntok)) {
      error = ascii(metaError + "\r\n");
    } else if (!(metaMode == 0 || "EAPRS".indexOf(metaMode) >= 0)) {
      error = ascii("CLIENT_ERROR invalid mode for ms M token\r\n");
    } else if (metaOpaque != null && metaOpaque.length > MetaRequest.MAX_OPAQUE_BYTES) {
      error = META_OPAQUE_TOO_LONG;
    }
    if (error != null) {
      in.readerIndex(lineEnd);
      swallowRemaining = length + 2L;
      return new DecodeResult.LocalReply(error.clone());
    }
    if (length > maxValueBytes) {
      // memcached unlinks the key of an ms it cannot store, whatever the mode.
      MetaRequest unlink =
          new MetaRequest(
              Command.MD,
              metaWireKey(in),
              metaRoutingKey(in),
              metaBase64,
              NO_FLAGS,
              0,
              null,
              false,
              true,
              null);
      in.readerIndex(lineEnd);
      swallowRemaining = length + 2L;
      return new DecodeResult.Meta(unlink, TOO_LARGE.clone());
    }
    int dataStart = lineEnd;
    if (in.writerIndex() - dataStart < length + 2L) {
      return DecodeResult.NEED_MORE;
    }
    if (in.getByte(dataStart + length) != '\r' || in.getByte(dataStart + length + 1) != '\n') {
      // Sent even in quiet mode: memcached's meta errors always are.
      return reply(in, dataStart + length + 2, BAD_DATA_CHUNK);
    }
    in.readerIndex(dataStart);
    ByteBuf data = in.readRetainedSlice(length);
    in.skipBytes(2);
    return new DecodeResult.Meta(metaRequest(in, Command.MS, false, data), null);
  }

  /** {@code me}: only a {@code b} right after the key counts; every other token is ignored. */
  private DecodeResult metaDebug(ByteBuf in, int lineEnd, int ntok) {
    if (ntok < 3 || length(1) > MAX_KEY_BYTES) {
      return reply(in, lineEnd, BAD_FORMAT);
    }
    boolean base64 = ntok >= 4 && length(2) == 1 && in.getByte(tokenStart[2]) == 'b';
    byte[] key = tokenBytes(in, 1);
    byte[] routing = key;
    if (base64) {
      routing = MetaKeys.decode(key);
      if (routing == null) {
        return reply(in, lineEnd, BAD_FORMAT);
      }
      key = MetaKeys.encode(routing);
    }
    in.readerIndex(lineEnd);
    return new DecodeResult.Meta(
        new MetaRequest(Command.ME, key, routing, base64, NO_FLAGS, 0, null, false, false, null),
        null);
  }

  private MetaRequest metaRequest(
      ByteBuf in, Command command, boolean opaqueTooLong, ByteBuf value) {
    byte[][] flags = Arrays.copyOf(metaFlags, metaFlagCount);
    int upstreamTokens =
        2 + (command == Command.MS ? 1 : 0) + (metaBase64 ? 1 : 0) + metaFlagCount + 1;
    // Without room for mcmux's tag (a client using every token memcached reads, none of them O
    // or q) the request goes untagged rather than being refused.
    boolean tagged = !opaqueTooLong && upstreamTokens <= MetaRequest.MAX_TOKENS;
    return new MetaRequest(
        command,
        metaWireKey(in),
        metaRoutingKey(in),
        metaBase64,
        flags,
        metaOpaque == null ? flags.length : metaOpaqueIndex,
        metaOpaque,
        metaQuiet,
        tagged,
        value);
  }

  private byte[] metaWireKey(ByteBuf in) {
    return metaBase64 ? MetaKeys.encode(metaDecodedKey) : tokenBytes(in, 1);
  }

  private byte[] metaRoutingKey(ByteBuf in) {
    return metaBase64 ? metaDecodedKey : tokenBytes(in, 1);
  }

  /**
   * memcached's {@code _meta_flag_preparse} over tokens {@code [first, ntok-1)}: every flag letter
   * at most once, numbers parsed as it parses them. Collects the canonical tokens to send upstream
   * (one letter, or a letter and the number memcached read), the client's opaque and where it was,
   * quiet mode, the mode letter and the decoded key.
   *
   * @return false with {@link #metaError} set when memcached rejects the flags
   */
  private boolean metaPreparse(ByteBuf in, int first, int ntok) {
    metaError = "CLIENT_ERROR bad command line format";
    metaFlagCount = 0;
    metaOpaque = null;
    metaOpaqueIndex = -1;
    metaQuiet = false;
    metaBase64 = false;
    metaDecodedKey = null;
    metaMode = 0;
    Arrays.fill(metaSeen, false);
    boolean hasError = false;
    for (int i = first; i < ntok - 1; i++) {
      int s = tokenStart[i];
      int e = tokenEnd[i];
      int o = in.getByte(s) & 0xFF;
      if (o >= 127 || metaSeen[o]) {
        metaError = "CLIENT_ERROR duplicate flag";
        return false;
      }
      metaSeen[o] = true;
      byte[] canonical = null;
      switch (o) {
        case 'b' -> {
          metaBase64 = true;
          metaDecodedKey = MetaKeys.decode(tokenBytes(in, 1));
          if (metaDecodedKey == null) {
            metaError = "CLIENT_ERROR error decoding key";
            hasError = true;
          }
        }
        case 'N', 'T', 'R' -> {
          if (!parseC(in, s + 1, e, true)) {
            metaError = "CLIENT_ERROR bad token in command line format";
            hasError = true;
          } else {
            canonical = withNumber((byte) o, (int) parsed, true);
          }
        }
        case 'F' -> {
          if (!parseUnsignedRange(in, s + 1, e)) {
            hasError = true;
          } else {
            canonical = withNumber((byte) o, parsed & 0xFFFF_FFFFL, false);
          }
        }
        case 'C', 'J', 'D' -> {
          if (!parseUnsignedRange(in, s + 1, e)) {
            metaError =
                o == 'C'
                    ? "CLIENT_ERROR bad token in command line format"
                    : o == 'J'
                        ? "CLIENT_ERROR invalid numeric initial value"
                        : "CLIENT_ERROR invalid numeric delta value";
            hasError = true;
          } else {
            canonical = withNumber((byte) o, parsed, false);
          }
        }
        case 'M' -> {
          if (e - s != 2) {
            metaError = "CLIENT_ERROR incorrect length for M token";
            hasError = true;
          } else {
            metaMode = in.getByte(s + 1);
            canonical = new byte[] {'M', metaMode};
          }
        }
        case 'O' -> {
          metaOpaque = tokenBytes(in, i);
          metaOpaqueIndex = metaFlagCount;
        }
        case 'q' -> metaQuiet = true;
        case 'l', 'h', 'k', 's', 't', 'c', 'f', 'v', 'u', 'I', 'P', 'L' ->
            canonical = new byte[] {(byte) o};
        default -> {
          metaError = "CLIENT_ERROR invalid flag";
          return false;
        }
      }
      if (canonical != null) {
        metaFlags[metaFlagCount++] = canonical;
      }
    }
    return !hasError;
  }

  private static byte[] withNumber(byte letter, long value, boolean signed) {
    String n = signed ? Long.toString(value) : Long.toUnsignedString(value);
    byte[] out = new byte[1 + n.length()];
    out[0] = letter;
    for (int i = 0; i < n.length(); i++) {
      out[i + 1] = (byte) n.charAt(i);
    }
    return out;
  }

  private DecodeResult unsupportedOrError(ByteBuf in, int lineEnd) {
    DecodeResult unsupported = unsupported(in, lineEnd);
    return unsupported != null ? unsupported : reply(in, lineEnd, ERROR);
  }

  private DecodeResult unsupported(ByteBuf in, int lineEnd) {
    for (byte[] word : UNSUPPORTED) {
      if (tokenIs(in, 0, word)) {
        String message =
            "CLIENT_ERROR "
                + new String(word, StandardCharsets.US_ASCII)
                + " is not supported through mcmux\r\n";
        return reply(in, lineEnd, ascii(message));
      }
    }
    return null;
  }

  private static AsciiRequest simple(Command command, boolean noreply) {
    return new AsciiRequest(command, List.of(), 0, 0, 0, 0, noreply, false, null, null);
  }

  private static DecodeResult request(ByteBuf in, int lineEnd, AsciiRequest request) {
    in.readerIndex(lineEnd);
    return new DecodeResult.Request(request);
  }

  private static DecodeResult reply(ByteBuf in, int consumedTo, byte[] reply) {
    in.readerIndex(consumedTo);
    return new DecodeResult.LocalReply(reply.clone());
  }

  private static DecodeResult reply(ByteBuf in, int consumedTo, boolean noreply, byte[] reply) {
    in.readerIndex(consumedTo);
    return new DecodeResult.LocalReply(noreply ? NOTHING : reply.clone());
  }

  private int length(int token) {
    return tokenEnd[token] - tokenStart[token];
  }

  private byte[] tokenBytes(ByteBuf in, int token) {
    byte[] bytes = new byte[length(token)];
    in.getBytes(tokenStart[token], bytes);
    return bytes;
  }

  private boolean tokenIs(ByteBuf in, int token, byte[] word) {
    return length(token) == word.length && regionEquals(in, tokenStart[token], word);
  }

  /** memcached's set_noreply_maybe: only the last token it looked at can be noreply. */
  private boolean noreplyAt(ByteBuf in, int token) {
    return token >= 0 && tokenIs(in, token, W_NOREPLY);
  }

  private static boolean regionEquals(ByteBuf in, int at, byte[] word) {
    for (int i = 0; i < word.length; i++) {
      if (in.getByte(at + i) != word[i]) {
        return false;
      }
    }
    return true;
  }

  private static boolean regionEquals(ByteBuf in, int from, int to, byte[] prefix) {
    return to - from >= prefix.length && regionEquals(in, from, prefix);
  }

  /** memcached's safe_strtol: a C long, then cut to 32 bits by the caller. */
  private boolean parseStrtol(ByteBuf in, int token) {
    return parseC(in, tokenStart[token], tokenEnd[token], true);
  }

  /** memcached's safe_strtoul: an unsigned C long, then cut to 32 bits. */
  private boolean parseStrtoul(ByteBuf in, int token) {
    if (!parseUnsigned(in, token)) {
      return false;
    }
    parsed &= 0xFFFF_FFFFL;
    return true;
  }

  /** memcached's safe_strtoull: an unsigned 64-bit number. */
  private boolean parseStrtoull(ByteBuf in, int token) {
    return parseUnsigned(in, token);
  }

  private boolean parseUnsigned(ByteBuf in, int token) {
    return parseUnsignedRange(in, tokenStart[token], tokenEnd[token]);
  }

  private boolean parseUnsignedRange(ByteBuf in, int s, int e) {
    if (!parseC(in, s, e, false)) {
      return false;
    }
    // strtoul negates "-5" into a huge value; memcached rejects it only if it looks negative.
    return parsed >= 0 || in.indexOf(s, e, (byte) '-') < 0;
  }

  /**
   * Parses {@code [s, e)} as glibc's strtol or strtoul in base 10 would, and applies the checks
   * memcached's safe_* wrappers add: not out of range, at least one digit, and the number ends the
   * token or is followed by whitespace.
   */
  private boolean parseC(ByteBuf in, int s, int e, boolean signed) {
    int i = s;
    while (i < e && isCSpace(in.getByte(i))) {
      i++;
    }
    boolean negative = false;
    if (i < e) {
      byte c = in.getByte(i);
      if (c == '+' || c == '-') {
        negative = c == '-';
        i++;
      }
    }
    int digits = i;
    long magnitude = 0;
    boolean overflow = false;
    while (i < e) {
      byte c = in.getByte(i);
      if (c < '0' || c > '9') {
        break;
      }
      int d = c - '0';
      // 18446744073709551615 = 1844674407370955161 * 10 + 5
      if (Long.compareUnsigned(magnitude, 1844674407370955161L) > 0
          || (magnitude == 1844674407370955161L && d > 5)) {
        overflow = true;
      } else {
        magnitude = magnitude * 10 + d;
      }
      i++;
    }
    if (i == digits || overflow) {
      return false;
    }
    if (i < e && !isCSpace(in.getByte(i))) {
      return false;
    }
    if (signed) {
      long limit = negative ? Long.MIN_VALUE : Long.MAX_VALUE;
      if (Long.compareUnsigned(magnitude, limit) > 0) {
        return false;
      }
    }
    parsed = negative ? -magnitude : magnitude;
    return true;
  }

  /** C's isspace in the C locale. */
  private static boolean isCSpace(byte b) {
    return b == ' ' || (b >= '\t' && b <= '\r');
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
