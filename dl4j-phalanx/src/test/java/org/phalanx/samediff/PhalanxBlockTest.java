package org.phalanx.samediff;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.nn.PhalanxReference;
import org.phalanx.nn.PhalanxTestUtil;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.layers.PhalanxLayerImpl;

import java.io.File;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The Phalanx block in SameDiff: same parameters, outputs and gradients as the DL4J layer; fit, save, load. */
class PhalanxBlockTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** Odd nIn and nOut with the default inner width, and an output activation: the block still equals the layer. */
    @ParameterizedTest(name = "nIn={0} nOut={1} {2}")
    @CsvSource({"77, 200, TANH", "3, 1, SIGMOID", "1, 3, IDENTITY"})
    void blockEqualsLayerForAnyWidthAndActivation(int nIn, int nOut, org.nd4j.linalg.activations.Activation act) {
        org.deeplearning4j.nn.conf.MultiLayerConfiguration mc = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .seed(5).dataType(DataType.DOUBLE).updater(new org.nd4j.linalg.learning.config.NoOp()).list()
                .layer(new PhalanxLayer.Builder().nIn(nIn).nOut(nOut).activation(act).build())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.recurrent(nIn)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(mc);
        net.init();
        PhalanxLayer conf = (PhalanxLayer) net.getLayer(0).conf().getLayer();
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 41, 2, nIn, 19);
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.DOUBLE, -1, nIn, -1);
        SDVariable out = PhalanxBlock.apply(sd, "mix/", in, conf, net.getLayer(0).paramTable());
        INDArray got = sd.outputSingle(Map.of("x", x), out.name()), want = net.output(x);
        assertArrayEquals(want.shape(), got.shape());
        assertTrue(got.sub(want).amaxNumber().doubleValue() < 1e-12, "block vs layer");
        assertTrue(want.amaxNumber().doubleValue() > 1e-3, "a non-trivial output");
    }

    @ParameterizedTest(name = "{0} d={1} nOut={2} kv={3} block={4} k={5}")
    @CsvSource({"NCW, 32, 32, 0, 16, 2", "NWC, 48, 24, 1, 5, 2", "NCW, 64, 16, 2, 7, 1"})
    void blockEqualsLayerInOutputsAndGradients(RNNFormat f, int d, int nOut, int kv, int block, int k) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, d, nOut, kv, block, k, f, 31);
        PhalanxLayer conf = (PhalanxLayer) net.getLayer(0).conf().getLayer();
        int b = 3, l = 41;
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 32, b, d, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 32, b, l, d);
        INDArray w = f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 33, b, nOut, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 33, b, l, nOut);

        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.DOUBLE, f == RNNFormat.NCW ? new long[]{-1, d, -1} : new long[]{-1, -1, d});
        SDVariable out = PhalanxBlock.apply(sd, "mix/", in, conf, net.getLayer(0).paramTable());
        SDVariable wc = sd.constant("w", w);
        sd.sum("loss", out.mul(wc));
        sd.setLossVariables("loss");
        for (Map.Entry<String, INDArray> e : net.getLayer(0).paramTable().entrySet()) {
            assertArrayEquals(e.getValue().shape(), sd.getVariable("mix/" + e.getKey()).getArr().shape(), e.getKey());
        }

        INDArray got = sd.outputSingle(Map.of("x", x), out.name());
        INDArray want = net.output(x);
        assertArrayEquals(want.shape(), got.shape());
        assertTrue(got.sub(want).amaxNumber().doubleValue() < 1e-12);
        // Also against the float64 reference directly.
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f), null,
                kv == 0 ? d / 16 : kv, block, k);
        assertTrue(PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(got, f)) < 1e-12);

        // Gradients of sum(out * w): SameDiff autodiff vs the layer's hand-written backward.
        String[] names = net.getLayer(0).paramTable().keySet().stream().map(s -> "mix/" + s).toArray(String[]::new);
        Map<String, INDArray> sdGrads = sd.calculateGradients(Map.of("x", x), names);
        net.initGradientsView();
        PhalanxLayerImpl layer = (PhalanxLayerImpl) net.getLayer(0);
        layer.setInput(x, LayerWorkspaceMgr.noWorkspaces());
        layer.activate(true, LayerWorkspaceMgr.noWorkspaces());
        Gradient g = layer.backpropGradient(w, LayerWorkspaceMgr.noWorkspaces()).getFirst();
        for (String key : net.getLayer(0).paramTable().keySet()) {
            INDArray a = g.getGradientFor(key), s = sdGrads.get("mix/" + key);
            double err = a.sub(s.reshape(a.shape())).amaxNumber().doubleValue();
            assertTrue(err < 1e-9 * Math.max(1, a.amaxNumber().doubleValue()), key + ": " + err);
            assertTrue(a.amaxNumber().doubleValue() > 1e-6, key);
        }
    }

    @Test
    void trainsWithFitAndSurvivesSaveAndLoad(@TempDir File dir) throws Exception {
        Nd4j.getRandom().setSeed(7);
        int b = 4, d = 32, l = 40;
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, d, -1);
        SDVariable y = sd.placeHolder("y", DataType.FLOAT, -1, 16, -1);
        PhalanxLayer conf = new PhalanxLayer.Builder().nIn(d).heads(d / 16).nOut(16).kvHeads(1).build();   // PhalanxBlock: inner width = nIn
        SDVariable out = PhalanxBlock.apply(sd, "p/", x, conf);
        SDVariable diff = out.sub(y);
        sd.mean("loss", diff.mul(diff));
        sd.setLossVariables("loss");
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(1e-2))
                .dataSetFeatureMapping("x").dataSetLabelMapping("y").build());

        INDArray xs = Nd4j.rand(DataType.FLOAT, b, d, l).subi(0.5);
        // Target: a causal, decaying mix of the input (learnable by the block).
        INDArray ys = Nd4j.zeros(DataType.FLOAT, b, 16, l);
        for (int t = 0; t < l; t++) {
            INDArray prev = t > 0 ? ys.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(t - 1)) : null;
            INDArray cur = xs.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 16), org.nd4j.linalg.indexing.NDArrayIndex.point(t)).dup();
            if (prev != null) cur.addi(prev.mul(0.7));
            ys.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.point(t)).assign(cur);
        }
        DataSet ds = new DataSet(xs, ys);
        double l0 = sd.outputSingle(Map.of("x", xs, "y", ys), "loss").getDouble(0);
        for (int i = 0; i < 150; i++) sd.fit(ds);
        double l1 = sd.outputSingle(Map.of("x", xs, "y", ys), "loss").getDouble(0);
        assertTrue(l1 < 0.3 * l0, "loss " + l0 + " -> " + l1);

        File file = new File(dir, "phalanx-block.sd");
        sd.save(file, true);
        SameDiff back = SameDiff.load(file, true);
        INDArray o1 = sd.outputSingle(Map.of("x", xs), out.name());
        INDArray o2 = back.outputSingle(Map.of("x", xs), out.name());
        assertEquals(o1, o2);
        assertArrayEquals(new long[]{d, 2}, back.getVariable("p/Wa").getArr().shape());
        back.fit(ds);   // still trainable after load
    }
}
