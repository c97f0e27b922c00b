package dev.mcmux.jmh;

import dev.mcmux.frontend.SessionPath;
import dev.mcmux.metrics.MicrometerMetrics;
import dev.mcmux.metrics.ProxyMetrics;
import dev.mcmux.protocol.AsciiRequest;
import dev.mcmux.protocol.AsciiRequestDecoder;
import dev.mcmux.protocol.AsciiRequestEncoder;
import dev.mcmux.protocol.DecodeResult;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one request costs on the whole data path, client bytes in to client bytes out, through the
 * production session and upstream connection over embedded channels; run with {@code bench/jmh.sh
 * RequestPath -prof gc} and read {@code gc.alloc.rate.norm} (heap bytes per request).
 *
 * <p>Each invocation runs {@link #BATCH} requests on a thread Netty treats as an event loop (it
 * recycles only there); leak tracking is off, as {@code mcmux run} has it.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"-XX:+UseSerialGC", "-Xmx256m", "-Dio.netty.leakDetection.level=disabled"})
@State(Scope.Thread)
@OperationsPerInvocation(RequestPathBenchmarks.BATCH)
public class RequestPathBenchmarks {
  static final int BATCH = 4096;

  private SessionPath path;
  private SessionPath quiet;
  private MicrometerMetrics metrics;
  private byte[] get;
  private byte[] getAnswer;
  private byte[] set;
  private byte[] stored;
  private byte[] pipeline;
  private byte[] pipelineAnswer;
  private byte[] metaGet;
  private byte[] metaAnswerBefore;
  private byte[] metaAnswerAfter;
  private AsciiRequestDecoder decoder;
  private ByteBuf getLine;

  @Param({"100"})
  public int valueSize;

  @Setup(Level.Trial)
  public void setUp() {
    metrics = new MicrometerMetrics();
    path = new SessionPath(metrics);
    quiet = new SessionPath(ProxyMetrics.NOOP);
    String value = "v".repeat(valueSize);
    get = SessionPath.ascii("get user:session:12345678\r\n");
    getAnswer =
        SessionPath.ascii(
            "VALUE user:session:12345678 0 " + valueSize + "\r\n" + value + "\r\nEND\r\n");
    set =
        SessionPath.ascii("set user:session:12345678 0 300 " + valueSize + "\r\n" + value + "\r\n");
    stored = SessionPath.ascii("STORED\r\n");
    byte[][] gets = new byte[16][];
    byte[][] answers = new byte[16][];
    Arrays.fill(gets, get);
    Arrays.fill(answers, getAnswer);
    metaGet = SessionPath.ascii("mg user:session:12345678 v f t\r\n");
    metaAnswerBefore = SessionPath.ascii("VA " + valueSize + " f0 t-1 ");
    metaAnswerAfter = SessionPath.ascii("\r\n" + value + "\r\n");
    pipeline = concat(gets);
    pipelineAnswer = concat(answers);
    decoder = new AsciiRequestDecoder(1 << 20, 1 << 20);
    getLine = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(get));
  }

  private static byte[] concat(byte[][] parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] all = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    path.close();
    quiet.close();
  }

  /** A get hit, one request per client read: the 50 x 1 workload. */
  @Benchmark
  public long getHit() {
    return path.roundTrips(BATCH, get, getAnswer);
  }

  /** The same get with metrics switched off: what recording costs. */
  @Benchmark
  public long getHitWithoutMetrics() {
    return quiet.roundTrips(BATCH, get, getAnswer);
  }

  /** A set, one request per client read. */
  @Benchmark
  public long set() {
    return path.roundTrips(BATCH, set, stored);
  }

  /** 16 pipelined gets in one client read, 16 answers in one upstream read (per 16 gets). */
  @Benchmark
  public long getPipelined16() {
    return path.roundTrips(BATCH, pipeline, pipelineAnswer);
  }

  /**
   * A meta get hit ({@code mg} with value and flags, no opaque of the client's own): mcmux tags the
   * upstream line and takes the tag out of the answer.
   */
  @Benchmark
  public long metaGetHit() {
    return path.metaRoundTrips(BATCH, metaGet, metaAnswerBefore, metaAnswerAfter);
  }

  /** Decode a get and encode its upstream line: the request half on its own. */
  @Benchmark
  @OperationsPerInvocation(1)
  public int decodeEncodeGet() {
    DecodeResult r = decoder.decode(getLine.duplicate());
    AsciiRequest req = ((DecodeResult.Request) r).request();
    ByteBuf out = ByteBufAllocator.DEFAULT.ioBuffer(64);
    AsciiRequestEncoder.writeLine(req, out);
    int n = out.readableBytes();
    out.release();
    return n;
  }

  /** One request's metrics: a counter and the duration histogram. */
  @Benchmark
  @OperationsPerInvocation(1)
  public void recordRequest() {
    metrics.request(0, ProxyMetrics.Result.OK, 123_456);
  }
}
