package org.phalanx.nn;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.Random;

/** Shared helpers for the Phalanx layer tests. */
public final class PhalanxTestUtil {

    private PhalanxTestUtil() {
    }

    /**
     * A network with the single Phalanx layer of {@code nIn / 16} heads (inner width nIn, as in 0.1.0),
     * parameters randomised so gates are well spread.
     */
    public static MultiLayerNetwork single(DataType t, long nIn, long nOut, int kvHeads, int block, int k,
                                           RNNFormat f, long seed) {
        return single(t, nIn, (int) (nIn / 16), nOut, kvHeads, block, k, f, seed);
    }

    /** A network with the single Phalanx layer of {@code heads} heads (0: the default ceil(nOut / 16)). */
    public static MultiLayerNetwork single(DataType t, long nIn, int heads, long nOut, int kvHeads, int block, int k,
                                           RNNFormat f, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed).dataType(t).updater(new NoOp())
                .list()
                .layer(new PhalanxLayer.Builder().nIn(nIn).nOut(nOut).heads(heads).kvHeads(kvHeads).blockSize(block)
                        .window(k).dataFormat(f).build())
                .setInputType(InputType.recurrent(nIn, f))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        randomise(net.params(), seed);
        return net;
    }

    /** Parameters to N(0, 0.25^2): gates well spread over (0, 1), no symmetry. */
    public static void randomise(INDArray params, long seed) {
        Random r = new Random(seed);
        for (long i = 0; i < params.length(); i++) {
            params.putScalar(i, 0.25 * r.nextGaussian());
        }
    }

    public static INDArray randn(DataType t, long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.randn(t, shape);
    }

    /** A right-padded [B, L] mask with the given lengths. */
    public static INDArray rightPadded(DataType t, long len, int... lengths) {
        INDArray m = Nd4j.zeros(t, lengths.length, len);
        for (int b = 0; b < lengths.length; b++)
            for (int s = 0; s < lengths[b]; s++)
                m.putScalar(b, s, 1.0);
        return m;
    }

    public static double[][] toArray2(INDArray m) {
        double[][] r = new double[(int) m.size(0)][(int) m.size(1)];
        for (int i = 0; i < r.length; i++)
            for (int j = 0; j < r[0].length; j++)
                r[i][j] = m.getDouble(i, j);
        return r;
    }

    /** Asserts that the exception's message contains every part. */
    public static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) {
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage() != null && e.getMessage().contains(p),
                    "message lacks '" + p + "': " + e.getMessage());
        }
    }
}
