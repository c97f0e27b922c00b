package dev.mcmux.check;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.mcmux.admin.JsonWriter;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonWriterTest {

  @Test
  void escapesWhatJsonRequiresAndWhatConsumersTripOver() {
    assertEquals("\"a\\\"b\\\\c\"", JsonWriter.quote("a\"b\\c"));
    assertEquals("\"\\n\\r\\t\\b\\f\"", JsonWriter.quote("\n\r\t\b\f"));
    assertEquals("\"\\u0000\\u001f\\u007f\"", JsonWriter.quote("\u0000\u001f\u007f"));
    assertEquals("\"\\u2028\\u2029\"", JsonWriter.quote("\u2028\u2029"));
    assertEquals("\"é€😀\"", JsonWriter.quote("é€😀"), "valid non-ASCII stays as it is");
    assertEquals("\"\\ud800x\\udc00\"", JsonWriter.quote("\ud800x\udc00"), "lone surrogates");
  }

  @Test
  void everyCharacterRoundTripsThroughAStrictParser() {
    StringBuilder all = new StringBuilder();
    for (char c = 0; c < 0x3000; c++) {
      if (!Character.isSurrogate(c)) {
        all.append(c);
      }
    }
    assertEquals(all.toString(), MiniJson.parse(JsonWriter.quote(all.toString())));
  }

  @Test
  void nestsObjectsAndArraysWithCommasInTheRightPlaces() {
    StringBuilder sb = new StringBuilder();
    JsonWriter w = JsonWriter.compact(sb).beginObject();
    w.field("a", "x").field("n", 3).field("t", true);
    w.name("list").beginArray().value("1").beginObject().endObject().beginArray().endArray();
    w.value((String) null).value(2.5).value(Double.NaN).endArray();
    w.name("empty").beginObject().endObject();
    w.endObject();
    assertEquals(
        "{\"a\":\"x\",\"n\":3,\"t\":true,\"list\":[\"1\",{},[],null,2.5,null],\"empty\":{}}",
        sb.toString());
  }

  @Test
  void prettyOutputParsesToTheSameValue() {
    JsonWriter w = JsonWriter.pretty().beginObject();
    w.field("k", "v").name("xs").beginArray().value(1).value(2).endArray();
    w.endObject();
    assertEquals("{\n  \"k\": \"v\",\n  \"xs\": [\n    1,\n    2\n  ]\n}", w.toString());
    assertEquals(Map.of("k", "v", "xs", List.of(1.0, 2.0)), MiniJson.parse(w.toString()));
  }
}
