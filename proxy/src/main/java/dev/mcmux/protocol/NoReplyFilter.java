package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Decides which upstream replies memcached itself would not have sent to a client that asked for
 * {@code noreply}, since mcmux always forwards requests without it.
 *
 * <p>In memcached 1.6.18 a classic command reads {@code noreply} before it validates anything else,
 * and from then on every reply of that command is suppressed: the normal answers ({@code STORED},
 * {@code NOT_STORED}, {@code EXISTS}, {@code NOT_FOUND}, {@code DELETED}, {@code TOUCHED}, {@code
 * OK}, incr/decr numbers) and also its {@code CLIENT_ERROR} and {@code SERVER_ERROR} lines (for
 * example {@code SERVER_ERROR object too large for cache}, {@code CLIENT_ERROR cannot increment or
 * decrement non-numeric value}). Only a plain {@code ERROR}, which memcached sends for a command or
 * token count it does not accept before it ever looks for {@code noreply}, still reaches the
 * client. (Meta commands are different: their errors are always sent; they are not handled here.)
 */
public final class NoReplyFilter {

  private NoReplyFilter() {}

  /** Whether memcached honours {@code noreply} on this command at all. */
  public static boolean acceptsNoreply(Command c) {
    return switch (c) {
      case SET,
          ADD,
          REPLACE,
          APPEND,
          PREPEND,
          CAS,
          DELETE,
          INCR,
          DECR,
          TOUCH,
          FLUSH_ALL,
          VERBOSITY ->
          true;
      case GET, GETS, GAT, GATS, VERSION, STATS, QUIT, CONFIG_GET_CLUSTER -> false;
      case MG, MS, MD, MA, MN, ME -> false;
    };
  }

  /**
   * Whether memcached would have kept this reply from a client that sent {@code c} with {@code
   * noreply}.
   *
   * @param c the command the client sent with {@code noreply}
   * @param replyLine the first (for these commands, only) line of the upstream reply, from its
   *     reader index to its writer index, with or without its CRLF; not modified
   */
  public static boolean suppressed(Command c, ByteBuf replyLine) {
    return acceptsNoreply(c) && !isError(replyLine);
  }

  /**
   * Whether memcached 1.6.18 would have kept this meta response from a client that asked for quiet
   * mode ({@code q}): {@code mg} hides only {@code EN}; {@code ms} and {@code md} only {@code HD};
   * {@code ma} its success, {@code HD} or {@code VA}. Errors, {@code NF}, {@code NS} and {@code EX}
   * are always sent.
   *
   * @param frame the whole response, not modified
   */
  public static boolean suppressedInQuietMode(Command c, ByteBuf frame) {
    MetaResponse.Status s = MetaResponse.status(frame, frame.readerIndex(), frame.readableBytes());
    if (s == null) {
      return false;
    }
    return switch (c) {
      case MG -> s == MetaResponse.Status.EN;
      case MS, MD -> s == MetaResponse.Status.HD;
      case MA -> s == MetaResponse.Status.HD || s == MetaResponse.Status.VA;
      default -> false;
    };
  }

  private static boolean isError(ByteBuf line) {
    int from = line.readerIndex();
    int len = line.readableBytes();
    if (len >= 2 && line.getByte(from + len - 2) == '\r' && line.getByte(from + len - 1) == '\n') {
      len -= 2;
    } else if (len >= 1 && line.getByte(from + len - 1) == '\n') {
      len -= 1;
    }
    return len == 5
        && line.getByte(from) == 'E'
        && line.getByte(from + 1) == 'R'
        && line.getByte(from + 2) == 'R'
        && line.getByte(from + 3) == 'O'
        && line.getByte(from + 4) == 'R';
  }
}
