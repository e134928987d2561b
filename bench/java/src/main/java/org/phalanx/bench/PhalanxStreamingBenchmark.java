package org.phalanx.bench;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Streaming decode speed: {@code rnnTimeStep} one step at a time ({@code [B, d]} inputs, as a sampler feeds them)
 * through two Phalanx layers of width d against two DL4J {@code LSTM(d)} layers, in the same run, float32.
 * Prints steps per second (median of {@code reps} timed runs of {@code steps} steps, after a warm-up) and the ratio,
 * by wall clock and by the calling thread's CPU time (with {@code OMP_NUM_THREADS=1} every op runs on that thread,
 * so the CPU-time figure is the cost of a step even on a busy machine, where the wall clock also counts waiting).
 *
 * <pre>
 * OMP_NUM_THREADS=1 java -cp ... org.phalanx.bench.PhalanxStreamingBenchmark [d=256] [steps=2000] [reps=5] [B...=1 8]
 * </pre>
 */
public final class PhalanxStreamingBenchmark {

    public static void main(String[] args) {
        Locale.setDefault(Locale.ROOT);
        int d = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        int reps = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        int[] batches = args.length > 3 ? Arrays.stream(args, 3, args.length).mapToInt(Integer::parseInt).toArray()
                : new int[]{1, 8};
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        System.out.printf("rnnTimeStep, two layers of width %d, float32, %d steps x %d reps, OMP_NUM_THREADS=%s, cores=%d%n",
                d, steps, reps, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"),
                Runtime.getRuntime().availableProcessors());
        for (int b : batches) {
            double[] lstm = stepsPerSecond(() -> new LSTM.Builder().nOut(d).activation(Activation.TANH).build(), d, b,
                    steps, reps);
            // The plain layer (the attention replacement) and the LSTM replacement of docs/PHALANX_LAYER.md.
            double[] plain = stepsPerSecond(() -> new PhalanxLayer.Builder().nOut(d).build(), d, b, steps, reps);
            double[] recipe = stepsPerSecond(() -> new PhalanxLayer.Builder().nOut(d).activation(Activation.TANH)
                    .headNorm(true).build(), d, b, steps, reps);
            System.out.printf("B=%d  LSTM(tanh): wall %.0f steps/s, thread CPU %.0f steps/s%n", b, lstm[0], lstm[1]);
            for (Object[] p : new Object[][]{{"Phalanx", plain}, {"Phalanx(tanh, headNorm)", recipe}}) {
                double[] r = (double[]) p[1];
                System.out.printf("B=%d  %s: wall %.0f steps/s (%.2fx the LSTM), thread CPU %.0f steps/s (%.2fx)%n", b,
                        p[0], r[0], r[0] / lstm[0], r[1], r[1] / lstm[1]);
            }
        }
    }

    static MultiLayerNetwork twoLayers(Supplier<Layer> layer, int d) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Sgd(1e-3)).list()
                .layer(layer.get())
                .layer(layer.get())
                .layer(new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(d)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /**
     * Median steps per second of rnnTimeStep over {@code steps} single steps, after as many warm-up steps: by wall
     * clock, and by the calling thread's CPU time.
     */
    static double[] stepsPerSecond(Supplier<Layer> layer, int d, int b, int steps, int reps) {
        MultiLayerNetwork net = twoLayers(layer, d);
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.randn(DataType.FLOAT, b, d);
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        double sink = 0;
        for (int i = 0; i < steps; i++) sink += net.rnnTimeStep(x).getDouble(0);
        double[] rate = new double[reps], cpuRate = new double[reps];
        for (int r = 0; r < reps; r++) {
            net.rnnClearPreviousState();
            long c0 = threads.getCurrentThreadCpuTime(), t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) sink += net.rnnTimeStep(x).getDouble(0);
            rate[r] = steps / ((System.nanoTime() - t0) / 1e9);
            cpuRate[r] = steps / ((threads.getCurrentThreadCpuTime() - c0) / 1e9);
        }
        if (Double.isNaN(sink)) System.out.println("(non-finite output)");
        Arrays.sort(rate);
        Arrays.sort(cpuRate);
        return new double[]{rate[reps / 2], cpuRate[reps / 2]};
    }
}
