package org.phalanx.lm;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PNG plots of training and validation loss (bits per byte) against tokens and against wall time, from
 * one or more {@code log.csv} files (one series pair per run; XChart).
 */
public final class LossPlots {

    private LossPlots() {
    }

    /** Plots one run's log into {@code dir}/loss-vs-tokens.png and loss-vs-time.png. */
    public static void write(Path csv, Path dir) throws IOException {
        write(Map.of("", csv), dir, "");
    }

    /** Plots several runs (label -> log.csv) into {@code dir}/{prefix}loss-vs-tokens.png and {prefix}loss-vs-time.png. */
    public static void write(Map<String, Path> runs, Path dir, String prefix) throws IOException {
        write(runs, Map.of(), dir, prefix);
    }

    /**
     * As {@link #write(Map, Path, String)}; for the labels in {@code tokensPerSecond} the time axis is the
     * run's tokens over that training speed (measured separately, on a quiet machine) instead of the wall
     * time logged, which other jobs on the machine distort. All labels or none should have a speed.
     */
    public static void write(Map<String, Path> runs, Map<String, Double> tokensPerSecond, Path dir, String prefix)
            throws IOException {
        XYChart byTokens = chart("tokens");
        XYChart byTime = chart(tokensPerSecond.isEmpty() ? "wall time (s)"
                : "training time at the measured training speed (s)");
        for (Map.Entry<String, Path> run : new LinkedHashMap<>(runs).entrySet()) {
            List<double[]> rows = read(run.getValue());
            Double speed = tokensPerSecond.get(run.getKey());
            if (speed != null) {
                for (double[] r : rows) {
                    r[2] = r[1] / speed;
                }
            }
            String label = run.getKey().isEmpty() ? "" : run.getKey() + " ";
            add(byTokens, label, rows, 1);
            add(byTime, label, rows, 2);
        }
        BitmapEncoder.saveBitmap(byTokens, dir.resolve(prefix + "loss-vs-tokens.png").toString(), BitmapEncoder.BitmapFormat.PNG);
        BitmapEncoder.saveBitmap(byTime, dir.resolve(prefix + "loss-vs-time.png").toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    private static XYChart chart(String xTitle) {
        XYChart c = new XYChartBuilder().width(800).height(500).xAxisTitle(xTitle).yAxisTitle("loss (bits per byte)").build();
        c.getStyler().setMarkerSize(4);
        c.getStyler().setXAxisDecimalPattern("#,###");
        c.getStyler().setYAxisDecimalPattern("0.0");
        c.getStyler().setYAxisMax(5.0);          // the first steps (8 bits and more) would flatten the curves
        return c;
    }

    private static void add(XYChart c, String label, List<double[]> rows, int xColumn) {
        List<Double> tx = new ArrayList<>(), ty = new ArrayList<>(), vx = new ArrayList<>(), vy = new ArrayList<>();
        for (double[] r : rows) {
            tx.add(r[xColumn]);
            ty.add(r[3]);
            if (!Double.isNaN(r[4])) {
                vx.add(r[xColumn]);
                vy.add(r[4]);
            }
        }
        if (!tx.isEmpty()) {
            c.addSeries(label + "train", tx, ty).setMarker(SeriesMarkers.NONE);
        }
        if (!vx.isEmpty()) {
            c.addSeries(label + "validation", vx, vy);
        }
    }

    /** Rows of step, tokens, seconds, train_bpb, val_bpb (NaN where empty). */
    static List<double[]> read(Path csv) throws IOException {
        List<double[]> out = new ArrayList<>();
        for (String line : Files.readAllLines(csv, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("step")) {
                continue;
            }
            String[] f = line.split(",", -1);
            double[] r = new double[5];
            for (int i = 0; i < 5; i++) {
                r[i] = i < f.length && !f[i].isEmpty() ? Double.parseDouble(f[i]) : Double.NaN;
            }
            out.add(r);
        }
        return out;
    }
}
