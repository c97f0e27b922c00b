package dev.mcmux.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.routing.ClusterView;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementFlavour;
import dev.mcmux.routing.PlacementNode;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.upstream.EmbeddedUpstreams;
import dev.mcmux.upstream.UpstreamNode;
import dev.mcmux.upstream.UpstreamPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A client session's meta requests against an upstream played by the test: what goes upstream
 * (tagged, without q), what the client gets back (its own opaque, quiet mode applied), and that a
 * response with the wrong tag closes the upstream connection instead of reaching a client.
 */
@ExtendWith(LeakDetection.class)
class MetaSessionTest {

  private EmbeddedChannel loop;
  private EmbeddedChannel upstream;
  private EmbeddedChannel client;

  @BeforeEach
  void setUp() {
    loop = new EmbeddedChannel();
    HostPort address = new HostPort("node0.test", 11211);
    UpstreamNode node = new UpstreamNode(address, UpstreamNode.DEFAULT_ITEM_SIZE_MAX, 3);
    ClusterView view =
        new ClusterView(
            List.of(node),
            KeyPlacement.create(
                PlacementFlavour.LIBMEMCACHED,
                List.of(new PlacementNode(address.host(), address.port()))),
            -1);
    UpstreamPool pool = EmbeddedUpstreams.pool(node, 1, loop.eventLoop());
    upstream = new EmbeddedChannel();
    EmbeddedUpstreams.connect(pool, 0, upstream);
    FrontendContext frontend =
        new FrontendContext(
            new Settings.Limits(10, 100, 8 << 20, 8 << 20, Duration.ofHours(1)),
            Settings.DownNodeKeys.MISS,
            ProxyMetrics.NOOP);
    client =
        new EmbeddedChannel(
            new ClientSession(frontend, new LoopContext(view, new UpstreamPool[] {pool})));
  }

  @AfterEach
  void tearDown() {
    client.finishAndReleaseAll();
    upstream.finishAndReleaseAll();
    loop.finishAndReleaseAll();
  }

  private void clientSends(String s) {
    client.writeInbound(Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1));
  }

  private String upstreamReceived() {
    upstream.runPendingTasks();
    StringBuilder sb = new StringBuilder();
    for (ByteBuf b; (b = upstream.readOutbound()) != null; ) {
      sb.append(b.toString(StandardCharsets.ISO_8859_1));
      b.release();
    }
    return sb.toString();
  }

  private void upstreamAnswers(String s) {
    upstream.writeInbound(Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1));
  }

  private String clientReceived() {
    client.runPendingTasks();
    StringBuilder sb = new StringBuilder();
    for (ByteBuf b; (b = client.readOutbound()) != null; ) {
      sb.append(b.toString(StandardCharsets.ISO_8859_1));
      b.release();
    }
    return sb.toString();
  }

  @Test
  void tagsGoUpstreamAndClientsGetTheirOwnOpaquesBack() {
    clientSends("mg k v O5 q\r\nmn\r\nmd k q\r\nms k 2 T0 Oab c\r\nhi\r\nmg k s v\r\nmn\r\n");
    assertEquals(
        "mg k v O1\r\nmd k O2\r\nms k 2 T0 O3 c\r\nhi\r\nmg k s v O4\r\n", upstreamReceived());
    upstreamAnswers("EN O1\r\nNF O2\r\nHD O3 c9\r\nVA 2 s2 O4\r\nhi\r\n");
    assertEquals("MN\r\nNF\r\nHD Oab c9\r\nVA 2 s2\r\nhi\r\nMN\r\n", clientReceived());
  }

  @Test
  void quietModeHidesPerCommandWhatMemcachedHides() {
    clientSends(
        "mg a q\r\nmg b q v\r\nms c 1 q\r\nx\r\nms d 1 q\r\nx\r\nmd e q\r\nma f q v\r\nmn\r\n");
    upstreamReceived();
    upstreamAnswers("EN O1\r\nVA 1 O2\r\ny\r\nHD O3\r\nNS O4\r\nNF O5\r\nVA 1 O6\r\n1\r\n");
    assertEquals("VA 1\r\ny\r\nNS\r\nNF\r\nMN\r\n", clientReceived());
  }

  @Test
  void aResponseWithAnotherTagClosesTheConnection() {
    clientSends("mg a v\r\nmg b v\r\n");
    assertEquals("mg a v O1\r\nmg b v O2\r\n", upstreamReceived());
    upstreamAnswers("EN O2\r\n");
    assertFalse(upstream.isOpen(), "the out-of-step connection stayed open");
    assertEquals(
        "SERVER_ERROR upstream connection lost\r\nSERVER_ERROR upstream connection lost\r\n",
        clientReceived());
  }

  @Test
  void aResponseWithoutItsTagClosesTheConnection() {
    clientSends("md a q\r\n");
    upstreamReceived();
    upstreamAnswers("HD\r\n");
    assertFalse(upstream.isOpen(), "the out-of-step connection stayed open");
    assertEquals("SERVER_ERROR upstream connection lost\r\n", clientReceived());
  }

  @Test
  void errorsCarryNoTagAndAreNeverQuiet() {
    clientSends("ma a q\r\nmg b q " + "O" + "x".repeat(40) + "\r\n");
    // An over-long opaque must reach memcached, which fails the mg only after running it; one
    // byte over the limit is enough.
    assertEquals("ma a O1\r\nmg b O" + "x".repeat(32) + "\r\n", upstreamReceived());
    upstreamAnswers(
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            + "CLIENT_ERROR opaque token too long\r\n");
    assertEquals(
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            + "CLIENT_ERROR opaque token too long\r\n",
        clientReceived());
  }
}
