package org.phalanx.nn;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
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
import org.phalanx.nn.layers.PhalanxLayerImpl;
import org.phalanx.swr.SwrState;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * rnnTimeStep (MultiLayerNetwork and ComputationGraph) fed a sequence in pieces of many sizes equals one
 * full output call at every step and block phase; rnnClearPreviousState resets; the state stays O(channels).
 */
class PhalanxLayerStreamingTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    static final int D = 32, L = 83, B = 2;

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder().seed(11).dataType(DataType.DOUBLE).updater(new NoOp());
    }

    private static MultiLayerNetwork mln(RNNFormat f) {
        MultiLayerConfiguration conf = base().list()
                .layer(new PhalanxLayer.Builder().nOut(D).kvHeads(1).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(16).blockSize(5).window(2).dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build())
                .setInputType(InputType.recurrent(D, f)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 12);
        return net;
    }

    private static ComputationGraph graph(RNNFormat f) {
        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("in")
                .addLayer("p1", new PhalanxLayer.Builder().nOut(D).dataFormat(f).build(), "in")
                .addLayer("p2", new PhalanxLayer.Builder().nOut(D).blockSize(3).window(1).dataFormat(f).build(), "p1")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build(), "p2")
                .setOutputs("out").setInputTypes(InputType.recurrent(D, f)).build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 13);
        return net;
    }

    /** Pieces: 1 x 17 (all block phases), then 3, 16, 17 and random sizes up to L. */
    private static List<Integer> pieces(long seed) {
        List<Integer> p = new ArrayList<>();
        for (int i = 0; i < 17; i++) p.add(1);
        p.addAll(Arrays.asList(3, 16, 17));
        Random r = new Random(seed);
        int used = 17 + 36;
        while (used < L) {
            int n = Math.min(L - used, 1 + r.nextInt(9));
            p.add(n);
            used += n;
        }
        return p;
    }

    private static INDArrayIndex[] time(RNNFormat f, long from, long to) {
        INDArrayIndex iv = NDArrayIndex.interval(from, to);
        return f == RNNFormat.NCW ? new INDArrayIndex[]{NDArrayIndex.all(), NDArrayIndex.all(), iv}
                : new INDArrayIndex[]{NDArrayIndex.all(), iv, NDArrayIndex.all()};
    }

    private static INDArray input(RNNFormat f) {
        return f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, 5, B, D, L)
                : PhalanxTestUtil.randn(DataType.DOUBLE, 5, B, L, D);
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void multiLayerNetworkPiecesEqualFullOutput(RNNFormat f) {
        MultiLayerNetwork net = mln(f);
        INDArray x = input(f);
        INDArray full = net.output(x);
        for (int round = 0; round < 2; round++) {    // the second round checks rnnClearPreviousState
            int t = 0;
            for (int n : pieces(round)) {
                INDArray piece = x.get(time(f, t, t + n));
                INDArray got = net.rnnTimeStep(piece);
                INDArray want = full.get(time(f, t, t + n));
                assertArrayEquals(want.shape(), got.shape());
                double err = got.sub(want).amaxNumber().doubleValue();
                assertTrue(err < 1e-12, "steps " + t + ".." + (t + n) + ": max diff " + err);
                t += n;
            }
            assertEquals(L, t);
            PhalanxLayerImpl l0 = (PhalanxLayerImpl) net.getLayer(0);
            assertEquals(L, l0.getStreamState().position());
            net.rnnClearPreviousState();
            assertNull(l0.getStreamState());
        }
        // A 2-d single step [B, nIn] also works (MultiLayerNetwork makes it [B, nIn, 1] whatever the format).
        INDArray step0 = x.get(time(f, 0, 1)).reshape(B, D);
        INDArray o0 = net.rnnTimeStep(step0);
        if (f == RNNFormat.NCW) {   // (for NWC, DL4J's own squeeze of the [B, 1, nOut] output garbles the shape)
            assertArrayEquals(new long[]{B, 3}, o0.shape());
            assertTrue(o0.sub(full.get(time(f, 0, 1)).reshape(B, 3)).amaxNumber().doubleValue() < 1e-12);
        }
        INDArray o1 = net.rnnTimeStep(x.get(time(f, 1, 4)));
        assertTrue(o1.sub(full.get(time(f, 1, 4))).amaxNumber().doubleValue() < 1e-12);
    }

    @ParameterizedTest
    @EnumSource(RNNFormat.class)
    void computationGraphPiecesEqualFullOutput(RNNFormat f) {
        ComputationGraph net = graph(f);
        INDArray x = input(f);
        INDArray full = net.outputSingle(x);
        for (int round = 0; round < 2; round++) {
            int t = 0;
            for (int n : pieces(10 + round)) {
                INDArray got = net.rnnTimeStep(x.get(time(f, t, t + n)))[0];
                double err = got.sub(full.get(time(f, t, t + n))).amaxNumber().doubleValue();
                assertTrue(err < 1e-12, "steps " + t + ".." + (t + n) + ": max diff " + err);
                t += n;
            }
            net.rnnClearPreviousState();
        }
    }

    /**
     * Any window (k = 1, 2, 3, 5 and UNBOUNDED) in two layers of blocks 16 and 5: all 83 steps one at a time (the
     * one-step path, every block phase), then pieces of many sizes, equal one full pass; the state (with its ring
     * for k >= 3) saved and restored mid-sequence continues exactly; the configuration survives JSON.
     */
    @ParameterizedTest(name = "k={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2, 3, 5, Integer.MAX_VALUE})
    void anyWindowStreamsStepByStepAndInPiecesAsOneFullPass(int k) {
        MultiLayerConfiguration conf = base().list()
                .layer(new PhalanxLayer.Builder().nOut(D).window(k).activation(Activation.TANH).build())
                .layer(new PhalanxLayer.Builder().nOut(16).blockSize(5).window(k).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).build())
                .setInputType(InputType.recurrent(D)).build();
        assertEquals(conf, MultiLayerConfiguration.fromJson(conf.toJson()));
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 14);
        INDArray x = input(RNNFormat.NCW);
        INDArray full = net.output(x);
        for (int t = 0; t < L; t++) {
            INDArray got = net.rnnTimeStep(x.get(time(RNNFormat.NCW, t, t + 1)));
            double err = got.sub(full.get(time(RNNFormat.NCW, t, t + 1))).amaxNumber().doubleValue();
            assertTrue(err < 1e-12, "step " + t + ": max diff " + err);
        }
        net.rnnClearPreviousState();
        int t = 0;
        java.util.Map<String, INDArray> saved0 = null, saved1 = null;
        int savedAt = -1;
        for (int n : pieces(k)) {
            INDArray got = net.rnnTimeStep(x.get(time(RNNFormat.NCW, t, t + n)));
            double err = got.sub(full.get(time(RNNFormat.NCW, t, t + n))).amaxNumber().doubleValue();
            assertTrue(err < 1e-12, "steps " + t + ".." + (t + n) + ": max diff " + err);
            t += n;
            if (savedAt < 0 && t > 40) {
                savedAt = t;
                saved0 = net.rnnGetPreviousState(0);
                saved1 = net.rnnGetPreviousState(1);
            }
        }
        assertEquals(k >= 3 && k != Integer.MAX_VALUE, saved0.containsKey("swr_vRing"));
        net.rnnClearPreviousState();
        net.rnnSetPreviousState(0, saved0);
        net.rnnSetPreviousState(1, saved1);
        INDArray rest = net.rnnTimeStep(x.get(time(RNNFormat.NCW, savedAt, L)));
        assertTrue(rest.sub(full.get(time(RNNFormat.NCW, savedAt, L))).amaxNumber().doubleValue() < 1e-12, "restored");
    }

    @Test
    void stateIsOChannelsWhateverTheStepsSeen() throws Exception {
        MultiLayerNetwork net = mln(RNNFormat.NCW);
        INDArray x = input(RNNFormat.NCW);
        PhalanxLayerImpl l0 = (PhalanxLayerImpl) net.getLayer(0);
        net.rnnTimeStep(x.get(time(RNNFormat.NCW, 0, 3)));
        SwrState s = l0.getStreamState();
        long n3 = stateElements(s);
        net.rnnTimeStep(x.get(time(RNNFormat.NCW, 3, L)));
        assertSame(s, l0.getStreamState());
        assertEquals(n3, stateElements(l0.getStreamState()));
        long heads = D / 16;
        assertEquals(B * (2 * D + heads), n3);   // h [B, C], P [B, H], v [B, C]
        assertEquals(L, s.position());
        assertThrows(IllegalStateException.class, () -> net.rnnTimeStep(Nd4j.randn(DataType.DOUBLE, B + 1, D, 4)),
                "a different batch without rnnClearPreviousState");
    }

    @Test
    void previousStateCanBeSavedAndRestored() {
        for (RNNFormat f : RNNFormat.values()) {
            MultiLayerNetwork net = mln(f);
            INDArray x = input(f);
            INDArray full = net.output(x);
            net.rnnTimeStep(x.get(time(f, 0, 21)));
            java.util.Map<String, INDArray> s0 = net.rnnGetPreviousState(0), s1 = net.rnnGetPreviousState(1);
            assertEquals(21, s0.get("swr_position").getLong(0));
            assertArrayEquals(new long[]{B, D}, s0.get("swr_h").shape());
            INDArray a = net.rnnTimeStep(x.get(time(f, 21, 30)));
            net.rnnTimeStep(x.get(time(f, 30, 50)));        // move on, then go back
            net.rnnSetPreviousState(0, s0);
            net.rnnSetPreviousState(1, s1);
            INDArray b = net.rnnTimeStep(x.get(time(f, 21, 30)));
            assertEquals(a, b);
            assertTrue(b.sub(full.get(time(f, 21, 30))).amaxNumber().doubleValue() < 1e-12);
            net.rnnSetPreviousState(0, new java.util.HashMap<>());
            assertNull(((PhalanxLayerImpl) net.getLayer(0)).getStreamState());
        }
    }

    private static long stateElements(SwrState s) throws Exception {
        long n = 0;
        for (String name : new String[]{"h", "p", "v"}) {
            Field fl = SwrState.class.getDeclaredField(name);
            fl.setAccessible(true);
            n += ((INDArray) fl.get(s)).length();
        }
        return n;
    }
}
