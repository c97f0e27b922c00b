package dev.mcmux.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Checked against memcached 1.6.18: with {@code noreply} it sent nothing for a stored set, a
 * missing delete/touch/incr, a non-numeric incr, a bad delta or exptime, a too-large value, a bad
 * data chunk or a bad flush_all delay; it still sent {@code ERROR} for a wrong token count.
 */
class NoReplyFilterTest {

  @ParameterizedTest(name = "{0} {1} -> {2}")
  @CsvSource(
      delimiter = '|',
      value = {
        "SET|STORED|true",
        "ADD|NOT_STORED|true",
        "CAS|EXISTS|true",
        "CAS|NOT_FOUND|true",
        "REPLACE|NOT_STORED|true",
        "APPEND|STORED|true",
        "PREPEND|STORED|true",
        "DELETE|DELETED|true",
        "DELETE|NOT_FOUND|true",
        "TOUCH|TOUCHED|true",
        "INCR|42|true",
        "DECR|0|true",
        "INCR|CLIENT_ERROR cannot increment or decrement non-numeric value|true",
        "SET|SERVER_ERROR object too large for cache|true",
        "SET|SERVER_ERROR out of memory storing object|true",
        "SET|CLIENT_ERROR bad data chunk|true",
        "FLUSH_ALL|OK|true",
        "FLUSH_ALL|CLIENT_ERROR flush_all not allowed|true",
        "VERBOSITY|OK|true",
        "SET|ERROR|false",
        "DELETE|ERROR|false",
        "GET|END|false",
        "GETS|END|false",
        "GAT|END|false",
        "STATS|END|false",
        "VERSION|VERSION 1.6.18|false",
      })
  void suppressed(Command c, String line, boolean expected) {
    for (String ending : new String[] {"\r\n", "\n", ""}) {
      ByteBuf buf = Unpooled.copiedBuffer(line + ending, StandardCharsets.US_ASCII);
      try {
        int before = buf.readerIndex();
        assertEquals(expected, NoReplyFilter.suppressed(c, buf), line + ending);
        assertEquals(before, buf.readerIndex());
      } finally {
        buf.release();
      }
    }
  }

  @Test
  void looksOnlyAtTheReadableBytes() {
    ByteBuf buf = Unpooled.copiedBuffer("xxERROR\r\n", StandardCharsets.US_ASCII);
    try {
      buf.skipBytes(2);
      assertEquals(false, NoReplyFilter.suppressed(Command.SET, buf));
      buf.skipBytes(1);
      assertEquals(true, NoReplyFilter.suppressed(Command.SET, buf));
    } finally {
      buf.release();
    }
  }

  @Test
  void commandsThatAcceptNoreply() {
    for (Command c : Command.values()) {
      boolean expected =
          c.isStorage()
              || c == Command.DELETE
              || c == Command.INCR
              || c == Command.DECR
              || c == Command.TOUCH
              || c == Command.FLUSH_ALL
              || c == Command.VERBOSITY;
      assertEquals(expected, NoReplyFilter.acceptsNoreply(c), c.name());
    }
  }
}
