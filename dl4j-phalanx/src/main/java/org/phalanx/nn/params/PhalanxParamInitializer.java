package org.phalanx.nn.params;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.weights.IWeightInit;
import org.deeplearning4j.nn.weights.WeightInitXavier;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.phalanx.swr.Swr;

/**
 * Parameters of the {@link PhalanxLayer} (docs/SWR.md section 2), laid out in the flattened parameter vector
 * in key order {@code Wa, ba, Wb, bb, Wc, bc, Wv, Wo}. Weights are {@code [nIn, n]} 'f'-order views (as in
 * DL4J's dense and recurrent layers), biases {@code [n]}. With {@code H} heads ({@link PhalanxLayer#numHeads()}),
 * inner width {@code C = 16 H} and {@code G = 16 kvHeads}: {@code Wa [nIn, H], ba [H], Wb [nIn, G], bb [G],
 * Wc [nIn, G], bc [G], Wv [nIn, C], Wo [C, nOut]} ({@link #shapes(PhalanxLayer)}, the one definition).
 *
 * <p>Initialisation:
 * <ul>
 *   <li>{@code Wb, Wc, Wv, Wo}: the layer's weight init (fan-in the rows, fan-out the columns).</li>
 *   <li>{@code Wa}: the weight init scaled by {@value #DECAY_WEIGHT_SCALE}, so that at the start each head's
 *       decay is set mostly by its bias rather than by the input.</li>
 *   <li>{@code ba}: head {@code i} of {@code H} gets decay {@code a_i = exp(-1 / tau_i)} with time constants
 *       {@code tau_i} log-spaced from {@value #TAU_MIN} to {@value #TAU_MAX} steps ({@code ba = logit(a_i)}):
 *       decays 0.61 .. 0.97, covering the 17..32-step window of SWR(16, 2) from short to full memory.</li>
 *   <li>{@code bb}: the input gate starts at {@code 1 - a} of the heads it serves (mean over a kv group), so
 *       each head starts as a normalised moving average ({@code h ~ v}) instead of a sum that grows with the
 *       window; without it two stacked layers start with outputs ~100x their inputs.</li>
 *   <li>{@code bc = 1}: the readout gate starts around 1, so the recurrent path is open from the start.</li>
 * </ul>
 */
public class PhalanxParamInitializer implements ParamInitializer {

    public static final String WA = "Wa", BA = "ba", WB = "Wb", BB = "bb", WC = "Wc", BC = "bc", WV = "Wv", WO = "Wo";
    public static final List<String> KEYS = Collections.unmodifiableList(Arrays.asList(WA, BA, WB, BB, WC, BC, WV, WO));
    public static final List<String> WEIGHT_KEYS = Collections.unmodifiableList(Arrays.asList(WA, WB, WC, WV, WO));
    public static final List<String> BIAS_KEYS = Collections.unmodifiableList(Arrays.asList(BA, BB, BC));

    public static final double DECAY_WEIGHT_SCALE = 0.1;
    public static final double TAU_MIN = 2.0, TAU_MAX = 32.0;
    public static final double READOUT_BIAS = 1.0;

    private static final PhalanxParamInitializer INSTANCE = new PhalanxParamInitializer();

    public static PhalanxParamInitializer getInstance() {
        return INSTANCE;
    }

    /**
     * Shapes of the 8 parameters, in key order: {@code Wa [nIn, H], ba [H], Wb [nIn, G], bb [G], Wc [nIn, G],
     * bc [G], Wv [nIn, C], Wo [C, nOut]} with {@code C = 16 H}, {@code G = 16 kvHeads}.
     */
    public static long[][] shapes(long nIn, long heads, long kvHeads, long nOut) {
        long c = PhalanxLayer.HEAD * heads, g = PhalanxLayer.HEAD * kvHeads;
        return new long[][]{{nIn, heads}, {heads}, {nIn, g}, {g}, {nIn, g}, {g}, {nIn, c}, {c, nOut}};
    }

    /** The shapes of {@link #shapes(long, long, long, long)} for a configuration. */
    public static long[][] shapes(PhalanxLayer conf) {
        return shapes(conf.getNIn(), conf.numHeads(), conf.numKvHeads(), conf.getNOut());
    }

    /** Shapes with the heads {@code nIn / 16} of 0.1.0 (inner width = nIn); prefer {@link #shapes(PhalanxLayer)}. */
    public static long[][] shapes(long d, long nOut, long kvHeads) {
        return shapes(d, d / PhalanxLayer.HEAD, kvHeads, nOut);
    }

    /** The initial decay bias of each of {@code heads} heads (see the class comment). */
    public static double[] decayBias(long heads) {
        double[] b = new double[(int) heads];
        for (int i = 0; i < heads; i++) {
            double f = heads == 1 ? 0.5 : i / (double) (heads - 1);
            double tau = TAU_MIN * Math.pow(TAU_MAX / TAU_MIN, f);
            double a = Math.exp(-1.0 / tau);
            b[i] = Math.log(a / (1 - a));
        }
        return b;
    }

    /**
     * The initial input-gate bias of the {@code 16 kvHeads} gate channels: {@code beta = 1 - a} of the heads the
     * kv head serves (averaged over its group), so that each head starts as a normalised exponential moving
     * average of its values ({@code h} of the order of {@code v}) rather than a sum that grows with the window.
     */
    public static double[] inputGateBias(long heads, long kvHeads) {
        double[] ba = decayBias(heads);
        long rep = heads / kvHeads;
        double[] bb = new double[(int) (Swr.HEAD * kvHeads)];
        for (int k = 0; k < kvHeads; k++) {
            double beta = 0;
            for (long r = 0; r < rep; r++) {
                beta += 1 - 1 / (1 + Math.exp(-ba[(int) (k * rep + r)]));
            }
            beta /= rep;
            for (int j = 0; j < Swr.HEAD; j++) {
                bb[Swr.HEAD * k + j] = Math.log(beta / (1 - beta));
            }
        }
        return bb;
    }

    private static PhalanxLayer conf(Layer layer) {
        if (!(layer instanceof PhalanxLayer)) {
            throw new IllegalArgumentException("PhalanxParamInitializer: expected a PhalanxLayer configuration; got "
                    + (layer == null ? "null" : layer.getClass().getName()));
        }
        return (PhalanxLayer) layer;
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        long n = 0;
        for (long[] s : shapes(conf(layer))) {
            n += s.length == 1 ? s[0] : s[0] * s[1];
        }
        return n;
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return KEYS;
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return WEIGHT_KEYS;
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return BIAS_KEYS;
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return WEIGHT_KEYS.contains(key);
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return BIAS_KEYS.contains(key);
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        PhalanxLayer c = conf(conf.getLayer());
        long expected = numParams(c);
        if (paramsView.length() != expected) {
            throw new IllegalStateException("PhalanxParamInitializer: expected a parameter view of length " + expected
                    + "; got " + paramsView.length());
        }
        Map<String, INDArray> m = subsets(c, paramsView);
        if (initializeParams) {
            IWeightInit wi = c.getWeightInitFn() != null ? c.getWeightInitFn() : new WeightInitXavier();
            for (String k : WEIGHT_KEYS) {
                INDArray w = m.get(k);
                wi.init(w.size(0), w.size(1), w.shape(), 'f', w);   // fan-in: nIn rows, or C for Wo
            }
            m.get(WA).muli(DECAY_WEIGHT_SCALE);
            double[] ba = decayBias(c.numHeads());
            INDArray bav = m.get(BA);
            for (int i = 0; i < ba.length; i++) {
                bav.putScalar(i, ba[i]);
            }
            double[] bbv = inputGateBias(c.numHeads(), c.numKvHeads());
            INDArray bbArr = m.get(BB);
            for (int i = 0; i < bbv.length; i++) {
                bbArr.putScalar(i, bbv[i]);
            }
            m.get(BC).assign(READOUT_BIAS);
        }
        for (String k : KEYS) {
            conf.addVariable(k);
        }
        return m;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return subsets(conf(conf.getLayer()), gradientView);
    }

    private static Map<String, INDArray> subsets(PhalanxLayer c, INDArray flat) {
        INDArray v = flat.reshape(flat.length());
        long[][] shapes = shapes(c);
        Map<String, INDArray> m = Collections.synchronizedMap(new LinkedHashMap<>());
        long off = 0;
        for (int i = 0; i < KEYS.size(); i++) {
            long[] s = shapes[i];
            long n = s.length == 1 ? s[0] : s[0] * s[1];
            INDArray part = v.get(NDArrayIndex.interval(off, off + n));
            m.put(KEYS.get(i), s.length == 1 ? part : part.reshape('f', s[0], s[1]));
            off += n;
        }
        return m;
    }
}
