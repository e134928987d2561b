package org.phalanx.nn;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.params.PhalanxParamInitializer;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.nn.PhalanxTestUtil.assertMessage;

/**
 * The layer as a drop-in for DL4J's recurrent layers: any nIn and nOut with the number of heads its own setting,
 * the activation applied to the output (identity by default, whatever the network's default), configurations of
 * 0.1.0 loading with their outputs unchanged, and clear errors for bad sizes and inputs.
 */
class PhalanxLayerDropInTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @TempDir
    File tmp;

    private static INDArray seq(RNNFormat f, long seed, long b, long c, long l) {
        return f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, seed, b, c, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, seed, b, l, c);
    }

    private static INDArrayIndex[] time(RNNFormat f, long from, long to) {
        INDArrayIndex iv = NDArrayIndex.interval(from, to);
        return f == RNNFormat.NCW ? new INDArrayIndex[]{NDArrayIndex.all(), NDArrayIndex.all(), iv}
                : new INDArrayIndex[]{NDArrayIndex.all(), iv, NDArrayIndex.all()};
    }

    @Test
    void headsDefaultToCeilNOutOver16AndShapeTheParameters() {
        assertEquals(16, new PhalanxLayer.Builder().nIn(256).build().numHeads());
        assertEquals(13, new PhalanxLayer.Builder().nIn(77).nOut(200).build().numHeads());
        assertEquals(5, new PhalanxLayer.Builder().nIn(77).build().numHeads());
        assertEquals(1, new PhalanxLayer.Builder().nIn(1).nOut(1).build().numHeads());
        assertEquals(3, new PhalanxLayer.Builder().nIn(77).nOut(200).heads(3).build().numHeads());

        PhalanxLayer c = new PhalanxLayer.Builder().nIn(77).nOut(200).kvHeads(1).build();
        long[][] want = {{77, 13}, {13}, {77, 16}, {16}, {77, 16}, {16}, {77, 208}, {208, 200}};
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list().layer(c).build());
        net.init();
        Map<String, INDArray> p = net.getLayer(0).paramTable();
        int i = 0;
        for (String key : PhalanxParamInitializer.KEYS) {
            assertArrayEquals(want[i], p.get(key).shape(), key);
            assertArrayEquals(want[i], PhalanxParamInitializer.shapes(c)[i], key);
            i++;
        }
        // Xavier with the fan-in of each matrix's rows: Wo has 208 rows.
        assertEquals(Math.sqrt(2.0 / (208 + 200)), p.get("Wo").stdNumber().doubleValue(), 0.005);
        assertEquals(Math.sqrt(2.0 / (77 + 208)), p.get("Wv").stdNumber().doubleValue(), 0.005);
    }

    /** nIn, nOut and heads other than the multiples of 16, against the float64 reference, with and without tanh. */
    @ParameterizedTest(name = "nIn={0} nOut={1} heads={2} kv={3} {4} act={5}")
    @CsvSource({
            "1, 1, 0, 0, NCW, IDENTITY",
            "3, 77, 0, 1, NWC, TANH",
            "77, 3, 0, 0, NCW, TANH",
            "77, 200, 0, 0, NWC, IDENTITY",
            "200, 77, 2, 1, NCW, IDENTITY",
            "48, 16, 3, 3, NWC, SOFTSIGN",
    })
    void anyNInNOutAndHeadsMatchTheReference(int nIn, int nOut, int heads, int kv, RNNFormat f, Activation act) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(nIn + nOut).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new PhalanxLayer.Builder().nIn(nIn).nOut(nOut).heads(heads).kvHeads(kv).activation(act)
                        .dataFormat(f).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), nIn * 31L + nOut);
        long b = 2, l = 37;
        INDArray x = seq(f, nIn, b, nIn, l);
        INDArray out = net.output(x);
        assertArrayEquals(f == RNNFormat.NCW ? new long[]{b, nOut, l} : new long[]{b, l, nOut}, out.shape());
        PhalanxLayer pc = (PhalanxLayer) net.getLayer(0).conf().getLayer();
        java.util.function.DoubleUnaryOperator fn = act == Activation.TANH ? Math::tanh
                : act == Activation.SOFTSIGN ? z -> z / (1 + Math.abs(z)) : z -> z;
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f), null,
                (int) pc.numKvHeads(), 16, 2, fn);
        assertTrue(PhalanxReference.maxAbs(ref) > 0.05, "degenerate reference");
        assertTrue(PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(out, f)) < 1e-12);
    }

    @ParameterizedTest(name = "nIn={0} nOut={1} {2} act={3} mask={4}")
    @CsvSource({
            "1, 3, NCW, TANH, true",
            "3, 1, NWC, IDENTITY, false",
            "77, 200, NCW, IDENTITY, true",
            "200, 77, NWC, TANH, true",
    })
    void gradientCheckUtilPassesForOddSizes(int nIn, int nOut, RNNFormat f, Activation act, boolean masked) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new NoOp()).list()
                .layer(new PhalanxLayer.Builder().nOut(nOut).activation(act).blockSize(4).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).dataFormat(f).build())
                .setInputType(InputType.recurrent(nIn, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), nIn + 7L * nOut);
        int b = 3, l = 15;
        INDArray x = seq(f, 1, b, nIn, l), y = seq(f, 2, b, 2, l);
        INDArray mask = masked ? PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, 9, 1) : null;
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(x).labels(y)
                .inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
                .subset(true).maxPerParam(6)));
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void oddSizesStreamSaveAndRestore(RNNFormat f) throws IOException {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(9).dataType(DataType.DOUBLE)
                .updater(new org.nd4j.linalg.learning.config.Adam(1e-3)).list()
                .layer(new PhalanxLayer.Builder().nOut(200).kvHeads(1).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(3).activation(Activation.TANH).blockSize(5).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(1).dataFormat(f).build())
                .setInputType(InputType.recurrent(77, f)).build();
        assertEquals(conf, MultiLayerConfiguration.fromJson(conf.toJson()));
        assertEquals(conf, MultiLayerConfiguration.fromYaml(conf.toYaml()));
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 4);
        int l = 41;
        INDArray x = seq(f, 5, 2, 77, l);
        INDArray full = net.output(x);
        int[] pieces = {1, 1, 15, 16, 1, 7};
        int t = 0;
        for (int n : pieces) {
            INDArray got = net.rnnTimeStep(x.get(time(f, t, t + n)));
            assertTrue(got.sub(full.get(time(f, t, t + n))).amaxNumber().doubleValue() < 1e-12, "steps " + t);
            t += n;
        }
        File file = new File(tmp, "odd.zip");
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork back = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.getLayerWiseConfigurations(), back.getLayerWiseConfigurations());
        assertEquals(full, back.output(x));
    }

    // ------------------------------------------------------------------------------------------ activation

    @Test
    void activationIsIdentityByDefaultWhateverTheNetworkDefault() {
        // The network-wide default is set to tanh: an LSTM takes it, the Phalanx layer stays linear.
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nOut(16).build())
                .layer(new PhalanxLayer.Builder().nOut(16).build())
                .layer(new PhalanxLayer.Builder().nOut(16).activation(Activation.RELU).build())
                .setInputType(InputType.recurrent(16)).build();
        assertEquals(Activation.TANH.getActivationFunction(), ((LSTM) conf.getConf(0).getLayer()).getActivationFn());
        assertEquals(Activation.IDENTITY.getActivationFunction(),
                ((PhalanxLayer) conf.getConf(1).getLayer()).getActivationFn());
        assertEquals(Activation.RELU.getActivationFunction(),
                ((PhalanxLayer) conf.getConf(2).getLayer()).getActivationFn());
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 2);
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 3, 2, 16, 20);
        List<INDArray> acts = net.feedForward(x, false);
        double[][][] linear = PhalanxReference.forward(net.getLayer(1).paramTable(), PhalanxReference.toNcw(acts.get(1),
                RNNFormat.NCW), null, 1, 16, 2);
        assertTrue(PhalanxReference.maxAbsDiff(linear, PhalanxReference.toNcw(acts.get(2), RNNFormat.NCW)) < 1e-12,
                "identity: the linear output");
        assertTrue(acts.get(2).minNumber().doubleValue() < 0);
        assertTrue(acts.get(3).minNumber().doubleValue() >= 0, "relu applied");
        assertTrue(acts.get(3).maxNumber().doubleValue() > 0);
    }

    /** The network of a JSON written by 0.1.0 (main a46f580), whose activations were ignored, keeps its outputs. */
    @Test
    void configurationsOf010LoadWithTheirOutputs() throws IOException {
        String dir = "/org/phalanx/nn/legacy-0.1.0/";
        String json = resource(dir + "configuration.json");
        assertFalse(json.contains("configVersion"));
        MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(json);
        PhalanxLayer l0 = (PhalanxLayer) conf.getConf(0).getLayer(), l1 = (PhalanxLayer) conf.getConf(1).getLayer();
        assertTrue(l0.isLegacy() && l1.isLegacy());
        assertEquals(Activation.TANH.getActivationFunction(), l0.getActivationFn());   // ignored, as in 0.1.0
        assertEquals(2, l1.numHeads());   // nIn 32 / 16, not ceil(nOut 16 / 16)
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init(numbers(resource(dir + "params.txt")), false);
        INDArray out = net.output(numbers(resource(dir + "input.txt")));
        INDArray want = numbers(resource(dir + "output.txt"));
        assertArrayEquals(want.shape(), out.shape());
        assertEquals(0.0, out.sub(want).amaxNumber().doubleValue(), 1e-12);
        // Saved again, it stays a 0.1.0 configuration.
        assertEquals(conf, MultiLayerConfiguration.fromJson(conf.toJson()));
    }

    private static String resource(String path) throws IOException {
        try (InputStream in = PhalanxLayerDropInTest.class.getResourceAsStream(path)) {
            assertNotNull(in, path);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** "d0,d1,...\nv0\nv1..." (shape, then values in 'c' order) as a DOUBLE array. */
    private static INDArray numbers(String text) {
        String[] lines = text.split("\n");
        long[] shape = Arrays.stream(lines[0].split(",")).mapToLong(Long::parseLong).toArray();
        double[] v = new double[lines.length - 1];
        for (int i = 1; i < lines.length; i++) v[i - 1] = Double.parseDouble(lines[i]);
        return Nd4j.create(v, shape, 'c');
    }

    // ------------------------------------------------------------------------------------------ bad settings, inputs

    @Test
    void badSizesAreRefusedWhenBuilt() {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new PhalanxLayer.Builder().nOut(-5).build()),
                "nOut must be positive", "-5");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(32).nOut(-5).build()), "nOut", "-5");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new NeuralNetConfiguration.Builder().list()
                .layer(new PhalanxLayer.Builder().nOut(-5).build())), "nOut", "-5");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new PhalanxLayer.Builder().nIn(-1).build()),
                "nIn must be positive", "-1");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new PhalanxLayer.Builder().heads(-2).build()),
                "heads", "-2");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(7).nOut(200).heads(4).kvHeads(3).build()),
                "kvHeads must divide", "H = 4");
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void aRank2InputSaysWhatToAdd(RNNFormat f) {
        // What a Dense layer below sends without setInputType (no preprocessor): [B, n].
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, 32, 0, 32, 0, 16, 2, f, 1);
        org.deeplearning4j.nn.api.Layer layer = net.getLayer(0);
        org.deeplearning4j.nn.workspace.LayerWorkspaceMgr ws = org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(Nd4j.rand(DataType.DOUBLE, 4, 32), ws);
        Exception e = assertThrows(IllegalArgumentException.class, () -> layer.activate(false, ws));
        assertMessage(e, "rank-2", "[4, 32]", "setInputType(InputType.recurrent", "FeedForwardToRnnPreProcessor");
    }

    /**
     * rnnTimeStep with a rank-2 step [B, nIn] returns [B, nOut]: from the network in NCW (as DL4J's LSTM), and from
     * the layer itself in both formats. (MultiLayerNetwork reshapes a rank-2 step to [B, nIn, 1] and squeezes the
     * last layer's output as if it were NCW, whatever the format; DL4J's own LSTM refuses rank-2 steps in NWC.)
     */
    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void rank2TimeStepReturnsBatchByNOut(RNNFormat f) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, 7, 0, 5, 0, 16, 2, f, 3);
        INDArray x = seq(f, 4, 3, 7, 4);
        INDArray full = net.output(x);
        org.deeplearning4j.nn.api.layers.RecurrentLayer layer =
                (org.deeplearning4j.nn.api.layers.RecurrentLayer) net.getLayer(0);
        for (boolean viaNetwork : new boolean[]{true, false}) {
            if (viaNetwork && f == RNNFormat.NWC) continue;
            net.rnnClearPreviousState();
            for (int t = 0; t < 4; t++) {
                INDArray step = f == RNNFormat.NCW ? x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t))
                        : x.get(NDArrayIndex.all(), NDArrayIndex.point(t), NDArrayIndex.all());
                INDArray got = viaNetwork ? net.rnnTimeStep(step.dup())
                        : layer.rnnTimeStep(step.dup(), org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces());
                assertArrayEquals(new long[]{3, 5}, got.shape());
                INDArray want = f == RNNFormat.NCW ? full.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t))
                        : full.get(NDArrayIndex.all(), NDArrayIndex.point(t), NDArrayIndex.all());
                assertTrue(got.sub(want).amaxNumber().doubleValue() < 1e-12, "step " + t);
            }
        }
    }
}
