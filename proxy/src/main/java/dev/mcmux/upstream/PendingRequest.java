package dev.mcmux.upstream;

import dev.mcmux.protocol.ResponseShape;
import io.netty.buffer.ByteBuf;

/**
 * One request written to an upstream connection and waiting, in that connection's FIFO, for the
 * single response frame it expects.
 *
 * <p>Exactly one of {@link #onResponse} or {@link #onFailure} is called, once, on the event loop of
 * the connection. Instances are never pooled: a recycled pending request is how a late response
 * reaches the wrong client.
 */
public abstract class PendingRequest {

  private final ResponseShape shape;
  long writtenAtNanos;
  UpstreamConnection connection;

  /** mcmux's opaque on a tagged meta request, which its response must echo; 0 for none. */
  long metaTag;

  protected PendingRequest(ResponseShape shape) {
    this.shape = shape;
  }

  /** The response shape the framer must expect for this request. */
  public final ResponseShape shape() {
    return shape;
  }

  /** The connection this request was written to, or null before it was written. */
  public final UpstreamConnection connection() {
    return connection;
  }

  /** The sequence tag a meta request was written with ({@code O<tag>}), or 0 when untagged. */
  public final long metaTag() {
    return metaTag;
  }

  /**
   * Receives the complete response frame; the callee owns {@code frame} and must release it.
   *
   * @param frame exactly the bytes of the response, framed and validated
   */
  protected abstract void onResponse(ByteBuf frame);

  /**
   * The request will get no response (connection lost, timed out, never sent).
   *
   * @param errorLine a complete memcached error line, e.g. {@code SERVER_ERROR ...\r\n}
   */
  protected abstract void onFailure(String errorLine);
}
