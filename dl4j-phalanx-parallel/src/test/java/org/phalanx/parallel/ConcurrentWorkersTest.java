package org.phalanx.parallel;

import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What ParallelWrapper's workers do, without the wrapper: several threads, each with its own copy of a
 * Phalanx network, run forward and backward passes at the same time (started together by a barrier, many
 * rounds). Each thread's outputs and gradients must equal those computed beforehand by one thread alone:
 * shared mutable state anywhere in our layer, op or executioner would mix the threads' data.
 */
@Timeout(120)
class ConcurrentWorkersTest {

    static final int THREADS = 4;
    static final int ROUNDS = 15;

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** The network's output and flattened gradient on one minibatch. */
    record Result(INDArray output, INDArray gradient) {
    }

    static Result run(MultiLayerNetwork net, DataSet data) {
        INDArray out = net.output(data.getFeatures(), false).dup();
        net.setInput(data.getFeatures());
        net.setLabels(data.getLabels());
        net.computeGradientAndScore();
        Gradient g = net.gradient();
        return new Result(out, g.gradient().dup());
    }

    @Test
    void threadsWithTheirOwnNetworksGetTheSingleThreadedResults() throws Exception {
        MultiLayerNetwork original = new MultiLayerNetwork(TwoTimeScalesTask.multiLayer(48, new Sgd(0.01), 9, DataType.DOUBLE));
        original.init();
        // Different lengths per thread (1, 15, 17, 40): different work sizes, partial blocks.
        int[] lengths = {1, 15, 17, 40};
        List<DataSet> inputs = new ArrayList<>();
        List<Result> expected = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            DataSet d = TwoTimeScalesTask.batch(3 + t, lengths[t], 50 + t, DataType.DOUBLE);
            inputs.add(d);
            expected.add(run(original.clone(), d));
        }

        CyclicBarrier start = new CyclicBarrier(THREADS);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<String>> futures = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int id = t;
                MultiLayerNetwork mine = original.clone();
                futures.add(pool.submit(() -> {
                    for (int round = 0; round < ROUNDS; round++) {
                        start.await();
                        Result r = run(mine, inputs.get(id));
                        String where = "thread " + id + ", round " + round;
                        check(expected.get(id).output(), r.output(), where + ": output");
                        check(expected.get(id).gradient(), r.gradient(), where + ": gradient");
                    }
                    return "ok";
                }));
            }
            for (Future<String> f : futures) {
                assertEquals("ok", f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Float64 rounding only (summation order inside BLAS may vary with the threads it gets). */
    static void check(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double diff = expected.sub(actual).norm2Number().doubleValue();
        double scale = expected.norm2Number().doubleValue();
        if (!(diff <= 1e-12 * Math.max(scale, 1e-300))) {
            throw new AssertionError(what + ": |expected - actual| = " + diff + ", |expected| = " + scale);
        }
    }
}
