package dev.mcmux.jmh;

import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiResponseFramer;
import dev.mcmux.protocol.DecodeResult;
import dev.mcmux.protocol.ResponseShape;
import dev.mcmux.protocol.UpstreamDesyncException;
import dev.mcmux.routing.KeyPlacement;
import dev.mcmux.routing.PlacementNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Micro-benchmarks of the per-request hot path: request decoding, response framing and key
 * placement. Run with {@code bench/jmh.sh}; never part of the test suite.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class ProtocolBenchmarks {
  private ByteBuf getRequest;
  private ByteBuf setRequest;
  private ByteBuf getResponse;
  private AsciiRequestDecoder decoder;
  private AsciiResponseFramer framer;
  private KeyPlacement libmemcached;
  private KeyPlacement elasticache;
  private byte[][] keys;

  @Param({"100"})
  public int valueSize;

  @Setup
  public void setUp() {
    getRequest = Unpooled.unreleasableBuffer(ascii("get user:session:12345678\r\n"));
    byte[] value = new byte[valueSize];
    java.util.Arrays.fill(value, (byte) 'v');
    ByteBuf set = Unpooled.buffer();
    set.writeBytes(ascii("set user:session:12345678 0 300 " + valueSize + "\r\n"));
    set.writeBytes(value).writeBytes(ascii("\r\n"));
    setRequest = Unpooled.unreleasableBuffer(set);
    ByteBuf res = Unpooled.buffer();
    res.writeBytes(ascii("VALUE user:session:12345678 0 " + valueSize + "\r\n"));
    res.writeBytes(value).writeBytes(ascii("\r\nEND\r\n"));
    getResponse = Unpooled.unreleasableBuffer(res);
    decoder = new AsciiRequestDecoder(1 << 20, 1 << 20);
    framer = new AsciiResponseFramer(1 << 20);
    List<PlacementNode> nodes = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      nodes.add(new PlacementNode("10.0.0." + (i + 1), 11211, "10.0.0." + (i + 1)));
    }
    libmemcached = KeyPlacement.create("libmemcached", nodes);
    elasticache = KeyPlacement.create("elasticache", nodes);
    keys = new byte[1024][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = ("user:session:" + i).getBytes(StandardCharsets.US_ASCII);
    }
  }

  private static ByteBuf ascii(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
  }

  private int next;

  @Benchmark
  public void decodeGet(Blackhole bh) {
    ByteBuf in = getRequest.duplicate();
    DecodeResult r = decoder.decode(in);
    bh.consume(r);
  }

  @Benchmark
  public void decodeSet(Blackhole bh) {
    ByteBuf in = setRequest.duplicate();
    DecodeResult r = decoder.decode(in);
    if (r instanceof DecodeResult.Request req) {
      req.request().release();
    }
    bh.consume(r);
  }

  @Benchmark
  public int frameGetResponse() throws UpstreamDesyncException {
    return framer.frameLength(getResponse.duplicate(), ResponseShape.RETRIEVAL);
  }

  @Benchmark
  public int placeLibmemcached() {
    return libmemcached.nodeFor(keys[next++ & 1023]);
  }

  @Benchmark
  public int placeElasticache() {
    return elasticache.nodeFor(keys[next++ & 1023]);
  }
}
