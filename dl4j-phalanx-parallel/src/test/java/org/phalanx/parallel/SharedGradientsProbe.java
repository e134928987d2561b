package org.phalanx.parallel;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

import java.util.List;

/**
 * Run in a fresh JVM by {@link SharedGradientsTest} (a hang there cannot hang the test JVM): fits a Phalanx
 * network twice with ParallelWrapper in SHARED_GRADIENTS mode and prints one line per finished fit.
 * Mode {@code same-wrapper}: both fits on one wrapper; {@code wrapper-per-fit}: a new wrapper for each fit,
 * the first one closed. A second argument {@code workspaces-none} trains without workspaces. A fit that has
 * not returned {@link #FIT_DEADLINE_S} seconds after the previous one prints {@code HUNG in fit N} and ends
 * the JVM with exit code 3.
 */
public final class SharedGradientsProbe {
    static final int FIT_DEADLINE_S = 30;

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        WorkspaceMode workspaces = args.length > 1 && args[1].equals("workspaces-none")
                ? WorkspaceMode.NONE : WorkspaceMode.ENABLED;
        MultiLayerNetwork net = new MultiLayerNetwork(TwoTimeScalesTask.multiLayer(32, new Adam(3e-3), 3, DataType.FLOAT));
        net.init();
        List<DataSet> data = TwoTimeScalesTask.batches(8, 8, 33, 100, DataType.FLOAT);
        DataSet test = TwoTimeScalesTask.batch(16, 33, 1, DataType.FLOAT);
        System.out.printf("START loss %.6f%n", net.score(test));
        ParallelWrapper wrapper = null;
        for (int fit = 1; fit <= 2; fit++) {
            if (wrapper == null || mode.equals("wrapper-per-fit")) {
                if (wrapper != null) {
                    wrapper.close();
                }
                wrapper = wrapper(net, workspaces);
            } else if (!mode.equals("same-wrapper")) {
                throw new IllegalArgumentException(mode);
            }
            int current = fit;
            Thread watchdog = new Thread(() -> {
                try {
                    Thread.sleep(FIT_DEADLINE_S * 1000L);
                    System.out.println("HUNG in fit " + current);
                    System.out.flush();
                    Runtime.getRuntime().halt(3);
                } catch (InterruptedException finished) {
                    // the fit returned in time
                }
            });
            watchdog.setDaemon(true);
            watchdog.start();
            wrapper.fit(new ExistingDataSetIterator(data));
            watchdog.interrupt();
            System.out.printf("FIT %d loss %.6f%n", fit, net.score(test));
        }
        wrapper.close();
        System.out.println("DONE");
        System.exit(0); // the wrapper's threads must not keep this JVM alive
    }

    private static ParallelWrapper wrapper(MultiLayerNetwork net, WorkspaceMode workspaces) {
        return new ParallelWrapper.Builder<>(net)
                .workspaceMode(workspaces)
                .workers(2)
                .prefetchBuffer(2)
                .trainingMode(ParallelWrapper.TrainingMode.SHARED_GRADIENTS)
                .build();
    }
}
