package org.phalanx.parallel;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ParallelWrapper's SHARED_GRADIENTS mode (DL4J M2.1), each case in a fresh JVM that ends itself when a fit
 * hangs ({@link SharedGradientsProbe}) and is killed after a deadline otherwise: a hang cannot hang CI.
 *
 * <p>The limit (DL4J's, shown with DL4J's own layers too): a second {@code fit} on the same wrapper deadlocks
 * (intermittently: most runs here, not all).
 * A thread dump shows both workers holding the same network: worker 0 sits in
 * {@code EncodedGradientsAccumulator.synchronize} (waiting for every worker's update) inside the network's
 * synchronized {@code fit}, while worker 1 waits for that network's monitor in {@code getUpdater}. It hangs
 * with workspaces ENABLED and NONE alike. A new wrapper per fit (closing the previous one) trains on.
 */
class SharedGradientsTest {

    static final long DEADLINE_S = SharedGradientsProbe.FIT_DEADLINE_S * 2 + 60;

    /** Output lines of the probe, and whether it finished before the deadline. */
    record Run(List<String> lines, boolean finished, int exit) {
    }

    static Run probe(String... args) throws Exception {
        String java = System.getProperty("java.home") + "/bin/java";
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx2g", "-cp", System.getProperty("java.class.path"),
                SharedGradientsProbe.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (lines) {
                        lines.add(line);
                    }
                }
            } catch (Exception ignored) {
                // the process was killed
            }
        });
        reader.start();
        boolean finished = p.waitFor(DEADLINE_S, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        reader.join(5000);
        synchronized (lines) {
            return new Run(List.copyOf(lines), finished, finished ? p.exitValue() : -1);
        }
    }

    static double loss(Run run, String prefix) {
        for (String line : run.lines()) {
            if (line.startsWith(prefix)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return fail("no line starting with '" + prefix + "' in:\n" + String.join("\n", run.lines()));
    }

    /**
     * The limit: the first fit trains; the second on the same wrapper deadlocks in most runs here, and in
     * some it returns (2026-12-02: it returned once on a quiet machine). Either outcome is accepted, and
     * which one happened is printed; anything else (an exception, a crash, a fit that returns without
     * training, a JVM that neither finishes nor reports the hang) fails.
     */
    @Test
    void secondFitOnTheSameWrapperHangsOrTrains() throws Exception {
        Run run = probe("same-wrapper");
        String log = String.join("\n", run.lines());
        double start = loss(run, "START"), first = loss(run, "FIT 1");
        assertTrue(first < start, "the first fit trains: " + start + " -> " + first);
        if (run.lines().contains("HUNG in fit 2")) {
            System.out.println("SharedGradientsTest: the second fit on the same wrapper hung (the known limit)");
            assertEquals(3, run.exit(), log);
        } else {
            System.out.println("SharedGradientsTest: the second fit on the same wrapper returned this time");
            assertTrue(run.finished() && run.exit() == 0 && run.lines().contains("DONE"), log);
            assertTrue(loss(run, "FIT 2") < first, "the second fit trains on:\n" + log);
        }
    }

    /** The workaround: one wrapper per fit; both fits return and the loss keeps falling. */
    @Test
    void aNewWrapperPerFitTrainsOn() throws Exception {
        Run run = probe("wrapper-per-fit");
        assertTrue(run.finished() && run.exit() == 0 && run.lines().contains("DONE"),
                () -> String.join("\n", run.lines()));
        double start = loss(run, "START"), first = loss(run, "FIT 1"), second = loss(run, "FIT 2");
        assertTrue(first < start && second < first, "loss " + start + " -> " + first + " -> " + second);
    }
}
