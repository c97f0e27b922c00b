package dev.mcmux.check;

import dev.mcmux.config.HostPort;
import dev.mcmux.config.InvalidSettingException;
import dev.mcmux.config.Settings;
import dev.mcmux.routing.ClusterConfig;
import dev.mcmux.upstream.HandshakeObserver.ServerCertificates;
import dev.mcmux.upstream.NettyTransport;
import dev.mcmux.upstream.TlsContextFactory;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Checks one memcached endpoint the way mcmux would reach it, step by step, and records what each
 * step found in a {@link CheckReport}.
 *
 * <p>It resolves the host with mcmux's DNS client, connects, handshakes with mcmux's own TLS
 * context (observed, so that a refused chain can still be shown and explained), asks memcached for
 * its version and tries ElastiCache auto discovery.
 */
public final class EndpointCheck {

  /** A certificate expiring sooner than this is reported as a warning. */
  static final Duration EXPIRY_WARNING = Duration.ofDays(14);

  private static final String VERSION = "version\r\n";
  private static final List<String> CLIENT_CERTIFICATE_ALERTS =
      List.of(
          "certificate_required",
          "bad_certificate",
          "unknown_ca",
          "access_denied",
          "certificate_unknown",
          "certificate_expired",
          "certificate_revoked",
          "unsupported_certificate");
  private static final String CONFIG_GET_CLUSTER = "config get cluster\r\n";
  private static final int MAX_CONFIG_BYTES = 1 << 20;
  // Lets the handler's own timers (connect, handshake) fire first and give their own reason.
  private static final long GRACE_MILLIS = 2_000;

  /**
   * What to check.
   *
   * @param endpoint the host (name or IP literal) and port, as it would be configured
   * @param tls the TLS settings, exactly as {@code mcmux run} would use them
   * @param transport the Netty transport setting
   * @param connectTimeout how long TCP connect may take
   * @param timeout how long DNS and each memcached request may take
   */
  public record Target(
      HostPort endpoint,
      Settings.Tls tls,
      Settings.Transport transport,
      Duration connectTimeout,
      Duration timeout) {}

  private final Target target;
  private final Clock clock;
  private final CheckReport report;
  private final Observations seen = new Observations();

  private EndpointCheck(Target target, Clock clock) {
    this.target = target;
    this.clock = clock;
    this.report = new CheckReport(clock.instant());
  }

  /** Runs every step that the previous ones allow and returns what was found. */
  public static CheckReport run(Target target) {
    return new EndpointCheck(target, Clock.systemUTC()).run();
  }

  private CheckReport run() {
    TlsContextFactory tls;
    NettyTransport transport;
    try {
      tls = TlsContextFactory.create(target.tls(), seen);
      transport = NettyTransport.select(target.transport());
    } catch (InvalidSettingException | IllegalStateException e) {
      report.fail(
          new Failure(
              Failure.Kind.SETTINGS,
              e.getMessage(),
              "mcmux run would refuse to start with these settings too"));
      return report;
    }
    HostPort endpoint = target.endpoint();
    String serverName = tls.serverNameFor(endpoint.host());
    report.setup =
        new CheckReport.Setup(
            endpoint.toString(),
            serverName,
            target.tls().serverName().isPresent(),
            tls.engineName(),
            target.tls().protocols(),
            tls.verifying(),
            tls.trustSource(),
            tls.trustAnchors().size(),
            tls.clientCertificates().isEmpty()
                ? Optional.empty()
                : Optional.of(tls.clientCertificates().get(0).subject()),
            target.timeout());
    if (!tls.verifying()) {
      report.warnings.add(
          "certificates and host names are NOT verified (--insecure or mcmux.tls.verify ="
              + " false): anyone on the network path can read and change the traffic");
    }
    EventLoopGroup group = transport.newGroup(1, "mcmux-check");
    try {
      List<InetAddress> addresses = resolve(group, transport);
      if (addresses.isEmpty()) {
        return report;
      }
      Connection connection = connect(group, transport, tls, addresses);
      if (connection == null) {
        return report;
      }
      try {
        if (handshake(connection, tls, serverName)) {
          talk(connection);
        }
      } finally {
        connection.channel.close().awaitUninterruptibly(GRACE_MILLIS);
      }
    } finally {
      group.shutdownGracefully(0, GRACE_MILLIS, TimeUnit.MILLISECONDS).awaitUninterruptibly();
    }
    return report;
  }

  // ---- DNS ----

  private List<InetAddress> resolve(EventLoopGroup group, NettyTransport transport) {
    String host = target.endpoint().host();
    if (HostNameCheck.isIpLiteral(host)) {
      try {
        InetAddress literal = InetAddress.getByName(host);
        report.dns =
            new CheckReport.Dns(host, List.of(literal.getHostAddress()), true, 0, Optional.empty());
        return List.of(literal);
      } catch (UnknownHostException e) {
        report.fail(new Failure(Failure.Kind.DNS, host + " is not a valid IP address", ""));
        return List.of();
      }
    }
    long timeoutMillis = target.timeout().toMillis();
    // The resolver mcmux run uses (it reads /etc/resolv.conf and /etc/hosts), not the JDK's.
    DnsNameResolver resolver =
        new DnsNameResolverBuilder(group.next())
            .datagramChannelType(transport.datagramChannel())
            .socketChannelType(transport.socketChannel())
            .queryTimeoutMillis(timeoutMillis)
            .build();
    try {
      long start = System.nanoTime();
      Future<List<InetAddress>> lookup = resolver.resolveAll(host);
      boolean done = lookup.awaitUninterruptibly(timeoutMillis + GRACE_MILLIS);
      double millis = millisSince(start);
      if (done && lookup.isSuccess() && !lookup.getNow().isEmpty()) {
        List<InetAddress> addresses = lookup.getNow();
        report.dns =
            new CheckReport.Dns(
                host,
                addresses.stream().map(InetAddress::getHostAddress).toList(),
                false,
                millis,
                Optional.empty());
        return addresses;
      }
      String why =
          !done
              ? "no answer within " + seconds(target.timeout())
              : lookup.cause() == null ? "no addresses" : rootMessage(lookup.cause());
      String hint =
          "check the name; ElastiCache endpoints resolve only inside their VPC (or a peered VPC"
              + " with DNS resolution enabled)";
      List<String> system = systemResolver(host);
      if (!system.isEmpty()) {
        hint =
            "the system resolver finds "
                + String.join(", ", system)
                + ", but mcmux asks the DNS servers of /etc/resolv.conf (and /etc/hosts) itself;"
                + " put the name where those can find it, or use the IP address with"
                + " --server-name";
      }
      if (why.contains("NXDOMAIN")) {
        why = "no such name (NXDOMAIN)";
      }
      report.dns = new CheckReport.Dns(host, List.of(), false, millis, Optional.of(why));
      report.fail(new Failure(Failure.Kind.DNS, "cannot resolve " + host + ": " + why, hint));
      return List.of();
    } finally {
      resolver.close();
    }
  }

  private List<String> systemResolver(String host) {
    try {
      return CompletableFuture.supplyAsync(
              () -> {
                try {
                  return Arrays.stream(InetAddress.getAllByName(host))
                      .map(InetAddress::getHostAddress)
                      .toList();
                } catch (UnknownHostException e) {
                  return List.<String>of();
                }
              })
          .get(target.timeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException | TimeoutException e) {
      return List.of();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return List.of();
    }
  }

  // ---- TCP ----

  /** One connection with its handlers and the moments its steps completed. */
  private static final class Connection {
    final SslHandler ssl;
    final WireRecorder wire = new WireRecorder();
    final ResponseReader reader = new ResponseReader();
    final String address;
    // Completed on the I/O thread with the moment each step ended. Waiting on these rather than
    // on Netty's futures guarantees the moment is known once the wait is over.
    final CompletableFuture<Long> connected = new CompletableFuture<>();
    final CompletableFuture<Long> handshaken = new CompletableFuture<>();
    Channel channel;

    Connection(SslHandler ssl, String address) {
      this.ssl = ssl;
      this.address = address;
      ssl.handshakeFuture().addListener(f -> handshaken.complete(System.nanoTime()));
    }
  }

  private Connection connect(
      EventLoopGroup group,
      NettyTransport transport,
      TlsContextFactory tls,
      List<InetAddress> addresses) {
    HostPort endpoint = target.endpoint();
    Failure first = null;
    for (InetAddress address : addresses) {
      String where =
          (address instanceof Inet6Address
                  ? "[" + address.getHostAddress() + "]"
                  : address.getHostAddress())
              + ":"
              + endpoint.port();
      // Made with the configured host, not the address: SNI and verification use the name.
      Connection c =
          new Connection(
              tls.newHandler(ByteBufAllocator.DEFAULT, endpoint.host(), endpoint.port()), where);
      ChannelFuture registered =
          new Bootstrap()
              .group(group)
              .channel(transport.socketChannel())
              .option(
                  ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) target.connectTimeout().toMillis())
              .option(ChannelOption.TCP_NODELAY, true)
              .handler(
                  new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                      ch.pipeline()
                          .addLast("wire", c.wire)
                          .addLast("tls", c.ssl)
                          .addLast("reader", c.reader);
                    }
                  })
              .register()
              .syncUninterruptibly();
      c.channel = registered.channel();
      ChannelPromise promise = c.channel.newPromise();
      promise.addListener(f -> c.connected.complete(System.nanoTime()));
      long start = System.nanoTime();
      c.channel.connect(new InetSocketAddress(address, endpoint.port()), promise);
      Long connectedAt = await(c.connected, target.connectTimeout().toMillis() + GRACE_MILLIS);
      if (connectedAt != null && promise.isSuccess()) {
        report.tcp.add(
            new CheckReport.TcpAttempt(where, (connectedAt - start) / 1e6, Optional.empty()));
        return c;
      }
      c.channel.close();
      Failure failure = connectFailure(where, promise.cause());
      report.tcp.add(
          new CheckReport.TcpAttempt(where, millisSince(start), Optional.of(failure.reason())));
      if (first == null) {
        first = failure;
      }
    }
    report.fail(first);
    return null;
  }

  private static Long await(CompletableFuture<Long> moment, long millis) {
    try {
      return moment.get(millis, TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  private Failure connectFailure(String where, Throwable cause) {
    String message = cause == null ? "" : rootMessage(cause).toLowerCase(Locale.ROOT);
    if (cause == null || cause instanceof ConnectTimeoutException) {
      return new Failure(
          Failure.Kind.CONNECT_TIMEOUT,
          "no answer from "
              + where
              + " within "
              + seconds(target.connectTimeout())
              + " (TCP connect timed out)",
          "packets are dropped on the way: a security group or network ACL that does not admit"
              + " this host on port "
              + target.endpoint().port()
              + ", or the wrong network; ElastiCache is reachable only from inside its VPC");
    }
    if (message.contains("refused")) {
      return new Failure(
          Failure.Kind.CONNECTION_REFUSED,
          "connection refused by " + where,
          "nothing listens on port "
              + target.endpoint().port()
              + " there (wrong port? memcached not running?), or a firewall rejects the"
              + " connection");
    }
    return new Failure(
        Failure.Kind.NETWORK,
        "cannot connect to " + where + ": " + rootMessage(cause),
        message.contains("unreachable") || message.contains("no route")
            ? "this host has no route to that address: check routes, VPN or VPC peering"
            : "");
  }

  // ---- TLS ----

  /** Waits for the handshake and explains it; returns whether memcached can be asked now. */
  private boolean handshake(Connection c, TlsContextFactory tls, String serverName) {
    Future<Channel> done = c.ssl.handshakeFuture();
    Long handshakenAt = await(c.handshaken, tls.handshakeTimeoutMillis() + GRACE_MILLIS);
    double millis =
        ((handshakenAt == null ? System.nanoTime() : handshakenAt) - c.connected.join()) / 1e6;
    ServerCertificates server = seen.server();
    if (server == null && done.isSuccess()) {
      // A handshake that never asked the trust manager (a resumed session) still has the chain.
      server = fromSession(c.ssl.engine().getSession());
    }

    Optional<Failure> wire = WireDiagnosis.explain(c.wire.firstBytes(), c.address);
    if (wire.isPresent() && !done.isSuccess()) {
      failTls(wire.get(), millis);
      return false;
    }

    Optional<String> protocol = server == null ? Optional.empty() : server.protocol();
    Optional<String> cipher = server == null ? Optional.empty() : server.cipherSuite();
    if (done.isSuccess()) {
      SSLSession session = c.ssl.engine().getSession();
      protocol = Optional.ofNullable(session.getProtocol());
      cipher = Optional.ofNullable(session.getCipherSuite());
    }
    report.tls = new CheckReport.Tls(protocol, cipher, millis, done.isSuccess(), Optional.empty());

    if (server != null) {
      explainCertificates(server, tls, serverName);
    }
    if (done.isSuccess() || seen.clientCertificateRequested()) {
      report.clientCertificate =
          new CheckReport.ClientCertificate(
              seen.clientCertificateRequested(),
              seen.clientCertificateSent(),
              seen.acceptedIssuers(),
              tls.clientCertificates().isEmpty()
                  ? Optional.empty()
                  : Optional.of(tls.clientCertificates().get(0).subject()));
    }
    if (done.isSuccess()) {
      return report.ok();
    }
    if (server != null && server.rejection().isPresent()) {
      return false; // explainCertificates said why
    }
    failTls(handshakeFailure(done.isDone() ? done.cause() : null, c, tls), millis);
    return false;
  }

  private static ServerCertificates fromSession(SSLSession session) {
    List<X509Certificate> chain = new ArrayList<>();
    try {
      for (Certificate cert : session.getPeerCertificates()) {
        if (cert instanceof X509Certificate x509) {
          chain.add(x509);
        }
      }
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
    return chain.isEmpty()
        ? null
        : new ServerCertificates(
            chain,
            Optional.ofNullable(session.getProtocol()),
            Optional.ofNullable(session.getCipherSuite()),
            Optional.empty(),
            Optional.empty());
  }

  private void failTls(Failure failure, double millis) {
    report.tls =
        new CheckReport.Tls(
            Optional.empty(), Optional.empty(), millis, false, Optional.of(failure.reason()));
    report.fail(failure);
  }

  private void explainCertificates(
      ServerCertificates server, TlsContextFactory tls, String serverName) {
    List<X509Certificate> chain = server.chain();
    for (X509Certificate cert : chain) {
      report.chain.add(CertificateDetails.of(cert));
    }
    Instant now = clock.instant();
    ChainAnalysis.Result analysis =
        ChainAnalysis.analyze(chain, tls.trustAnchors(), tls.trustSource(), now);
    HostNameCheck.Result names = HostNameCheck.check(serverName, chain.get(0));
    String validFor = names(names.validFor());

    if (!tls.verifying()) {
      report.trust =
          new CheckReport.Verdict(
              CheckReport.Status.WARNING, "not verified (verification is off)", List.of());
      report.hostName =
          new CheckReport.Verdict(
              CheckReport.Status.WARNING,
              "not verified; "
                  + serverName
                  + (names.matches()
                      ? " would match " + names.matchedBy().orElse("")
                      : " would NOT match (valid for " + validFor + ")"),
              List.of());
      return;
    }
    if (server.rejection().isEmpty()) {
      report.trust =
          new CheckReport.Verdict(
              CheckReport.Status.OK,
              analysis
                  .anchor()
                  .map(a -> "issued by " + a + ", trusted via " + tls.trustSource())
                  .orElse("accepted by " + tls.trustSource()),
              analysis.details());
      report.hostName =
          new CheckReport.Verdict(
              CheckReport.Status.OK,
              serverName + " matches " + names.matchedBy().orElse("the certificate"),
              List.of());
      warnAboutExpiry(chain.get(0), now);
      return;
    }
    if (server.chainRejection().isPresent()) {
      ChainAnalysis.Problem problem = analysis.problem().orElse(ChainAnalysis.Problem.UNTRUSTED);
      String why =
          analysis
              .reason()
              .orElse(
                  "the trust manager refused it: " + rootMessage(server.chainRejection().get()));
      List<String> details = new ArrayList<>(analysis.details());
      if (analysis.reason().isPresent()) {
        details.add("trust manager: " + rootMessage(server.chainRejection().get()));
      }
      report.trust = new CheckReport.Verdict(CheckReport.Status.FAILED, why, details);
      report.hostName =
          new CheckReport.Verdict(
              CheckReport.Status.UNKNOWN,
              names.matches()
                  ? serverName
                      + " would match "
                      + names.matchedBy().orElse("")
                      + " (not verified: the chain failed first)"
                  : serverName + " does not match either (valid for " + validFor + ")",
              names.matches() ? List.of() : names.reasons());
      Failure.Kind kind =
          switch (problem) {
            case UNTRUSTED -> Failure.Kind.UNTRUSTED;
            case EXPIRED -> Failure.Kind.EXPIRED;
            case NOT_YET_VALID -> Failure.Kind.NOT_YET_VALID;
          };
      String reason =
          problem == ChainAnalysis.Problem.UNTRUSTED
              ? "certificate chain is not trusted: " + why
              : why;
      report.fail(new Failure(kind, reason, analysis.hint().orElse("")));
      return;
    }
    report.trust =
        new CheckReport.Verdict(
            CheckReport.Status.OK,
            analysis
                .anchor()
                .map(a -> "issued by " + a + ", trusted via " + tls.trustSource())
                .orElse("accepted by " + tls.trustSource()),
            analysis.details());
    List<String> details = new ArrayList<>(names.reasons());
    if (names.matches()) {
      // The real trust manager disagrees with this explanation: its word is final, show it.
      details = List.of("trust manager: " + rootMessage(server.rejection().get()));
    }
    report.hostName =
        new CheckReport.Verdict(
            CheckReport.Status.FAILED,
            serverName + " does not match the certificate, which is valid for " + validFor,
            details);
    report.fail(
        new Failure(
            Failure.Kind.WRONG_HOST,
            "host name "
                + serverName
                + " does not match the certificate (valid for "
                + validFor
                + ")",
            "connect with a name the certificate covers, or set --server-name"
                + " (mcmux.tls.server-name) to one of them"));
  }

  private void warnAboutExpiry(X509Certificate leaf, Instant now) {
    Duration left = Duration.between(now, leaf.getNotAfter().toInstant());
    if (left.compareTo(EXPIRY_WARNING) < 0) {
      report.warnings.add(
          "the server's certificate expires in "
              + ChainAnalysis.span(left)
              + " ("
              + leaf.getNotAfter().toInstant()
              + "); mcmux will not connect after that");
    }
  }

  private Failure handshakeFailure(Throwable cause, Connection c, TlsContextFactory tls) {
    String where = c.address;
    if (cause == null || cause instanceof SslHandshakeTimeoutException) {
      boolean silent = c.wire.firstBytes().length == 0;
      return new Failure(
          Failure.Kind.HANDSHAKE_TIMEOUT,
          "the TLS handshake with "
              + where
              + " did not finish within "
              + seconds(Duration.ofMillis(tls.handshakeTimeoutMillis()))
              + (silent ? " (the server accepted TCP but sent nothing back)" : ""),
          "a plaintext server still waiting for a line end, a proxy without a backend, or an"
              + " overloaded server; is this the TLS port?");
    }
    Optional<String> alert = alert(cause);
    boolean requested = seen.clientCertificateRequested();
    boolean sent = seen.clientCertificateSent();
    if (alert.isPresent()) {
      String name = alert.get();
      // TLS 1.2 servers that require a certificate often say only handshake_failure.
      if (CLIENT_CERTIFICATE_ALERTS.contains(name)
          || requested && !sent && name.equals("handshake_failure")) {
        return clientCertificateFailure(sent, "alert " + name);
      }
      if (name.equals("protocol_version")) {
        return new Failure(
            Failure.Kind.TLS_VERSION,
            "TLS version mismatch: the server refused TLS 1.2 and 1.3 (alert protocol_version)",
            "mcmux speaks only TLS 1.2 and 1.3; the server probably offers only TLS 1.1 or"
                + " older");
      }
      return new Failure(
          Failure.Kind.TLS_HANDSHAKE,
          "the server refused the TLS handshake with the alert " + name,
          name.equals("handshake_failure")
              ? "no TLS version or cipher suite in common; compare mcmux.tls.protocols and"
                  + " mcmux.tls.ciphers with the server's"
              : "");
    }
    String message = rootMessage(cause);
    String lower = message.toLowerCase(Locale.ROOT);
    if (lower.contains("protocol version")
        || lower.contains("unsupported_protocol")
        || lower.contains("wrong_version_number")
        || lower.contains("no appropriate protocol")) {
      return new Failure(
          Failure.Kind.TLS_VERSION,
          "TLS version mismatch: " + message,
          "mcmux speaks only TLS 1.2 and 1.3; the server probably offers only TLS 1.1 or older");
    }
    if (isClosed(cause)) {
      if (requested && !sent) {
        return clientCertificateFailure(false, "the server closed the connection");
      }
      return new Failure(
          Failure.Kind.TLS_HANDSHAKE,
          "the server closed the connection during the TLS handshake",
          "look at the server's log (memcached: -vv); it may want a client certificate"
              + " (--cert-file, --key-file) or refuse the TLS version or cipher suites");
    }
    return new Failure(Failure.Kind.TLS_HANDSHAKE, "TLS handshake failed: " + message, "");
  }

  private static Failure clientCertificateFailure(boolean sent, String evidence) {
    if (!sent) {
      return new Failure(
          Failure.Kind.CLIENT_CERTIFICATE,
          "the server requires a client certificate and mcmux sent none (" + evidence + ")",
          "give --cert-file and --key-file (mcmux.tls.cert-file, mcmux.tls.key-file) with a"
              + " certificate from a CA the server trusts");
    }
    return new Failure(
        Failure.Kind.CLIENT_CERTIFICATE,
        "the server refused mcmux's client certificate (" + evidence + ")",
        "the server does not trust the CA that issued the client certificate, or the"
            + " certificate expired; check the server's ssl_ca_cert");
  }

  // ---- memcached ----

  private void talk(Connection c) {
    long start = System.nanoTime();
    long deadline = start + target.timeout().toNanos();
    String line;
    try {
      send(c, VERSION);
      line = c.reader.readLine(deadline);
    } catch (TimeoutException e) {
      report.fail(
          new Failure(
              Failure.Kind.MEMCACHED,
              "no answer to 'version' within "
                  + seconds(target.timeout())
                  + " after a good TLS handshake",
              "the server speaks TLS but memcached does not answer: overloaded, or a TLS proxy"
                  + " whose backend is down"));
      return;
    } catch (IOException e) {
      Optional<String> alert = alert(e);
      boolean wanted = seen.clientCertificateRequested() && !seen.clientCertificateSent();
      if (alert.filter(CLIENT_CERTIFICATE_ALERTS::contains).isPresent() || wanted) {
        // TLS 1.3: the server judges the client certificate after the client's handshake ended.
        report.fail(
            clientCertificateFailure(
                seen.clientCertificateSent(),
                alert.map(a -> "alert " + a).orElse("the connection closed after the handshake")));
      } else {
        report.fail(
            new Failure(
                Failure.Kind.MEMCACHED,
                "the connection failed after the TLS handshake, before 'version' was answered: "
                    + rootMessage(e),
                ""));
      }
      return;
    }
    double millis = (c.reader.lastArrivalNanos() - start) / 1e6;
    if (!line.startsWith("VERSION ")) {
      report.fail(
          new Failure(
              Failure.Kind.MEMCACHED,
              "the server answered 'version' with '" + printable(line) + "', not VERSION",
              "is this a memcached port?"));
      return;
    }
    report.memcached =
        new CheckReport.Memcached(line.substring("VERSION ".length()).strip(), millis);
    discover(c);
  }

  private void discover(Connection c) {
    long deadline = System.nanoTime() + target.timeout().toNanos();
    try {
      send(c, CONFIG_GET_CLUSTER);
      String line = c.reader.readLine(deadline);
      if (!line.startsWith("CONFIG ")) {
        report.discovery =
            new CheckReport.Discovery(false, printable(line), Optional.empty(), Optional.empty());
        return;
      }
      String[] header = line.split(" ");
      int length;
      try {
        length = Integer.parseInt(header[header.length - 1]);
      } catch (NumberFormatException e) {
        length = -1;
      }
      if (header.length != 4
          || !header[1].equals("cluster")
          || length < 0
          || length > MAX_CONFIG_BYTES) {
        report.discovery =
            new CheckReport.Discovery(
                true,
                printable(line),
                Optional.empty(),
                Optional.of("unreadable 'config get cluster' header: " + printable(line)));
        return;
      }
      String body = new String(c.reader.readExactly(length, deadline), StandardCharsets.UTF_8);
      // The data block ends with CR LF, then END; tolerate a blank line more or less.
      for (int i = 0; i < 3; i++) {
        String rest = c.reader.readLine(deadline);
        if (rest.equals("END")) {
          break;
        }
      }
      try {
        report.discovery =
            new CheckReport.Discovery(
                true,
                printable(line),
                Optional.of(
                    ClusterConfig.parse(body.getBytes(java.nio.charset.StandardCharsets.US_ASCII))),
                Optional.empty());
      } catch (IllegalArgumentException e) {
        report.discovery =
            new CheckReport.Discovery(
                true,
                printable(line),
                Optional.empty(),
                Optional.of("the cluster configuration is unreadable: " + e.getMessage()));
      }
    } catch (TimeoutException e) {
      report.discovery =
          new CheckReport.Discovery(
              false,
              "(no answer)",
              Optional.empty(),
              Optional.of("no answer to 'config get cluster' within " + seconds(target.timeout())));
    } catch (IOException e) {
      report.discovery =
          new CheckReport.Discovery(
              false,
              "(connection failed)",
              Optional.empty(),
              Optional.of("the connection failed at 'config get cluster': " + rootMessage(e)));
    }
  }

  private static void send(Connection c, String command) {
    c.channel.writeAndFlush(Unpooled.copiedBuffer(command, StandardCharsets.US_ASCII));
  }

  // ---- helpers ----

  /** The TLS alert named in an exception chain, from the JDK's or BoringSSL's wording. */
  static Optional<String> alert(Throwable t) {
    for (Throwable e = t; e != null; e = e.getCause()) {
      String m = e.getMessage();
      if (m == null) {
        continue;
      }
      String lower = m.toLowerCase(Locale.ROOT);
      int jdk = lower.indexOf("received fatal alert: ");
      if (jdk >= 0) {
        return Optional.of(
            lower.substring(jdk + "received fatal alert: ".length()).split("[^a-z_]")[0]);
      }
      for (String prefix : List.of("tlsv1_alert_", "sslv3_alert_", "tlsv13_alert_")) {
        int at = lower.indexOf(prefix);
        if (at >= 0) {
          return Optional.of(lower.substring(at + prefix.length()).split("[^a-z_]")[0]);
        }
      }
      if (e.getCause() == e) {
        break;
      }
    }
    return Optional.empty();
  }

  private static boolean isClosed(Throwable t) {
    for (Throwable e = t; e != null; e = e.getCause()) {
      if (e instanceof ClosedChannelException) {
        return true;
      }
      String m = e.getMessage();
      if (m != null) {
        String lower = m.toLowerCase(Locale.ROOT);
        if (lower.contains("connection closed")
            || lower.contains("connection reset")
            || lower.contains("closed by peer")
            || lower.contains("remote host terminated")) {
          return true;
        }
      }
      if (e.getCause() == e) {
        break;
      }
    }
    return false;
  }

  /** The innermost useful message of an exception chain, on one line. */
  static String rootMessage(Throwable t) {
    String best = t.getClass().getSimpleName();
    for (Throwable e = t; e != null; e = e.getCause()) {
      if (e.getMessage() != null && !e.getMessage().isBlank()) {
        best = e.getMessage();
      }
      if (e.getCause() == e) {
        break;
      }
    }
    return CheckReport.oneLine(best);
  }

  /** The names a certificate is valid for, cut short for a one-line reason. */
  static String names(List<String> validFor) {
    if (validFor.isEmpty()) {
      return "no name at all";
    }
    int shown = Math.min(validFor.size(), 6);
    String list = String.join(", ", validFor.subList(0, shown));
    return shown < validFor.size() ? list + " and " + (validFor.size() - shown) + " more" : list;
  }

  private static String printable(String s) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < s.length() && i < 200; i++) {
      char ch = s.charAt(i);
      out.append(ch >= 0x20 && ch < 0x7f ? ch : '?');
    }
    return out.toString();
  }

  private static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
  }

  private static double millisSince(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e6;
  }
}
