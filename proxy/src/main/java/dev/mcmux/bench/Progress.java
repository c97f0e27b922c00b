package dev.mcmux.bench;

import java.io.PrintWriter;
import java.util.Locale;

/** The live status line on stderr, rewritten in place with a carriage return. */
final class Progress {

  private final PrintWriter err;
  private final boolean enabled;
  private int lastLength;

  Progress(PrintWriter err, boolean enabled) {
    this.err = err;
    this.enabled = enabled;
  }

  void show(String format, Object... args) {
    if (!enabled) {
      return;
    }
    String line = String.format(Locale.ROOT, format, args);
    // Pad with spaces so that a shorter line fully covers the previous one.
    int pad = Math.max(0, lastLength - line.length());
    err.print("\r" + line + " ".repeat(pad));
    err.flush();
    lastLength = line.length();
  }

  /** Ends the current line so that later output starts on a fresh one. */
  void done() {
    if (enabled && lastLength > 0) {
      err.print("\r" + " ".repeat(lastLength) + "\r");
      err.flush();
      lastLength = 0;
    }
  }
}
