package dev.mcmux.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import io.netty.util.ResourceLeakTracker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.Extension;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit extension that fails a test when Netty's leak detector reports a leak (an unreleased
 * {@link ByteBuf}, SSL engine, ...) by the end of that test or of its class.
 *
 * <p>Use it as {@code @ExtendWith(LeakDetection.class)} or {@code @RegisterExtension static
 * LeakDetection leaks = new LeakDetection();}. Netty only notices a leak when the garbage collector
 * has found the lost object and the same kind of resource is tracked again, so after each test this
 * forces collections and touches every detector until a canary leak planted after the test has been
 * reported: only then is every earlier leak known.
 *
 * <p>Netty creates most detectors once, in static initialisers; a detector created before the
 * recording factory was installed cannot be observed. {@link Installer} is therefore registered for
 * every test through JUnit's extension auto-detection ({@code junit-platform.properties}), and
 * {@link #beforeAll} fails the class if the {@code ByteBuf} detector escaped anyway.
 */
public final class LeakDetection implements BeforeAllCallback, AfterEachCallback, AfterAllCallback {

  private static final Duration COLLECT_TIMEOUT = Duration.ofSeconds(10);
  private static final RecordingFactory FACTORY = new RecordingFactory();

  static {
    install();
  }

  /** Loaded first by JUnit's auto-detection so no Netty detector is created before the factory. */
  public static final class Installer implements Extension {
    static {
      install();
    }
  }

  /**
   * Installs the recording factory if it is not in place yet; idempotent. Raises the level to
   * paranoid (every buffer tracked) if it is lower, as when a test runs outside the build.
   */
  public static synchronized void install() {
    if (ResourceLeakDetectorFactory.instance() != FACTORY) {
      ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(FACTORY);
    }
    if (ResourceLeakDetector.getLevel().ordinal() < ResourceLeakDetector.Level.PARANOID.ordinal()) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    }
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    install();
    // Allocating initialises AbstractByteBuf, whose detector is the one that matters most.
    ByteBufAllocator.DEFAULT.directBuffer(1).release();
    if (!FACTORY.createdFor(ByteBuf.class)) {
      throw new IllegalStateException(
          "Netty created its ByteBuf leak detector before LeakDetection was installed, so leaks "
              + "cannot be seen; keep junit.jupiter.extensions.autodetection.enabled=true in "
              + "src/test/resources/junit-platform.properties");
    }
    List<String> earlier = collectLeaks();
    if (!earlier.isEmpty()) {
      // Not this class's fault: say so loudly, but fail the class that leaked, not this one.
      System.err.println(
          "LeakDetection: leaks from before "
              + context.getDisplayName()
              + ":\n"
              + String.join("\n", earlier));
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    assertNoLeaks(context.getDisplayName());
  }

  @Override
  public void afterAll(ExtensionContext context) {
    assertNoLeaks(context.getDisplayName() + " (class-level resources)");
  }

  /**
   * Collects every leak reported so far and fails, naming {@code scope} and quoting Netty's
   * reports, if there was any.
   */
  public void assertNoLeaks(String scope) {
    List<String> leaks = collectLeaks();
    if (!leaks.isEmpty()) {
      throw new AssertionError(
          leaks.size()
              + " Netty resource leak(s) in "
              + scope
              + ":\n"
              + String.join("\n\n", leaks));
    }
  }

  /**
   * Forces Netty to report every leak whose object is already unreachable, then returns (and
   * forgets) all reports since the previous call.
   *
   * <p>A leak is reported once: Netty also skips a leak whose recorded access trace is identical to
   * one it already reported, so the same leak repeated by a parameterised test shows once.
   */
  public static List<String> collectLeaks() {
    install();
    String canary = "leak-canary-" + UUID.randomUUID();
    plantCanary(canary);
    Await.until(
        "Netty to report the canary leak, which shows the collector ran after the test",
        COLLECT_TIMEOUT,
        () -> {
          System.gc();
          FACTORY.pollAll();
          return FACTORY.canaryReported(canary);
        });
    // References found by the same collection may still be on their way to their queues.
    System.gc();
    FACTORY.pollAll();
    return FACTORY.drainReports();
  }

  private static void plantCanary(String id) {
    // In its own frame, so nothing on the caller's stack keeps the canary reachable.
    ResourceLeakTracker<Object> tracker = FACTORY.canaryDetector.trackForcibly(new Object());
    tracker.record(id);
  }

  /** Creates detectors that record their reports, and keeps them to make them report. */
  private static final class RecordingFactory extends ResourceLeakDetectorFactory {
    private final Queue<String> reports = new ConcurrentLinkedQueue<>();
    private final Set<String> canaries = ConcurrentHashMap.newKeySet();
    private final List<RecordingDetector<?>> detectors = new CopyOnWriteArrayList<>();
    private final Set<Class<?>> resourceTypes = ConcurrentHashMap.newKeySet();
    final RecordingDetector<Object> canaryDetector = new RecordingDetector<>(this, Canary.class, 1);

    @Override
    @SuppressWarnings("deprecation")
    public <T> ResourceLeakDetector<T> newResourceLeakDetector(
        Class<T> resource, int samplingInterval, long maxActive) {
      return newResourceLeakDetector(resource, samplingInterval);
    }

    @Override
    public <T> ResourceLeakDetector<T> newResourceLeakDetector(
        Class<T> resource, int samplingInterval) {
      RecordingDetector<T> detector = new RecordingDetector<>(this, resource, samplingInterval);
      detectors.add(detector);
      resourceTypes.add(resource);
      return detector;
    }

    boolean createdFor(Class<?> resource) {
      return resourceTypes.contains(resource);
    }

    /** Netty polls a detector's reference queue only when it tracks something new: do that. */
    void pollAll() {
      poll(canaryDetector);
      for (RecordingDetector<?> detector : detectors) {
        poll(detector);
      }
    }

    private static <T> void poll(RecordingDetector<T> detector) {
      Object probe = new Object();
      @SuppressWarnings("unchecked")
      T resource = (T) probe;
      ResourceLeakTracker<T> tracker = detector.trackForcibly(resource);
      if (tracker != null) {
        tracker.close(resource);
      }
    }

    /** Keeps a report; returns false for a canary, which is not a real leak. */
    boolean report(String resourceType, String records) {
      for (String line : records.lines().toList()) {
        String trimmed = line.trim();
        if (trimmed.startsWith("Hint: leak-canary-")) {
          canaries.add(trimmed.substring("Hint: ".length()));
          return false;
        }
      }
      reports.add("LEAK of " + resourceType + ":" + records);
      return true;
    }

    boolean canaryReported(String id) {
      return canaries.remove(id);
    }

    List<String> drainReports() {
      List<String> drained = new ArrayList<>();
      for (String report = reports.poll(); report != null; report = reports.poll()) {
        drained.add(report);
      }
      return drained;
    }
  }

  /** A detector that hands its reports to the factory and still logs them as Netty would. */
  private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {
    private final RecordingFactory factory;

    RecordingDetector(RecordingFactory factory, Class<?> resourceType, int samplingInterval) {
      super(resourceType, samplingInterval);
      this.factory = factory;
    }

    @Override
    protected boolean needReport() {
      // Netty skips reporting when its logger's ERROR level is off; these reports fail tests.
      return true;
    }

    @Override
    protected void reportTracedLeak(String resourceType, String records) {
      if (factory.report(resourceType, records)) {
        super.reportTracedLeak(resourceType, records);
      }
    }

    @Override
    protected void reportUntracedLeak(String resourceType) {
      factory.report(resourceType, " (no access records)");
      super.reportUntracedLeak(resourceType);
    }
  }

  /** The resource type named in canary reports. */
  private static final class Canary {}
}
