package org.phalanx.nn;

import org.deeplearning4j.nn.api.layers.RecurrentLayer;
import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Truncated BPTT: each segment's forward starts from the SWR state the previous one ended in (so the segments
 * together give one full pass), and each segment's gradients are those of its own loss with the incoming state
 * held fixed (checked by central finite differences), for segment lengths that are not multiples of the block.
 */
class PhalanxLayerTbpttTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    static final int NIN = 5;

    private static MultiLayerNetwork net(int segment, int window, Activation act) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(17).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new PhalanxLayer.Builder().nOut(20).kvHeads(1).window(window).activation(act).build())
                .layer(new PhalanxLayer.Builder().nOut(16).blockSize(5).window(window).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).build())
                .backpropType(BackpropType.TruncatedBPTT).tBPTTLength(segment)
                .setInputType(InputType.recurrent(NIN)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 23);
        return net;
    }

    private static INDArray time(INDArray z, long from, long to) {
        return z.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to)).dup();
    }

    @ParameterizedTest(name = "segment={0} k={1} mask={2}")
    @CsvSource({"13, 2, false", "16, 2, true", "7, 1, true", "1, 2, false", "50, 2, false", "13, 3, false", "7, 5, true",
            "11, 2147483647, false", "16, 3, true", "1, 4, false"})
    void segmentsTogetherEqualOneFullPass(int segment, int k, boolean masked) {
        MultiLayerNetwork net = net(segment, k, Activation.TANH);
        int b = 3, l = 50;
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 1, b, NIN, l);
        INDArray mask = masked ? PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, 29, 3) : null;
        List<INDArray> full = net.feedForward(x, mask, null);
        net.rnnClearPreviousState();
        for (int t = 0; t < l; t += segment) {
            int e = Math.min(l, t + segment);
            net.setLayerMaskArrays(mask == null ? null : mask.get(NDArrayIndex.all(), NDArrayIndex.interval(t, e)).dup(), null);
            List<INDArray> seg = net.rnnActivateUsingStoredState(time(x, t, e), true, true);
            for (int li = 1; li <= 3; li++) {
                double err = seg.get(li).sub(time(full.get(li), t, e)).amaxNumber().doubleValue();
                assertTrue(err < 1e-12, "layer " + (li - 1) + " steps " + t + ".." + e + ": " + err);
            }
        }
        net.clearLayerMaskArrays();
    }

    @ParameterizedTest(name = "segment={0} k={1}")
    @CsvSource({"13, 2", "21, 1", "9, 2", "13, 3", "9, 5", "21, 2147483647", "7, 4"})
    void eachSegmentsGradientIsItsFiniteDifferenceWithTheIncomingStateFixed(int segment, int k) {
        MultiLayerNetwork net = net(segment, k, Activation.TANH);
        int b = 2, l = 3 * segment + 4;
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 2, b, NIN, l);
        INDArray y = PhalanxTestUtil.randn(DataType.DOUBLE, 3, b, 3, l);
        INDArray params = net.params();
        Random r = new Random(segment);
        net.rnnClearPreviousState();
        int checked = 0;
        for (int t = 0; t < l; t += segment) {
            int e = Math.min(l, t + segment);
            INDArray xs = time(x, t, e), ys = time(y, t, e);
            Map<String, INDArray> s0 = ((RecurrentLayer) net.getLayer(0)).rnnGetTBPTTState();
            Map<String, INDArray> s1 = ((RecurrentLayer) net.getLayer(1)).rnnGetTBPTTState();
            INDArray grad = segmentGradient(net, xs, ys, s0, s1).divi(b);   // summed over the batch; the score is the mean
            if (t > 0) {
                assertTrue(s0.get(PhalanxLayerStateKeys.POSITION).getLong(0) == t, "state carried to step " + t);
            }
            for (int n = 0; n < 12; n++) {
                long i = (long) (r.nextDouble() * params.length());
                double orig = params.getDouble(i), eps = 1e-6;
                params.putScalar(i, orig + eps);
                double sp = segmentScore(net, xs, ys, s0, s1);
                params.putScalar(i, orig - eps);
                double sm = segmentScore(net, xs, ys, s0, s1);
                params.putScalar(i, orig);
                double num = (sp - sm) / (2 * eps), an = grad.getDouble(i);
                assertTrue(Math.abs(num - an) < 1e-8 || Math.abs(num - an) / (Math.abs(num) + Math.abs(an)) < 1e-5,
                        "segment at " + t + ", parameter " + i + ": analytic " + an + " vs numeric " + num);
                checked++;
            }
            // Advance the states with the unperturbed parameters.
            segmentGradient(net, xs, ys, s0, s1);
        }
        assertTrue(checked >= 36);
    }

    /** Keys of the layer's TBPTT state (rnnGetTBPTTState): the SwrState map with the layer's prefix. */
    static final class PhalanxLayerStateKeys {
        static final String POSITION = org.phalanx.nn.layers.PhalanxLayerImpl.STATE_PREFIX + org.phalanx.swr.SwrState.POSITION;
    }

    private static INDArray segmentGradient(MultiLayerNetwork net, INDArray xs, INDArray ys,
                                            Map<String, INDArray> s0, Map<String, INDArray> s1) {
        ((RecurrentLayer) net.getLayer(0)).rnnSetTBPTTState(s0);
        ((RecurrentLayer) net.getLayer(1)).rnnSetTBPTTState(s1);
        net.setInput(xs);
        net.setLabels(ys);
        net.computeGradientAndScore();
        return net.gradient().gradient().dup();
    }

    private static double segmentScore(MultiLayerNetwork net, INDArray xs, INDArray ys,
                                       Map<String, INDArray> s0, Map<String, INDArray> s1) {
        segmentGradient(net, xs, ys, s0, s1);
        return net.score();
    }

    /** TBPTT training with fit: MultiLayerNetwork and ComputationGraph both learn, nothing refused. */
    @Test
    void fitWithTruncatedBpttLearnsInBothNetworkTypes() {
        int b = 4, l = 60;
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 5, b, NIN, l);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, b, 3, l);
        for (int i = 0; i < b; i++)   // a delayed copy of the input: needs memory across segment boundaries
            for (int t = 3; t < l; t++)
                for (int c = 0; c < 3; c++) y.putScalar(new long[]{i, c, t}, x.getDouble(i, c, t - 3));
        DataSet ds = new DataSet(x, y);

        MultiLayerConfiguration mc = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(new Adam(1e-2)).list()
                .layer(new PhalanxLayer.Builder().nOut(32).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).nOut(3).build())
                .backpropType(BackpropType.TruncatedBPTT).tBPTTLength(10)
                .setInputType(InputType.recurrent(NIN)).build();
        MultiLayerNetwork mln = new MultiLayerNetwork(mc);
        mln.init();
        double m0 = mln.score(ds);
        for (int i = 0; i < 40; i++) mln.fit(ds);
        assertTrue(mln.score(ds) < 0.5 * m0, "MultiLayerNetwork: " + m0 + " -> " + mln.score(ds));

        ComputationGraphConfiguration gc = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(new Adam(1e-2)).graphBuilder().addInputs("in")
                .addLayer("p", new PhalanxLayer.Builder().nOut(32).build(), "in")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).build(), "p")
                .setOutputs("out").backpropType(BackpropType.TruncatedBPTT).tBPTTForwardLength(10).tBPTTBackwardLength(10)
                .setInputTypes(InputType.recurrent(NIN)).build();
        ComputationGraph cg = new ComputationGraph(gc);
        cg.init();
        double c0 = cg.score(ds);
        for (int i = 0; i < 40; i++) cg.fit(ds);
        assertTrue(cg.score(ds) < 0.5 * c0, "ComputationGraph: " + c0 + " -> " + cg.score(ds));

        // The graph's segments also chain their state.
        INDArray full = cg.outputSingle(x);
        cg.rnnClearPreviousState();
        for (int t = 0; t < l; t += 10) {
            Map<String, INDArray> acts = cg.rnnActivateUsingStoredState(new INDArray[]{time(x, t, t + 10)}, true, true);
            assertTrue(acts.get("out").sub(time(full, t, t + 10)).amaxNumber().doubleValue() < 1e-12, "graph steps " + t);
        }
    }

    @Test
    void leftPaddedMasksAreRefusedWithAStoredState() {
        MultiLayerNetwork net = net(8, 2, Activation.IDENTITY);
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 1, 2, NIN, 8);
        INDArray mask = Nd4j.ones(DataType.DOUBLE, 2, 8);
        mask.putScalar(1, 0, 0.0);   // sequence 1 starts at step 1
        net.rnnClearPreviousState();
        net.setLayerMaskArrays(mask, null);
        Exception e = assertThrows(IllegalArgumentException.class, () -> net.rnnActivateUsingStoredState(x, true, true));
        assertTrue(e.getMessage().contains("left padding") && e.getMessage().contains("pad on the right"), e.getMessage());
        net.clearLayerMaskArrays();
    }
}
