package org.cottention.io;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Line charts written to PNG or SVG (by the file's extension), atomically. Used by training and the benchmarks. */
public final class Charts {
    /** One named line. */
    public record Series(String name, List<? extends Number> x, List<? extends Number> y) {}

    /** One chart: title, axis titles, lines, and whether each axis is logarithmic. */
    public record Chart(String title, String xTitle, String yTitle, boolean logX, boolean logY, List<Series> series) {}

    private Charts() {}

    /** Writes the charts side by side into one image file (.png or .svg). */
    public static void write(Path file, List<Chart> charts) throws IOException {
        if (charts.isEmpty()) throw new IllegalArgumentException("nothing to plot");
        String name = file.getFileName().toString().toLowerCase();
        boolean svg = name.endsWith(".svg");
        if (!svg && !name.endsWith(".png")) throw new IllegalArgumentException("plot file must end in .png or .svg: " + file);
        List<XYChart> built = new ArrayList<>();
        for (Chart c : charts) built.add(build(c));
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // XChart writes by file name; write to a temp name in the same folder, then move into place.
        Path tmp = Files.createTempFile(dir, ".chart", svg ? ".svg" : ".png");
        try {
            if (built.size() == 1) {
                if (svg) VectorGraphicsEncoder.saveVectorGraphic(built.get(0), tmp.toString(), VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
                else BitmapEncoder.saveBitmapWithDPI(built.get(0), tmp.toString(), BitmapEncoder.BitmapFormat.PNG, 120);
            } else {
                if (svg) throw new IllegalArgumentException("several charts in one file are written as .png only");
                BitmapEncoder.saveBitmap(built, 1, built.size(), tmp.toString(), BitmapEncoder.BitmapFormat.PNG);
            }
            // XChart appends the extension when it is missing; the temp name already has it.
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A bar chart of one value per name (e.g. each variant's accuracy), written as .png. */
    public static void writeBars(Path file, String title, String yTitle, List<String> names, List<? extends Number> values) throws IOException {
        CategoryChart chart = new CategoryChartBuilder().width(800).height(560).title(title).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setLabelsVisible(true);
        chart.addSeries(yTitle, names, values);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, ".chart", ".png");
        try {
            BitmapEncoder.saveBitmapWithDPI(chart, tmp.toString(), BitmapEncoder.BitmapFormat.PNG, 120);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static XYChart build(Chart c) {
        XYChart chart = new XYChartBuilder().width(800).height(560).title(c.title()).xAxisTitle(c.xTitle()).yAxisTitle(c.yTitle()).build();
        chart.getStyler().setXAxisLogarithmic(c.logX());
        chart.getStyler().setYAxisLogarithmic(c.logY());
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        chart.getStyler().setMarkerSize(5);
        for (Series s : c.series()) {
            if (s.x().isEmpty()) continue;
            XYSeries xy = chart.addSeries(s.name(), s.x(), s.y());
            if (s.x().size() > 50) xy.setMarker(SeriesMarkers.NONE);
        }
        return chart;
    }
}
