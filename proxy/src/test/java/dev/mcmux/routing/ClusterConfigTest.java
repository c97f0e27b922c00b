package dev.mcmux.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.config.HostPort;
import dev.mcmux.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The cluster description parser and the framing of configuration endpoint replies. */
@ExtendWith(LeakDetection.class)
class ClusterConfigTest {

  private static byte[] bytes(String latin1) {
    return latin1.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static ClusterConfig parse(String body) {
    return ClusterConfig.parse(bytes(body));
  }

  private static String configReply(String body) {
    return "CONFIG cluster 0 " + bytes(body).length + "\r\n" + body + "\r\nEND\r\n";
  }

  private static String legacyReply(String body) {
    return "VALUE AmazonElastiCache:cluster 0 "
        + bytes(body).length
        + "\r\n"
        + body
        + "\r\nEND\r\n";
  }

  // ---- bodies ----

  @Test
  void oneNode() {
    ClusterConfig c =
        parse("1\nmycluster.fnjyzo.cfg.0001.use1.cache.amazonaws.com|10.82.235.120|11211\n");
    assertEquals(1, c.version());
    assertEquals(
        List.of(
            new DiscoveredNode(
                "mycluster.fnjyzo.cfg.0001.use1.cache.amazonaws.com", "10.82.235.120", 11211)),
        c.nodes());
  }

  @Test
  void severalNodesKeepTheirOrder() {
    ClusterConfig c =
        parse(
            "12\n0001-001.cluster.test|10.0.0.1|11211 0002-001.cluster.test|10.0.0.2|11212"
                + " 0003-001.cluster.test|fd00::3|11213\n");
    assertEquals(12, c.version());
    assertEquals(3, c.nodes().size());
    assertEquals(new DiscoveredNode("0001-001.cluster.test", "10.0.0.1", 11211), c.nodes().get(0));
    assertEquals(new DiscoveredNode("0002-001.cluster.test", "10.0.0.2", 11212), c.nodes().get(1));
    assertEquals(new DiscoveredNode("0003-001.cluster.test", "fd00::3", 11213), c.nodes().get(2));
  }

  @Test
  void ipMayBeEmpty() {
    ClusterConfig c = parse("3\nnode-a.cluster.test||11211 node-b.cluster.test|10.0.0.2|11211\n");
    DiscoveredNode a = c.nodes().get(0);
    assertEquals("", a.ip());
    assertNull(a.placementNode().ip(), "an empty IP is unknown to key placement");
    assertEquals("10.0.0.2", c.nodes().get(1).placementNode().ip());
  }

  @Test
  void versionLineEndsInLfOnly() {
    // The real format: LF after the version, LF after the nodes, then the reply's own CRLF.
    ClusterConfig c =
        ClusterConfig.parseReply(bytes(configReply("7\nn.cluster.test|10.0.0.1|11211\n")));
    assertEquals(7, c.version());
    assertEquals(1, c.nodes().size());
  }

  @Test
  void trailingSpacesCarriageReturnsAndNewlinesAreTolerated() {
    ClusterConfig expected = parse("7\nn.cluster.test|10.0.0.1|11211\n");
    for (String body :
        List.of(
            "7 \nn.cluster.test|10.0.0.1|11211\n",
            "7\r\nn.cluster.test|10.0.0.1|11211\r\n",
            "7\nn.cluster.test|10.0.0.1|11211 \n",
            "7\nn.cluster.test|10.0.0.1|11211\n\n",
            "7\nn.cluster.test|10.0.0.1|11211\n \r\n",
            "7\nn.cluster.test|10.0.0.1|11211")) {
      assertEquals(expected, parse(body), body);
    }
  }

  @Test
  void hostNamesMayStartWithADigitAndReachConnectingCodeUnchanged() {
    ClusterConfig c =
        parse("2\n0001-001.cluster.test|10.0.0.1|11211 1node.cluster.test|10.0.0.2|11211\n");
    DiscoveredNode n = c.nodes().get(0);
    assertEquals(new HostPort("0001-001.cluster.test", 11211), n.address());
    assertEquals(n.address(), HostPort.parse(n.address().toString(), 1));
    assertEquals("0001-001.cluster.test", n.placementNode().host());
    assertEquals("1node.cluster.test", c.nodes().get(1).address().host());
    // The host, not the IP, is what mcmux connects to and verifies.
    assertFalse(n.address().host().equals(n.ip()));
  }

  @Test
  void ipLiteralHostsAreAccepted() {
    ClusterConfig c = parse("2\n10.0.0.1|10.0.0.1|11211 fd00::1|fd00::1|11211\n");
    assertEquals("fd00::1", c.nodes().get(1).host());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = ';',
      quoteCharacter = '"',
      value = {
        "no LF at all; 1 n.cluster.test|10.0.0.1|11211; no line feed after its version",
        "empty version; \\nn.cluster.test|10.0.0.1|11211\\n; version line is empty",
        "version not a number; v1\\nn.cluster.test|10.0.0.1|11211\\n; 'v1' is not a number",
        "negative version; -1\\nn.cluster.test|10.0.0.1|11211\\n; is not a number",
        "leading space; \" 1\\nn.cluster.test|10.0.0.1|11211\\n\"; is not a number",
        "absurd version; 1234567890123456789\\nn.cluster.test|10.0.0.1|11211\\n; not a number",
        "no nodes; 1\\n\\n; lists no nodes",
        "only the version; 1\\n; lists no nodes",
        "two fields; 1\\nn.cluster.test|11211\\n; is not host|ip|port",
        "four fields; 1\\nn.cluster.test|10.0.0.1|11211|x\\n; is not host|ip|port",
        "commas; 1\\na|10.0.0.1|11211,b|10.0.0.2|11211\\n; is not host|ip|port",
        "empty host; 1\\n|10.0.0.1|11211\\n; invalid host name",
        "empty label; 1\\nn..cluster.test|10.0.0.1|11211\\n; invalid host name",
        "trailing dot; 1\\nn.cluster.test.|10.0.0.1|11211\\n; invalid host name",
        "bad host char; 1\\nn/x.cluster.test|10.0.0.1|11211\\n; invalid host name",
        "non-ASCII host; 1\\nnöde.cluster.test|10.0.0.1|11211\\n; invalid host name",
        "bad IP; 1\\nn.cluster.test|10.0.0.256|11211\\n; invalid IP address",
        "IP is a name; 1\\nn.cluster.test|n.cluster.test|11211\\n; invalid IP address",
        "port zero; 1\\nn.cluster.test|10.0.0.1|0\\n; invalid port",
        "port too big; 1\\nn.cluster.test|10.0.0.1|65536\\n; invalid port",
        "port empty; 1\\nn.cluster.test|10.0.0.1|\\n; invalid port",
        "port signed; 1\\nn.cluster.test|10.0.0.1|+11211\\n; invalid port",
        "tab separated; 1\\na.cluster.test|10.0.0.1|11211\ta.cluster.test|10.0.0.2|1\\n; port",
        "duplicate; 1\\na.cluster.test|10.0.0.1|11211 a.cluster.test|10.0.0.2|11211\\n; twice",
        "third line; 1\\nn.cluster.test|10.0.0.1|11211\\nmore\\n; text after its node line",
      })
  void malformedBodiesAreRejectedSayingWhy(String what, String body, String message) {
    String real = body.replace("\\n", "\n");
    MalformedClusterConfigException e =
        assertThrows(MalformedClusterConfigException.class, () -> parse(real), what);
    assertTrue(
        e.getMessage().contains(message), what + ": '" + e.getMessage() + "' lacks " + message);
  }

  @Test
  void parsingABufferLeavesItAlone() {
    ByteBuf buf =
        Unpooled.copiedBuffer("xx4\nn.cluster.test|10.0.0.1|11211\n", StandardCharsets.US_ASCII);
    try {
      buf.readerIndex(2);
      assertEquals(4, ClusterConfig.parse(buf).version());
      assertEquals(2, buf.readerIndex());
      assertEquals(1, buf.refCnt());
    } finally {
      buf.release();
    }
  }

  @Test
  void nodeSetsCompareWithoutOrderAndCountChanges() {
    ClusterConfig a = parse("1\na.test|10.0.0.1|1 b.test|10.0.0.2|1\n");
    ClusterConfig b = parse("2\nb.test|10.0.0.2|1 a.test|10.0.0.1|1\n");
    ClusterConfig c = parse("3\nb.test|10.0.0.2|1 c.test|10.0.0.3|1 d.test|10.0.0.4|1\n");
    assertTrue(a.sameNodesAs(b));
    assertFalse(a.sameNodesAs(c));
    assertEquals(2, c.addedSince(a));
    assertEquals(1, c.removedSince(a));
    assertEquals(3, c.addedSince(null));
    assertEquals(0, c.removedSince(null));
    // A node that kept its name but got a new IP is a different node to IP-hashing placements.
    assertFalse(a.sameNodesAs(parse("4\na.test|10.0.0.9|1 b.test|10.0.0.2|1\n")));
  }

  // ---- whole replies ----

  @Test
  void legacyValueReplyCarriesTheSameBody() {
    String body = "5\nn1.cluster.test|10.0.0.1|11211 n2.cluster.test||11211\n";
    ClusterConfig legacy = ClusterConfig.parseReply(bytes(legacyReply(body)));
    assertEquals(ClusterConfig.parse(bytes(body)), legacy);
    assertEquals(legacy, ClusterConfig.parseReply(bytes(configReply(body))));
    // gets answers carry a cas token.
    String withCas =
        "VALUE AmazonElastiCache:cluster 0 " + body.length() + " 42\r\n" + body + "\r\nEND\r\n";
    assertEquals(legacy, ClusterConfig.parseReply(bytes(withCas)));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = ';',
      quoteCharacter = '"',
      value = {
        "length too short; CONFIG cluster 0 5\\r\\n1\\nn.test|10.0.0.1|1\\n\\r\\nEND\\r\\n; not followed by",
        "length too long; CONFIG cluster 0 99\\r\\n1\\nn.test|10.0.0.1|1\\n\\r\\nEND\\r\\n; incomplete",
        "no END; CONFIG cluster 0 20\\r\\n1\\nn.test|10.0.0.1|1\\n\\r\\nBAD\\r\\n; not followed by",
        "other key; VALUE other 0 20\\r\\n1\\nn.test|10.0.0.1|1\\n\\r\\nEND\\r\\n; unexpected reply",
        "bad length; CONFIG cluster 0 1x\\r\\n; malformed reply header",
        "LF only header; CONFIG cluster 0 20\\n1\\nn.test|10.0.0.1|1\\n\\r\\nEND\\r\\n; CRLF",
        "error; ERROR\\r\\n; answered 'ERROR'",
        "server error; SERVER_ERROR out of memory\\r\\n; SERVER_ERROR out of memory",
        "miss; END\\r\\n; no AmazonElastiCache:cluster key",
        "bytes after; END\\r\\nEND\\r\\n; bytes after the reply",
        "bad body; CONFIG cluster 0 9\\r\\nx\\nn|1.2|1\\r\\nEND\\r\\n; 'x' is not a number",
      })
  void badRepliesAreRejectedSayingWhy(String what, String reply, String message) {
    byte[] real = bytes(reply.replace("\\r", "\r").replace("\\n", "\n"));
    MalformedClusterConfigException e =
        assertThrows(MalformedClusterConfigException.class, () -> ClusterConfig.parseReply(real));
    assertTrue(
        e.getMessage().contains(message), what + ": '" + e.getMessage() + "' lacks " + message);
  }

  // ---- the channel decoder ----

  @Test
  void decoderFramesRepliesSplitAtEveryByte() {
    String body = "9\n0001-001.cluster.test|10.0.0.1|11211 0002-001.cluster.test|10.0.0.2|11211\n";
    byte[] input = bytes("ERROR\r\n" + legacyReply(body) + configReply(body) + "END\r\n");
    List<String> whole = decode(List.of(input));
    assertEquals(List.of("ErrorLine[line=ERROR]", "config 9", "config 9", "Missing[]"), whole);
    for (int at = 1; at < input.length; at++) {
      byte[] a = new byte[at];
      byte[] b = new byte[input.length - at];
      System.arraycopy(input, 0, a, 0, at);
      System.arraycopy(input, at, b, 0, b.length);
      assertEquals(whole, decode(List.of(a, b)), "split at " + at);
    }
    List<byte[]> single = new ArrayList<>();
    for (byte x : input) {
      single.add(new byte[] {x});
    }
    assertEquals(whole, decode(single));
  }

  @Test
  void decoderKeepsTheConnectionForABadBodyButNotForBadFraming() {
    assertEquals(
        List.of("Unusable: cluster config lists no nodes", "config 2"),
        decode(List.of(bytes(configReply("1\n\n") + configReply("2\nn.test|10.0.0.1|1\n")))));

    EmbeddedChannel ch = new EmbeddedChannel(new ConfigReplyDecoder());
    try {
      DecoderException e =
          assertThrows(
              DecoderException.class,
              () ->
                  ch.writeInbound(Unpooled.copiedBuffer("STORED\r\n", StandardCharsets.US_ASCII)));
      assertInstanceOf(MalformedClusterConfigException.class, e.getCause());
    } finally {
      ch.finishAndReleaseAll();
    }
  }

  @Test
  void decoderRejectsAnEndlessLine() {
    EmbeddedChannel ch = new EmbeddedChannel(new ConfigReplyDecoder());
    try {
      byte[] junk = new byte[ConfigReplyDecoder.MAX_LINE];
      java.util.Arrays.fill(junk, (byte) 'x');
      DecoderException e =
          assertThrows(DecoderException.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(junk)));
      assertTrue(e.getCause().getMessage().contains("longer than"));
    } finally {
      ch.finishAndReleaseAll();
    }
  }

  private static List<String> decode(List<byte[]> chunks) {
    EmbeddedChannel ch = new EmbeddedChannel(new ConfigReplyDecoder());
    List<String> out = new ArrayList<>();
    try {
      for (byte[] chunk : chunks) {
        ch.writeInbound(Unpooled.copiedBuffer(chunk));
        for (Object o = ch.readInbound(); o != null; o = ch.readInbound()) {
          out.add(describe((ConfigReply) o));
        }
      }
    } finally {
      ch.finishAndReleaseAll();
    }
    return out;
  }

  private static String describe(ConfigReply reply) {
    if (reply instanceof ConfigReply.Config c) {
      return "config " + c.config().version();
    }
    if (reply instanceof ConfigReply.Unusable u) {
      return "Unusable: " + u.reason();
    }
    return reply.toString();
  }
}
