package dev.mcmux.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.mcmux.bench.ResponseParser.Kind;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BenchResponseParserTest {

  private static final KeySpace KEYS = new KeySpace(100);

  private final ResponseParser parser = new ResponseParser();

  private static ByteBuf buf(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1);
  }

  @Test
  void hit() {
    String response = "VALUE key:5 3 4\r\nabcd\r\nEND\r\n";
    ByteBuf in = buf(response);
    assertEquals(response.length(), parser.parseGet(in, KEYS, 5));
    assertEquals(Kind.VALUE, parser.kind());
    assertTrue(parser.keyMatches());
    assertEquals(3, parser.flags());
    assertEquals(17, parser.valueIndex());
    assertEquals(4, parser.valueLength());
    assertEquals(0, in.readerIndex(), "the parser does not consume");
  }

  @Test
  void hitWithCasAndBinaryData() {
    String response = "VALUE key:5 4294967295 4 123\r\n\r\n\u0000\n\r\nEND\r\n";
    assertEquals(response.length(), parser.parseGet(buf(response), KEYS, 5));
    assertEquals(4294967295L, parser.flags());
    assertEquals(4, parser.valueLength());
  }

  @Test
  void miss() {
    assertEquals(5, parser.parseGet(buf("END\r\n"), KEYS, 5));
    assertEquals(Kind.MISS, parser.kind());
  }

  @Test
  void everyPrefixIsIncomplete() {
    String response = "VALUE key:12 0 10\r\n0123456789\r\nEND\r\n";
    for (int n = 0; n < response.length(); n++) {
      assertEquals(
          ResponseParser.INCOMPLETE,
          parser.parseGet(buf(response.substring(0, n)), KEYS, 12),
          "prefix of " + n);
    }
    assertEquals(response.length(), parser.parseGet(buf(response), KEYS, 12));
  }

  @Test
  void anotherKeyIsFramedButFlagged() {
    String response = "VALUE key:6 0 1\r\nx\r\nEND\r\n";
    assertEquals(response.length(), parser.parseGet(buf(response), KEYS, 5));
    assertFalse(parser.keyMatches());
    assertEquals(response.length(), parser.parseGet(buf(response), KEYS, 6));
    assertTrue(parser.keyMatches());
    parser.parseGet(buf("VALUE key:55 0 1\r\nx\r\nEND\r\n"), KEYS, 5);
    assertFalse(parser.keyMatches(), "a longer key with the same prefix");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "VALUE key:5 0 1\r\nx\r\nVALUE key:5 0 1\r\nx\r\nEND\r\n",
        "VALUE key:5 0 1\r\nxy\r\nEND\r\n",
        "VALUE key:5 0 1\r\nx\r\nEMD\r\n",
        "VALUE key:5 4294967296 1\r\nx\r\nEND\r\n",
        "VALUE key:5 0\r\n",
        "VALUE key:5 0 1 x\r\n",
        "VALUE key:5 0 -1\r\n",
        "VALUE  0 1\r\n",
        "STORED\r\n",
        "END \r\n",
        "end\r\n",
        "ERRORS\r\n",
        "END\n",
        "\r\n"
      })
  void whatIsNotAnAnswerToAGetIsUnexpected(String response) {
    assertEquals(ResponseParser.UNEXPECTED, parser.parseGet(buf(response), KEYS, 5), response);
    assertTrue(parser.problem() != null && !parser.problem().isEmpty());
  }

  @Test
  void errorsAnswerEitherRequest() {
    for (String line : new String[] {"SERVER_ERROR out of memory", "CLIENT_ERROR bad", "ERROR"}) {
      Kind expected =
          line.startsWith("SERVER")
              ? Kind.SERVER_ERROR
              : line.startsWith("CLIENT") ? Kind.CLIENT_ERROR : Kind.ERROR;
      ByteBuf in = buf(line + "\r\n");
      assertEquals(line.length() + 2, parser.parseGet(in, KEYS, 1));
      assertEquals(expected, parser.kind());
      assertEquals(line, parser.line(in));
      assertEquals(line.length() + 2, parser.parseStore(buf(line + "\r\n")));
      assertEquals(expected, parser.kind());
    }
  }

  @Test
  void storageAnswers() {
    assertEquals(8, parser.parseStore(buf("STORED\r\nSTORED\r\n")));
    assertEquals(Kind.STORED, parser.kind());
    assertEquals(12, parser.parseStore(buf("NOT_STORED\r\n")));
    assertEquals(Kind.NOT_STORED, parser.kind());
    assertEquals(8, parser.parseStore(buf("EXISTS\r\n")));
    assertEquals(Kind.EXISTS, parser.kind());
    assertEquals(11, parser.parseStore(buf("NOT_FOUND\r\n")));
    assertEquals(Kind.NOT_FOUND, parser.kind());
    assertEquals(ResponseParser.INCOMPLETE, parser.parseStore(buf("STORED\r")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"END\r\n", "VALUE key:5 0 1\r\n", "STOREDX\r\n", "SERVER_ERRORX\r\n"})
  void whatIsNotAnAnswerToASetIsUnexpected(String response) {
    assertEquals(ResponseParser.UNEXPECTED, parser.parseStore(buf(response)), response);
  }

  @Test
  void pipelinedResponsesAreFramedOneByOne() {
    ByteBuf in = buf("STORED\r\nVALUE key:7 1 2\r\nhi\r\nEND\r\nEND\r\nSTO");
    int n = parser.parseStore(in);
    assertEquals(Kind.STORED, parser.kind());
    in.skipBytes(n);
    n = parser.parseGet(in, KEYS, 7);
    assertEquals(Kind.VALUE, parser.kind());
    assertEquals("hi", in.toString(parser.valueIndex(), 2, StandardCharsets.US_ASCII));
    in.skipBytes(n);
    n = parser.parseGet(in, KEYS, 8);
    assertEquals(Kind.MISS, parser.kind());
    in.skipBytes(n);
    assertEquals(ResponseParser.INCOMPLETE, parser.parseStore(in));
  }

  @Test
  void anOverlongLineIsUnexpectedNotAWaitForever() {
    ByteBuf in = buf("SERVER_ERROR " + "x".repeat(ResponseParser.MAX_LINE));
    assertEquals(ResponseParser.UNEXPECTED, parser.parseStore(in));
    assertEquals(
        ResponseParser.INCOMPLETE, parser.parseStore(buf("SERVER_ERROR " + "x".repeat(100))));
  }
}
