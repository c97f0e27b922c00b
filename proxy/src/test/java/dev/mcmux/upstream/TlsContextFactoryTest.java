package dev.mcmux.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.internal.tcnative.SSL;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class TlsContextFactoryTest {

  private static final long WAIT_SECONDS = 20;

  private static EventLoopGroup group;
  private static TlsTestCerts.Issued ca;
  private static TlsTestCerts.Issued otherCa;
  private static TlsTestCerts.Issued server;
  private static TlsTestCerts.Issued rsaClient;

  @TempDir static Path dir;

  private static Path caFile;
  private static Path otherCaFile;

  @BeforeAll
  static void setUp() {
    assertTrue(OpenSsl.isAvailable(), () -> "OpenSSL: " + OpenSsl.unavailabilityCause());
    group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    ca = TlsTestCerts.ca("mcmux test CA");
    otherCa = TlsTestCerts.ca("some other CA");
    server = TlsTestCerts.server(ca);
    rsaClient = TlsTestCerts.client(ca, TlsTestCerts.rsaKeys());
    caFile = TlsTestCerts.writeCerts(dir.resolve("ca.pem"), ca.cert());
    otherCaFile = TlsTestCerts.writeCerts(dir.resolve("other-ca.pem"), otherCa.cert());
  }

  @AfterAll
  static void tearDown() {
    group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static Settings.Tls tls(Optional<Path> caFile, Settings.TlsEngine engine) {
    return new Settings.Tls(
        caFile,
        Optional.empty(),
        Optional.empty(),
        Optional.empty(),
        Optional.empty(),
        true,
        Duration.ofSeconds(WAIT_SECONDS),
        engine,
        List.of("TLSv1.3", "TLSv1.2"),
        List.of());
  }

  private static Settings.Tls withServerName(Settings.Tls t, String name) {
    return new Settings.Tls(
        t.caFile(),
        Optional.of(name),
        t.certFile(),
        t.keyFile(),
        t.keyPassword(),
        t.verify(),
        t.handshakeTimeout(),
        t.engine(),
        t.protocols(),
        t.ciphers());
  }

  private static Settings.Tls withVerify(Settings.Tls t, boolean verify) {
    return new Settings.Tls(
        t.caFile(),
        t.serverName(),
        t.certFile(),
        t.keyFile(),
        t.keyPassword(),
        verify,
        t.handshakeTimeout(),
        t.engine(),
        t.protocols(),
        t.ciphers());
  }

  private static Settings.Tls withClientCert(Settings.Tls t, Path cert, Path key, String password) {
    return new Settings.Tls(
        t.caFile(),
        t.serverName(),
        Optional.of(cert),
        Optional.of(key),
        Optional.ofNullable(password),
        t.verify(),
        t.handshakeTimeout(),
        t.engine(),
        t.protocols(),
        t.ciphers());
  }

  private static Settings.Tls withProtocols(Settings.Tls t, List<String> protocols) {
    return new Settings.Tls(
        t.caFile(),
        t.serverName(),
        t.certFile(),
        t.keyFile(),
        t.keyPassword(),
        t.verify(),
        t.handshakeTimeout(),
        t.engine(),
        protocols,
        t.ciphers());
  }

  private static Settings.Tls withCiphers(Settings.Tls t, List<String> ciphers) {
    return new Settings.Tls(
        t.caFile(),
        t.serverName(),
        t.certFile(),
        t.keyFile(),
        t.keyPassword(),
        t.verify(),
        t.handshakeTimeout(),
        t.engine(),
        t.protocols(),
        ciphers);
  }

  private static String error(Settings.Tls t) {
    return assertThrows(InvalidSettingException.class, () -> TlsContextFactory.create(t))
        .getMessage();
  }

  // ---- handshakes against a real TLS server on loopback ----

  @ParameterizedTest
  @EnumSource(
      value = Settings.TlsEngine.class,
      names = {"OPENSSL", "JDK"})
  void handshakeSucceedsWithTheRightCaAndFailsWithAnother(Settings.TlsEngine engine)
      throws Exception {
    try (TestServer s = new TestServer(ClientAuth.NONE)) {
      var good = TlsContextFactory.create(tls(Optional.of(caFile), engine));
      assertNull(s.connect(good, "localhost").failure());
      assertNull(s.connect(good, "127.0.0.1").failure(), "IP SAN must verify too");

      var wrongCa = TlsContextFactory.create(tls(Optional.of(otherCaFile), engine));
      assertRejectedCertificate(s.connect(wrongCa, "localhost").failure());
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = Settings.TlsEngine.class,
      names = {"OPENSSL", "JDK"})
  void wrongHostNameIsRejected(Settings.TlsEngine engine) throws Exception {
    try (TestServer s = new TestServer(ClientAuth.NONE)) {
      var factory = TlsContextFactory.create(tls(Optional.of(caFile), engine));
      assertRejectedCertificate(s.connect(factory, "not-localhost.example").failure());

      var misnamed =
          TlsContextFactory.create(
              withServerName(tls(Optional.of(caFile), engine), "cache.example.com"));
      assertRejectedCertificate(s.connect(misnamed, "localhost").failure());

      var renamed =
          TlsContextFactory.create(withServerName(tls(Optional.of(caFile), engine), "localhost"));
      assertNull(s.connect(renamed, "node-1.invalid").failure(), "server-name replaces the host");
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = Settings.TlsEngine.class,
      names = {"OPENSSL", "JDK"})
  void verifyFalseAcceptsAnyCertificateAndName(Settings.TlsEngine engine) throws Exception {
    try (TestServer s = new TestServer(ClientAuth.NONE)) {
      var insecure =
          TlsContextFactory.create(withVerify(tls(Optional.of(otherCaFile), engine), false));
      assertFalse(insecure.verifying());
      assertNull(s.connect(insecure, "anything.example").failure());
    }
  }

  /**
   * The server (always BoringSSL) reports whether it resumed each session; for the OpenSSL client
   * the client's own view is checked too. The first connection must not resume (else the check
   * proves nothing), the second must.
   */
  @ParameterizedTest
  @EnumSource(
      value = Settings.TlsEngine.class,
      names = {"OPENSSL", "JDK"})
  void secondConnectionResumesTheSession(Settings.TlsEngine engine) throws Exception {
    for (List<String> protocols : List.of(List.of("TLSv1.3"), List.of("TLSv1.2"))) {
      try (TestServer s = new TestServer(ClientAuth.NONE)) {
        var factory =
            TlsContextFactory.create(withProtocols(tls(Optional.of(caFile), engine), protocols));

        Outcome first = s.connect(factory, "localhost");
        assertNull(first.failure());
        assertFalse(s.nextServerResumed(), protocols + ": first handshake must be full");

        Outcome second = s.connect(factory, "localhost");
        assertNull(second.failure());
        assertTrue(s.nextServerResumed(), protocols + ": second handshake must resume");
        if (engine == Settings.TlsEngine.OPENSSL) {
          assertFalse(first.clientResumed());
          assertTrue(second.clientResumed());
        }
        assertEquals(protocols.get(0), second.protocol());
      }
    }
  }

  @Test
  void clientCertificateIsPresentedWhenTheServerRequiresOne() throws Exception {
    Path cert = TlsTestCerts.writeCerts(dir.resolve("mtls-cert.pem"), rsaClient.cert());
    Path key = TlsTestCerts.writePkcs1(dir.resolve("mtls-key.pem"), rsaClient.keys());
    try (TestServer s = new TestServer(ClientAuth.REQUIRE)) {
      for (Settings.TlsEngine engine :
          List.of(Settings.TlsEngine.OPENSSL, Settings.TlsEngine.JDK)) {
        var withCert =
            TlsContextFactory.create(
                withClientCert(tls(Optional.of(caFile), engine), cert, key, null));
        assertNull(s.connect(withCert, "localhost").failure(), engine.name());
        assertEquals(
            "CN=mcmux-client,O=mcmux tests", withCert.clientCertificates().get(0).subject());
      }
      var without = TlsContextFactory.create(tls(Optional.of(caFile), Settings.TlsEngine.OPENSSL));
      assertNotNull(s.connect(without, "localhost").failure());
    }
  }

  private static void assertRejectedCertificate(Throwable failure) {
    assertInstanceOf(SSLHandshakeException.class, failure);
    boolean certificateProblem = false;
    for (Throwable t = failure; t != null; t = t.getCause()) {
      certificateProblem |= t instanceof CertificateException;
    }
    assertTrue(certificateProblem, () -> "not a certificate failure: " + failure);
  }

  // ---- engine, ciphers, CA list ----

  @Test
  void engineNameFollowsTheSetting() {
    assertEquals(
        "OpenSSL (BoringSSL)",
        TlsContextFactory.create(tls(Optional.empty(), Settings.TlsEngine.AUTO)).engineName());
    assertEquals(
        "OpenSSL (BoringSSL)",
        TlsContextFactory.create(tls(Optional.empty(), Settings.TlsEngine.OPENSSL)).engineName());
    assertEquals(
        "JDK",
        TlsContextFactory.create(tls(Optional.empty(), Settings.TlsEngine.JDK)).engineName());
  }

  @ParameterizedTest
  @EnumSource(
      value = Settings.TlsEngine.class,
      names = {"OPENSSL", "JDK"})
  void defaultCiphersPutAes128GcmFirst(Settings.TlsEngine engine) {
    List<String> ciphers =
        TlsContextFactory.create(tls(Optional.empty(), engine)).context().cipherSuites();
    assertTrue(ciphers.get(0).contains("_AES_128_GCM_"), ciphers.toString());
    int lastAes128 = -1;
    int firstOther = Integer.MAX_VALUE;
    for (int i = 0; i < ciphers.size(); i++) {
      if (ciphers.get(i).contains("_AES_128_GCM_")) {
        lastAes128 = i;
      } else {
        firstOther = Math.min(firstOther, i);
      }
    }
    assertTrue(lastAes128 < firstOther, ciphers.toString());
  }

  @Test
  void preferAes128GcmIsStable() {
    assertEquals(
        List.of("TLS_B_AES_128_GCM_X", "TLS_D_AES_128_GCM_Y", "TLS_A_AES_256_GCM", "TLS_C_CBC"),
        TlsContextFactory.preferAes128Gcm(
            List.of(
                "TLS_A_AES_256_GCM", "TLS_B_AES_128_GCM_X", "TLS_C_CBC", "TLS_D_AES_128_GCM_Y")));
  }

  @Test
  void configuredCiphersAreKeptAndUnknownOnesRefused() {
    var ciphers = List.of("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384");
    assertEquals(
        ciphers,
        TlsContextFactory.create(
                withCiphers(tls(Optional.empty(), Settings.TlsEngine.OPENSSL), ciphers))
            .context()
            .cipherSuites());
    assertEquals(
        "mcmux.tls.ciphers: 'TLS_NOPE_WITH_ROT13' is not supported by OpenSSL (BoringSSL)",
        error(
            withCiphers(
                tls(Optional.empty(), Settings.TlsEngine.OPENSSL),
                List.of("TLS_NOPE_WITH_ROT13"))));
    assertEquals(
        "mcmux.tls.ciphers: 'TLS_NOPE_WITH_ROT13' is not supported by JDK",
        error(
            withCiphers(
                tls(Optional.empty(), Settings.TlsEngine.JDK), List.of("TLS_NOPE_WITH_ROT13"))));
  }

  @Test
  void caCertificatesAreListedForStatus() {
    Path bundle = TlsTestCerts.writeCerts(dir.resolve("bundle.pem"), ca.cert(), otherCa.cert());
    var factory = TlsContextFactory.create(tls(Optional.of(bundle), Settings.TlsEngine.AUTO));
    assertEquals(
        List.of("CN=mcmux test CA,O=mcmux tests", "CN=some other CA,O=mcmux tests"),
        factory.caCertificates().stream().map(TlsContextFactory.CertificateInfo::subject).toList());
    assertEquals(ca.cert().getNotAfter().toInstant(), factory.caCertificates().get(0).notAfter());
    assertTrue(
        TlsContextFactory.create(tls(Optional.empty(), Settings.TlsEngine.AUTO))
            .caCertificates()
            .isEmpty());
  }

  // ---- files ----

  @Test
  void emptyOrInvalidCaFileIsAnError() throws Exception {
    Path empty = Files.writeString(dir.resolve("empty-ca.pem"), "");
    assertEquals(
        "mcmux.tls.ca-file: " + empty + " contains no PEM certificate (BEGIN CERTIFICATE)",
        error(tls(Optional.of(empty), Settings.TlsEngine.AUTO)));
    Path garbage =
        Files.writeString(
            dir.resolve("garbage-ca.pem"),
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
    String message = error(tls(Optional.of(garbage), Settings.TlsEngine.AUTO));
    assertTrue(message.startsWith("mcmux.tls.ca-file: " + garbage + " is not valid PEM"), message);
    assertFalse(message.contains("\n"), message);
  }

  @Test
  void missingCaFileIsAnError() {
    Path missing = dir.resolve("gone.pem");
    assertEquals(
        "mcmux.tls.ca-file: " + missing + " does not exist",
        error(tls(Optional.of(missing), Settings.TlsEngine.AUTO)));
  }

  @Test
  void keyFormatsLoad() {
    var ecClient = TlsTestCerts.client(ca, TlsTestCerts.ecKeys());
    Path rsaCert =
        TlsTestCerts.writeCerts(dir.resolve("rsa-cert.pem"), rsaClient.cert(), ca.cert());
    Path ecCert = TlsTestCerts.writeCerts(dir.resolve("ec-cert.pem"), ecClient.cert());
    Settings.Tls base = tls(Optional.of(caFile), Settings.TlsEngine.AUTO);

    Path pkcs1 = TlsTestCerts.writePkcs1(dir.resolve("pkcs1.pem"), rsaClient.keys());
    Path sec1 = TlsTestCerts.writeSec1(dir.resolve("sec1.pem"), ecClient.keys());
    Path pkcs8 = TlsTestCerts.writePkcs8(dir.resolve("pkcs8.pem"), rsaClient.keys().getPrivate());
    Path ecPkcs8 =
        TlsTestCerts.writePkcs8(dir.resolve("ec-pkcs8.pem"), ecClient.keys().getPrivate());
    Path encrypted =
        TlsTestCerts.writeEncryptedPkcs8(
            dir.resolve("enc.pem"), rsaClient.keys().getPrivate(), "s3cret");
    Path legacy =
        TlsTestCerts.writeLegacyEncryptedKey(dir.resolve("legacy.pem"), rsaClient.keys(), "s3cret");

    assertTrue(text(pkcs1).startsWith("-----BEGIN RSA PRIVATE KEY-----"));
    assertTrue(text(sec1).contains("-----BEGIN EC PRIVATE KEY-----"));
    assertTrue(text(pkcs8).startsWith("-----BEGIN PRIVATE KEY-----"));
    assertTrue(text(encrypted).startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assertTrue(text(legacy).contains("Proc-Type: 4,ENCRYPTED"));

    for (Settings.TlsEngine engine : List.of(Settings.TlsEngine.OPENSSL, Settings.TlsEngine.JDK)) {
      Settings.Tls t = tls(Optional.of(caFile), engine);
      assertEquals(
          2,
          TlsContextFactory.create(withClientCert(t, rsaCert, pkcs1, null))
              .clientCertificates()
              .size());
      TlsContextFactory.create(withClientCert(t, ecCert, sec1, null));
      TlsContextFactory.create(withClientCert(t, rsaCert, pkcs8, null));
      TlsContextFactory.create(withClientCert(t, ecCert, ecPkcs8, null));
      TlsContextFactory.create(withClientCert(t, rsaCert, encrypted, "s3cret"));
      TlsContextFactory.create(withClientCert(t, rsaCert, legacy, "s3cret"));
    }

    assertEquals(
        "mcmux.tls.key-password: does not decrypt " + encrypted + " (wrong password?)",
        error(withClientCert(base, rsaCert, encrypted, "wrong")));
    assertEquals(
        "mcmux.tls.key-password: does not decrypt " + legacy + " (wrong password?)",
        error(withClientCert(base, rsaCert, legacy, "wrong")));
    assertEquals(
        "mcmux.tls.key-password: is empty but " + encrypted + " is an encrypted key",
        error(withClientCert(base, rsaCert, encrypted, null)));
  }

  @Test
  void keyThatDoesNotMatchTheCertificateIsRefused() {
    Path rsaCert = TlsTestCerts.writeCerts(dir.resolve("m-rsa-cert.pem"), rsaClient.cert());
    Path otherRsa =
        TlsTestCerts.writePkcs8(dir.resolve("other-rsa.pem"), TlsTestCerts.rsaKeys().getPrivate());
    Path ecKey = TlsTestCerts.writeSec1(dir.resolve("m-ec.pem"), TlsTestCerts.ecKeys());
    Settings.Tls base = tls(Optional.of(caFile), Settings.TlsEngine.AUTO);
    assertEquals(
        "mcmux.tls.key-file: " + otherRsa + " does not match the certificate in " + rsaCert,
        error(withClientCert(base, rsaCert, otherRsa, null)));
    assertEquals(
        "mcmux.tls.key-file: " + ecKey + " does not match the certificate in " + rsaCert,
        error(withClientCert(base, rsaCert, ecKey, null)));
  }

  @Test
  void certificateOrKeyFileWithoutPemIsRefused() throws Exception {
    Path cert = TlsTestCerts.writeCerts(dir.resolve("c.pem"), rsaClient.cert());
    Path notAKey = Files.writeString(dir.resolve("not-a-key.pem"), "hello\n");
    Settings.Tls base = tls(Optional.of(caFile), Settings.TlsEngine.AUTO);
    assertEquals(
        "mcmux.tls.key-file: " + notAKey + " contains no PEM private key",
        error(withClientCert(base, cert, notAKey, null)));
    assertEquals(
        "mcmux.tls.cert-file: " + notAKey + " contains no PEM certificate (BEGIN CERTIFICATE)",
        error(withClientCert(base, notAKey, cert, null)));
  }

  private static String text(Path p) {
    try {
      return Files.readString(p);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  // ---- test server ----

  /** How one client connection went. */
  record Outcome(Throwable failure, boolean clientResumed, String protocol) {}

  /** An echo server on loopback, always BoringSSL so it can report session reuse. */
  private static final class TestServer implements AutoCloseable {
    private final Channel channel;
    private final BlockingQueue<Boolean> serverResumed = new LinkedBlockingQueue<>();

    TestServer(ClientAuth clientAuth) throws Exception {
      SslContext serverContext =
          SslContextBuilder.forServer(server.keys().getPrivate(), server.cert())
              .sslProvider(SslProvider.OPENSSL)
              .trustManager(ca.cert())
              .clientAuth(clientAuth)
              .build();
      channel =
          new ServerBootstrap()
              .group(group)
              .channel(NioServerSocketChannel.class)
              .childHandler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                      ch.pipeline().addLast(serverContext.newHandler(ch.alloc()), new Echo());
                    }
                  })
              .bind("127.0.0.1", 0)
              .sync()
              .channel();
    }

    /** Whether the server resumed the session of the next handshake it completed. */
    boolean nextServerResumed() throws InterruptedException {
      Boolean resumed = serverResumed.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      assertTrue(resumed != null, "server saw no completed handshake");
      return resumed;
    }

    /** Connects, completes the handshake, exchanges one echo and closes. */
    Outcome connect(TlsContextFactory factory, String host) throws Exception {
      int port = ((InetSocketAddress) channel.localAddress()).getPort();
      CompletableFuture<String> echoed = new CompletableFuture<>();
      java.util.concurrent.atomic.AtomicReference<SslHandler> sslHolder =
          new java.util.concurrent.atomic.AtomicReference<>();
      Channel ch =
          new Bootstrap()
              .group(group)
              .channel(NioSocketChannel.class)
              .handler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                      SslHandler handler = factory.newHandler(c.alloc(), host, port);
                      sslHolder.set(handler);
                      c.pipeline()
                          .addLast(
                              handler,
                              new SimpleChannelInboundHandler<ByteBuf>() {
                                @Override
                                protected void channelRead0(ChannelHandlerContext ctx, ByteBuf m) {
                                  echoed.complete(m.toString(StandardCharsets.US_ASCII));
                                }

                                @Override
                                public void exceptionCaught(
                                    ChannelHandlerContext ctx, Throwable t) {
                                  echoed.completeExceptionally(t);
                                  ctx.close();
                                }

                                @Override
                                public void channelInactive(ChannelHandlerContext ctx) {
                                  echoed.completeExceptionally(new ClosedChannelException());
                                  ctx.fireChannelInactive();
                                }
                              });
                    }
                  })
              .connect("127.0.0.1", port)
              .sync()
              .channel();
      try {
        // Kept from initChannel: a refused handshake may already have taken the handler (and
        // the channel) down by the time connect() returns.
        SslHandler ssl = sslHolder.get();
        var handshake = ssl.handshakeFuture();
        assertTrue(handshake.await(WAIT_SECONDS, TimeUnit.SECONDS), "handshake timed out");
        if (!handshake.isSuccess()) {
          return new Outcome(handshake.cause(), false, null);
        }
        // The echo also makes the client read the TLS 1.3 session tickets, which the server
        // sends after the handshake; without them there is nothing to resume.
        ch.writeAndFlush(Unpooled.copiedBuffer("p", StandardCharsets.US_ASCII));
        try {
          assertEquals("p", echoed.get(WAIT_SECONDS, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
          // With TLS 1.3 the server judges a client certificate after the client has finished.
          return new Outcome(e.getCause(), false, null);
        }
        return new Outcome(null, reused(ssl.engine()), ssl.engine().getSession().getProtocol());
      } finally {
        ch.close().sync();
      }
    }

    @Override
    public void close() {
      channel.close().syncUninterruptibly();
    }

    private final class Echo extends ChannelInboundHandlerAdapter {
      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent e && e.isSuccess()) {
          serverResumed.add(reused(ctx.pipeline().get(SslHandler.class).engine()));
        }
        ctx.fireUserEventTriggered(evt);
      }

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ctx.writeAndFlush(msg);
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
      }
    }
  }

  // Netty keeps its own isSessionReused() package-private; tcnative's SSL call is what it wraps.
  private static boolean reused(SSLEngine engine) {
    if (engine instanceof ReferenceCountedOpenSslEngine openSsl) {
      return SSL.isSessionReused(openSsl.sslPointer());
    }
    return false;
  }
}
