package dev.mcmux.check;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * Explains in words whether and why a host name matches a server certificate, by the rules the JDK
 * applies for HTTPS (RFC 2818 and 6125).
 *
 * <p>The verdict that counts is always the real trust manager's; this only says why.
 */
public final class HostNameCheck {

  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

  /**
   * The outcome for one name.
   *
   * @param matches whether {@code name} is covered
   * @param matchedBy the certificate entry that covers it, such as {@code DNS:*.example.com}
   * @param validFor every name the certificate is valid for, as {@code DNS:...} / {@code IP:...}
   * @param reasons why it does not match, one sentence each; empty when it matches
   */
  public record Result(
      boolean matches, Optional<String> matchedBy, List<String> validFor, List<String> reasons) {}

  private HostNameCheck() {}

  /** Checks {@code name} (a DNS name or an IP literal) against {@code leaf}. */
  public static Result check(String name, X509Certificate leaf) {
    List<String> sans = CertificateDetails.subjectAltNames(leaf);
    List<String> dns = new ArrayList<>();
    List<String> ips = new ArrayList<>();
    for (String san : sans) {
      if (san.startsWith("DNS:")) {
        dns.add(san.substring(4));
      } else if (san.startsWith("IP:")) {
        ips.add(san.substring(3));
      }
    }
    Optional<String> cn = commonName(leaf);
    List<String> validFor = new ArrayList<>(sans);
    if (dns.isEmpty() && cn.isPresent()) {
      validFor.add("CN:" + cn.get());
    }
    if (isIpLiteral(name)) {
      return checkIp(name, ips, dns, validFor);
    }
    return checkDns(name, dns, cn, validFor);
  }

  private static Result checkIp(
      String name, List<String> ips, List<String> dns, List<String> validFor) {
    Optional<InetAddress> wanted = literal(name);
    for (String ip : ips) {
      Optional<InetAddress> have = literal(ip);
      if (wanted.isPresent() && have.isPresent() && wanted.get().equals(have.get())) {
        return new Result(true, Optional.of("IP:" + ip), validFor, List.of());
      }
    }
    List<String> reasons = new ArrayList<>();
    if (ips.isEmpty()) {
      reasons.add(
          name
              + " is an IP address, and an IP address is only matched by an IP entry in the"
              + " certificate's subjectAltName; this certificate has none");
    } else {
      reasons.add(name + " is not among the certificate's IP addresses (" + join(ips) + ")");
    }
    if (!dns.isEmpty()) {
      reasons.add(
          "connect by a host name the certificate covers, or set --server-name"
              + " (mcmux.tls.server-name) to one, e.g. "
              + example(dns.get(0)));
    }
    return new Result(false, Optional.empty(), validFor, reasons);
  }

  private static Result checkDns(
      String rawName, List<String> dns, Optional<String> cn, List<String> validFor) {
    String name = normalise(rawName);
    List<String> templates = dns.isEmpty() ? cn.map(List::of).orElse(List.of()) : dns;
    String label = dns.isEmpty() ? "CN:" : "DNS:";
    for (String template : templates) {
      if (matches(name, normalise(template))) {
        return new Result(true, Optional.of(label + template), validFor, List.of());
      }
    }
    List<String> reasons = new ArrayList<>();
    if (templates.isEmpty()) {
      reasons.add("the certificate names no host at all (no DNS subjectAltName and no CN)");
    }
    for (String template : templates) {
      explainWildcard(name, normalise(template)).ifPresent(reasons::add);
    }
    if (!dns.isEmpty() && cn.isPresent() && matches(name, normalise(cn.get()))) {
      reasons.add(
          "the subject CN="
              + cn.get()
              + " would match, but a CN is ignored when the certificate has DNS subjectAltNames");
    }
    if (reasons.isEmpty()) {
      reasons.add(rawName + " is not one of them");
    }
    return new Result(false, Optional.empty(), validFor, reasons);
  }

  /** Whether the normalised {@code name} matches the normalised {@code template}. */
  static boolean matches(String name, String template) {
    if (template.isEmpty() || name.isEmpty()) {
      return false;
    }
    int star = template.indexOf('*');
    if (star < 0) {
      return name.equals(template);
    }
    int firstDot = template.indexOf('.');
    // A wildcard counts only in the leftmost label, and only over at least two more labels:
    // "*.com" or "a.*.example.com" never match anything.
    if (firstDot < 0 || star > firstDot || template.indexOf('*', firstDot) >= 0) {
      return false;
    }
    String rest = template.substring(firstDot);
    if (rest.chars().filter(c -> c == '.').count() < 2) {
      return false;
    }
    int nameDot = name.indexOf('.');
    if (nameDot <= 0 || !name.substring(nameDot).equals(rest)) {
      return false;
    }
    return globLabel(name.substring(0, nameDot), template.substring(0, firstDot));
  }

  private static boolean globLabel(String label, String pattern) {
    int star = pattern.indexOf('*');
    String prefix = pattern.substring(0, star);
    String suffix = pattern.substring(star + 1);
    return label.length() >= prefix.length() + suffix.length()
        && label.startsWith(prefix)
        && label.endsWith(suffix)
        && !label.startsWith("xn--");
  }

  private static Optional<String> explainWildcard(String name, String template) {
    int firstDot = template.indexOf('.');
    if (!template.startsWith("*.") || firstDot < 0) {
      return Optional.empty();
    }
    String base = template.substring(2);
    if (base.indexOf('.') < 0) {
      return Optional.of(template + " is too broad to match anything (a wildcard over a TLD)");
    }
    if (name.equals(base)) {
      return Optional.of(template + " does not cover " + base + " itself, only one label below it");
    }
    if (name.endsWith("." + base)) {
      String below = name.substring(0, name.length() - base.length() - 1);
      return Optional.of(
          template
              + " matches exactly one label: it covers "
              + below.substring(below.lastIndexOf('.') + 1)
              + "."
              + base
              + " but not "
              + name
              + " ("
              + (below.split("\\.").length)
              + " labels below "
              + base
              + ")");
    }
    return Optional.empty();
  }

  private static String example(String template) {
    return template.startsWith("*.") ? "node-1" + template.substring(1) : template;
  }

  private static Optional<String> commonName(X509Certificate cert) {
    try {
      LdapName dn = new LdapName(cert.getSubjectX500Principal().getName());
      Optional<String> cn = Optional.empty();
      // The most specific (last written) CN is the one the JDK falls back to.
      for (Rdn rdn : dn.getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) {
          cn = Optional.of(String.valueOf(rdn.getValue()));
        }
      }
      return cn;
    } catch (InvalidNameException e) {
      return Optional.empty();
    }
  }

  /** Lower case, without a trailing dot: DNS names compare case-insensitively. */
  static String normalise(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
  }

  /** An IPv4 dotted quad or anything with a colon (IPv6), as the JDK decides what to match. */
  public static boolean isIpLiteral(String name) {
    return name.indexOf(':') >= 0 || IPV4.matcher(name).matches();
  }

  private static Optional<InetAddress> literal(String ip) {
    if (!isIpLiteral(ip)) {
      return Optional.empty();
    }
    try {
      // A literal never causes a DNS query.
      return Optional.of(
          InetAddress.getByName(ip.startsWith("[") ? ip.substring(1, ip.length() - 1) : ip));
    } catch (UnknownHostException e) {
      return Optional.empty();
    }
  }

  private static String join(List<String> items) {
    return String.join(", ", items);
  }
}
