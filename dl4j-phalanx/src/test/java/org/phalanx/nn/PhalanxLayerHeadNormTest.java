package org.phalanx.nn;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.samediff.PhalanxBlock;

import java.util.Map;
import java.util.function.DoubleUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer's {@code headNorm} option (each head's 16 channels of {@code m} RMS-normalised before the readout): the
 * whole-sequence forward (fused core, masks, left padding), the native streaming step and pieces, gradients, the
 * SameDiff block and JSON, against the float64 evaluation of {@link PhalanxReference}.
 */
class PhalanxLayerHeadNormTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    private static PhalanxLayer.Builder layer(int nIn, int nOut, int heads, int kv, int block, int k, RNNFormat f,
                                              Activation act) {
        return new PhalanxLayer.Builder().nIn(nIn).nOut(nOut).heads(heads).kvHeads(kv).blockSize(block).window(k)
                .dataFormat(f).activation(act).headNorm(true);
    }

    private static MultiLayerNetwork single(DataType t, PhalanxLayer.Builder b, int nIn, RNNFormat f, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(t).updater(new NoOp())
                .list().layer(b.build()).setInputType(InputType.recurrent(nIn, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), seed);
        return net;
    }

    private static INDArray seq(DataType t, RNNFormat f, long seed, int b, int c, int l) {
        return f == RNNFormat.NCW ? PhalanxTestUtil.randn(t, seed, b, c, l) : PhalanxTestUtil.randn(t, seed, b, l, c);
    }

    private static DoubleUnaryOperator op(Activation act) {
        return act == Activation.TANH ? Math::tanh : DoubleUnaryOperator.identity();
    }

    /** mask: none, right (right-padded) or left (left-padded, blocks counted from each sequence's first step). */
    @ParameterizedTest(name = "{0} nIn={1} nOut={2} H={3} kv={4} block={5} k={6} {7} B={8} L={9} mask={10} {11}")
    @CsvSource({
            "DOUBLE, 32, 32, 0, 0, 16, 2, NCW, 3, 37, none, IDENTITY",
            "DOUBLE, 77, 200, 0, 0, 16, 2, NWC, 2, 17, none, TANH",
            "DOUBLE, 3, 1, 2, 1, 5, 3, NCW, 2, 16, right, TANH",
            "DOUBLE, 16, 24, 4, 2, 16, 2, NCW, 3, 33, left, IDENTITY",
            "DOUBLE, 9, 7, 0, 0, 4, 2147483647, NWC, 2, 15, right, IDENTITY",
            "DOUBLE, 32, 32, 0, 0, 16, 1, NCW, 1, 1, none, TANH",
            "FLOAT, 64, 48, 0, 0, 16, 2, NCW, 4, 70, none, TANH",
    })
    void forwardMatchesFloat64Reference(DataType t, int nIn, int nOut, int heads, int kv, int block, int k,
                                        RNNFormat f, int b, int l, String maskKind, Activation act) {
        long seed = 31L * nIn + l + b;
        MultiLayerNetwork net = single(t, layer(nIn, nOut, heads, kv, block, k, f, act), nIn, f, seed);
        PhalanxLayer conf = (PhalanxLayer) net.getLayer(0).conf().getLayer();
        INDArray x = seq(t, f, seed + 1, b, nIn, l);
        INDArray mask = switch (maskKind) {
            case "right" -> PhalanxTestUtil.rightPadded(t, l, rightLengths(b, l));
            case "left" -> leftPadded(t, b, l);
            default -> null;
        };
        INDArray out = net.output(x, false, mask, null);
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f),
                mask == null ? null : PhalanxTestUtil.toArray2(mask), (int) conf.numKvHeads(), block, k, op(act), true);
        double err = PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(out, f)) / Math.max(1, PhalanxReference.maxAbs(ref));
        assertTrue(err < (t == DataType.DOUBLE ? 1e-12 : 2e-5), "max relative error " + err);
        // The normalisation is really applied: without it the output differs.
        double[][][] plain = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f),
                mask == null ? null : PhalanxTestUtil.toArray2(mask), (int) conf.numKvHeads(), block, k, op(act), false);
        assertTrue(PhalanxReference.maxAbsDiff(ref, plain) > 1e-3, "headNorm made no difference");
    }

    private static int[] rightLengths(int b, int l) {
        int[] n = new int[b];
        for (int i = 0; i < b; i++) n[i] = Math.max(1, l - 5 * i);
        return n;
    }

    private static INDArray leftPadded(DataType t, int b, int l) {
        INDArray m = Nd4j.ones(t, b, l);
        for (int i = 1; i < b; i++) m.get(NDArrayIndex.point(i), NDArrayIndex.interval(0, 3 * i + 2)).assign(0);
        return m;
    }

    /** Step by step (the native step on the CPU) and in pieces of several sizes: one full pass, at every phase. */
    @ParameterizedTest(name = "{0} {1} k={2} B={3}")
    @CsvSource({"DOUBLE, NCW, 2, 1", "DOUBLE, NWC, 3, 3", "FLOAT, NCW, 2, 8", "DOUBLE, NCW, 2147483647, 2"})
    void streamsAsOneFullPass(DataType t, RNNFormat f, int k, int b) {
        int nIn = 19, nOut = 23, l = 41;
        MultiLayerNetwork net = single(t, layer(nIn, nOut, 0, 0, 16, k, f, Activation.TANH), nIn, f, 77 + k);
        INDArray x = seq(t, f, 78, b, nIn, l);
        INDArray full = net.output(x);
        double tol = t == DataType.DOUBLE ? 1e-12 : 2e-5;
        net.rnnClearPreviousState();
        for (int s = 0; s < l; s++) {
            INDArray got = net.rnnTimeStep(x.get(time(f, s, s + 1)));
            double err = got.sub(full.get(time(f, s, s + 1))).amaxNumber().doubleValue();
            assertTrue(err < tol, "step " + s + ": " + err);
        }
        net.rnnClearPreviousState();
        int[] pieces = {1, 15, 1, 16, 2, 6};
        for (int s = 0, i = 0; s < l; i++) {
            int e = Math.min(l, s + pieces[i % pieces.length]);
            INDArray got = net.rnnTimeStep(x.get(time(f, s, e)));
            double err = got.sub(full.get(time(f, s, e))).amaxNumber().doubleValue();
            assertTrue(err < tol, "piece " + s + ".." + e + ": " + err);
            s = e;
        }
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex[] time(RNNFormat f, int from, int to) {
        return f == RNNFormat.NCW
                ? new org.nd4j.linalg.indexing.INDArrayIndex[]{NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to)}
                : new org.nd4j.linalg.indexing.INDArrayIndex[]{NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()};
    }

    /** GradientCheckUtil (central differences, float64) through the normalisation, fused and unfused core. */
    @ParameterizedTest(name = "{0} d={1} kv={2} block={3} k={4} mask={5} L={6}")
    @CsvSource({
            "NCW, 32, 0, 4, 2, none, 19",
            "NWC, 32, 1, 16, 2, right, 35",
            "NCW, 48, 3, 5, 3, left, 23",
            "NCW, 16, 0, 4, 2147483647, right, 17",
    })
    void gradientCheckUtilPasses(RNNFormat f, int d, int kv, int block, int k, String maskKind, int l) {
        long seed = 3L * d + l;
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new SimpleRnn.Builder().nOut(d).activation(Activation.TANH).dataFormat(f).build())
                .layer(layer(d, 13, d / 16, kv, block, k, f, Activation.TANH).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build())
                .setInputType(InputType.recurrent(4, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), seed);
        int b = 3;
        INDArray x = seq(DataType.DOUBLE, f, seed + 1, b, 4, l), y = seq(DataType.DOUBLE, f, seed + 2, b, 3, l);
        INDArray mask = switch (maskKind) {
            case "right" -> PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, l - 5, 1);
            case "left" -> leftPadded(DataType.DOUBLE, b, l);
            default -> null;
        };
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(x).labels(y)
                .inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
                .subset(true).maxPerParam(12)), "gradient check failed");
    }

    /** The SameDiff block with headNorm equals the layer in outputs and parameter gradients. */
    @Test
    void blockEqualsLayerInOutputsAndGradients() {
        int d = 32, nOut = 20, b = 2, l = 37;
        MultiLayerNetwork net = single(DataType.DOUBLE, layer(d, nOut, 0, 1, 16, 2, RNNFormat.NCW, Activation.TANH), d,
                RNNFormat.NCW, 11);
        PhalanxLayer conf = (PhalanxLayer) net.getLayer(0).conf().getLayer();
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 12, b, d, l), w = PhalanxTestUtil.randn(DataType.DOUBLE, 13, b, nOut, l);
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.DOUBLE, -1, d, -1);
        SDVariable out = PhalanxBlock.apply(sd, "mix/", in, conf, net.getLayer(0).paramTable());
        sd.setLossVariables(sd.sum("loss", out.mul(sd.constant("w", w))));
        INDArray got = sd.outputSingle(Map.of("x", x), out.name()), want = net.output(x);
        assertTrue(got.sub(want).amaxNumber().doubleValue() < 1e-12, "block vs layer");

        String[] names = net.getLayer(0).paramTable().keySet().stream().map(s -> "mix/" + s).toArray(String[]::new);
        Map<String, INDArray> sdGrads = sd.calculateGradients(Map.of("x", x), names);
        net.setInput(x);
        net.setLabels(w);
        var layer = (org.phalanx.nn.layers.PhalanxLayerImpl) net.getLayer(0);
        net.initGradientsView();
        var mgr = org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(x, mgr);
        layer.activate(true, mgr);
        var g = layer.backpropGradient(w, mgr).getFirst();
        for (String key : net.getLayer(0).paramTable().keySet()) {
            INDArray a = g.getGradientFor(key), s = sdGrads.get("mix/" + key);
            double err = a.sub(s.reshape(a.shape())).amaxNumber().doubleValue();
            assertTrue(err < 1e-9 * Math.max(1, a.amaxNumber().doubleValue()), key + ": " + err);
        }
    }

    /** A head whose m is exactly 0 (zero input, zero biases) gives 0, not NaN: the eps keeps rinv finite. */
    @Test
    void zeroInputGivesFiniteZeroOutput() {
        MultiLayerNetwork net = single(DataType.DOUBLE, layer(8, 5, 0, 0, 16, 2, RNNFormat.NCW, Activation.IDENTITY), 8,
                RNNFormat.NCW, 5);
        for (String key : new String[]{"ba", "bb", "bc"}) net.getLayer(0).getParam(key).assign(0);
        INDArray out = net.output(Nd4j.zeros(DataType.DOUBLE, 2, 8, 20));
        assertEquals(0.0, out.amaxNumber().doubleValue(), 0.0);
        net.rnnClearPreviousState();
        INDArray step = net.rnnTimeStep(Nd4j.zeros(DataType.DOUBLE, 2, 8));
        assertEquals(0.0, step.amaxNumber().doubleValue(), 0.0);
    }

    /** headNorm survives JSON; a configuration written without the field (earlier versions) has it off. */
    @Test
    void jsonKeepsTheOptionAndOldConfigurationsHaveItOff() {
        MultiLayerNetwork net = single(DataType.DOUBLE, layer(16, 16, 0, 0, 16, 2, RNNFormat.NCW, Activation.TANH), 16,
                RNNFormat.NCW, 1);
        String json = net.getLayerWiseConfigurations().toJson();
        assertTrue(json.contains("\"headNorm\" : true"), json);
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(json);
        assertTrue(((PhalanxLayer) back.getConf(0).getLayer()).isHeadNorm());
        assertEquals(net.getLayerWiseConfigurations(), back);
        MultiLayerConfiguration old = MultiLayerConfiguration.fromJson(json.replace("\"headNorm\" : true,", ""));
        assertFalse(((PhalanxLayer) old.getConf(0).getLayer()).isHeadNorm());
    }
}
