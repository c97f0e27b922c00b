package dev.mcmux.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * Draws the latency distributions of all targets as one SVG: percentile on a logarithmic x axis (90
 * %, 99 %, 99.9 % ... equally spaced, so the tail gets the room it deserves) and latency on a
 * logarithmic y axis (so a 200 µs median and a 20 ms maximum both stay readable).
 */
public final class SvgChart {

  private static final int WIDTH = 960;
  private static final int HEIGHT = 560;
  private static final int LEFT = 80;
  private static final int RIGHT = 260;
  private static final int TOP = 60;
  private static final int BOTTOM = 60;
  private static final String[] COLORS = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"
  };

  private SvgChart() {}

  /** A named latency distribution in microseconds. */
  public record Series(String name, Histogram micros) {}

  /** The chart as SVG text; series without samples are listed in the legend but not drawn. */
  public static String render(String title, String subtitle, List<Series> series) {
    long min = Long.MAX_VALUE;
    long max = 1;
    long maxCount = 10;
    for (Series s : series) {
      if (s.micros().getTotalCount() > 0) {
        min = Math.min(min, Math.max(1, s.micros().getMinValue()));
        max = Math.max(max, s.micros().getMaxValue());
        maxCount = Math.max(maxCount, s.micros().getTotalCount());
      }
    }
    if (min == Long.MAX_VALUE) {
      min = 1;
    }
    // The x axis reaches the percentile a sample count can still resolve, at most 99.9999 %.
    int decades = (int) Math.max(2, Math.min(6, Math.ceil(Math.log10(maxCount))));
    double yLow = Math.floor(Math.log10(min));
    double yHigh = Math.max(yLow + 1, Math.ceil(Math.log10(max)));
    int plotW = WIDTH - LEFT - RIGHT;
    int plotH = HEIGHT - TOP - BOTTOM;

    StringBuilder svg = new StringBuilder();
    svg.append(
        String.format(
            Locale.ROOT,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                + " viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT));
    svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    text(svg, LEFT, 24, "start", "font-size=\"16\" font-weight=\"bold\"", title);
    text(svg, LEFT, 42, "start", "fill=\"#555\"", subtitle);

    // Grid and labels of the x axis: 0 %, 90 %, 99 %, ...
    for (int d = 0; d <= decades; d++) {
      double x = LEFT + plotW * (double) d / decades;
      line(svg, x, TOP, x, TOP + plotH, "#ddd");
      text(svg, x, TOP + plotH + 18, "middle", "", percentileLabel(d));
    }
    text(svg, LEFT + plotW / 2.0, HEIGHT - 16, "middle", "", "percentile");
    // Grid and labels of the y axis: decades of microseconds.
    for (int e = (int) yLow; e <= (int) yHigh; e++) {
      double y = TOP + plotH - plotH * (e - yLow) / (yHigh - yLow);
      line(svg, LEFT, y, LEFT + plotW, y, "#ddd");
      text(svg, LEFT - 8, y + 4, "end", "", latencyLabel(e));
    }
    svg.append(
        String.format(
            Locale.ROOT,
            "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
                + "latency</text>\n",
            TOP + plotH / 2.0,
            TOP + plotH / 2.0));
    svg.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
            LEFT,
            TOP,
            plotW,
            plotH));

    for (int i = 0; i < series.size(); i++) {
      Series s = series.get(i);
      String color = COLORS[i % COLORS.length];
      double legendY = TOP + 10 + i * 36;
      svg.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>\n",
              WIDTH - RIGHT + 16,
              legendY - 4,
              color));
      text(svg, WIDTH - RIGHT + 36, legendY, "start", "font-weight=\"bold\"", s.name());
      Histogram h = s.micros();
      if (h.getTotalCount() == 0) {
        text(svg, WIDTH - RIGHT + 36, legendY + 15, "start", "fill=\"#555\"", "no samples");
        continue;
      }
      text(
          svg,
          WIDTH - RIGHT + 36,
          legendY + 15,
          "start",
          "fill=\"#555\"",
          String.format(
              Locale.ROOT,
              "p50 %s  p99 %s  max %s ms",
              Report.millis(h.getValueAtPercentile(50)),
              Report.millis(h.getValueAtPercentile(99)),
              Report.millis(h.getMaxValue())));
      List<double[]> points = new ArrayList<>();
      for (HistogramIterationValue v : h.percentiles(10)) {
        double p = v.getPercentileLevelIteratedTo() / 100.0;
        double xDecades = p >= 1 ? decades : Math.min(decades, Math.log10(1 / (1 - p)));
        double latency = Math.log10(Math.max(1, h.highestEquivalentValue(v.getValueIteratedTo())));
        points.add(
            new double[] {
              LEFT + plotW * xDecades / decades,
              TOP + plotH - plotH * (latency - yLow) / (yHigh - yLow)
            });
      }
      svg.append("<polyline fill=\"none\" stroke=\"").append(color);
      svg.append("\" stroke-width=\"2\" points=\"");
      for (double[] p : points) {
        svg.append(String.format(Locale.ROOT, "%.1f,%.1f ", p[0], p[1]));
      }
      svg.append("\"/>\n");
    }
    svg.append("</svg>\n");
    return svg.toString();
  }

  private static String percentileLabel(int decades) {
    return switch (decades) {
      case 0 -> "0 %";
      case 1 -> "90 %";
      case 2 -> "99 %";
      default -> "99." + "9".repeat(decades - 2) + " %";
    };
  }

  private static String latencyLabel(int exponent) {
    // exponent is a power of ten of microseconds.
    String[] units = {"\u00b5s", "ms", "s"};
    int unit = Math.min(2, Math.max(0, exponent / 3));
    long value = (long) Math.pow(10, exponent - 3 * unit);
    return value + " " + units[unit];
  }

  private static void line(
      StringBuilder svg, double x1, double y1, double x2, double y2, String c) {
    svg.append(
        String.format(
            Locale.ROOT,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
            x1,
            y1,
            x2,
            y2,
            c));
  }

  private static void text(
      StringBuilder svg, double x, double y, String anchor, String attributes, String content) {
    svg.append(
        String.format(
            Locale.ROOT,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>%s</text>\n",
            x,
            y,
            anchor,
            attributes,
            escape(content)));
  }

  static String escape(String s) {
    return s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}
