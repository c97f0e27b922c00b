package dev.mcmux.protocol;

/**
 * What the binary request decoder made of the bytes at the head of a client's input.
 *
 * <p>Each result except {@link NeedMore} consumed bytes from the input buffer.
 */
public sealed interface BinaryDecodeResult {

  /** Not enough bytes yet; nothing was consumed except bytes memcached would swallow. */
  record NeedMore() implements BinaryDecodeResult {}

  /** A complete, valid request to translate upstream or to answer locally. */
  record Request(BinaryRequest request) implements BinaryDecodeResult {}

  /**
   * A response packet mcmux sends itself in this request's place; the connection stays open.
   *
   * <p>{@code deleteKeyFirst} is non-null only for a {@code set} whose value is over the size
   * limit: memcached then also unlinks the key, so the caller deletes it upstream before the reply
   * goes out.
   *
   * @param reply a complete response packet
   * @param deleteKeyFirst the key to delete upstream first, or null
   */
  record LocalReply(byte[] reply, byte[] deleteKeyFirst) implements BinaryDecodeResult {}

  /**
   * memcached closes the connection here: earlier answers go out, then {@code reply} (possibly
   * empty), then the connection closes.
   */
  record Close(byte[] reply) implements BinaryDecodeResult {}

  /** The shared instance of {@link NeedMore}. */
  NeedMore NEED_MORE = new NeedMore();
}
