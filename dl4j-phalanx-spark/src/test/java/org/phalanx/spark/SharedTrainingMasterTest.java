package org.phalanx.spark;

import org.junit.jupiter.api.Test;

import java.net.DatagramSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SharedTrainingMaster (DL4J's gradient sharing over Aeron UDP) in local[2], in a fresh JVM
 * ({@link SharedTrainingProbe}, which gives up on a second fit that hangs) killed after a deadline
 * otherwise: Aeron's threads and any hang stay out of the test JVM. The test MSE must fall by more than half
 * in the first epoch. A second {@code fit} on the same master hung intermittently (the probe names it
 * {@code HUNG in fit 2}; docs/DISTRIBUTED.md, Limits), so CI runs one epoch;
 * {@code -Dphalanx.spark.sharedEpochs=2} runs two by hand and then requires the second to return and improve.
 */
class SharedTrainingMasterTest {

    static final long DEADLINE_S = 420;

    static double mse(String log, int epoch) {
        Matcher m = Pattern.compile("EPOCH " + epoch + " mse ([0-9.]+)").matcher(log);
        assertTrue(m.find(), "no MSE for epoch " + epoch + " in:\n" + log);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void trainsInLocalMode() throws Exception {
        int epochs = Integer.getInteger("phalanx.spark.sharedEpochs", 1);
        int port;
        try (DatagramSocket s = new DatagramSocket(0)) {
            port = s.getLocalPort();
        }
        // DL4J's Aeron transport sets a client liveness timeout of 30 s, and Aeron 1.39 refuses to start unless
        // the publication unblock timeout (default 15 s) is longer.
        List<String> cmd = new ArrayList<>(List.of("-Xmx2g", "-Daeron.publication.unblock.timeout=60000000000"));
        cmd.addAll(List.of(System.getProperty("phalanx.spark.add-opens", "").trim().split("\\s+")));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SharedTrainingProbe.class.getName(),
                Integer.toString(port), Integer.toString(epochs)));
        cmd.removeIf(String::isEmpty);
        FreshJvm.Result run = FreshJvm.run(DEADLINE_S, cmd);
        String log = run.output();
        System.out.println(log.lines().filter(l -> l.startsWith("EPOCH") || l.startsWith("DONE")
                || l.contains("Exception")).reduce("", (a, b) -> a + b + "\n"));
        assertTrue(run.finished(), "did not finish in " + DEADLINE_S + " s:\n" + log);
        assertFalse(log.contains("HUNG in fit 2"), () -> "the second fit hung:\n" + log);
        assertEquals(0, run.exit(), log);
        assertTrue(log.contains("DONE"), log);
        double initial = mse(log, 0), first = mse(log, 1);
        assertTrue(first < 0.5 * initial, "first epoch: test MSE " + initial + " -> " + first);
        if (epochs >= 2) {
            double second = mse(log, 2);
            assertTrue(second < first, "second epoch: test MSE " + first + " -> " + second);
        }
    }
}
