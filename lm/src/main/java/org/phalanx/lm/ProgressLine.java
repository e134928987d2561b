package org.phalanx.lm;

import java.io.PrintStream;

/** One self-overwriting progress line: step, bar, loss in bits per byte, tokens/s, ETA. */
final class ProgressLine {

    private static final int WIDTH = 24;
    private final PrintStream out;
    private final long total;
    private long lastPrint;

    ProgressLine(PrintStream out, long total) {
        this.out = out;
        this.total = total;
    }

    void update(long step, double bpb, double tokensPerSecond, double etaSeconds) {
        long now = System.nanoTime();
        if (now - lastPrint < 200_000_000L && step != total) {
            return;
        }
        lastPrint = now;
        int filled = (int) (WIDTH * step / Math.max(1, total));
        out.printf("\r%6d/%d [%s%s] loss %.3f bpb | %,.0f tok/s | ETA %s   ", step, total, "=".repeat(filled),
                " ".repeat(WIDTH - filled), bpb, tokensPerSecond, duration(etaSeconds));
        out.flush();
    }

    /** A line of its own above the bar. */
    void note(String line) {
        out.print("\r" + " ".repeat(100) + "\r" + line + "\n");
        lastPrint = 0;
    }

    void done() {
        out.println();
    }

    static String duration(double s) {
        if (!Double.isFinite(s)) {
            return "?";
        }
        long t = Math.round(s);
        return t >= 3600 ? String.format("%dh%02dm", t / 3600, t / 60 % 60) : String.format("%dm%02ds", t / 60, t % 60);
    }
}
