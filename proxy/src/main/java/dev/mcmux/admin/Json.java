package dev.mcmux.admin;

/** A minimal JSON writer for the status page: enough to emit objects, arrays and scalars safely. */
public final class Json {
  private final StringBuilder out = new StringBuilder(256);
  private boolean needComma;

  /** Starts an object, as a value or as the field {@code name} when non-null. */
  public Json beginObject(String name) {
    prefix(name);
    out.append('{');
    needComma = false;
    return this;
  }

  /** Ends an object. */
  public Json endObject() {
    out.append('}');
    needComma = true;
    return this;
  }

  /** Starts an array, as a value or as the field {@code name} when non-null. */
  public Json beginArray(String name) {
    prefix(name);
    out.append('[');
    needComma = false;
    return this;
  }

  /** Ends an array. */
  public Json endArray() {
    out.append(']');
    needComma = true;
    return this;
  }

  /** A string field (or array element when {@code name} is null); null becomes JSON null. */
  public Json field(String name, String value) {
    prefix(name);
    if (value == null) {
      out.append("null");
    } else {
      string(value);
    }
    needComma = true;
    return this;
  }

  /** A number field. */
  public Json field(String name, long value) {
    prefix(name);
    out.append(value);
    needComma = true;
    return this;
  }

  /** A boolean field. */
  public Json field(String name, boolean value) {
    prefix(name);
    out.append(value);
    needComma = true;
    return this;
  }

  private void prefix(String name) {
    if (needComma) {
      out.append(',');
    }
    if (name != null) {
      string(name);
      out.append(':');
    }
  }

  private void string(String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }

  @Override
  public String toString() {
    return out.toString();
  }
}
