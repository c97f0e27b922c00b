package dev.mcmux.upstream;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslHandler;

/** Makes the client-side {@link SslHandler} of each new upstream connection from one context. */
@FunctionalInterface
public interface SslHandlerFactory {
  /**
   * A handler that sends SNI for and verifies the certificate against {@code host}, and can resume
   * the TLS session of an earlier connection to {@code host:port}.
   */
  SslHandler newHandler(ByteBufAllocator alloc, String host, int port);
}
