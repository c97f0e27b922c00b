package dev.mcmux.protocol;

import static dev.mcmux.protocol.BinaryProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Translates keyed binary-protocol requests into one meta request each, and the meta response back
 * into the packet memcached 1.6.18 would have sent for the binary request.
 *
 * <p>Meta rather than binary upstream: some services (ElastiCache Serverless among them) are
 * reported not to accept the binary protocol, and meta gives everything a binary answer needs (CAS
 * after a store, flags and CAS on a hit, incr/decr with an initial value).
 */
public final class BinaryMeta {
  private BinaryMeta() {}

  /**
   * Status mcmux answers when no upstream answer could be had (the protocol's "temporary failure").
   */
  public static final int TEMPORARY_FAILURE = 0x86;

  /** memcached's exptime "do not create" value for incr/decr. */
  private static final int NO_AUTOVIVIFY = 0xffffffff;

  /** True for the opcodes translated to a meta request ({@link #toMeta}). */
  public static boolean isKeyed(int opcode) {
    return switch (loudForm(opcode)) {
      case GET,
          GETK,
          TOUCH,
          GAT,
          GATK,
          SET,
          ADD,
          REPLACE,
          APPEND,
          PREPEND,
          DELETE,
          INCREMENT,
          DECREMENT ->
          true;
      default -> false;
    };
  }

  /**
   * The meta request for a keyed binary request; takes over the request's value.
   *
   * @throws IllegalArgumentException if the key cannot travel in a meta request (a key with
   *     separator bytes longer than base64 allows within 250 bytes)
   */
  public static MetaRequest toMeta(BinaryRequest r) {
    List<byte[]> flags = new ArrayList<>(8);
    Command command;
    int loud = r.loudOpcode();
    switch (loud) {
      case GET, GETK -> {
        command = Command.MG;
        add(flags, "v", "f", "c");
      }
      case GAT, GATK -> {
        command = Command.MG;
        add(flags, "v", "f", "c");
        flags.add(token('T', exptime(r.exptime())));
      }
      case TOUCH -> {
        command = Command.MG;
        add(flags, "f", "c");
        flags.add(token('T', exptime(r.exptime())));
      }
      case SET, ADD, REPLACE -> {
        command = Command.MS;
        flags.add(token('F', Integer.toUnsignedString(r.flags())));
        flags.add(token('T', exptime(r.exptime())));
        add(flags, "c");
        if (r.cas() != 0) {
          // memcached runs any binary store with a CAS as a CAS store, add included.
          add(flags, "MS");
          flags.add(token('C', Long.toUnsignedString(r.cas())));
        } else {
          add(flags, loud == SET ? "MS" : loud == ADD ? "ME" : "MR");
        }
      }
      case APPEND, PREPEND -> {
        command = Command.MS;
        add(flags, "c", loud == APPEND ? "MA" : "MP");
        if (r.cas() != 0) {
          flags.add(token('C', Long.toUnsignedString(r.cas())));
        }
      }
      case DELETE -> {
        command = Command.MD;
        if (r.cas() != 0) {
          flags.add(token('C', Long.toUnsignedString(r.cas())));
        }
      }
      case INCREMENT, DECREMENT -> {
        command = Command.MA;
        add(flags, "v", "c", loud == INCREMENT ? "MI" : "MD");
        flags.add(token('D', Long.toUnsignedString(r.delta())));
        if (r.exptime() != NO_AUTOVIVIFY) {
          flags.add(token('N', exptime(r.exptime())));
          flags.add(token('J', Long.toUnsignedString(r.initial())));
        }
        if (r.cas() != 0) {
          flags.add(token('C', Long.toUnsignedString(r.cas())));
        }
      }
      default -> throw new IllegalArgumentException("opcode " + r.opcode() + " has no meta form");
    }
    ByteBuf value = r.value();
    if (command == Command.MS && value == null) {
      value = Unpooled.EMPTY_BUFFER;
    }
    try {
      return MetaRequest.of(command, r.key(), needsBase64(r.key()), flags, value);
    } catch (IllegalArgumentException e) {
      if (value != null) {
        value.release();
      }
      throw e;
    }
  }

  /**
   * The packet memcached would answer to {@code r} given the meta response {@code m}, or null when
   * memcached would stay silent (a quiet request that succeeded, a quiet get that missed). A hit's
   * packet holds a retained slice of {@code m}'s frame, which the caller still releases itself.
   */
  public static ByteBuf fromMeta(BinaryRequest r, MetaResponse m, ByteBufAllocator alloc) {
    int op = r.opcode();
    int opaque = r.opaque();
    int loud = r.loudOpcode();
    MetaResponse.Status s = m.status();
    if (s.isError()) {
      return Unpooled.wrappedBuffer(errorFor(r, m));
    }
    switch (loud) {
      case GET, GETK, GAT, GATK, TOUCH -> {
        if (s == MetaResponse.Status.EN) {
          if (r.quiet()) {
            return null;
          }
          return Unpooled.wrappedBuffer(
              BinaryResponses.miss(op, opaque, loud == GETK || loud == GATK ? r.key() : null));
        }
        if ((s != MetaResponse.Status.VA || loud == TOUCH)
            && (s != MetaResponse.Status.HD || loud != TOUCH)) {
          return unexpected(r, m);
        }
        int keyLength = loud == GETK || loud == GATK ? r.key().length : 0;
        ByteBuf value = m.value();
        int valueLength = value == null ? 0 : value.readableBytes();
        ByteBuf head = alloc.buffer(HEADER_BYTES + 4 + keyLength);
        BinaryResponses.getHitHeader(
            head,
            op,
            opaque,
            m.numericFlag('c', 0),
            (int) m.numericFlag('f', 0),
            keyLength,
            valueLength);
        if (keyLength > 0) {
          head.writeBytes(r.key());
        }
        if (valueLength == 0) {
          return head;
        }
        // The value stays where the upstream read put it; the caller decides whether to copy.
        return alloc.compositeBuffer(2).addComponents(true, head, value.retainedSlice());
      }
      case SET, ADD, REPLACE, APPEND, PREPEND -> {
        return switch (s) {
          case HD ->
              r.quiet()
                  ? null
                  : Unpooled.wrappedBuffer(
                      BinaryResponses.empty(op, opaque, m.numericFlag('c', 0)));
          case NS -> error(op, opaque, notStored(r));
          case EX -> error(op, opaque, KEY_EEXISTS);
          case NF -> error(op, opaque, KEY_ENOENT);
          default -> unexpected(r, m);
        };
      }
      case DELETE -> {
        return switch (s) {
          case HD ->
              r.quiet() ? null : Unpooled.wrappedBuffer(BinaryResponses.empty(op, opaque, 0));
          case NF -> error(op, opaque, KEY_ENOENT);
          case EX -> error(op, opaque, KEY_EEXISTS);
          default -> unexpected(r, m);
        };
      }
      case INCREMENT, DECREMENT -> {
        return switch (s) {
          case VA ->
              r.quiet()
                  ? null
                  : Unpooled.wrappedBuffer(
                      BinaryResponses.counter(
                          op, opaque, m.numericFlag('c', 0), number(m.value())));
          case NF -> error(op, opaque, KEY_ENOENT);
          case EX -> error(op, opaque, KEY_EEXISTS);
          case NS -> error(op, opaque, NOT_STORED);
          default -> unexpected(r, m);
        };
      }
      default -> {
        return unexpected(r, m);
      }
    }
  }

  /** The status memcached answers when a store finds its condition unmet. */
  private static int notStored(BinaryRequest r) {
    if (r.cas() != 0) {
      return NOT_STORED;
    }
    return switch (r.loudOpcode()) {
      case ADD -> KEY_EEXISTS;
      case REPLACE -> KEY_ENOENT;
      default -> NOT_STORED;
    };
  }

  /** The binary error for an upstream error line, as memcached's binary path reports the cause. */
  private static byte[] errorFor(BinaryRequest r, MetaResponse m) {
    String message = m.errorMessage() == null ? "" : m.errorMessage();
    if (m.status() == MetaResponse.Status.SERVER_ERROR) {
      if (message.startsWith("object too large")) {
        return BinaryResponses.error(r.opcode(), r.opaque(), E2BIG);
      }
      if (message.startsWith("out of memory")) {
        return BinaryResponses.error(r.opcode(), r.opaque(), ENOMEM);
      }
    }
    if (m.status() == MetaResponse.Status.CLIENT_ERROR
        && message.startsWith("cannot increment or decrement non-numeric value")) {
      return BinaryResponses.error(r.opcode(), r.opaque(), DELTA_BADVAL);
    }
    return failure(r.opcode(), r.opaque(), m.status() + " " + message);
  }

  /**
   * mcmux's answer when no answer could be had from upstream: the protocol's "temporary failure"
   * status with the reason as text, which memcached itself never sends.
   */
  public static byte[] failure(int opcode, int opaque, String reason) {
    byte[] text = reason.strip().getBytes(StandardCharsets.US_ASCII);
    return BinaryResponses.withStatus(opcode, opaque, TEMPORARY_FAILURE, text);
  }

  private static ByteBuf unexpected(BinaryRequest r, MetaResponse m) {
    return Unpooled.wrappedBuffer(
        failure(r.opcode(), r.opaque(), "unexpected upstream answer " + m.status()));
  }

  private static ByteBuf error(int opcode, int opaque, int status) {
    return Unpooled.wrappedBuffer(BinaryResponses.error(opcode, opaque, status));
  }

  private static long number(ByteBuf value) {
    if (value == null || !value.isReadable()) {
      return 0;
    }
    return Long.parseUnsignedLong(value.toString(StandardCharsets.US_ASCII));
  }

  /**
   * The binary exptime as a meta TTL token. Binary exptimes are unsigned; meta reads a signed
   * 32-bit number, so times past 2038 become the latest time meta can express.
   */
  private static String exptime(int exptime) {
    return exptime < 0 ? Integer.toString(Integer.MAX_VALUE) : Integer.toString(exptime);
  }

  /** Keys with bytes that end a meta token travel base64-encoded. */
  public static boolean needsBase64(byte[] key) {
    for (byte b : key) {
      if (b == ' ' || b == '\r' || b == '\n' || b == 0) {
        return true;
      }
    }
    return false;
  }

  private static void add(List<byte[]> flags, String... tokens) {
    for (String t : tokens) {
      flags.add(t.getBytes(StandardCharsets.US_ASCII));
    }
  }

  private static byte[] token(char letter, String value) {
    return (letter + value).getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * Turns an ASCII {@code STAT name value ... END} answer into memcached's binary stat answer: one
   * packet per statistic (name as key, value as body), then an empty packet. An error line becomes
   * mcmux's failure packet.
   */
  public static ByteBuf statPackets(ByteBuf text, int opcode, int opaque, ByteBufAllocator alloc) {
    int pos = text.readerIndex();
    int end = text.writerIndex();
    ByteBuf out = alloc.buffer(text.readableBytes() * 2 + HEADER_BYTES);
    while (pos < end) {
      int lf = text.indexOf(pos, end, (byte) '\n');
      if (lf < 0) {
        break;
      }
      int lineEnd = lf > pos && text.getByte(lf - 1) == '\r' ? lf - 1 : lf;
      int lineLen = lineEnd - pos;
      if (lineLen == 3 && text.getByte(pos) == 'E' && text.getByte(pos + 1) == 'N') {
        BinaryResponses.header(out, opcode, SUCCESS, 0, 0, 0, opaque, 0);
        return out;
      }
      if (lineLen < 5 || !AsciiResponseFramer.startsWith(text, pos, lineLen, STAT_PREFIX)) {
        out.release();
        return Unpooled.wrappedBuffer(
            failure(opcode, opaque, text.toString(pos, lineLen, StandardCharsets.US_ASCII)));
      }
      int nameAt = pos + STAT_PREFIX.length;
      int sp = text.indexOf(nameAt, lineEnd, (byte) ' ');
      int nameEnd = sp < 0 ? lineEnd : sp;
      int valueAt = sp < 0 ? lineEnd : sp + 1;
      int nameLength = nameEnd - nameAt;
      int valueLength = lineEnd - valueAt;
      BinaryResponses.header(
          out, opcode, SUCCESS, 0, nameLength, nameLength + valueLength, opaque, 0);
      out.writeBytes(text, nameAt, nameLength);
      out.writeBytes(text, valueAt, valueLength);
      pos = lf + 1;
    }
    out.release();
    return Unpooled.wrappedBuffer(failure(opcode, opaque, "incomplete stats answer"));
  }

  private static final byte[] STAT_PREFIX = {'S', 'T', 'A', 'T', ' '};
}
