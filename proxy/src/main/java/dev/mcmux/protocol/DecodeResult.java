package dev.mcmux.protocol;

/**
 * What the client request decoder made of the bytes at the head of a client's input.
 *
 * <p>Each result except {@link NeedMore} consumed bytes from the input buffer.
 */
public sealed interface DecodeResult {

  /**
   * Not enough bytes yet for a complete request or a complete error; nothing was consumed, except
   * bytes of a rejected data block that the decoder was discarding.
   */
  record NeedMore() implements DecodeResult {}

  /** A complete, valid request to route (or, for version/verbosity/quit, to answer locally). */
  record Request(AsciiRequest request) implements DecodeResult {}

  /**
   * A valid meta request ({@code mg ms md ma me}, or {@code mn}, which mcmux answers itself).
   *
   * <p>{@code replyInstead} is non-null only for an {@code ms} whose value is over the size limit:
   * {@code request} is then the {@code md} memcached runs in that case (it unlinks the key so no
   * stale value survives); the caller sends it upstream, discards its answer, and sends {@code
   * replyInstead} in this slot.
   *
   * @param request the request; the holder must release it (the value of an {@code ms})
   * @param replyInstead the reply to send instead of upstream's answer, or null
   */
  record Meta(MetaRequest request, byte[] replyInstead) implements DecodeResult {}

  /**
   * A reply mcmux sends itself in this request's place in the client's order (e.g. {@code
   * ERROR\r\n}, {@code CLIENT_ERROR bad data chunk\r\n}); the connection stays open. {@code reply}
   * is empty when memcached would say nothing (e.g. an error it suppresses for {@code noreply}).
   *
   * <p>{@code deleteFirst} is non-null only for a {@code set} whose value is over the size limit:
   * memcached then also unlinks the key so no stale value survives, so the caller must send this
   * {@code delete} upstream, discard whatever it answers, and only then let {@code reply} out in
   * this slot. A caller that ignores it still answers correctly but may leave a stale value.
   *
   * @param reply the bytes to send, possibly empty; a fresh array the caller may keep
   * @param deleteFirst a {@link Command#DELETE} request to run upstream first, or null
   */
  record LocalReply(byte[] reply, AsciiRequest deleteFirst) implements DecodeResult {

    /** A plain local reply with nothing to run upstream. */
    public LocalReply(byte[] reply) {
      this(reply, null);
    }
  }

  /**
   * memcached would close this connection here (e.g. a line over 2048 bytes that is not a get):
   * earlier answers go out, then the connection closes; {@code reply} (possibly empty) is written
   * last.
   */
  record Close(byte[] reply) implements DecodeResult {}

  /** The shared instance of {@link NeedMore}. */
  NeedMore NEED_MORE = new NeedMore();
}
