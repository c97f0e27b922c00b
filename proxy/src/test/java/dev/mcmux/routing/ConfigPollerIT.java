package dev.mcmux.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.Settings;
import dev.mcmux.testing.Await;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.StandInConfigEndpoint;
import dev.mcmux.testing.TestPki;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.TlsContextFactory;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslHandler;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DnsAddressResolverGroup;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.SingletonDnsServerAddressStreamProvider;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ConfigPoller} against a TLS stand-in for the ElastiCache configuration endpoint, through
 * Netty's DNS resolver (with {@code *.cluster.test} pointing at loopback) and mcmux's own TLS
 * context, which verifies host names.
 */
@ExtendWith(LeakDetection.class)
class ConfigPollerIT {
  private static final Duration INTERVAL = Duration.ofMillis(200);
  // Generous: a timeout on a busy build machine would reconnect and break "one connection".
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(2);
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final int CONFIRMATIONS = 3;
  private static final String ENDPOINT_HOST = "cfg.cluster.test";

  private static final String NODE_1 = "0001-001.cluster.test|10.0.0.1|11211";
  private static final String NODE_2 = "0002-001.cluster.test|10.0.0.2|11211";
  private static final String NODE_3 = "0003-001.cluster.test|10.0.0.3|11211";
  private static final String NEW_NODE_1 = "0001-001.cluster.test|10.1.0.1|11211";

  @TempDir static Path dir;
  static TestPki pki;
  static TlsContextFactory tls;
  static TlsContextFactory jdkTls;
  static NettyTransport transport;
  static EventLoopGroup group;
  static DnsAddressResolverGroup resolver;

  StandInConfigEndpoint endpoint;
  ConfigPoller poller;
  Recorder recorder;

  @BeforeAll
  static void setUp() {
    pki = TestPki.create(dir);
    tls = TlsContextFactory.create(tlsSettings(Settings.TlsEngine.AUTO));
    jdkTls = TlsContextFactory.create(tlsSettings(Settings.TlsEngine.JDK));
    transport = NettyTransport.select(Settings.Transport.AUTO);
    group = transport.newGroup(1, "poller-it");
    // The real non-blocking resolver; only the test names are answered from "hosts", and any
    // other name would be asked of a loopback server that is not there, never of the network.
    resolver =
        new DnsAddressResolverGroup(
            new DnsNameResolverBuilder()
                .datagramChannelType(transport.datagramChannel())
                .socketChannelType(transport.socketChannel())
                .hostsFileEntriesResolver(ConfigPollerIT::testHosts)
                .nameServerProvider(
                    new SingletonDnsServerAddressStreamProvider(
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), 53)))
                .queryTimeoutMillis(1_000));
  }

  private static Settings.Tls tlsSettings(Settings.TlsEngine engine) {
    return new Settings.Tls(
        Optional.of(pki.caFile()),
        Optional.empty(),
        Optional.empty(),
        Optional.empty(),
        Optional.empty(),
        true,
        Duration.ofSeconds(5),
        engine,
        List.of("TLSv1.3", "TLSv1.2"),
        List.of());
  }

  @AfterAll
  static void tearDown() {
    resolver.close();
    group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @BeforeEach
  void startEndpoint() {
    endpoint = StandInConfigEndpoint.start(pki.server(TestPki.Kind.WILDCARD));
    recorder = new Recorder(endpoint);
  }

  @AfterEach
  void stop() {
    if (poller != null) {
      poller.close();
    }
    endpoint.close();
  }

  private static InetAddress testHosts(String host, ResolvedAddressTypes types) {
    if (!host.endsWith(".cluster.test") && !host.endsWith(".elsewhere.test")) {
      return null;
    }
    try {
      return InetAddress.getByAddress(host, new byte[] {127, 0, 0, 1});
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  private ConfigPoller startPoller(String host) {
    poller =
        new ConfigPoller(
            new HostPort(host, endpoint.port()),
            group.next(),
            transport,
            resolver,
            tls::newHandler,
            new ConfigPoller.Options(
                INTERVAL,
                Duration.ofSeconds(2),
                REQUEST_TIMEOUT,
                Duration.ofMillis(20),
                Duration.ofMillis(200),
                CONFIRMATIONS),
            recorder);
    poller.start();
    return poller;
  }

  private void awaitVersions(Long... versions) {
    List<Long> expected = List.of(versions);
    Await.until(
        "configs " + expected + " delivered (so far " + recorder.versions() + ")",
        WAIT,
        () -> recorder.versions().equals(expected));
  }

  /** Returns once the endpoint got {@code n} requests: the answers to all but the last are in. */
  private void awaitRequests(int n) {
    Await.until("request " + n + " at the endpoint", WAIT, () -> endpoint.requests() >= n);
  }

  @Test
  void firstConfigIsDeliveredAtStartOnThePollersEventLoop() {
    endpoint.config(4, NODE_1, NODE_2);
    startPoller(ENDPOINT_HOST);
    awaitVersions(4L);

    ClusterConfig c = recorder.configs.get(0);
    assertEquals(List.of(NODE_1, NODE_2), c.nodes().stream().map(Object::toString).toList());
    assertEquals(4, poller.lastVersion());
    assertEquals(c, poller.lastConfig());
    assertEquals("", poller.lastError());
    assertEquals(List.of(), recorder.errors);
    assertTrue(recorder.onLoop, "the listener runs on the poller's event loop");
    assertEquals(1, endpoint.accepted(), "one persistent connection");

    poller.close();
    Await.until("the connection closed", WAIT, () -> endpoint.openConnections() == 0);
  }

  @Test
  void aVersionBumpWithAnAddedNodeIsDeliveredByTheNextPoll() {
    endpoint.config(1, NODE_1, NODE_2);
    startPoller(ENDPOINT_HOST);
    awaitVersions(1L);

    int before = endpoint.requests();
    endpoint.config(2, NODE_1, NODE_2, NODE_3);
    awaitVersions(1L, 2L);
    // The poll in flight when the config changed may still have seen the old one; the next saw
    // this one, so the change took at most one interval (plus that poll's round trip).
    int polls = recorder.requestsAtDelivery.get(1) - before;
    assertTrue(polls <= 2, "picked up by the next poll, not after " + polls);
    ClusterConfig c = recorder.configs.get(1);
    assertEquals(3, c.nodes().size());
    assertEquals(1, c.addedSince(recorder.configs.get(0)));
    assertEquals(0, c.removedSince(recorder.configs.get(0)));
    assertEquals(1, endpoint.accepted(), "polls share the persistent connection");
  }

  @Test
  void theSameVersionIsNotDeliveredAgain() {
    endpoint.config(3, NODE_1);
    startPoller(ENDPOINT_HOST);
    awaitVersions(3L);
    awaitRequests(endpoint.requests() + 4);
    assertEquals(List.of(3L), recorder.versions());
  }

  @Test
  void aLowerVersionIsIgnoredWhileItIsNotConfirmed() {
    endpoint.config(5, NODE_1, NODE_2);
    startPoller(ENDPOINT_HOST);
    awaitVersions(5L);

    // A node lagging behind a change answers an older config for a poll or two, then catches up.
    int before = endpoint.requests();
    for (int i = 0; i < CONFIRMATIONS - 1; i++) {
      endpoint.answerOnce(4, NODE_1);
    }
    // The same version with another node list is no more trustworthy than an older one.
    endpoint.answerOnce(5, NODE_1, NODE_3);
    awaitRequests(before + CONFIRMATIONS + 3);
    assertEquals(List.of(5L), recorder.versions());
    assertEquals(5, poller.lastVersion());
  }

  @Test
  void aRecreatedClusterCountingFromOneAgainIsAppliedAfterConsecutiveConfirmations() {
    endpoint.config(7, NODE_1, NODE_2, NODE_3);
    startPoller(ENDPOINT_HOST);
    awaitVersions(7L);

    int before = endpoint.requests();
    endpoint.config(1, NEW_NODE_1);
    awaitVersions(7L, 1L);
    int polls = recorder.requestsAtDelivery.get(1) - before;
    assertTrue(
        polls >= CONFIRMATIONS && polls <= CONFIRMATIONS + 1,
        "applied after " + CONFIRMATIONS + " answers, not at first sight nor later: " + polls);
    assertEquals(1, poller.lastVersion());
    assertEquals(List.of(NEW_NODE_1), nodesOf(recorder.configs.get(1)));

    // The new cluster's own changes are then followed as usual.
    endpoint.config(2, NEW_NODE_1, NODE_2);
    awaitVersions(7L, 1L, 2L);
  }

  @Test
  void anyOtherAnswerRestartsTheConfirmationCount() {
    endpoint.config(7, NODE_1, NODE_2);
    startPoller(ENDPOINT_HOST);
    awaitVersions(7L);

    int before = endpoint.requests();
    endpoint
        .answerOnce(1, NEW_NODE_1)
        .answerOnce(1, NEW_NODE_1)
        .answerOnce(7, NODE_1, NODE_2)
        .answerOnce(1, NEW_NODE_1)
        .answerOnce(1, NEW_NODE_1)
        .answerOnce(2, NEW_NODE_1)
        .answerOnce(1, NEW_NODE_1)
        .answerOnce(1, NEW_NODE_1);
    awaitRequests(before + 10);
    assertEquals(List.of(7L), recorder.versions(), "never three identical answers in a row");
  }

  @Test
  void anEndpointThatGoesAwayIsReportedAndFollowedAgainAfterItsRestart() {
    endpoint.config(1, NODE_1);
    startPoller(ENDPOINT_HOST);
    awaitVersions(1L);

    endpoint.stop();
    Await.until(
        "reconnects refused and reported",
        WAIT,
        () -> poller.lastError().startsWith("connect failed"));
    assertTrue(recorder.errors.size() >= 2, "connection loss and refusal: " + recorder.errors);
    assertEquals(1, poller.lastVersion(), "the applied config stays");

    endpoint.config(2, NODE_1, NODE_2);
    endpoint.restart();
    awaitVersions(1L, 2L);
    Await.until("the error cleared", WAIT, () -> poller.lastError().isEmpty());
    assertEquals(2, endpoint.accepted());
  }

  @Test
  void olderEnginesAreAskedWithTheLegacyGetAfterAnError() {
    endpoint.legacyOnly(true).config(3, NODE_1, NODE_2);
    startPoller(ENDPOINT_HOST);
    awaitVersions(3L);
    Await.until("more legacy polls", WAIT, () -> endpoint.legacyGets() >= 3);
    assertEquals(1, endpoint.configGets(), "the new command is tried once per connection");
    assertEquals(List.of(), recorder.errors, "an ERROR that leads to the fallback is no failure");
    assertEquals(List.of(NODE_1, NODE_2), nodesOf(recorder.configs.get(0)));

    endpoint.config(4, NODE_1);
    awaitVersions(3L, 4L);
  }

  @Test
  void anUnansweredPollTimesOutAndTheConnectionIsReplaced() {
    endpoint.config(1, NODE_1);
    startPoller(ENDPOINT_HOST);
    awaitVersions(1L);

    endpoint.mute(true);
    Await.until(
        "the timeout reported",
        WAIT,
        () -> recorder.errors.stream().anyMatch(e -> e.startsWith("no answer to 'config get")));
    endpoint.mute(false).config(2, NODE_1, NODE_2);
    awaitVersions(1L, 2L);
    assertTrue(endpoint.accepted() >= 2, "a new connection, since a late answer would desync");
  }

  @Test
  void aMalformedConfigIsReportedAndTheAppliedOneKept() {
    endpoint.config(1, NODE_1);
    startPoller(ENDPOINT_HOST);
    awaitVersions(1L);

    endpoint.rawBody("2\n0001-001.cluster.test|10.0.0.1|11211 0002 001.cluster.test|10.0.0.2|1\n");
    Await.until("the error reported", WAIT, () -> poller.lastError().contains("host|ip|port"));
    assertEquals(List.of(1L), recorder.versions());
    assertEquals(1, endpoint.accepted(), "a bad body inside a good frame keeps the connection");

    endpoint.config(2, NODE_1, NODE_2);
    awaitVersions(1L, 2L);
    Await.until("the error cleared", WAIT, () -> poller.lastError().isEmpty());
  }

  @Test
  void theEndpointsCertificateMustMatchItsHostName() {
    endpoint.config(1, NODE_1);
    startPoller("cfg.elsewhere.test");
    Await.until(
        "the handshake failure reported",
        WAIT,
        () -> poller.lastError().startsWith("TLS handshake failed"));
    assertEquals(List.of(), recorder.configs);
    assertEquals(-1, poller.lastVersion());
  }

  @Test
  void discoveredNodesAreReachedAndVerifiedByHostNameEvenWhenItStartsWithADigit() {
    // The IP field is unroutable: only the host name can lead to the (stand-in) node.
    endpoint.config(1, "0001-001.cluster.test|10.255.255.1|" + endpoint.port());
    startPoller(ENDPOINT_HOST);
    awaitVersions(1L);

    DiscoveredNode node = recorder.configs.get(0).nodes().get(0);
    assertEquals(new HostPort("0001-001.cluster.test", endpoint.port()), node.address());
    for (TlsContextFactory factory : List.of(tls, jdkTls)) {
      String engine = factory.engineName();
      assertNull(handshake(factory, node.address()), engine + ": the wildcard covers the name");

      // 127.0.0.1 is in the certificate too, so only a check of the name can refuse this one.
      Throwable refused =
          handshake(factory, new HostPort("0001-001.elsewhere.test", endpoint.port()));
      assertNotNull(refused, engine + ": a name the certificate does not cover is refused");
      assertTrue(
          ConfigPoller.describe(refused).contains("0001-001.elsewhere.test"),
          engine + ": " + ConfigPoller.describe(refused));
    }
  }

  /** Connects as mcmux would to {@code address}; returns why the handshake failed, or null. */
  private static Throwable handshake(TlsContextFactory factory, HostPort address) {
    AtomicReference<Future<Channel>> handshake = new AtomicReference<>();
    Channel ch =
        new Bootstrap()
            .group(group)
            .channel(transport.socketChannel())
            .resolver(resolver)
            .handler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel c) {
                    SslHandler ssl = factory.newHandler(c.alloc(), address.host(), address.port());
                    handshake.set(ssl.handshakeFuture());
                    c.pipeline().addLast(ssl);
                    c.pipeline()
                        .addLast(
                            new ChannelInboundHandlerAdapter() {
                              @Override
                              public void exceptionCaught(ChannelHandlerContext ctx, Throwable e) {
                                ctx.close(); // The handshake future says what went wrong.
                              }
                            });
                  }
                })
            .connect(address.host(), address.port())
            .syncUninterruptibly()
            .channel();
    try {
      return handshake.get().awaitUninterruptibly().cause();
    } finally {
      ch.close().syncUninterruptibly();
    }
  }

  private static List<String> nodesOf(ClusterConfig c) {
    return c.nodes().stream().map(DiscoveredNode::toString).toList();
  }

  /** Keeps what the poller reports. */
  private static final class Recorder implements ConfigPoller.Listener {
    final StandInConfigEndpoint endpoint;
    final List<ClusterConfig> configs = new CopyOnWriteArrayList<>();
    // The endpoint's request count when each config arrived: no next poll is sent before the
    // listener returns, so this is exactly the number of the poll that brought the config.
    final List<Integer> requestsAtDelivery = new CopyOnWriteArrayList<>();
    final List<String> errors = new CopyOnWriteArrayList<>();
    volatile boolean onLoop = true;

    Recorder(StandInConfigEndpoint endpoint) {
      this.endpoint = endpoint;
    }

    @Override
    public void onConfig(ClusterConfig config) {
      checkThread();
      requestsAtDelivery.add(endpoint.requests());
      configs.add(config);
    }

    @Override
    public void onError(String reason) {
      checkThread();
      errors.add(reason);
    }

    private void checkThread() {
      boolean inLoop = false;
      for (var e : group) {
        inLoop |= ((EventLoop) e).inEventLoop();
      }
      onLoop &= inLoop;
    }

    List<Long> versions() {
      return configs.stream().map(ClusterConfig::version).toList();
    }
  }
}
