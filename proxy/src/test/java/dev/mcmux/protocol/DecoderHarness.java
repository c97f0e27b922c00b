package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Feeds bytes to an {@link AsciiRequestDecoder} the way a Netty channel would, and describes what
 * came out as short, comparable strings.
 */
final class DecoderHarness {

  /** Value limit used by the tests, small so that too-large values stay cheap to split. */
  static final long MAX_VALUE = 1024;

  /** get/gets line limit used by the tests. */
  static final int MAX_GET_LINE = 8192;

  private DecoderHarness() {}

  static AsciiRequestDecoder decoder() {
    return new AsciiRequestDecoder(MAX_VALUE, MAX_GET_LINE);
  }

  static byte[] bytes(String latin1) {
    return latin1.getBytes(StandardCharsets.ISO_8859_1);
  }

  /** Decodes {@code input} delivered in one piece. */
  static List<String> decodeWhole(byte[] input) {
    return decodeChunks(List.of(input));
  }

  /** Decodes {@code input} delivered in two pieces, split before byte {@code at}. */
  static List<String> decodeSplit(byte[] input, int at) {
    byte[] a = new byte[at];
    byte[] b = new byte[input.length - at];
    System.arraycopy(input, 0, a, 0, at);
    System.arraycopy(input, at, b, 0, b.length);
    return decodeChunks(List.of(a, b));
  }

  /** Decodes {@code input} delivered one byte at a time. */
  static List<String> decodeBytewise(byte[] input) {
    List<byte[]> chunks = new ArrayList<>(input.length);
    for (byte b : input) {
      chunks.add(new byte[] {b});
    }
    return decodeChunks(chunks);
  }

  /**
   * Decodes the chunks in order, calling the decoder until it needs more after each chunk, and
   * describes the outcomes only at the end, so that every value slice must have stayed valid while
   * later input arrived. Stops at the first {@link DecodeResult.Close}. Checks that every buffer is
   * released exactly once.
   */
  static List<String> decodeChunks(List<byte[]> chunks) {
    AsciiRequestDecoder decoder = decoder();
    List<DecodeResult> results = new ArrayList<>();
    List<ByteBuf> cumulations = new ArrayList<>();
    ByteBuf cumulation = null;
    boolean closed = false;
    for (byte[] chunk : chunks) {
      if (cumulation == null) {
        cumulation = Unpooled.buffer(chunk.length);
        cumulations.add(cumulation);
      } else if (cumulation.refCnt() > 1) {
        // As Netty's merge cumulator does: never write into a buffer that value slices share.
        ByteBuf fresh = Unpooled.buffer(cumulation.readableBytes() + chunk.length);
        fresh.writeBytes(cumulation);
        cumulation.release();
        cumulation = fresh;
        cumulations.add(cumulation);
      }
      cumulation.writeBytes(chunk);
      while (true) {
        int before = cumulation.readerIndex();
        DecodeResult r = decoder.decode(cumulation);
        if (r instanceof DecodeResult.NeedMore) {
          break;
        }
        assertTrue(
            cumulation.readerIndex() > before, "a result other than NeedMore consumed nothing");
        results.add(r);
        if (r instanceof DecodeResult.Close) {
          closed = true;
          break;
        }
      }
      if (closed) {
        break;
      }
    }
    List<String> described = new ArrayList<>(results.size());
    for (DecodeResult r : results) {
      described.add(describe(r));
    }
    // A retained slice of an unpooled buffer shares its parent's count, so each release shows
    // up on the cumulation buffer that the value was sliced from.
    List<ByteBuf> values = new ArrayList<>();
    for (DecodeResult r : results) {
      if (r instanceof DecodeResult.Request req && req.request().data() != null) {
        values.add(req.request().data());
        req.request().release();
      }
      if (r instanceof DecodeResult.Meta meta && meta.request().value() != null) {
        values.add(meta.request().value());
        meta.request().release();
      }
    }
    if (cumulation != null) {
      assertEquals(1, cumulation.refCnt(), "a value slice was not released");
      cumulation.release();
    }
    for (ByteBuf b : cumulations) {
      assertEquals(0, b.refCnt(), "a cumulation buffer leaked");
    }
    for (ByteBuf v : values) {
      assertEquals(0, v.refCnt(), "a value outlived its buffer");
    }
    return described;
  }

  /** A short text form of a result, written independently of {@link AsciiRequestEncoder}. */
  static String describe(DecodeResult r) {
    if (r instanceof DecodeResult.Request req) {
      return "REQ " + describe(req.request());
    } else if (r instanceof DecodeResult.LocalReply reply) {
      String text = reply.reply().length == 0 ? "SILENT" : "REPLY " + replyText(reply.reply());
      if (reply.deleteFirst() != null) {
        text += " after " + describe(reply.deleteFirst());
      }
      return text;
    } else if (r instanceof DecodeResult.Close close) {
      return close.reply().length == 0 ? "CLOSE" : "CLOSE " + replyText(close.reply());
    } else if (r instanceof DecodeResult.Meta meta) {
      return describe(meta);
    }
    fail("unexpected result " + r);
    return null;
  }

  /**
   * {@code META <upstream line as written with tag 7>} then {@code q}, the client's opaque, the
   * routing key when it differs from the wire key, the value, and a reply sent instead.
   */
  static String describe(DecodeResult.Meta m) {
    MetaRequest r = m.request();
    if (r.command() == Command.MN) {
      return "META mn";
    }
    io.netty.buffer.ByteBuf line = Unpooled.buffer();
    r.writeLine(7, line);
    byte[] bytes = new byte[line.readableBytes() - 2];
    line.readBytes(bytes);
    StringBuilder sb = new StringBuilder("META ").append(escape(bytes, true));
    if (!r.tagged()) {
      sb.append(" untagged");
    }
    if (r.quiet()) {
      sb.append(" quiet");
    }
    if (r.opaque() != null) {
      sb.append(" opaque=").append(escape(r.opaque()));
    }
    if (!java.util.Arrays.equals(r.routingKey(), r.wireKey())) {
      sb.append(" routing=").append(escape(r.routingKey()));
    }
    if (r.value() != null) {
      byte[] value = new byte[r.value().readableBytes()];
      r.value().getBytes(r.value().readerIndex(), value);
      sb.append(" data=").append(escape(value));
    }
    if (m.replyInstead() != null) {
      sb.append(" then REPLY ").append(replyText(m.replyInstead()));
    }
    return sb.toString();
  }

  static String describe(AsciiRequest r) {
    StringBuilder sb =
        new StringBuilder(new String(r.command().wireName(), StandardCharsets.UTF_8));
    switch (r.command()) {
      case GAT, GATS -> sb.append(' ').append(r.exptime()).append(keys(r));
      case GET, GETS, DELETE -> sb.append(keys(r));
      case SET, ADD, REPLACE, APPEND, PREPEND, CAS -> {
        sb.append(keys(r))
            .append(' ')
            .append(Integer.toUnsignedString(r.flags()))
            .append(' ')
            .append(r.exptime())
            .append(' ')
            .append(r.data().readableBytes());
        if (r.command() == Command.CAS) {
          sb.append(' ').append(Long.toUnsignedString(r.cas()));
        }
        byte[] value = new byte[r.data().readableBytes()];
        r.data().getBytes(r.data().readerIndex(), value);
        sb.append(" data=").append(escape(value));
      }
      case INCR, DECR -> sb.append(keys(r)).append(' ').append(Long.toUnsignedString(r.delta()));
      case TOUCH -> sb.append(keys(r)).append(' ').append(r.exptime());
      case FLUSH_ALL -> {
        if (r.hasDelay()) {
          sb.append(' ').append(r.exptime());
        }
      }
      case STATS -> {
        if (r.arguments() != null) {
          sb.append(" [").append(escape(r.arguments())).append(']');
        }
      }
      case VERSION, VERBOSITY, QUIT -> {}
    }
    if (r.noreply()) {
      sb.append(" noreply");
    }
    return sb.toString();
  }

  private static String keys(AsciiRequest r) {
    StringBuilder sb = new StringBuilder();
    for (byte[] k : r.keys()) {
      sb.append(' ').append(escape(k));
    }
    return sb.toString();
  }

  private static String replyText(byte[] reply) {
    String s = new String(reply, StandardCharsets.ISO_8859_1);
    return s.endsWith("\r\n")
        ? escape(bytes(s.substring(0, s.length() - 2)), true)
        : escape(reply, true) + " (no CRLF)";
  }

  /** Printable ASCII as is, everything else (and space and backslash) as {@code \xNN}. */
  static String escape(byte[] b) {
    return escape(b, false);
  }

  private static String escape(byte[] b, boolean keepSpace) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      int c = x & 0xFF;
      if ((c > ' ' || (keepSpace && c == ' ')) && c < 0x7F && c != '\\') {
        sb.append((char) c);
      } else {
        sb.append(String.format("\\x%02x", c));
      }
    }
    return sb.toString();
  }
}
