package org.phalanx.nn;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
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
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Gradients: DL4J's GradientCheckUtil in float64 (both formats, with and without shared kv heads and masks),
 * and one plain SGD step, which must move every parameter, of the Phalanx layer and of an LSTM below it,
 * by exactly -lr times the gradient, itself checked against central finite differences of the score.
 */
class PhalanxLayerGradientTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    private static MultiLayerNetwork net(RNNFormat f, int d, int kv, int block, int k, boolean lstmBelow, double lr,
                                         long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed).dataType(DataType.DOUBLE).updater(lr > 0 ? new Sgd(lr) : new NoOp())
                .list()
                .layer(lstmBelow
                        ? new LSTM.Builder().nOut(d).activation(Activation.TANH).dataFormat(f).build()
                        : new SimpleRnn.Builder().nOut(d).activation(Activation.TANH).dataFormat(f).build())
                .layer(new PhalanxLayer.Builder().nOut(16).heads(d / 16).kvHeads(kv).blockSize(block).window(k)
                        .dataFormat(f).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build())
                .setInputType(InputType.recurrent(4, f))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), seed);
        return net;
    }

    private static INDArray seq(RNNFormat f, long seed, int b, int c, int l) {
        return f == RNNFormat.NCW ? PhalanxTestUtil.randn(DataType.DOUBLE, seed, b, c, l)
                : PhalanxTestUtil.randn(DataType.DOUBLE, seed, b, l, c);
    }

    @ParameterizedTest(name = "{0} d={1} kv={2} block={3} k={4} mask={5} L={6} full={7}")
    @CsvSource({
            "NCW, 32, 0, 4, 2, false, 19, false",
            "NCW, 32, 1, 4, 2, true, 19, false",
            "NCW, 16, 0, 4, 2, true, 11, true",
            "NWC, 32, 0, 16, 2, false, 35, false",
            "NWC, 32, 1, 16, 2, true, 35, false",
            "NCW, 48, 3, 16, 2, true, 35, false",
            "NWC, 48, 1, 5, 1, false, 17, false",
            "NCW, 16, 0, 16, 1, true, 20, false",
            "NWC, 32, 2, 4, 2, true, 13, false",
            "NCW, 16, 0, 3, 3, true, 17, false",
            "NCW, 16, 0, 3, 5, false, 23, false",
            "NWC, 16, 0, 4, 2147483647, true, 19, false",
    })
    void gradientCheckUtilPasses(RNNFormat f, int d, int kv, int block, int k, boolean masked, int l, boolean full) {
        long seed = 7 * d + l + kv;
        MultiLayerNetwork net = net(f, d, kv, block, k, false, 0, seed);
        int b = full ? 2 : 3;
        INDArray x = seq(f, seed + 1, b, 4, l);
        INDArray y = seq(f, seed + 2, b, 3, l);
        INDArray mask = masked ? (b == 3 ? PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, l - 5, 1)
                : PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l - 4, l)) : null;
        /* minAbsoluteError 1e-7: the central difference itself is only good to about
         * ulp(score) / epsilon = 2.2e-16 * 157 / 1e-6 = 3.5e-8 here (scores of 100-160); at 1e-8 a parameter with
         * gradient 9e-4 failed on 3.6e-8 of difference (relError 2.0e-5) in one CI run and passed in others. */
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(x).labels(y)
                .inputMask(mask).labelMask(mask).epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-7)
                .subset(!full).maxPerParam(full ? 0 : 12));
        assertTrue(ok, "gradient check failed");
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(RNNFormat.class)
    void gradientCheckUtilPassesInAComputationGraph(RNNFormat f) {
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(5).dataType(DataType.DOUBLE).updater(new NoOp()).graphBuilder().addInputs("in")
                .addLayer("rnn", new SimpleRnn.Builder().nOut(32).activation(Activation.TANH).dataFormat(f).build(), "in")
                .addLayer("phalanx", new PhalanxLayer.Builder().nOut(16).kvHeads(1).blockSize(4).dataFormat(f).build(), "rnn")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(3).dataFormat(f).build(), "phalanx")
                .setOutputs("out").setInputTypes(InputType.recurrent(4, f)).build();
        org.deeplearning4j.nn.graph.ComputationGraph net = new org.deeplearning4j.nn.graph.ComputationGraph(conf);
        net.init();
        PhalanxTestUtil.randomise(net.params(), 5);
        int b = 3, l = 14;
        INDArray x = seq(f, 8, b, 4, l), y = seq(f, 9, b, 3, l);
        INDArray mask = PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, 9, 2);
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(net)
                .inputs(new INDArray[]{x}).labels(new INDArray[]{y})
                .inputMask(new INDArray[]{mask}).labelMask(new INDArray[]{mask})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8).subset(true).maxPerParam(12)));
    }

    @ParameterizedTest(name = "{0} kv={1} mask={2}")
    @CsvSource({"NCW, 0, false", "NWC, 1, true"})
    void oneSgdStepIsExactlyMinusLrTimesTheFiniteDifferenceGradient(RNNFormat f, int kv, boolean masked) {
        double lr = 0.05;
        int d = 32, b = 3, l = 21;
        MultiLayerNetwork net = net(f, d, kv, 4, 2, true, lr, 99);
        INDArray x = seq(f, 5, b, 4, l);
        INDArray y = seq(f, 6, b, 3, l);
        INDArray mask = masked ? PhalanxTestUtil.rightPadded(DataType.DOUBLE, l, l, 11, 3) : null;
        DataSet ds = new DataSet(x, y, mask, mask);

        net.setInput(x);
        net.setLabels(y);
        net.setLayerMaskArrays(mask, mask);
        net.computeGradientAndScore();
        // DL4J's backprop sums over the minibatch; the score is the mean and the updater divides by the batch size.
        INDArray grad = net.gradient().gradient().dup().divi(b);
        INDArray p0 = net.params().dup();

        // Central finite differences of the score, on a spread of parameters of every key of both layers.
        Random r = new Random(3);
        INDArray params = net.params();
        int checked = 0;
        double maxRel = 0;
        long off = 0;
        for (int li = 0; li < 2; li++) {
            for (Map.Entry<String, INDArray> e : net.getLayer(li).paramTable().entrySet()) {
                long n = e.getValue().length();
                for (int s = 0; s < 12; s++) {
                    long i = off + (long) (r.nextDouble() * n);
                    double orig = params.getDouble(i);
                    double eps = 1e-5;
                    params.putScalar(i, orig + eps);
                    double sp = net.score(ds, true);
                    params.putScalar(i, orig - eps);
                    double sm = net.score(ds, true);
                    params.putScalar(i, orig);
                    double num = (sp - sm) / (2 * eps);
                    double an = grad.getDouble(i);
                    double rel = Math.abs(num - an) / Math.max(1e-7, Math.abs(num) + Math.abs(an));
                    if (Math.abs(num - an) > 1e-8) maxRel = Math.max(maxRel, rel);
                    assertTrue(rel < 1e-5 || Math.abs(num - an) < 1e-8, "layer " + li + " param " + e.getKey()
                            + " index " + (i - off) + ": analytic " + an + " vs numeric " + num);
                    checked++;
                }
                off += n;
            }
        }
        assertTrue(checked >= 12 * (3 + 8));
        assertTrue(grad.norm2Number().doubleValue() > 1e-3);

        // One plain SGD step.
        net.fit(ds);
        INDArray step = net.params().sub(p0);
        INDArray expected = grad.mul(-lr);
        double maxDiff = step.sub(expected).amaxNumber().doubleValue();
        assertTrue(maxDiff < 1e-13 * Math.max(1, expected.amaxNumber().doubleValue()),
                "SGD step differs from -lr * gradient by " + maxDiff + " (max |step| " + step.amaxNumber() + ")");
        // Every layer actually moved (the LSTM below is where SameDiffLayer doubled gradients).
        long o = 0;
        for (int li = 0; li < 3; li++) {
            long n = net.getLayer(li).numParams();
            INDArray sl = step.reshape(step.length()).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(o, o + n));
            assertTrue(sl.amaxNumber().doubleValue() > 1e-6, "layer " + li + " did not move");
            o += n;
        }
    }
}
