package dev.mcmux.admin;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Writes JSON text by hand (no dependency for one report and one log line), escaping every string
 * so that the output is always valid JSON, whatever bytes a server or a log message contained.
 */
public final class JsonWriter {

  private final StringBuilder out;
  private final boolean pretty;
  // One entry per open object or array: true once it has a member, so the next needs a comma.
  private final Deque<boolean[]> open = new ArrayDeque<>();
  private boolean afterName;

  private JsonWriter(StringBuilder out, boolean pretty) {
    this.out = out;
    this.pretty = pretty;
  }

  /** A writer of indented, multi-line JSON. */
  public static JsonWriter pretty() {
    return new JsonWriter(new StringBuilder(), true);
  }

  /** A writer of JSON on one line, as log collectors want it. */
  public static JsonWriter compact(StringBuilder out) {
    return new JsonWriter(out, false);
  }

  /** Opens an object, as a value or at the top. */
  public JsonWriter beginObject() {
    beforeValue();
    out.append('{');
    open.push(new boolean[1]);
    return this;
  }

  /** Closes the innermost object. */
  public JsonWriter endObject() {
    close('}');
    return this;
  }

  /** Opens an array. */
  public JsonWriter beginArray() {
    beforeValue();
    out.append('[');
    open.push(new boolean[1]);
    return this;
  }

  /** Closes the innermost array. */
  public JsonWriter endArray() {
    close(']');
    return this;
  }

  /** Writes a member name; a value must follow. */
  public JsonWriter name(String name) {
    separate();
    quote(out, name);
    out.append(pretty ? ": " : ":");
    afterName = true;
    return this;
  }

  /** Writes a string, or {@code null}. */
  public JsonWriter value(String value) {
    beforeValue();
    if (value == null) {
      out.append("null");
    } else {
      quote(out, value);
    }
    return this;
  }

  /** Writes a whole number. */
  public JsonWriter value(long value) {
    beforeValue();
    out.append(value);
    return this;
  }

  /** Writes a number; NaN and infinities, which JSON cannot hold, become {@code null}. */
  public JsonWriter value(double value) {
    beforeValue();
    if (Double.isNaN(value) || Double.isInfinite(value)) {
      out.append("null");
    } else {
      out.append(value);
    }
    return this;
  }

  /** Writes {@code true} or {@code false}. */
  public JsonWriter value(boolean value) {
    beforeValue();
    out.append(value);
    return this;
  }

  /** {@code name} then a string value. */
  public JsonWriter field(String name, String value) {
    return name(name).value(value);
  }

  /** {@code name} then a number. */
  public JsonWriter field(String name, long value) {
    return name(name).value(value);
  }

  /** {@code name} then a boolean. */
  public JsonWriter field(String name, boolean value) {
    return name(name).value(value);
  }

  /** The text written so far. */
  @Override
  public String toString() {
    return out.toString();
  }

  /**
   * Appends {@code s} as a JSON string: quotes, backslashes and every control character escaped,
   * and U+2028/U+2029 and lone surrogates too, which some consumers cannot take raw.
   */
  public static void quote(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029' || isLoneSurrogate(s, i)) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }

  /** {@code s} as a JSON string. */
  public static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2);
    quote(sb, s);
    return sb.toString();
  }

  private static boolean isLoneSurrogate(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
    }
    if (Character.isLowSurrogate(c)) {
      return i == 0 || !Character.isHighSurrogate(s.charAt(i - 1));
    }
    return false;
  }

  private void beforeValue() {
    if (afterName) {
      afterName = false;
      return;
    }
    separate();
  }

  private void separate() {
    boolean[] hasMember = open.peek();
    if (hasMember == null) {
      return;
    }
    if (hasMember[0]) {
      out.append(',');
    }
    hasMember[0] = true;
    newline(open.size());
  }

  private void close(char bracket) {
    boolean[] hasMember = open.pop();
    if (hasMember[0]) {
      newline(open.size());
    }
    out.append(bracket);
  }

  private void newline(int depth) {
    if (pretty) {
      out.append('\n');
      out.append("  ".repeat(depth));
    }
  }
}
