package org.phalanx.parallel;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * Training throughput of a Phalanx network ({@link TwoTimeScalesTask}'s MultiLayerNetwork) with one worker
 * (plain {@code fit}) and with ParallelWrapper in averaging mode, on the same minibatches, in tokens
 * (sequence steps) per second. Each configuration gets a warm-up pass first, then the median of
 * {@code --repeats} timed passes.
 *
 * <pre>
 * mvn -q -pl dl4j-phalanx-parallel -am -DskipTests -Dphalanx.cuda.skip=true compile exec:java \
 *     -Dexec.args="--width 64 --length 256 --batch 16 --batches 32"
 * </pre>
 * Run it once with the default OpenMP threads and once with {@code OMP_NUM_THREADS=1} (two workers on two
 * cores, each then single-threaded).
 */
@Command(name = "parallel-throughput", mixinStandardHelpOptions = true,
        description = "Phalanx network training throughput: one worker vs ParallelWrapper.")
public final class ParallelThroughput implements Callable<Integer> {

    @Option(names = "--width", defaultValue = "64", description = "Phalanx channels (default: ${DEFAULT-VALUE})")
    int width;
    @Option(names = "--length", defaultValue = "256", description = "sequence length (default: ${DEFAULT-VALUE})")
    int length;
    @Option(names = "--batch", defaultValue = "16", description = "sequences per minibatch (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--batches", defaultValue = "32", description = "minibatches per pass (default: ${DEFAULT-VALUE})")
    int batches;
    @Option(names = "--workers", split = ",", defaultValue = "2", description = "ParallelWrapper worker counts (default: ${DEFAULT-VALUE})")
    List<Integer> workers;
    @Option(names = "--averaging", defaultValue = "4", description = "averaging frequency (default: ${DEFAULT-VALUE})")
    int averaging;
    @Option(names = "--repeats", defaultValue = "3", description = "timed passes per configuration (default: ${DEFAULT-VALUE})")
    int repeats;

    @Override
    public Integer call() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        List<DataSet> data = TwoTimeScalesTask.batches(batches, batch, length, 1, DataType.FLOAT);
        double tokens = (double) batches * batch * length;
        System.out.printf("width %d, length %d, batch %d, %d minibatches per pass; OMP_NUM_THREADS=%s, %d cores%n",
                width, length, batch, batches, System.getenv().getOrDefault("OMP_NUM_THREADS", "(unset)"),
                Runtime.getRuntime().availableProcessors());
        MultiLayerNetwork single = network();
        double one = median(() -> {
            for (DataSet d : data) {
                single.fit(d);
            }
        });
        System.out.printf("1 worker (fit):               %10.0f tokens/s%n", tokens / one);
        for (int n : workers) {
            MultiLayerNetwork net = network();
            try (ParallelWrapper wrapper = new ParallelWrapper.Builder<>(net).workers(n).prefetchBuffer(2)
                    .averagingFrequency(averaging).trainingMode(ParallelWrapper.TrainingMode.AVERAGING).build()) {
                double s = median(() -> wrapper.fit(new ExistingDataSetIterator(data)));
                System.out.printf("%d workers (ParallelWrapper): %10.0f tokens/s  (%.2fx)%n", n, tokens / s, one / s);
            }
        }
        return 0;
    }

    private MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(TwoTimeScalesTask.multiLayer(width, new Adam(1e-3), 1, DataType.FLOAT));
        net.init();
        return net;
    }

    /** Seconds per pass: one warm-up pass, then the median of the timed ones. */
    private double median(Runnable pass) {
        pass.run();
        double[] t = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            pass.run();
            t[i] = (System.nanoTime() - t0) / 1e9;
        }
        java.util.Arrays.sort(t);
        return t[repeats / 2];
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new ParallelThroughput()).execute(args));
    }
}
