package org.phalanx.bench;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.Arrays;
import java.util.Locale;

/**
 * Forward + backward of the Phalanx layer (one fit step of {@code [layer -> RnnLossLayer(MSE)]}, plain SGD,
 * float32) against (a) its floor, the layer's matrix-multiply FLOPs at the GEMM rate measured in the same
 * run, and (b) DL4J's LSTM and SelfAttentionLayer in the same harness.
 *
 * <pre>
 * OMP_NUM_THREADS=2 java -cp ... org.phalanx.bench.PhalanxLayerBenchmark phalanx 8 256 4096
 * OMP_NUM_THREADS=1 java -cp ... org.phalanx.bench.PhalanxLayerBenchmark lstm 8 256 4096
 * OMP_NUM_THREADS=1 java -cp ... org.phalanx.bench.PhalanxLayerBenchmark attention 1 256 4096
 * </pre>
 * Modes: {@code phalanx} (GEMM rate, floor, layer; median of reps), {@code lstm}, {@code attention}
 * (one warm-up at a short length, then timed steps at the full shape). Arguments: mode B d L [reps].
 * Thread settings are printed with every figure.
 */
public final class PhalanxLayerBenchmark {

    public static void main(String[] args) {
        Locale.setDefault(Locale.ROOT);
        String mode = args.length > 0 ? args[0] : "phalanx";
        int b = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int d = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        int l = args.length > 3 ? Integer.parseInt(args[3]) : 4096;
        int reps = args.length > 4 ? Integer.parseInt(args[4]) : (mode.equals("phalanx") ? 7 : 1);
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        String threads = "OMP_NUM_THREADS=" + System.getenv().getOrDefault("OMP_NUM_THREADS", "unset")
                + ", cores=" + Runtime.getRuntime().availableProcessors();
        System.out.printf("mode=%s B=%d d=%d L=%d float32, %s%n", mode, b, d, l, threads);
        switch (mode) {
            case "phalanx":
                phalanx(b, d, l, reps, threads);
                break;
            case "lstm":
                other("LSTM(" + d + ")", new LSTM.Builder().nIn(d).nOut(d).activation(Activation.TANH).build(), b, d, l,
                        reps, threads);
                break;
            case "attention":
                other("SelfAttentionLayer(" + d + ", 16 heads)", new SelfAttentionLayer.Builder().nIn(d).nOut(d)
                        .nHeads(16).projectInput(true).build(), b, d, l, reps, threads);
                break;
            default:
                throw new IllegalArgumentException("mode must be phalanx, lstm or attention; got " + mode);
        }
    }

    static MultiLayerNetwork net(Layer layer, int d) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Sgd(1e-3)).list()
                .layer(layer)
                .layer(new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(d)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    static DataSet data(int b, int d, int l) {
        Nd4j.getRandom().setSeed(3);
        return new DataSet(Nd4j.randn(DataType.FLOAT, b, d, l), Nd4j.randn(DataType.FLOAT, b, d, l));
    }

    static double seconds(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) / 1e9;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static void phalanx(int b, int d, int l, int reps, String threads) {
        MultiLayerNetwork net = net(new PhalanxLayer.Builder().nIn(d).build(), d);
        DataSet ds = data(b, d, l);
        long h = d / 16, g = d, n = (long) b * l;
        // Matrix-multiply FLOPs: forward x [N, d] times [d, H + 2G + d] and [d, nOut]; backward twice that
        // (weight gradients and input gradients).
        double fwdFlops = 2.0 * n * d * (h + 2 * g + d + d);
        double flops = 3 * fwdFlops;

        // GEMM rate on the layer's own shapes: per sequence [n_out, d] x [d, L] (c order, as the layer runs).
        INDArray w = Nd4j.randn(DataType.FLOAT, d, h + 2 * g + d + d);
        INDArray xs = Nd4j.randn(DataType.FLOAT, b, d, l);
        INDArray zs = Nd4j.create(DataType.FLOAT, b, h + 2 * g + d + d, l);
        Runnable gemm = () -> {
            for (int i = 0; i < b; i++) Nd4j.gemm(w, xs.slice(i), zs.slice(i), true, false, 1.0, 0.0);
        };
        double gemmFlops = 2.0 * n * d * (h + 2 * g + d + d);
        // Square-ish reference GEMM too.
        INDArray p = Nd4j.randn(DataType.FLOAT, 2048, 2048), q = Nd4j.randn(DataType.FLOAT, 2048, 2048);
        INDArray r = Nd4j.create(DataType.FLOAT, 2048, 2048);
        Runnable sq = () -> Nd4j.gemm(p, q, r, false, false, 1.0, 0.0);

        Runnable fwdBwd = layerFwdBwd(new PhalanxLayer.Builder().nIn(d).build(), d, ds.getFeatures());

        double[] tg = new double[reps], ts = new double[reps], tl = new double[reps], tf = new double[reps];
        for (int i = -2; i < reps; i++) {
            double a = seconds(gemm), s = seconds(sq), x = seconds(fwdBwd), f = seconds(() -> net.fit(ds));
            if (i >= 0) {
                tg[i] = a;
                ts[i] = s;
                tl[i] = f;
                tf[i] = x;
            }
        }
        double rate = gemmFlops / median(tg), rateSq = 2.0 * 2048 * 2048 * 2048 / median(ts);
        double floor = flops / Math.max(rate, rateSq);
        double t = median(tf), step = median(tl);
        System.out.printf("GEMM rate: layer shapes %.1f GFLOP/s, 2048^3 %.1f GFLOP/s (%s)%n", rate / 1e9, rateSq / 1e9, threads);
        System.out.printf("Phalanx layer fwd+bwd: median %.3f s of %d (min %.3f) (%s)%n", t, reps,
                Arrays.stream(tf).min().getAsDouble(), threads);
        System.out.printf("Phalanx fit step [layer -> RnnLossLayer], fwd+bwd+loss+SGD: median %.3f s of %d (min %.3f) (%s)%n",
                step, reps, Arrays.stream(tl).min().getAsDouble(), threads);
        System.out.printf("Floor: %.1f GFLOP at %.1f GFLOP/s = %.3f s -> layer fwd+bwd at %.2fx the floor%n", flops / 1e9,
                Math.max(rate, rateSq) / 1e9, floor, t / floor);
        System.out.printf("RESULT phalanx B=%d d=%d L=%d fwdbwd_s=%.4f fitstep_s=%.4f floor_s=%.4f gemm_gflops=%.1f ratio=%.2f %s%n",
                b, d, l, t, step, floor, Math.max(rate, rateSq) / 1e9, t / floor, threads);
    }

    /**
     * The layer alone, as a network runs it: activate(training) + backpropGradient (epsilon of the output's
     * shape) inside a workspace that is reused from call to call.
     */
    static Runnable layerFwdBwd(Layer conf, int d, INDArray x) {
        MultiLayerNetwork alone = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1)
                .dataType(DataType.FLOAT).list().layer(conf).setInputType(InputType.recurrent(d)).build());
        alone.init();
        alone.initGradientsView();
        org.deeplearning4j.nn.api.Layer layer = alone.getLayer(0);
        INDArray eps = Nd4j.randn(DataType.FLOAT, x.shape());
        WorkspaceConfiguration wc = WorkspaceConfiguration.builder().initialSize(0).overallocationLimit(0.05)
                .policyLearning(LearningPolicy.FIRST_LOOP).policyReset(ResetPolicy.BLOCK_LEFT)
                .policyAllocation(AllocationPolicy.OVERALLOCATE).policySpill(SpillPolicy.REALLOCATE).build();
        // Workspaces as MultiLayerNetwork's training uses them: activations (and the forward cache) live across
        // forward and backward, working memory per pass, RNN loop memory per step, gradients to the layer below.
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.builder()
                .with(ArrayType.INPUT, "B_ACT", wc).with(ArrayType.ACTIVATIONS, "B_ACT", wc)
                .with(ArrayType.FF_CACHE, "B_ACT", wc)
                .with(ArrayType.FF_WORKING_MEM, "B_WORK", wc).with(ArrayType.BP_WORKING_MEM, "B_WORK", wc)
                .with(ArrayType.RNN_FF_LOOP_WORKING_MEM, "B_LOOP", wc).with(ArrayType.RNN_BP_LOOP_WORKING_MEM, "B_LOOP", wc)
                .with(ArrayType.ACTIVATION_GRAD, "B_GRAD", wc).with(ArrayType.UPDATER_WORKING_MEM, "B_WORK", wc)
                .build();
        return () -> {
            try (MemoryWorkspace act = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS);
                 MemoryWorkspace grad = mgr.notifyScopeEntered(ArrayType.ACTIVATION_GRAD)) {
                layer.setInput(x, mgr);
                try (MemoryWorkspace w = mgr.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
                    layer.activate(true, mgr);
                }
                try (MemoryWorkspace w = mgr.notifyScopeEntered(ArrayType.BP_WORKING_MEM)) {
                    layer.backpropGradient(eps, mgr);
                }
            }
        };
    }

    static void other(String name, Layer layer, int b, int d, int l, int reps, String threads) {
        MultiLayerNetwork net = net(layer.clone(), d);
        DataSet warm = data(b, d, Math.min(l, 256));
        net.fit(warm);
        layerFwdBwd(layer.clone(), d, warm.getFeatures()).run();
        DataSet ds = data(b, d, l);
        Runnable fwdBwd = layerFwdBwd(layer.clone(), d, ds.getFeatures());
        double[] ts = new double[reps], tf = new double[reps];
        for (int i = 0; i < reps; i++) {
            tf[i] = seconds(fwdBwd);
            ts[i] = seconds(() -> net.fit(ds));
        }
        double t = median(ts), f = median(tf);
        System.out.printf("%s layer fwd+bwd: median %.3f s of %d (%s)%n", name, f, reps, threads);
        System.out.printf("%s fit step [layer -> RnnLossLayer]: median %.3f s of %d (%s)%n", name, t, reps, threads);
        System.out.printf("RESULT %s B=%d d=%d L=%d fwdbwd_s=%.4f fitstep_s=%.4f %s%n", name.replace(' ', '_'), b, d, l,
                f, t, threads);
    }
}
