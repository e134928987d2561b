package org.phalanx.examples;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

/**
 * A small MultiLayerNetwork with Phalanx layers learning a toy sequence task, then streaming with
 * {@code rnnTimeStep}.
 *
 * <p>Task ("two time scales"): from a noisy signal {@code s_t} (input channel 0; channel 1 is a distractor),
 * predict a fast and a slow leaky average, {@code f_t = 0.5 f_{t-1} + 0.5 s_t} and
 * {@code m_t = 0.9 m_{t-1} + 0.1 s_t}: what SWR's decaying window is made for (the slow one needs the full
 * 17..32-step window; its truncation error is below 0.9^17, about 0.17 of the first term).
 *
 * <p>Network: Dense(2 -> 32) -> Phalanx(32) -> Phalanx(32, kvHeads 1) -> RnnOutput(MSE, 2). After
 * training, a fresh sequence is fed one step at a time with {@code rnnTimeStep} and compared with a
 * single {@code output} call over the whole sequence.
 *
 * <pre>mvn -q -pl examples -am -DskipTests -Dphalanx.cuda.skip=true compile exec:java -Dexec.mainClass=org.phalanx.examples.PhalanxSequenceExample</pre>
 */
public final class PhalanxSequenceExample {

    /** Inputs [B, 2, L] and targets [B, 2, L]. */
    static DataSet data(int batch, int length, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.randn(DataType.FLOAT, batch, 2, length);
        INDArray y = Nd4j.zeros(DataType.FLOAT, batch, 2, length);
        for (int b = 0; b < batch; b++) {
            double f = 0, m = 0;
            for (int t = 0; t < length; t++) {
                double s = x.getDouble(b, 0, t);
                f = 0.5 * f + 0.5 * s;
                m = 0.9 * m + 0.1 * s;
                y.putScalar(new long[]{b, 0, t}, f);
                y.putScalar(new long[]{b, 1, t}, m);
            }
        }
        return new DataSet(x, y);
    }

    public static void main(String[] args) {
        int iterations = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).dataType(DataType.FLOAT).updater(new Adam(3e-3))
                .list()
                .layer(new DenseLayer.Builder().nOut(32).activation(Activation.IDENTITY).build())
                .layer(new PhalanxLayer.Builder().nOut(32).build())
                .layer(new PhalanxLayer.Builder().nOut(32).kvHeads(1).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build())
                .setInputType(InputType.recurrent(2))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        System.out.println(net.summary());

        DataSet test = data(16, 96, 1);
        System.out.printf("initial test loss %.5f%n", net.score(test));
        long t0 = System.nanoTime();
        for (int i = 1; i <= iterations; i++) {
            net.fit(data(32, 64, 100 + i));
            if (i % 50 == 0) {
                System.out.printf("iteration %4d  train loss %.5f  test loss %.5f%n", i, net.score(), net.score(test));
            }
        }
        System.out.printf("trained in %.1f s%n", (System.nanoTime() - t0) / 1e9);

        // Streaming: one step at a time, the layers carry an O(channels) SWR state.
        DataSet seq = data(1, 40, 999);
        INDArray x = seq.getFeatures();
        INDArray full = net.output(x);
        net.rnnClearPreviousState();
        double maxDiff = 0;
        System.out.println(" t    target(fast)  streamed  target(slow)  streamed");
        for (int t = 0; t < x.size(2); t++) {
            INDArray step = net.rnnTimeStep(x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t)));
            INDArray want = full.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t));
            maxDiff = Math.max(maxDiff, step.sub(want.reshape(step.shape())).amaxNumber().doubleValue());
            if (t % 5 == 0) {
                System.out.printf("%2d  %12.3f %9.3f  %12.3f %9.3f%n", t, seq.getLabels().getDouble(0, 0, t),
                        step.getDouble(0, 0), seq.getLabels().getDouble(0, 1, t), step.getDouble(0, 1));
            }
        }
        System.out.printf("rnnTimeStep one step at a time vs one output call: max |difference| = %.2e%n", maxDiff);
    }
}
