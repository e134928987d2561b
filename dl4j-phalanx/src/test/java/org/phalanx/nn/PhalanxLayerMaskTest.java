package org.phalanx.nn;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.layers.PhalanxLayerImpl;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Feature masks [B, L]: for right- and left-padded batches valid steps equal each sequence run alone, padded
 * steps are zero, and padded steps contribute nothing to any gradient; streaming refuses left padding.
 */
class PhalanxLayerMaskTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    static final int D = 32, L = 37;
    static final int[] LENGTHS = {37, 20, 1, 16};

    private static INDArrayIndex[] seq(RNNFormat f, long b, long len) {
        return f == RNNFormat.NCW
                ? new INDArrayIndex[]{NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.interval(0, len)}
                : new INDArrayIndex[]{NDArrayIndex.interval(b, b + 1), NDArrayIndex.interval(0, len), NDArrayIndex.all()};
    }

    private static INDArrayIndex[] padded(RNNFormat f, long b, long len) {
        return f == RNNFormat.NCW
                ? new INDArrayIndex[]{NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.interval(len, L)}
                : new INDArrayIndex[]{NDArrayIndex.point(b), NDArrayIndex.interval(len, L), NDArrayIndex.all()};
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void validStepsEqualEachSequenceAloneAndPaddedStepsAreZero(RNNFormat f) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, D, 24, 1, 16, 2, f, 21);
        int b = LENGTHS.length;
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 22, b, D, L)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 22, b, L, D);
        INDArray mask = PhalanxTestUtil.rightPadded(DataType.DOUBLE, L, LENGTHS);
        INDArray out = net.output(x, false, mask, null);
        for (int i = 0; i < b; i++) {
            int len = LENGTHS[i];
            INDArray alone = net.output(x.get(seq(f, i, len)).dup());
            INDArray inBatch = out.get(seq(f, i, len));
            assertTrue(alone.sub(inBatch).amaxNumber().doubleValue() < 1e-12, "sequence " + i);
            assertTrue(alone.amaxNumber().doubleValue() > 0.1);
            if (len < L) {
                assertEquals(0.0, out.get(padded(f, i, len)).amaxNumber().doubleValue(), 0.0, "padded steps of " + i);
            }
        }
        // The same against the float64 reference evaluated on each sequence alone.
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f),
                PhalanxTestUtil.toArray2(mask), 1, 16, 2);
        assertTrue(PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(out, f)) < 1e-12);
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void paddedStepsContributeNothingToGradients(RNNFormat f) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new SimpleRnn.Builder().nOut(D).activation(Activation.TANH).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(D).kvHeads(1).blockSize(8).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build())
                .setInputType(InputType.recurrent(5, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 4);
        int b = LENGTHS.length;
        INDArray mask = PhalanxTestUtil.rightPadded(DataType.DOUBLE, L, LENGTHS);
        INDArray x1 = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 1, b, 5, L)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 1, b, L, 5);
        INDArray y1 = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 2, b, 3, L)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 2, b, L, 3);
        // Same valid steps, different garbage at the padded steps.
        INDArray x2 = x1.dup(), y2 = y1.dup();
        for (int i = 0; i < b; i++) {
            if (LENGTHS[i] < L) {
                x2.get(padded(f, i, LENGTHS[i])).assign(Nd4j.randn(DataType.DOUBLE, x2.get(padded(f, i, LENGTHS[i])).shape()).muli(5));
                y2.get(padded(f, i, LENGTHS[i])).assign(7.0);
            }
        }
        INDArray g1 = gradient(net, x1, y1, mask);
        INDArray g2 = gradient(net, x2, y2, mask);
        assertTrue(g1.amaxNumber().doubleValue() > 1e-3);
        assertEquals(0.0, g1.sub(g2).amaxNumber().doubleValue(), 1e-13, "gradients depend on padded steps");

        // And the epsilon the Phalanx layer sends down is exactly zero at padded steps.
        PhalanxLayerImpl layer = (PhalanxLayerImpl) net.getLayer(1);
        INDArray in = f == RNNFormat.NCW ? Nd4j.randn(DataType.DOUBLE, b, D, L) : Nd4j.randn(DataType.DOUBLE, b, L, D);
        layer.setInput(in, LayerWorkspaceMgr.noWorkspaces());
        layer.setMaskArray(mask);
        layer.activate(true, LayerWorkspaceMgr.noWorkspaces());
        Pair<Gradient, INDArray> p = layer.backpropGradient(Nd4j.randn(DataType.DOUBLE, in.shape()),
                LayerWorkspaceMgr.noWorkspaces());
        INDArray eps = p.getSecond();
        for (int i = 0; i < b; i++) {
            if (LENGTHS[i] < L) {
                assertEquals(0.0, eps.get(padded(f, i, LENGTHS[i])).amaxNumber().doubleValue(), 0.0);
            }
            assertTrue(eps.get(seq(f, i, LENGTHS[i])).amaxNumber().doubleValue() > 1e-6);
        }
    }

    /** A left-padded [B, L] mask: sequence b has {@code lead[b]} masked steps, then valid ones. */
    private static INDArray leftPadded(long len, int... lead) {
        INDArray m = Nd4j.ones(DataType.DOUBLE, lead.length, len);
        for (int b = 0; b < lead.length; b++)
            for (int s = 0; s < lead[b]; s++)
                m.putScalar(b, s, 0.0);
        return m;
    }

    /** Left padding is exact: each sequence's blocks are counted from its first valid step. */
    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void leftPaddedStepsEqualEachSequenceAlone(RNNFormat f) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, D, 24, 1, 16, 2, f, 31);
        int[] lead = {0, 17, 36, 5};
        int b = lead.length;
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 32, b, D, L)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 32, b, L, D);
        INDArray mask = leftPadded(L, lead);
        INDArray out = net.output(x, false, mask, null);
        for (int i = 0; i < b; i++) {
            INDArrayIndex[] valid = f == RNNFormat.NCW
                    ? new INDArrayIndex[]{NDArrayIndex.interval(i, i + 1), NDArrayIndex.all(), NDArrayIndex.interval(lead[i], L)}
                    : new INDArrayIndex[]{NDArrayIndex.interval(i, i + 1), NDArrayIndex.interval(lead[i], L), NDArrayIndex.all()};
            INDArray alone = net.output(x.get(valid).dup());
            assertTrue(alone.sub(out.get(valid)).amaxNumber().doubleValue() < 1e-12, "sequence " + i);
            if (lead[i] > 0) {
                INDArrayIndex[] pad = f == RNNFormat.NCW
                        ? new INDArrayIndex[]{NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.interval(0, lead[i])}
                        : new INDArrayIndex[]{NDArrayIndex.point(i), NDArrayIndex.interval(0, lead[i]), NDArrayIndex.all()};
                assertEquals(0.0, out.get(pad).amaxNumber().doubleValue(), 0.0);
            }
        }
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f),
                PhalanxTestUtil.toArray2(mask), 1, 16, 2);
        assertTrue(PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(out, f)) < 1e-12);
    }

    /** Gradients with a left-padded mask (and a hole after the first valid step) pass DL4J's gradient check. */
    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void leftPaddedGradientsPassGradientCheck(RNNFormat f) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new SimpleRnn.Builder().nOut(16).activation(Activation.TANH).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(16).blockSize(4).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).dataFormat(f).build())
                .setInputType(InputType.recurrent(3, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 8);
        int l = 15;
        INDArray mask = leftPadded(l, 0, 6, 13);
        mask.putScalar(1, 9, 0.0);
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 9, 3, 3, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 9, 3, l, 3);
        INDArray y = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 10, 3, 2, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 10, 3, l, 2);
        assertTrue(org.deeplearning4j.gradientcheck.GradientCheckUtil.checkGradients(
                new org.deeplearning4j.gradientcheck.GradientCheckUtil.MLNConfig().net(net).input(x).labels(y)
                        .inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
                        .subset(true).maxPerParam(5)));
    }

    /** With a stored state (streaming) the batch shares one block phase: left padding is refused, clearly. */
    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void leftPaddingIsRefusedWhenStreaming(RNNFormat f) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, D, 24, 1, 16, 2, f, 31);
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 3, 2, D, 6)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 3, 2, 6, D);
        PhalanxLayerImpl layer = (PhalanxLayerImpl) net.getLayer(0);
        LayerWorkspaceMgr ws = LayerWorkspaceMgr.noWorkspaces();
        layer.setMaskArray(leftPadded(6, 0, 2));
        Exception e = assertThrows(IllegalArgumentException.class, () -> layer.rnnTimeStep(x, ws));
        assertTrue(e.getMessage().contains("left padding") && e.getMessage().contains("pad on the right"), e.getMessage());
        layer.rnnClearPreviousState();
        layer.setMaskArray(PhalanxTestUtil.rightPadded(DataType.DOUBLE, 6, 6, 4));   // right padding is fine
        assertNotNull(layer.rnnTimeStep(x, ws));
    }

    private static INDArray gradient(MultiLayerNetwork net, INDArray x, INDArray y, INDArray mask) {
        net.setInput(x);
        net.setLabels(y);
        net.setLayerMaskArrays(mask, mask);
        net.computeGradientAndScore();
        return net.gradient().gradient().dup();
    }
}
