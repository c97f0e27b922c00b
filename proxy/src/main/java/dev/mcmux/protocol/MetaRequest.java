package dev.mcmux.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One validated meta request ({@code mg ms md ma me}) in the form mcmux sends upstream: the
 * client's flags re-emitted in their order, without {@code q} and without the client's opaque,
 * which mcmux replaces with its own sequence tag (DESIGN.md invariants 1 and 2).
 *
 * <p>Build one with {@link #of} (for requests mcmux makes from another protocol) or get one from
 * {@link AsciiRequestDecoder}. The value of an {@code ms} is a retained buffer: whoever holds the
 * request must {@link #release()} it, or hand it to {@code UpstreamConnection.writeMeta}, which
 * takes it over.
 */
public final class MetaRequest {

  /** memcached's {@code MFLAG_MAX_OPAQUE_LENGTH}: a longer opaque token is an error. */
  public static final int MAX_OPAQUE_BYTES = 32;

  /** memcached reads at most this many tokens of a meta line, the command and key included. */
  public static final int MAX_TOKENS = 19;

  private static final byte[] CRLF = {'\r', '\n'};

  private final Command command;
  private final byte[] wireKey;
  private final byte[] routingKey;
  private final boolean base64;
  private final byte[][] flags;
  private final int opaqueIndex;
  private final byte[] opaque;
  private final boolean quiet;
  private final boolean tagged;
  private final int valueLength;
  private ByteBuf value;

  MetaRequest(
      Command command,
      byte[] wireKey,
      byte[] routingKey,
      boolean base64,
      byte[][] flags,
      int opaqueIndex,
      byte[] opaque,
      boolean quiet,
      boolean tagged,
      ByteBuf value) {
    this.command = command;
    this.wireKey = wireKey;
    this.routingKey = routingKey;
    this.base64 = base64;
    this.flags = flags;
    this.opaqueIndex = opaqueIndex;
    this.opaque = opaque;
    this.quiet = quiet;
    this.tagged = tagged;
    this.value = value;
    this.valueLength = value == null ? -1 : value.readableBytes();
  }

  /**
   * A request to send upstream, tagged by the connection that writes it; for callers that translate
   * another protocol into meta commands.
   *
   * @param command {@link Command#MG}, {@link Command#MS}, {@link Command#MD} or {@link Command#MA}
   * @param key the key's bytes (decoded, any bytes when {@code base64})
   * @param base64 send the key base64-encoded with the {@code b} flag (needed for keys with spaces,
   *     control bytes or non-ASCII bytes)
   * @param flags flag tokens as memcached reads them, e.g. {@code v}, {@code f}, {@code T30},
   *     {@code MS}, {@code C123}; never {@code b}, {@code q} or {@code O} (mcmux adds its own
   *     opaque; do quiet-mode suppression yourself); at most 16 (17 for other than {@code ms})
   * @param value for {@code ms} the value without CRLF, whose reference passes to the request;
   *     otherwise null
   * @throws IllegalArgumentException if any part could not be sent as is
   */
  public static MetaRequest of(
      Command command, byte[] key, boolean base64, List<byte[]> flags, ByteBuf value) {
    if (command != Command.MG
        && command != Command.MS
        && command != Command.MD
        && command != Command.MA) {
      throw new IllegalArgumentException(command + " is not a forwardable meta command");
    }
    if ((command == Command.MS) != (value != null)) {
      throw new IllegalArgumentException("a value goes with ms and only with ms");
    }
    byte[] wire = base64 ? MetaKeys.encode(key) : key;
    if (wire.length == 0 || wire.length > AsciiRequestDecoder.MAX_KEY_BYTES) {
      throw new IllegalArgumentException("key of " + key.length + " bytes cannot be sent");
    }
    if (!base64) {
      checkToken(key, "key");
    }
    int tokens = 2 + (command == Command.MS ? 1 : 0) + (base64 ? 1 : 0) + flags.size() + 1;
    if (tokens > MAX_TOKENS) {
      throw new IllegalArgumentException("too many flags: " + flags.size());
    }
    byte[][] copy = new byte[flags.size()][];
    boolean[] seen = new boolean[128];
    for (int i = 0; i < copy.length; i++) {
      byte[] f = flags.get(i);
      checkToken(f, "flag");
      int letter = f[0];
      if (letter == 'b' || letter == 'q' || letter == 'O' || letter < 0 || seen[letter]) {
        throw new IllegalArgumentException("flag not allowed here: " + (char) letter);
      }
      seen[letter] = true;
      copy[i] = f.clone();
    }
    return new MetaRequest(
        command, wire, key.clone(), base64, copy, copy.length, null, false, true, value);
  }

  private static void checkToken(byte[] token, String what) {
    if (token.length == 0) {
      throw new IllegalArgumentException("empty " + what);
    }
    for (byte b : token) {
      if (b == ' ' || b == '\r' || b == '\n' || b == 0) {
        throw new IllegalArgumentException(what + " contains a separator byte");
      }
    }
  }

  /** The command: {@code mg ms md ma} or {@code me}. */
  public Command command() {
    return command;
  }

  /** The bytes the key is placed by: decoded when the client sent it base64-encoded. */
  public byte[] routingKey() {
    return routingKey;
  }

  /** The key as written upstream (canonical base64 when {@link #base64()}). */
  public byte[] wireKey() {
    return wireKey;
  }

  /** Whether the key travels base64-encoded with the {@code b} flag. */
  public boolean base64() {
    return base64;
  }

  /** Whether the client asked for quiet mode ({@code q}); upstream always answers. */
  public boolean quiet() {
    return quiet;
  }

  /**
   * The client's opaque token, {@code O} included, to give back in place of mcmux's tag; null when
   * the client sent none.
   */
  public byte[] opaque() {
    return opaque;
  }

  /**
   * Whether mcmux's sequence tag goes upstream with this request. Not for {@code me} (it echoes no
   * opaque), nor where memcached must see the client's own over-long opaque to fail as it would,
   * nor when the client used every token memcached reads.
   */
  public boolean tagged() {
    return tagged;
  }

  /**
   * The value of an {@code ms}, without its CRLF; null for other commands and once {@link
   * #takeValue()} took it.
   */
  public ByteBuf value() {
    return value;
  }

  /** Hands the value's reference to the caller; {@link #release()} then leaves it alone. */
  public ByteBuf takeValue() {
    ByteBuf v = value;
    value = null;
    return v;
  }

  /** The flag tokens re-emitted upstream, in the client's order (no {@code b q O}). */
  public int flagCount() {
    return flags.length;
  }

  /** One flag token; do not modify. */
  public byte[] flag(int i) {
    return flags[i];
  }

  /**
   * The same request with every expiry it sets ({@code T<ttl>}, and {@code N<ttl>} of an item it
   * creates) passed through {@code map}, e.g. to cap the TTL of a write that failover sent to
   * another node; this request itself is unchanged and keeps its value, which the copy shares.
   */
  public MetaRequest withExptimes(java.util.function.IntUnaryOperator map) {
    byte[][] mapped = flags.clone();
    for (int i = 0; i < mapped.length; i++) {
      byte[] f = mapped[i];
      if (f[0] == 'T' || f[0] == 'N') {
        int exptime = Integer.parseInt(new String(f, 1, f.length - 1, StandardCharsets.US_ASCII));
        mapped[i] =
            (((char) f[0]) + Integer.toString(map.applyAsInt(exptime)))
                .getBytes(StandardCharsets.US_ASCII);
      }
    }
    return new MetaRequest(
        command, wireKey, routingKey, base64, mapped, opaqueIndex, opaque, quiet, tagged, value);
  }

  /**
   * The request as failover sends it to another node: every expiry passed through {@code cap}, and
   * an {@code ms} without {@code T} (which would store the item forever) given {@code T<cap(0)>}.
   * Null when that extra token would not fit the tokens memcached reads; the caller then does not
   * redirect.
   */
  public MetaRequest withExpiryCap(java.util.function.IntUnaryOperator cap) {
    MetaRequest capped = withExptimes(cap);
    if (command != Command.MS) {
      return capped;
    }
    for (byte[] f : flags) {
      if (f[0] == 'T') {
        return capped;
      }
    }
    int upstreamTokens = 3 + (base64 ? 1 : 0) + flags.length + (tagged ? 1 : 0);
    if (upstreamTokens + 1 > MAX_TOKENS) {
      return null;
    }
    byte[][] more = java.util.Arrays.copyOf(capped.flags, flags.length + 1);
    more[flags.length] = ("T" + cap.applyAsInt(0)).getBytes(StandardCharsets.US_ASCII);
    // The client's opaque keeps its place among the flags; T answers nothing, so its place is free.
    return new MetaRequest(
        command, wireKey, routingKey, base64, more, opaqueIndex, opaque, quiet, tagged, value);
  }

  /** An upper bound of {@link #writeLine}'s output, for sizing the buffer. */
  public int lineLengthBound() {
    int n = 2 + 1 + wireKey.length + 12 + 2 + 2 + 22 + 2;
    for (byte[] f : flags) {
      n += 1 + f.length;
    }
    if (opaque != null) {
      n += 1 + Math.min(opaque.length, MAX_OPAQUE_BYTES + 1);
    }
    return n;
  }

  /**
   * Writes the upstream line, CRLF included; for {@code ms} only the line: the value and its CRLF
   * follow it.
   *
   * @param tag mcmux's opaque for this request, positive; ignored unless {@link #tagged()}
   */
  public void writeLine(long tag, ByteBuf out) {
    out.writeBytes(command.wireNameShared());
    out.writeByte(' ');
    out.writeBytes(wireKey);
    if (command == Command.MS) {
      out.writeByte(' ');
      AsciiRequestEncoder.writeUnsigned(valueLength, out);
    }
    if (base64) {
      out.writeByte(' ');
      out.writeByte('b');
    }
    for (int i = 0; i <= flags.length; i++) {
      if (i == opaqueIndex) {
        if (tagged) {
          out.writeByte(' ');
          out.writeByte('O');
          AsciiRequestEncoder.writeUnsigned(tag, out);
        } else if (opaque != null && command != Command.ME) {
          // memcached must see an over-long opaque itself (it fails only after the command ran);
          // one byte over its limit does that and keeps the line short.
          out.writeByte(' ');
          out.writeBytes(opaque, 0, Math.min(opaque.length, MAX_OPAQUE_BYTES + 1));
        }
      }
      if (i < flags.length) {
        out.writeByte(' ');
        out.writeBytes(flags[i]);
      }
    }
    out.writeBytes(CRLF);
  }

  /** Releases the value of an {@code ms}; a no-op for other commands. */
  public void release() {
    ByteBuf v = takeValue();
    if (v != null) {
      v.release();
    }
  }
}
