package dev.mcmux.check;

import dev.mcmux.admin.JsonWriter;
import dev.mcmux.routing.ClusterConfig;
import dev.mcmux.routing.DiscoveredNode;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Everything one {@code mcmux check} found, step by step, printable as aligned text or as JSON.
 *
 * <p>Steps that did not run are absent, in both forms.
 */
public final class CheckReport {

  /** The verdict of one step. */
  public enum Status {
    OK,
    FAILED,
    /** Works, but not the way it should (verification off, a certificate about to expire). */
    WARNING,
    /** Not decided by this step (e.g. the host name when the chain already failed). */
    UNKNOWN
  }

  /** The TLS setup the check used, which is the one mcmux would use. */
  public record Setup(
      String endpoint,
      String serverName,
      boolean serverNameFromSetting,
      String engine,
      List<String> protocols,
      boolean verify,
      String trustSource,
      int trustAnchors,
      Optional<String> clientCertificate,
      Duration timeout) {}

  /** The addresses a host name resolved to, in the resolver's order. */
  public record Dns(
      String host,
      List<String> addresses,
      boolean literal,
      double millis,
      Optional<String> error) {}

  /** One TCP connection attempt. */
  public record TcpAttempt(String address, double millis, Optional<String> error) {}

  /** The negotiated TLS parameters; empty when the handshake stopped before saying. */
  public record Tls(
      Optional<String> protocol,
      Optional<String> cipherSuite,
      double millis,
      boolean completed,
      Optional<String> error) {}

  /** A verdict in words. */
  public record Verdict(Status status, String summary, List<String> details) {}

  /** Whether the server asked for a client certificate and whether mcmux sent one. */
  public record ClientCertificate(
      boolean requested, boolean sent, List<String> acceptedIssuers, Optional<String> configured) {}

  /** memcached's answer to {@code version}. */
  public record Memcached(String version, double millis) {}

  /** The answer to {@code config get cluster}. */
  public record Discovery(
      boolean configurationEndpoint,
      String answer,
      Optional<ClusterConfig> config,
      Optional<String> problem) {}

  private static final int LABEL = 15;

  Setup setup;
  Dns dns;
  final List<TcpAttempt> tcp = new ArrayList<>();
  Tls tls;
  final List<CertificateDetails> chain = new ArrayList<>();
  Verdict trust;
  Verdict hostName;
  ClientCertificate clientCertificate;
  Memcached memcached;
  Discovery discovery;
  final List<String> warnings = new ArrayList<>();
  Failure failure;
  Instant checkedAt;

  CheckReport(Instant checkedAt) {
    this.checkedAt = checkedAt;
  }

  /** Whether every step passed. */
  public boolean ok() {
    return failure == null;
  }

  /** A report of a check that could not start, e.g. for unusable settings. */
  public static CheckReport failed(Failure failure) {
    CheckReport report = new CheckReport(Instant.now());
    report.failure = failure;
    return report;
  }

  void fail(Failure f) {
    if (failure == null) {
      failure = f;
    }
  }

  // ---- text ----

  /**
   * The report as aligned lines; the last is {@code mcmux check: OK} or {@code ... FAILED: ...}.
   */
  public String toText() {
    var out = new StringBuilder();
    if (setup != null) {
      line(out, "endpoint", setup.endpoint());
      line(
          out,
          "server name",
          setup.serverName()
              + (setup.serverNameFromSetting()
                  ? " (from mcmux.tls.server-name; sent as SNI and verified)"
                  : " (sent as SNI and verified)"));
      line(
          out,
          "TLS settings",
          setup.engine()
              + ", "
              + String.join(" ", setup.protocols())
              + ", trust "
              + (setup.verify()
                  ? setup.trustSource()
                      + " ("
                      + plural(setup.trustAnchors(), "CA certificate")
                      + ")"
                  : "NOTHING: verification is off")
              + setup.clientCertificate().map(c -> ", client certificate " + c).orElse(""));
    }
    if (dns != null) {
      String text;
      if (dns.error().isPresent()) {
        text = "FAILED: " + dns.error().get();
      } else if (dns.literal()) {
        text = dns.host() + " is an IP address, nothing to resolve";
      } else {
        text =
            dns.host()
                + " -> "
                + String.join(", ", dns.addresses())
                + "  ("
                + ms(dns.millis())
                + ")";
      }
      line(out, "DNS", text);
    }
    for (TcpAttempt t : tcp) {
      line(
          out,
          "TCP",
          t.error()
              .map(e -> "FAILED: " + e)
              .orElse("connected to " + t.address() + "  (" + ms(t.millis()) + ")"));
    }
    if (tls != null) {
      if (tls.error().isPresent()) {
        line(out, "TLS", "FAILED: " + tls.error().get());
      } else {
        line(
            out,
            "TLS",
            tls.protocol().orElse("version unknown")
                + tls.cipherSuite().map(c -> ", " + c).orElse("")
                + (tls.completed()
                    ? "  (handshake " + ms(tls.millis()) + ")"
                    : "  (handshake stopped at the server's certificate after "
                        + ms(tls.millis())
                        + ")"));
      }
    }
    for (int i = 0; i < chain.size(); i++) {
      CertificateDetails c = chain.get(i);
      line(out, "certificate " + (i + 1), c.subject());
      sub(
          out,
          "names",
          c.subjectAltNames().isEmpty()
              ? "(no subjectAltName)"
              : String.join(", ", c.subjectAltNames()));
      sub(out, "issuer", c.issuer());
      sub(out, "valid", validity(c, checkedAt));
      sub(out, "key", c.key() + ", signed with " + c.signatureAlgorithm());
    }
    verdict(out, "trust", trust);
    verdict(out, "host name", hostName);
    if (clientCertificate != null) {
      ClientCertificate cc = clientCertificate;
      String text;
      if (!cc.requested()) {
        text =
            "not requested by the server"
                + cc.configured().map(c -> " (" + c + " not sent)").orElse("");
      } else if (cc.sent()) {
        text = "requested by the server; sent " + cc.configured().orElse("");
      } else {
        text =
            "requested by the server; NONE sent"
                + (cc.configured().isPresent()
                    ? " (" + cc.configured().get() + " is not from an issuer the server accepts)"
                    : " (none configured)");
      }
      line(out, "client cert", text);
      if (cc.requested() && !cc.acceptedIssuers().isEmpty()) {
        sub(out, "accepts", String.join("; ", cc.acceptedIssuers()));
      }
    }
    if (memcached != null) {
      line(
          out,
          "memcached",
          "VERSION " + memcached.version() + "  (round trip " + ms(memcached.millis()) + ")");
    }
    if (discovery != null) {
      if (discovery.config().isPresent()) {
        ClusterConfig config = discovery.config().get();
        line(
            out,
            "discovery",
            "configuration endpoint: config version "
                + config.version()
                + ", "
                + plural(config.nodes().size(), "node"));
        int hostWidth = config.nodes().stream().mapToInt(n -> n.host().length()).max().orElse(0);
        int ipWidth = config.nodes().stream().mapToInt(n -> n.ip().length()).max().orElse(0);
        for (DiscoveredNode n : config.nodes()) {
          sub(
              out,
              "node",
              String.format(
                  Locale.ROOT,
                  "%-" + hostWidth + "s  %-" + Math.max(ipWidth, 5) + "s  port %d",
                  n.host(),
                  n.ip().isEmpty() ? "(no IP)" : n.ip(),
                  n.port()));
        }
      } else if (discovery.problem().isPresent()) {
        line(out, "discovery", "WARNING: " + discovery.problem().get());
      } else {
        line(
            out,
            "discovery",
            "not a configuration endpoint ('config get cluster' answered "
                + discovery.answer()
                + ")");
      }
    }
    for (String w : warnings) {
      line(out, "warning", w);
    }
    if (failure == null) {
      out.append("mcmux check: OK\n");
    } else {
      if (!failure.hint().isEmpty()) {
        line(out, "hint", failure.hint());
      }
      out.append("mcmux check: FAILED: ").append(oneLine(failure.reason())).append('\n');
    }
    return out.toString();
  }

  private static void verdict(StringBuilder out, String label, Verdict v) {
    if (v == null) {
      return;
    }
    String word =
        switch (v.status()) {
          case OK -> "OK: ";
          case FAILED -> "FAILED: ";
          case WARNING -> "WARNING: ";
          case UNKNOWN -> "";
        };
    line(out, label, word + v.summary());
    for (String d : v.details()) {
      sub(out, "", d);
    }
  }

  static String validity(CertificateDetails c, Instant now) {
    String range = seconds(c.notBefore()) + " to " + seconds(c.notAfter());
    if (now.isAfter(c.notAfter())) {
      return range + " (EXPIRED " + ChainAnalysis.ago(c.notAfter(), now) + ")";
    }
    if (now.isBefore(c.notBefore())) {
      return range + " (NOT YET VALID, starts " + ChainAnalysis.ahead(c.notBefore(), now) + ")";
    }
    long days = Duration.between(now, c.notAfter()).toDays();
    return range
        + " ("
        + (days >= 1
            ? plural(days, "day")
            : ChainAnalysis.span(Duration.between(now, c.notAfter())))
        + " left)";
  }

  private static String seconds(Instant t) {
    return t.truncatedTo(ChronoUnit.SECONDS).toString();
  }

  private static void line(StringBuilder out, String label, String text) {
    out.append(String.format(Locale.ROOT, "%-" + LABEL + "s", label));
    out.append(oneLine(text)).append('\n');
  }

  private static void sub(StringBuilder out, String label, String text) {
    out.append(" ".repeat(LABEL + 2));
    if (!label.isEmpty()) {
      out.append(String.format(Locale.ROOT, "%-8s", label));
    }
    out.append(oneLine(text)).append('\n');
  }

  private static String ms(double millis) {
    return String.format(Locale.ROOT, millis < 10 ? "%.1f ms" : "%.0f ms", millis);
  }

  private static String plural(long n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  /** Text from servers and exceptions can hold line breaks; a report line never does. */
  static String oneLine(String s) {
    return s.strip().replaceAll("\\s*\\R\\s*", " ");
  }

  // ---- JSON ----

  /** The report as one JSON object, indented. */
  public String toJson() {
    JsonWriter w = JsonWriter.pretty().beginObject();
    w.field("ok", ok());
    w.field("checkedAt", seconds(checkedAt));
    if (setup != null) {
      w.field("endpoint", setup.endpoint());
      w.field("serverName", setup.serverName());
      w.name("settings").beginObject();
      w.field("engine", setup.engine());
      w.name("protocols");
      strings(w, setup.protocols());
      w.field("verify", setup.verify());
      w.field("trust", setup.trustSource());
      w.field("trustAnchors", setup.trustAnchors());
      w.field("clientCertificate", setup.clientCertificate().orElse(null));
      w.field("timeoutMillis", setup.timeout().toMillis());
      w.endObject();
    }
    if (dns != null) {
      w.name("dns").beginObject();
      w.field("host", dns.host());
      w.field("literal", dns.literal());
      w.name("addresses");
      strings(w, dns.addresses());
      w.name("millis").value(round(dns.millis()));
      dns.error().ifPresent(e -> w.field("error", e));
      w.endObject();
    }
    if (!tcp.isEmpty()) {
      w.name("tcp").beginArray();
      for (TcpAttempt t : tcp) {
        w.beginObject().field("address", t.address());
        if (t.error().isPresent()) {
          w.field("error", t.error().get());
        } else {
          w.name("millis").value(round(t.millis()));
        }
        w.endObject();
      }
      w.endArray();
    }
    if (tls != null) {
      w.name("tls").beginObject();
      w.field("protocol", tls.protocol().orElse(null));
      w.field("cipherSuite", tls.cipherSuite().orElse(null));
      w.field("completed", tls.completed());
      w.name("millis").value(round(tls.millis()));
      tls.error().ifPresent(e -> w.field("error", e));
      w.endObject();
    }
    if (!chain.isEmpty()) {
      w.name("certificates").beginArray();
      for (CertificateDetails c : chain) {
        w.beginObject();
        w.field("subject", c.subject());
        w.name("subjectAltNames");
        strings(w, c.subjectAltNames());
        w.field("issuer", c.issuer());
        w.field("notBefore", seconds(c.notBefore()));
        w.field("notAfter", seconds(c.notAfter()));
        w.field("daysLeft", Duration.between(checkedAt, c.notAfter()).toDays());
        w.field("key", c.key());
        w.field("signatureAlgorithm", c.signatureAlgorithm());
        w.field("sha256", c.sha256());
        w.endObject();
      }
      w.endArray();
    }
    verdictJson(w, "trust", trust);
    verdictJson(w, "hostName", hostName);
    if (clientCertificate != null) {
      w.name("clientCertificate").beginObject();
      w.field("requested", clientCertificate.requested());
      w.field("sent", clientCertificate.sent());
      w.name("acceptedIssuers");
      strings(w, clientCertificate.acceptedIssuers());
      w.endObject();
    }
    if (memcached != null) {
      w.name("memcached").beginObject();
      w.field("version", memcached.version());
      w.name("millis").value(round(memcached.millis()));
      w.endObject();
    }
    if (discovery != null) {
      w.name("discovery").beginObject();
      w.field("configurationEndpoint", discovery.configurationEndpoint());
      w.field("answer", discovery.answer());
      discovery.problem().ifPresent(p -> w.field("problem", p));
      if (discovery.config().isPresent()) {
        ClusterConfig config = discovery.config().get();
        w.field("configVersion", config.version());
        w.name("nodes").beginArray();
        for (DiscoveredNode n : config.nodes()) {
          w.beginObject()
              .field("host", n.host())
              .field("ip", n.ip())
              .field("port", n.port())
              .endObject();
        }
        w.endArray();
      }
      w.endObject();
    }
    w.name("warnings");
    strings(w, warnings);
    if (failure != null) {
      w.name("failure").beginObject();
      w.field("kind", failure.kind().id());
      w.field("reason", oneLine(failure.reason()));
      w.field("hint", failure.hint());
      w.endObject();
    }
    return w.endObject() + "\n";
  }

  private static void verdictJson(JsonWriter w, String name, Verdict v) {
    if (v == null) {
      return;
    }
    w.name(name).beginObject();
    w.field("status", v.status().name().toLowerCase(Locale.ROOT));
    w.field("summary", v.summary());
    w.name("details");
    strings(w, v.details());
    w.endObject();
  }

  private static void strings(JsonWriter w, List<String> items) {
    w.beginArray();
    for (String s : items) {
      w.value(s);
    }
    w.endArray();
  }

  private static double round(double millis) {
    return Math.round(millis * 10) / 10.0;
  }
}
