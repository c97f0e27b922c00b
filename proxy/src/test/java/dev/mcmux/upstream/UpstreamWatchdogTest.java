package dev.mcmux.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.HostPort;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The request-timeout watchdog of an {@link UpstreamConnection} measures the node's silence, not
 * the event loop's: time the loop spent busy elsewhere, while the answer may already wait in the
 * socket, never closes a healthy connection.
 */
@ExtendWith(LeakDetection.class)
class UpstreamWatchdogTest {
  private static final Duration TIMEOUT = Duration.ofMillis(200);
  private static final Duration LONG = Duration.ofHours(1);

  private final EmbeddedChannel channel = new EmbeddedChannel();
  private final UpstreamConnection connection = connectionWithWatchdog();

  @AfterEach
  void close() {
    channel.finishAndReleaseAll();
  }

  private UpstreamConnection connectionWithWatchdog() {
    UpstreamNode node = new UpstreamNode(new HostPort("localhost", 11211), 1 << 20, 3);
    UpstreamPool pool = EmbeddedUpstreams.pool(node, 1, channel.eventLoop());
    UpstreamConnection conn =
        new UpstreamConnection(
            channel,
            pool,
            ProxyMetrics.NOOP,
            "watchdog-test",
            TIMEOUT.toNanos(),
            LONG.toNanos(),
            LONG.toNanos(),
            1 << 20);
    channel.pipeline().addLast("upstream", conn);
    conn.startWatchdog();
    return conn;
  }

  @Test
  void answerWaitingBehindAStalledLoopIsDeliveredNotTimedOut() {
    Request request = send();
    // The event loop is busy elsewhere for longer than the request timeout (10,000 clients
    // speaking at once did this): the watchdog's next run comes late, and before the read.
    LockSupport.parkNanos(TIMEOUT.multipliedBy(3).toNanos());
    channel.runScheduledPendingTasks();
    assertTrue(connection.isUsable(), "the connection survived the loop's stall");

    channel.writeInbound(Unpooled.copiedBuffer("END\r\n", StandardCharsets.US_ASCII));
    assertNull(request.failure, "failed with " + request.failure);
    assertEquals("END\r\n", request.response);
  }

  @Test
  void silentNodeStillTimesOutWhileTheLoopRunsOnTime() {
    Request request = send();
    long started = System.nanoTime();
    Await.until(
        "the request to fail with the timeout",
        Duration.ofSeconds(10),
        () -> {
          channel.runScheduledPendingTasks();
          return request.failure != null;
        });
    long waitedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertTrue(request.failure.startsWith("SERVER_ERROR"), request.failure);
    assertTrue(waitedMillis >= TIMEOUT.toMillis(), "timed out after " + waitedMillis + " ms");
    assertFalse(connection.isUsable(), "the silent connection is closed");
  }

  private Request send() {
    Request request = new Request();
    connection.write(Unpooled.copiedBuffer("get k\r\n", StandardCharsets.US_ASCII), request, false);
    channel.runPendingTasks();
    ByteBuf written = channel.readOutbound();
    written.release();
    return request;
  }

  /** Records what the connection delivered to it. */
  private static final class Request extends PendingRequest {
    String response;
    String failure;

    Request() {
      super(ResponseShape.RETRIEVAL);
    }

    @Override
    protected void onResponse(ByteBuf frame) {
      response = frame.toString(StandardCharsets.US_ASCII);
      frame.release();
    }

    @Override
    protected void onFailure(String errorLine) {
      failure = errorLine;
    }
  }
}
