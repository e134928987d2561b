package org.phalanx.parallel;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A small sequence task and the Phalanx networks that learn it, shared by the ParallelWrapper and Spark
 * tests, their throughput benchmark and the Spark example, so that all of them train the same thing.
 *
 * <p>Task ("two time scales"): from a noisy signal {@code s_t} (input channel 0; channel 1 is a distractor)
 * predict a fast and a slow leaky average, {@code f_t = 0.5 f_{t-1} + 0.5 s_t} and
 * {@code m_t = 0.9 m_{t-1} + 0.1 s_t}. Inputs and targets are {@code [B, 2, L]} (NCW).
 *
 * <p>Networks: {@code Dense(2 -> d, identity) -> Phalanx(d) -> RnnOutput(MSE, 2)}, as a MultiLayerNetwork
 * and as a ComputationGraph with the same layers; {@code d} a multiple of 16.
 */
public final class TwoTimeScalesTask {

    public static final int IN = 2;
    public static final int OUT = 2;

    private TwoTimeScalesTask() {
    }

    /** One minibatch of {@code batch} sequences of {@code length} steps, from its own seed. */
    public static DataSet batch(int batch, int length, long seed, DataType type) {
        Random rng = new Random(seed);
        double[][][] x = new double[batch][IN][length];
        double[][][] y = new double[batch][OUT][length];
        for (int b = 0; b < batch; b++) {
            double f = 0, m = 0;
            for (int t = 0; t < length; t++) {
                double s = rng.nextGaussian();
                x[b][0][t] = s;
                x[b][1][t] = rng.nextGaussian();
                f = 0.5 * f + 0.5 * s;
                m = 0.9 * m + 0.1 * s;
                y[b][0][t] = f;
                y[b][1][t] = m;
            }
        }
        INDArray xs = Nd4j.createFromArray(x).castTo(type);
        INDArray ys = Nd4j.createFromArray(y).castTo(type);
        return new DataSet(xs, ys);
    }

    /** {@code count} minibatches with seeds {@code seed, seed + 1, ...}. */
    public static List<DataSet> batches(int count, int batch, int length, long seed, DataType type) {
        List<DataSet> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(batch(batch, length, seed + i, type));
        }
        return out;
    }

    private static NeuralNetConfiguration.Builder base(int width, IUpdater updater, long seed, DataType type) {
        if (width <= 0 || width % PhalanxLayer.HEAD != 0) {
            throw new IllegalArgumentException("width must be a positive multiple of " + PhalanxLayer.HEAD
                    + "; got " + width);
        }
        return new NeuralNetConfiguration.Builder().seed(seed).dataType(type).updater(updater);
    }

    private static DenseLayer embed(int width) {
        return new DenseLayer.Builder().nIn(IN).nOut(width).activation(Activation.IDENTITY).build();
    }

    private static PhalanxLayer phalanx(int width) {
        return new PhalanxLayer.Builder().nIn(width).nOut(width).build();
    }

    private static RnnOutputLayer head(int width) {
        return new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                .nIn(width).nOut(OUT).build();
    }

    /** The MultiLayerNetwork: Dense, Phalanx, RnnOutput. */
    public static MultiLayerConfiguration multiLayer(int width, IUpdater updater, long seed, DataType type) {
        return base(width, updater, seed, type).list()
                .layer(embed(width))
                .layer(phalanx(width))
                .layer(head(width))
                .setInputType(InputType.recurrent(IN))
                .build();
    }

    /** The same layers as a ComputationGraph (input "in", output "out"). */
    public static ComputationGraphConfiguration graph(int width, IUpdater updater, long seed, DataType type) {
        return base(width, updater, seed, type).graphBuilder()
                .addInputs("in")
                .addLayer("embed", embed(width), "in")
                .addLayer("phalanx", phalanx(width), "embed")
                .addLayer("out", head(width), "phalanx")
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(IN))
                .build();
    }
}
