package dev.mcmux.protocol;

import java.nio.charset.StandardCharsets;

/**
 * Constants of memcached's binary protocol as 1.6.18 speaks it: magics, opcodes, status codes and
 * the exact error texts memcached sends with each status.
 */
public final class BinaryProtocol {
  private BinaryProtocol() {}

  /** Length of every request and response header. */
  public static final int HEADER_BYTES = 24;

  /** First byte of every request; memcached serves a connection starting with it as binary. */
  public static final byte REQUEST_MAGIC = (byte) 0x80;

  /** First byte of every response. */
  public static final byte RESPONSE_MAGIC = (byte) 0x81;

  /** memcached's key limit, which the binary protocol's 16-bit key length could exceed. */
  public static final int MAX_KEY_BYTES = 250;

  public static final int GET = 0x00;
  public static final int SET = 0x01;
  public static final int ADD = 0x02;
  public static final int REPLACE = 0x03;
  public static final int DELETE = 0x04;
  public static final int INCREMENT = 0x05;
  public static final int DECREMENT = 0x06;
  public static final int QUIT = 0x07;
  public static final int FLUSH = 0x08;
  public static final int GETQ = 0x09;
  public static final int NOOP = 0x0a;
  public static final int VERSION = 0x0b;
  public static final int GETK = 0x0c;
  public static final int GETKQ = 0x0d;
  public static final int APPEND = 0x0e;
  public static final int PREPEND = 0x0f;
  public static final int STAT = 0x10;
  public static final int SETQ = 0x11;
  public static final int ADDQ = 0x12;
  public static final int REPLACEQ = 0x13;
  public static final int DELETEQ = 0x14;
  public static final int INCREMENTQ = 0x15;
  public static final int DECREMENTQ = 0x16;
  public static final int QUITQ = 0x17;
  public static final int FLUSHQ = 0x18;
  public static final int APPENDQ = 0x19;
  public static final int PREPENDQ = 0x1a;
  public static final int TOUCH = 0x1c;
  public static final int GAT = 0x1d;
  public static final int GATQ = 0x1e;
  public static final int SASL_LIST_MECHS = 0x20;
  public static final int SASL_AUTH = 0x21;
  public static final int SASL_STEP = 0x22;
  public static final int GATK = 0x23;
  public static final int GATKQ = 0x24;

  public static final int SUCCESS = 0x00;
  public static final int KEY_ENOENT = 0x01;
  public static final int KEY_EEXISTS = 0x02;
  public static final int E2BIG = 0x03;
  public static final int EINVAL = 0x04;
  public static final int NOT_STORED = 0x05;
  public static final int DELTA_BADVAL = 0x06;
  public static final int AUTH_ERROR = 0x20;
  public static final int UNKNOWN_COMMAND = 0x81;
  public static final int ENOMEM = 0x82;

  /**
   * The opcode memcached runs a quiet opcode as (e.g. {@code SETQ} runs as {@code SET}); any other
   * opcode is returned unchanged.
   */
  public static int loudForm(int opcode) {
    return switch (opcode) {
      case SETQ -> SET;
      case ADDQ -> ADD;
      case REPLACEQ -> REPLACE;
      case DELETEQ -> DELETE;
      case INCREMENTQ -> INCREMENT;
      case DECREMENTQ -> DECREMENT;
      case QUITQ -> QUIT;
      case FLUSHQ -> FLUSH;
      case APPENDQ -> APPEND;
      case PREPENDQ -> PREPEND;
      case GETQ -> GET;
      case GETKQ -> GETK;
      case GATQ -> GAT;
      case GATKQ -> GATK;
      default -> opcode;
    };
  }

  /** True for the opcodes memcached runs quietly (nothing on success, errors still reported). */
  public static boolean isQuiet(int opcode) {
    return loudForm(opcode) != opcode;
  }

  /** The body text memcached sends with an error status, as {@code write_bin_error} picks it. */
  public static byte[] errorText(int status) {
    String text =
        switch (status) {
          case ENOMEM -> "Out of memory";
          case UNKNOWN_COMMAND -> "Unknown command";
          case KEY_ENOENT -> "Not found";
          case EINVAL -> "Invalid arguments";
          case KEY_EEXISTS -> "Data exists for key.";
          case E2BIG -> "Too large.";
          case DELTA_BADVAL -> "Non-numeric server-side value for incr or decr";
          case NOT_STORED -> "Not stored.";
          case AUTH_ERROR -> "Auth failure.";
          default -> throw new IllegalArgumentException("not an error status: " + status);
        };
    return text.getBytes(StandardCharsets.US_ASCII);
  }
}
