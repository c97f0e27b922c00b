package dev.mcmux.bench;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Per-key version bookkeeping of one target run: which versions a get may legitimately return.
 *
 * <p>Sets of a key come from one event loop only (keys are partitioned by loop), so the in-flight
 * counts are plain arrays touched by that loop alone; the bounds that gets on other loops read are
 * published through atomic arrays.
 *
 * <ul>
 *   <li>Upper bound: the newest version issued. A value newer than that was never written.
 *   <li>Lower bound ("floor"): when the last in-flight set of a key is acknowledged, the key holds
 *       one of the versions of the group of sets that overlapped in flight since the key was last
 *       quiet, all of them at least the group's smallest. A get sent after that moment must see at
 *       least that version, whatever the order in which the server applied the group. A failed set
 *       (error, timeout, disconnect) may still land later, so it keeps its key "in flight" for the
 *       rest of the run and freezes that key's floor: weaker, never wrong.
 * </ul>
 */
final class KeyVersions {

  private final AtomicIntegerArray latest;
  private final AtomicIntegerArray floor;
  private final int[] inFlight;
  private final int[] groupMin;

  KeyVersions(int keys) {
    latest = new AtomicIntegerArray(keys);
    floor = new AtomicIntegerArray(keys);
    inFlight = new int[keys];
    groupMin = new int[keys];
    for (int i = 0; i < keys; i++) {
      latest.set(i, -1);
    }
  }

  /** Called by the key's owner loop before it writes a set: returns the version to write. */
  int issue(int key) {
    int version = latest.get(key) + 1;
    // Only the owner writes this key, so read-then-store needs no CAS.
    latest.set(key, version);
    if (inFlight[key]++ == 0) {
      groupMin[key] = version;
    }
    return version;
  }

  /** Called by the owner loop when a set of {@code key} was answered {@code STORED}. */
  void stored(int key) {
    if (--inFlight[key] == 0) {
      floor.set(key, groupMin[key]);
    }
  }

  /**
   * Called by the owner loop when a set of {@code key} failed: its outcome is unknown, so the key
   * never becomes quiet again and its floor stays where it is.
   */
  void failed(int key) {
    // Deliberately nothing: inFlight[key] stays raised.
  }

  /** The oldest version a get of {@code key} sent now may return. */
  int floor(int key) {
    return floor.get(key);
  }

  /** The newest version issued for {@code key}, -1 before the preload. */
  int latest(int key) {
    return latest.get(key);
  }
}
