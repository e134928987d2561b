package org.phalanx.parallel;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Phalanx networks trained by ParallelWrapper with 2 workers in AVERAGING mode.
 *
 * <p>The reference is exact: with plain SGD and averaging after every iteration, each worker takes one step
 * from the same parameters on its own minibatch, and the average of the two results is
 * {@code p - lr (g1 + g2) / 2}: one SGD step on the two minibatches merged (DL4J divides gradients by the
 * minibatch size, and both halves have the same size). So 2N minibatches through the wrapper must give the
 * parameters of N steps on merged pairs by a single network, up to float64 rounding. Any race between the
 * workers (shared state in our layer, op or executioner) or a worker built from a configuration that differs
 * from the original breaks that equality.
 *
 * <p>Tolerance: that equality holds to 1e-16 in some runs, but DL4J M2.1's ParallelWrapper itself does not
 * always deliver it: in other runs (more often on a loaded machine) the result is off by a reproducible
 * amount, 8.1e-4 (relative) for this network and 6.5e-4 for the same network built on DL4J's own LSTM, the
 * same with prefetching off (1.4e-2 seen once for the ComputationGraph). So the parameters are compared to
 * 3e-2 relative, a loose bound set from those observations; the exact check of our code under
 * concurrency is {@link ConcurrentWorkersTest}.
 */
@Timeout(120)
class ParallelWrapperTest {

    static final int WIDTH = 32;
    /** Not a multiple of the SWR block (16): a partial last block. */
    static final int LENGTH = 33;
    static final int BATCH = 5;
    static final int WORKERS = 2;
    /** Small enough that plain SGD on this task's summed-over-time loss is stable. */
    static final double LR = 0.003;
    /** See the class comment. */
    static final double PARAM_TOL = 3e-2;

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    static ParallelWrapper averaging(Model model) {
        return new ParallelWrapper.Builder<>(model)
                .workers(WORKERS)
                .prefetchBuffer(2)
                .averagingFrequency(1)
                .averageUpdaters(true)
                .reportScoreAfterAveraging(true)
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING)
                .build();
    }

    /** Pairs of consecutive minibatches merged into one of twice the size. */
    static List<DataSet> mergedPairs(List<DataSet> batches) {
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i + 1 < batches.size(); i += 2) {
            out.add(DataSet.merge(List.of(batches.get(i), batches.get(i + 1))));
        }
        return out;
    }

    static void assertClose(INDArray expected, INDArray actual, double relTol, String what) {
        double scale = expected.norm2Number().doubleValue();
        double diff = expected.sub(actual).norm2Number().doubleValue();
        assertTrue(diff <= relTol * scale, what + ": |expected - actual| = " + diff + ", |expected| = " + scale);
    }

    /** Records, thread-safely, every worker model the wrapper trains and its configuration as JSON. */
    static final class WorkerRecorder extends BaseTrainingListener {
        final Map<Model, String> workers = new ConcurrentHashMap<>();
        final Set<String> threads = ConcurrentHashMap.newKeySet();

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            threads.add(Thread.currentThread().getName());
            workers.computeIfAbsent(model, m -> m instanceof MultiLayerNetwork
                    ? ((MultiLayerNetwork) m).getLayerWiseConfigurations().toJson()
                    : ((ComputationGraph) m).getConfiguration().toJson());
        }
    }

    @Test
    void multiLayerNetworkEqualsOneStepOnMergedPairs() throws Exception {
        List<DataSet> data = TwoTimeScalesTask.batches(8, BATCH, LENGTH, 11, DataType.DOUBLE);
        MultiLayerNetwork net = new MultiLayerNetwork(TwoTimeScalesTask.multiLayer(WIDTH, new Sgd(LR), 5, DataType.DOUBLE));
        net.init();
        MultiLayerNetwork reference = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
        reference.init(net.params().dup(), false);
        String originalJson = net.getLayerWiseConfigurations().toJson();
        INDArray before = net.params().dup();

        WorkerRecorder recorder = new WorkerRecorder();
        try (ParallelWrapper wrapper = averaging(net)) {
            wrapper.setListeners(recorder);
            wrapper.fit(new ExistingDataSetIterator(data));
        }
        DataSet test = TwoTimeScalesTask.batch(16, LENGTH, 3, DataType.DOUBLE);
        double initial = reference.score(test);
        for (DataSet merged : mergedPairs(data)) {
            reference.fit(merged);
        }

        assertTrue(reference.score(test) < initial, "the reference trains: " + initial + " -> " + reference.score(test));
        assertTrue(net.params().sub(before).norm2Number().doubleValue() > 1e-3, "the wrapper trained the network");
        assertClose(reference.params(), net.params(), PARAM_TOL, "parameters after 4 averaged rounds");
        assertEquals(WORKERS, recorder.threads.size(), "worker threads " + recorder.threads);
        assertEquals(WORKERS, recorder.workers.size(), "distinct worker models");
        for (String json : recorder.workers.values()) {
            assertEquals(originalJson, json, "a worker's configuration differs from the original");
        }
    }

    @Test
    void computationGraphEqualsOneStepOnMergedPairs() throws Exception {
        List<DataSet> data = TwoTimeScalesTask.batches(6, BATCH, LENGTH, 21, DataType.DOUBLE);
        ComputationGraph net = new ComputationGraph(TwoTimeScalesTask.graph(WIDTH, new Sgd(LR), 6, DataType.DOUBLE));
        net.init();
        ComputationGraph reference = new ComputationGraph(net.getConfiguration().clone());
        reference.init(net.params().dup(), false);
        String originalJson = net.getConfiguration().toJson();

        WorkerRecorder recorder = new WorkerRecorder();
        try (ParallelWrapper wrapper = averaging(net)) {
            wrapper.setListeners(recorder);
            wrapper.fit(new ExistingDataSetIterator(data));
        }
        // Scored at the training minibatch size: DL4J M2.1's ComputationGraph.score(DataSet) fails after a fit
        // at another size (its FeedForwardToRnnPreProcessor keeps the old size; DL4J's LSTM alike).
        DataSet test = TwoTimeScalesTask.batch(2 * BATCH, LENGTH, 3, DataType.DOUBLE);
        double initial = reference.score(test);
        for (DataSet merged : mergedPairs(data)) {
            reference.fit(merged);
        }

        assertTrue(reference.score(test) < initial, "the reference trains: " + initial + " -> " + reference.score(test));
        assertClose(reference.params(), net.params(), PARAM_TOL, "parameters after 3 averaged rounds");
        assertEquals(WORKERS, recorder.workers.size(), "distinct worker models");
        for (String json : recorder.workers.values()) {
            assertEquals(originalJson, json, "a worker's configuration differs from the original");
        }
    }

    /**
     * With Adam (its state averaged too) the equality above no longer holds exactly, since Adam is not linear
     * in the gradient; the loss must still fall like that of one network on the same data in the same number
     * of steps (the merged pairs). Tolerances: both remove most of the initial loss (below 30%), and the
     * wrapper ends within 1.5x of the single network (Adam's state is averaged, not computed from the merged
     * gradient). For scale, the test also prints one network fitted on the 40 minibatches one by one (twice as
     * many steps), which ends lower; measured here: initial 13.8, 40 single steps 0.51.
     */
    @Test
    void withAdamTheLossFallsLikeOneWorker() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        try {
            List<DataSet> data = TwoTimeScalesTask.batches(40, 8, LENGTH, 31, DataType.FLOAT);
            DataSet test = TwoTimeScalesTask.batch(32, LENGTH, 7, DataType.FLOAT);
            MultiLayerNetwork net = new MultiLayerNetwork(TwoTimeScalesTask.multiLayer(WIDTH, new Adam(1e-2), 8, DataType.FLOAT));
            net.init();
            MultiLayerNetwork merged = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
            merged.init(net.params().dup(), false);
            MultiLayerNetwork sequential = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
            sequential.init(net.params().dup(), false);
            double initial = net.score(test);

            try (ParallelWrapper wrapper = averaging(net)) {
                wrapper.fit(new ExistingDataSetIterator(data));
            }
            for (DataSet pair : mergedPairs(data)) {
                merged.fit(pair);
            }
            for (DataSet batch : data) {
                sequential.fit(batch);
            }
            double parallel = net.score(test), alone = merged.score(test);
            System.out.printf("Adam: initial %.4f, two workers %.4f, one worker on merged pairs %.4f, "
                    + "one worker on every minibatch %.4f%n", initial, parallel, alone, sequential.score(test));
            assertTrue(alone < 0.3 * initial, "one worker: " + initial + " -> " + alone);
            assertTrue(parallel < 0.3 * initial, "two workers: " + initial + " -> " + parallel);
            assertTrue(parallel < 1.5 * alone, "two workers " + parallel + " vs one " + alone);
        } finally {
            Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        }
    }
}
