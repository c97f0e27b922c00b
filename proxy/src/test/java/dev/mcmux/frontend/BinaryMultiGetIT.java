package dev.mcmux.frontend;

import static dev.mcmux.testing.BinaryPackets.bare;
import static dev.mcmux.testing.BinaryPackets.concat;
import static dev.mcmux.testing.BinaryPackets.keyed;
import static dev.mcmux.testing.BinaryPackets.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.testing.BinaryPackets;
import dev.mcmux.testing.LeakDetection;
import dev.mcmux.testing.McmuxHarness;
import dev.mcmux.testing.MemcachedProcess;
import dev.mcmux.testing.Ports;
import dev.mcmux.testing.TestPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A binary multi-get as clients send it, a run of getkq ending in noop, over three nodes: each key
 * goes to its own node, and the client gets the hits in its own order, duplicates each time, misses
 * left out, and the noop last, as one memcached would answer.
 */
@ExtendWith(LeakDetection.class)
class BinaryMultiGetIT {
  @TempDir static Path dir;
  static final List<MemcachedProcess> nodes = new ArrayList<>();
  static McmuxHarness mcmux;
  static TestPki pki;

  @BeforeAll
  static void start() {
    pki = TestPki.create(dir);
    List<String> endpoints = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      MemcachedProcess m = MemcachedProcess.tls(pki.server(TestPki.Kind.LOCALHOST)).start();
      nodes.add(m);
      endpoints.add("localhost:" + m.port());
    }
    mcmux =
        McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
            .set("mcmux.upstream.endpoints", String.join(",", endpoints))
            .start();
  }

  @AfterAll
  static void stop() {
    if (mcmux != null) {
      mcmux.close();
    }
    nodes.forEach(MemcachedProcess::close);
  }

  /** Writes {@code request} in one write and reads until the noop with {@code noopOpaque}. */
  static List<BinaryPackets.Packet> exchange(Socket s, byte[] request, int noopOpaque)
      throws IOException {
    s.getOutputStream().write(request);
    s.getOutputStream().flush();
    InputStream in = s.getInputStream();
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    byte[] buf = new byte[65536];
    while (true) {
      int n = in.read(buf);
      if (n < 0) {
        throw new IOException("closed after " + got.size() + " bytes");
      }
      got.write(buf, 0, n);
      byte[] all = got.toByteArray();
      if (all.length >= 24) {
        try {
          List<BinaryPackets.Packet> packets = BinaryPackets.parse(all);
          BinaryPackets.Packet last = packets.get(packets.size() - 1);
          if (last.opcode() == 0x0a && last.opaque() == noopOpaque) {
            return packets;
          }
        } catch (IllegalArgumentException incomplete) {
          // More bytes to come.
        }
      }
    }
  }

  @Test
  void getkqRunEndingInNoopIsSplitAcrossNodesAndAnsweredAsOne() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", mcmux.port()), 5000);
      s.setSoTimeout(20_000);
      ByteArrayOutputStream sets = new ByteArrayOutputStream();
      for (int i = 0; i < 90; i++) {
        sets.writeBytes(store(0x11, "mg:" + i, i, 0, "value " + i, i, 0));
      }
      sets.writeBytes(bare(0x0a, 1000));
      List<BinaryPackets.Packet> stored = exchange(s, sets.toByteArray(), 1000);
      assertEquals(1, stored.size(), "quiet sets that succeed answer nothing: " + stored);
      for (MemcachedProcess n : nodes) {
        assertTrue(Long.parseLong(n.stats().get("curr_items")) > 0, "a node without keys: " + n);
      }

      // Hits, misses and a duplicate, in an order that jumps between nodes.
      List<String> asked = new ArrayList<>();
      for (int i = 89; i >= 0; i -= 2) {
        asked.add("mg:" + i);
        asked.add("mg:missing:" + i);
      }
      asked.add("mg:7");
      ByteArrayOutputStream gets = new ByteArrayOutputStream();
      for (int i = 0; i < asked.size(); i++) {
        gets.writeBytes(keyed(0x0d, asked.get(i), 5000 + i));
      }
      gets.writeBytes(bare(0x0a, 9999));
      List<BinaryPackets.Packet> answer = exchange(s, gets.toByteArray(), 9999);

      List<String> expected = new ArrayList<>();
      for (int i = 0; i < asked.size(); i++) {
        String k = asked.get(i);
        if (!k.contains("missing")) {
          int n = Integer.parseInt(k.substring(3));
          expected.add(
              String.format(
                  "op=0d status=00 opaque=%d extras=\\x00\\x00\\x00%s key=%s value=value %d",
                  5000 + i, BinaryPackets.escape(new byte[] {(byte) n}), k, n));
        }
      }
      expected.add("op=0a status=00 opaque=9999 cas=0 extras= key= value=");
      List<String> actual = new ArrayList<>();
      for (BinaryPackets.Packet p : answer) {
        // CAS values come from three servers' counters: checked only to be set on hits.
        assertTrue(p.opcode() == 0x0a || p.cas() != 0, p.describe());
        actual.add(p.opcode() == 0x0a ? p.describe() : p.describe().replaceAll(" cas=\\d+", ""));
      }
      assertEquals(String.join("\n", expected), String.join("\n", actual));
      // 45 hits, the duplicate, the noop.
      assertEquals(47, answer.size());
    }
  }

  @Test
  void withoutAnUpstreamEveryRequestQuietOrNotGetsATemporaryFailure() throws Exception {
    try (McmuxHarness alone =
            McmuxHarness.inFrontOf(Ports.freeLoopbackPort(), pki.caFile()).start();
        Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", alone.port()), 5000);
      s.setSoTimeout(20_000);
      List<BinaryPackets.Packet> answer =
          exchange(
              s,
              concat(
                  keyed(0x00, "a", 1),
                  keyed(0x09, "b", 2),
                  store(0x11, "c", 0, 0, "v", 3, 0),
                  bare(0x0a, 4)),
              4);
      List<String> got = new ArrayList<>();
      for (BinaryPackets.Packet p : answer) {
        got.add(p.describe());
      }
      String failure =
          " status=86 opaque=%d cas=0 extras= key= value="
              + "SERVER_ERROR no upstream connection available";
      assertEquals(
          List.of(
              "op=00" + String.format(failure, 1),
              "op=09" + String.format(failure, 2),
              "op=11" + String.format(failure, 3),
              "op=0a status=00 opaque=4 cas=0 extras= key= value="),
          got);
    }
  }

  @Test
  void statIsSummedOverNodesAndEndsWithAnEmptyPacket() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", mcmux.port()), 5000);
      s.setSoTimeout(20_000);
      ByteArrayOutputStream sets = new ByteArrayOutputStream();
      for (int i = 0; i < 30; i++) {
        sets.writeBytes(store(0x11, "stat:" + i, 0, 0, "v", i, 0));
      }
      sets.writeBytes(bare(0x0a, 1000));
      exchange(s, sets.toByteArray(), 1000);
      long sum = 0;
      for (MemcachedProcess n : nodes) {
        sum += Long.parseLong(n.stats().get("curr_items"));
      }
      List<BinaryPackets.Packet> answer = exchange(s, concat(keyed(0x10, "", 5), bare(0x0a, 6)), 6);
      BinaryPackets.Packet end = answer.get(answer.size() - 2);
      assertEquals("op=10 status=00 opaque=5 cas=0 extras= key= value=", end.describe());
      String currItems = null;
      for (BinaryPackets.Packet p : answer) {
        if (new String(p.key(), java.nio.charset.StandardCharsets.US_ASCII).equals("curr_items")) {
          currItems = new String(p.value(), java.nio.charset.StandardCharsets.US_ASCII);
        }
      }
      assertEquals(Long.toString(sum), currItems);
    }
  }

  @Test
  void deniedCommandsAreRefusedWithMemcachedsNotPermittedStatus() throws Exception {
    try (McmuxHarness denying =
            McmuxHarness.inFrontOf(nodes.get(0).port(), pki.caFile())
                .set("mcmux.upstream.deny-commands", "flush_all,set")
                .start();
        Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", denying.port()), 5000);
      s.setSoTimeout(20_000);
      List<BinaryPackets.Packet> answer =
          exchange(
              s,
              concat(
                  bare(0x08, 1),
                  store(0x11, "d", 0, 0, "v", 2, 0),
                  store(0x02, "deny:add", 0, 0, "v", 3, 0),
                  keyed(0x04, "deny:add", 4),
                  bare(0x0a, 5)),
              5);
      List<String> got = new ArrayList<>();
      for (BinaryPackets.Packet p : answer) {
        got.add(p.describe().replaceAll(" cas=\\d+", ""));
      }
      assertEquals(
          List.of(
              "op=08 status=20 opaque=1 extras= key= value=flush_all is denied by mcmux"
                  + " configuration",
              "op=11 status=20 opaque=2 extras= key= value=set is denied by mcmux configuration",
              "op=02 status=00 opaque=3 extras= key= value=",
              "op=04 status=00 opaque=4 extras= key= value=",
              "op=0a status=00 opaque=5 extras= key= value="),
          got);
    }
  }
}
