package org.phalanx.nn;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.params.PhalanxParamInitializer;

import java.io.File;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.nn.PhalanxTestUtil.assertMessage;

/**
 * The layer in networks: configuration (builder defaults, JSON/YAML round trip), parameters, MultiLayerNetwork
 * and ComputationGraph fit / output / feedForward with InputType.recurrent, ModelSerializer save and restore,
 * and clear errors for bad configurations and inputs.
 */
class PhalanxLayerNetworkTest {

    @TempDir
    File tmp;

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
    }

    private static MultiLayerConfiguration mlnConf(RNNFormat f) {
        return new NeuralNetConfiguration.Builder().seed(42).updater(new Adam(3e-3)).list()
                .layer(new LSTM.Builder().nOut(32).activation(Activation.TANH).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().kvHeads(1).blockSize(8).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(48).window(1).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).dataFormat(f).build())
                .setInputType(InputType.recurrent(3, f)).build();
    }

    private static DataSet data(RNNFormat f, int b, int l, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = f == RNNFormat.NCW ? Nd4j.rand(DataType.FLOAT, b, 3, l) : Nd4j.rand(DataType.FLOAT, b, l, 3);
        // Target: a decaying running sum of the first input channel, and its negative.
        INDArray y = f == RNNFormat.NCW ? Nd4j.zeros(DataType.FLOAT, b, 2, l) : Nd4j.zeros(DataType.FLOAT, b, l, 2);
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (int t = 0; t < l; t++) {
                s = 0.8 * s + (f == RNNFormat.NCW ? x.getDouble(i, 0, t) : x.getDouble(i, t, 0)) - 0.5;
                if (f == RNNFormat.NCW) {
                    y.putScalar(new long[]{i, 0, t}, s);
                    y.putScalar(new long[]{i, 1, t}, -s);
                } else {
                    y.putScalar(new long[]{i, t, 0}, s);
                    y.putScalar(new long[]{i, t, 1}, -s);
                }
            }
        }
        return new DataSet(x, y);
    }

    @Test
    void builderDefaultsAndParameters() {
        PhalanxLayer l = new PhalanxLayer.Builder().nIn(64).build();
        assertEquals(64, l.getNOut());
        assertEquals(4, l.numHeads());
        assertEquals(4, l.numKvHeads());
        assertEquals(16, l.getBlockSize());
        assertEquals(2, l.getWindow());
        assertEquals(RNNFormat.NCW, l.getRnnDataFormat());

        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new PhalanxLayer.Builder().nIn(64).nOut(40).heads(4).kvHeads(2).build()).build());
        net.init();
        Map<String, INDArray> p = net.getLayer(0).paramTable();
        assertEquals(List.of("Wa", "ba", "Wb", "bb", "Wc", "bc", "Wv", "Wo"), List.copyOf(p.keySet()));
        long[][] shapes = {{64, 4}, {4}, {64, 32}, {32}, {64, 32}, {32}, {64, 64}, {64, 40}};
        int i = 0;
        long total = 0;
        for (INDArray a : p.values()) {
            assertArrayEquals(shapes[i++], a.shape());
            total += a.length();
        }
        assertEquals(total, net.numParams());
        // Decay bias: time constants log-spaced 2..32 steps.
        INDArray ba = p.get("ba");
        double a0 = 1 / (1 + Math.exp(-ba.getDouble(0))), a3 = 1 / (1 + Math.exp(-ba.getDouble(3)));
        assertEquals(Math.exp(-1 / 2.0), a0, 1e-6);
        assertEquals(Math.exp(-1 / 32.0), a3, 1e-6);
        // Input gate 1 - a, averaged over each kv group (2 heads per kv head here).
        double beta0 = 1 / (1 + Math.exp(-p.get("bb").getDouble(0)));
        double aHead0 = 1 / (1 + Math.exp(-ba.getDouble(0))), aHead1 = 1 / (1 + Math.exp(-ba.getDouble(1)));
        assertEquals(1 - (aHead0 + aHead1) / 2, beta0, 1e-6);
        assertEquals(p.get("bb").getDouble(0), p.get("bb").getDouble(15), 0.0);
        assertEquals(1.0, p.get("bc").minNumber().doubleValue(), 0.0);
        // Xavier (the network default) with Wa scaled by 0.1: std sqrt(2 / (fanIn + fanOut)).
        assertEquals(0.1 * Math.sqrt(2.0 / (64 + 4)), p.get("Wa").stdNumber().doubleValue(), 0.1 * 0.05);
        assertEquals(Math.sqrt(2.0 / (64 + 64)), p.get("Wv").stdNumber().doubleValue(), 0.02);
        assertTrue(p.get("Wo").stdNumber().doubleValue() > 0.01);
        assertTrue(net.getLayer(0).conf().getLayer().initializer() instanceof PhalanxParamInitializer);
        // Memory report (DL4J's network-level report goes through it).
        org.deeplearning4j.nn.conf.memory.NetworkMemoryReport r = net.getLayerWiseConfigurations()
                .getMemoryReport(InputType.recurrent(64, 100));
        assertTrue(r.getTotalMemoryBytes(8, org.deeplearning4j.nn.conf.memory.MemoryUseMode.TRAINING,
                org.deeplearning4j.nn.conf.CacheMode.NONE, DataType.FLOAT) > 4 * total);
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void jsonAndYamlRoundTrip(RNNFormat f) {
        MultiLayerConfiguration conf = mlnConf(f);
        String json = conf.toJson();
        assertTrue(json.contains("org.phalanx.nn.conf.layers.PhalanxLayer"));
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(json);
        assertEquals(conf, back);
        PhalanxLayer p = (PhalanxLayer) back.getConf(1).getLayer();
        assertEquals(1, p.getKvHeads());
        assertEquals(8, p.getBlockSize());
        assertEquals(32, p.getNIn());
        assertEquals(32, p.getNOut());
        assertEquals(f, p.getRnnDataFormat());
        assertEquals(1, ((PhalanxLayer) back.getConf(2).getLayer()).getWindow());
        assertEquals(conf, MultiLayerConfiguration.fromYaml(conf.toYaml()));

        ComputationGraphConfiguration cg = graphConf(f);
        assertEquals(cg, ComputationGraphConfiguration.fromJson(cg.toJson()));
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void multiLayerNetworkTrainsAndSavesAndRestores(RNNFormat f) throws Exception {
        MultiLayerNetwork net = new MultiLayerNetwork(mlnConf(f));
        net.init();
        DataSet ds = data(f, 8, 40, 1);
        double s0 = net.score(ds);
        for (int i = 0; i < 60; i++) net.fit(ds);
        double s1 = net.score(ds);
        assertTrue(s1 < 0.5 * s0, "loss " + s0 + " -> " + s1);
        List<INDArray> ff = net.feedForward(ds.getFeatures(), false);
        assertEquals(5, ff.size());
        assertArrayEquals(f == RNNFormat.NCW ? new long[]{8, 48, 40} : new long[]{8, 40, 48}, ff.get(3).shape());

        File file = new File(tmp, "mln-" + f + ".zip");
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork back = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.getLayerWiseConfigurations(), back.getLayerWiseConfigurations());
        assertEquals(net.params(), back.params());
        INDArray x = data(f, 3, 29, 2).getFeatures();
        assertEquals(net.output(x), back.output(x));
        // Training continues identically (updater state restored too).
        net.fit(ds);
        back.fit(ds);
        assertEquals(net.params(), back.params());
    }

    private static ComputationGraphConfiguration graphConf(RNNFormat f) {
        return new NeuralNetConfiguration.Builder().seed(5).updater(new Adam(3e-3)).graphBuilder()
                .addInputs("in")
                .addLayer("lstm", new LSTM.Builder().nOut(16).activation(Activation.TANH).dataFormat(f).build(), "in")
                .addLayer("phalanx", new PhalanxLayer.Builder().nOut(32).dataFormat(f).build(), "lstm")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY).nOut(2).dataFormat(f).build(), "phalanx")
                .setOutputs("out").setInputTypes(InputType.recurrent(3, f)).build();
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void computationGraphTrainsAndSavesAndRestores(RNNFormat f) throws Exception {
        ComputationGraph net = new ComputationGraph(graphConf(f));
        net.init();
        DataSet ds = data(f, 8, 33, 3);
        double s0 = net.score(ds);
        for (int i = 0; i < 60; i++) net.fit(ds);
        double s1 = net.score(ds);
        assertTrue(s1 < 0.5 * s0, "loss " + s0 + " -> " + s1);
        Map<String, INDArray> ff = net.feedForward(ds.getFeatures(), false);
        assertArrayEquals(f == RNNFormat.NCW ? new long[]{8, 32, 33} : new long[]{8, 33, 32}, ff.get("phalanx").shape());

        File file = new File(tmp, "cg-" + f + ".zip");
        ModelSerializer.writeModel(net, file, true);
        ComputationGraph back = ModelSerializer.restoreComputationGraph(file, true);
        INDArray x = data(f, 2, 50, 4).getFeatures();
        assertEquals(net.outputSingle(x), back.outputSingle(x));
    }

    @Test
    void workspaceModesAndCacheModesTrainIdentically() {
        INDArray ref = null;
        for (org.deeplearning4j.nn.conf.WorkspaceMode wm : org.deeplearning4j.nn.conf.WorkspaceMode.values()) {
            for (org.deeplearning4j.nn.conf.CacheMode cm : new org.deeplearning4j.nn.conf.CacheMode[]{
                    org.deeplearning4j.nn.conf.CacheMode.NONE, org.deeplearning4j.nn.conf.CacheMode.DEVICE}) {
                MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(42).updater(new Adam(3e-3))
                        .trainingWorkspaceMode(wm).inferenceWorkspaceMode(wm).cacheMode(cm).list()
                        .layer(new LSTM.Builder().nOut(32).activation(Activation.TANH).build())
                        .layer(new PhalanxLayer.Builder().kvHeads(1).blockSize(8).build())
                        .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                                .nOut(2).build())
                        .setInputType(InputType.recurrent(3)).build();
                MultiLayerNetwork net = new MultiLayerNetwork(conf);
                net.init();
                for (int i = 0; i < 3; i++) net.fit(data(RNNFormat.NCW, 4, 21, 10 + i));
                if (ref == null) ref = net.params().dup();
                else assertEquals(ref, net.params(), wm + " / " + cm);
            }
        }
    }

    @Test
    void dropoutTrains() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(42).updater(new Adam(3e-3)).list()
                .layer(new PhalanxLayer.Builder().nIn(16).nOut(16).dropOut(0.8).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build())
                .setInputType(InputType.recurrent(16)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        DataSet ds = new DataSet(Nd4j.rand(DataType.FLOAT, 4, 16, 30), Nd4j.rand(DataType.FLOAT, 4, 2, 30));
        double s0 = net.score(ds);
        for (int i = 0; i < 30; i++) net.fit(ds);
        assertTrue(net.score(ds) < s0);
    }

    // ------------------------------------------------------------------------------------------ bad input

    @Test
    void badConfigurationsFailAtBuildTime() {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new PhalanxLayer.Builder().nIn(-16).build()),
                "nIn");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(64).kvHeads(3).build()), "kvHeads must divide", "H = 4");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(32).kvHeads(4).build()), "kvHeads", "got kvHeads = 4");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(32).window(0).build()), "window", "must be >= 1", "got 0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new PhalanxLayer.Builder().nIn(32).blockSize(0).build()), "blockSize");
        // nIn from the InputType: checked when the network configuration is built.
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new NeuralNetConfiguration.Builder().list()
                .layer(new PhalanxLayer.Builder().name("mixer").kvHeads(3).build())
                .setInputType(InputType.recurrent(20)).build()), "\"mixer\"", "kvHeads must divide", "H = 2", "nOut = 20");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new NeuralNetConfiguration.Builder().list()
                .layer(new PhalanxLayer.Builder().kvHeads(3).build())
                .setInputType(InputType.recurrent(32)).build()), "kvHeads");
        // No nIn at all: a clear error when the network is initialised.
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new PhalanxLayer.Builder().build()).build());
        assertMessage(assertThrows(IllegalArgumentException.class, net::init), "nIn", "not set");
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void badInputsGetClearExceptions(RNNFormat f) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.FLOAT, 32, 32, 0, 16, 2, f, 1);
        // wrong nIn
        INDArray wrongSize = f == RNNFormat.NCW ? Nd4j.rand(DataType.FLOAT, 2, 24, 10) : Nd4j.rand(DataType.FLOAT, 2, 10, 24);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> net.output(wrongSize)),
                "nIn = 32", "[2, " + (f == RNNFormat.NCW ? "24, 10" : "10, 24") + "]");
        // wrong rank
        Exception e = assertThrows(Exception.class, () -> net.output(Nd4j.rand(DataType.FLOAT, 2, 32)));
        assertTrue(e.getMessage().contains("rank 3") || e.getMessage().contains("3d") || e.getMessage().contains("rank"),
                e.getMessage());
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> net.output(Nd4j.rand(DataType.FLOAT, 2, 32, 4, 4))), "rank 3");
        // wrong mask shape
        INDArray x = f == RNNFormat.NCW ? Nd4j.rand(DataType.FLOAT, 2, 32, 10) : Nd4j.rand(DataType.FLOAT, 2, 10, 32);
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> net.output(x, false, Nd4j.ones(DataType.FLOAT, 2, 9), null)), "mask", "[2, 10]", "[2, 9]");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> net.output(x, false, Nd4j.ones(DataType.FLOAT, 3, 10), null)), "mask", "[2, 10]");
    }
}
