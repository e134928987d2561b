package org.phalanx.nn.conf.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nn.layers.PhalanxLayerImpl;
import org.phalanx.nn.params.PhalanxParamInitializer;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;

/**
 * The Phalanx layer (docs/SWR.md section 2): a drop-in for a recurrent or (windowed) attention layer built on the
 * Sliding Window Recurrence. Input {@code [B, nIn, L]} (NCW) or {@code [B, L, nIn]} (NWC), output the same
 * layout with {@code nOut} channels. Per step, with {@code x_t} a row, {@code H} heads and inner width
 * {@code C = 16 H}:
 *
 * <pre>
 *   a_t    = sigmoid(x_t Wa + ba)           Wa: [nIn, H]        one decay per head
 *   beta_t = sigmoid(x_t Wb + bb)           Wb: [nIn, 16 Hkv]   input gate
 *   c_t    = x_t Wc + bc                    Wc: [nIn, 16 Hkv]   readout gate (no activation)
 *   v_t    = x_t Wv                         Wv: [nIn, C]
 *   u_t    = repeat(beta_t) * v_t           head h uses kv head h / (H / Hkv)
 *   h      = SWR_{blockSize, window}(a, u)
 *   out_t  = act((h_t * repeat(c_t) + v_t) Wo)   Wo: [C, nOut]
 * </pre>
 *
 * Parameters (in this order): {@code Wa, ba, Wb, bb, Wc, bc, Wv, Wo}; weights ('f' order views of the flattened
 * parameters, as in DL4J's own layers), biases {@code [n]}; shapes from {@link PhalanxParamInitializer#shapes(PhalanxLayer)}.
 *
 * <p>Builder: {@code nIn} (any; may come from {@code InputType.recurrent}), {@code nOut} (default {@code nIn}),
 * {@code heads} (default {@code ceil(nOut / 16)}), {@code kvHeads} (default {@code heads}; must divide it),
 * {@code blockSize} (16), {@code window} (2 blocks; any {@code k >= 1} or {@code Swr.UNBOUNDED}), {@code activation} (identity, whatever the network's
 * default), {@code weightInit}, {@code dataFormat} (NCW or NWC). Configurations written by 0.1.0 (no
 * {@code configVersion} in their JSON) keep their meaning: {@code nIn / 16} heads and no activation.
 *
 * <p>Initialisation (see {@link PhalanxParamInitializer}): weights from the configured weight init, except
 * {@code Wa} which is scaled by 0.1 so that each head starts near the decay its bias sets; {@code ba} gives
 * the heads decay time constants log-spaced from 2 to 32 steps (decays 0.61 .. 0.97, spanning the SWR window
 * of 17..32 steps); {@code bb} so that the input gate starts at {@code 1 - a} (each head a normalised moving
 * average, keeping the output scale of the order of the input's); {@code bc = 1} (the recurrent path starts open).
 *
 * <p>Masks: DL4J feature masks {@code [B, L]}. A masked step passes the recurrent state through unchanged
 * (its decay is 1 and its input 0) and its output is 0; valid steps equal the sequence run alone, for right and
 * (on whole sequences) left padding, and masked steps contribute nothing to any gradient.
 *
 * <p>Streaming and truncated BPTT: {@code rnnTimeStep} keeps an O(channels) SWR state; a TBPTT segment starts from
 * the state the previous one ended in and is differentiated with that state held fixed.
 */
public class PhalanxLayer extends BaseRecurrentLayer {

    /** Channels per head. */
    public static final int HEAD = org.phalanx.swr.Swr.HEAD;
    public static final int DEFAULT_BLOCK_SIZE = org.phalanx.swr.Swr.DEFAULT_BLOCK;
    public static final int DEFAULT_WINDOW = org.phalanx.swr.Swr.DEFAULT_WINDOW;
    /**
     * Added to each head's mean square by {@code headNorm} (the native step's {@code PHALANX_HEAD_NORM_EPS}, the same
     * number): negligible for {@code m} of unit scale, it keeps a head whose {@code m} is ~0 from being amplified.
     */
    public static final double HEAD_NORM_EPS = 1e-5;

    /**
     * Version of the configuration's semantics. 0 (absent from JSON): written by 0.1.0, where the heads were
     * {@code nIn / 16} and the activation was ignored; such configurations keep their outputs. 2: {@link #heads}
     * and the activation as documented above.
     */
    public static final int CONFIG_VERSION = 2;

    private int configVersion;
    /** Number of heads; 0 means the default {@code ceil(nOut / 16)}. */
    private int heads;
    /** Number of key/value heads sharing the input and readout gates; 0 means one per head. */
    private int kvHeads;
    private int blockSize = DEFAULT_BLOCK_SIZE;
    private int window = DEFAULT_WINDOW;
    /** RMS-normalise each head's 16 channels of {@code m} before the readout {@code Wo} (default off). */
    private boolean headNorm;

    protected PhalanxLayer(Builder builder) {
        super(builder);
        this.configVersion = CONFIG_VERSION;
        this.heads = builder.heads;
        this.kvHeads = builder.kvHeads;
        this.blockSize = builder.blockSize;
        this.window = builder.window;
        this.headNorm = builder.headNorm;
        validate(-1, false);   // before nOut defaults to nIn: a negative nOut must not be replaced silently
        if (this.nOut == 0 && this.nIn > 0) {
            this.nOut = this.nIn;
        }
        validate(-1, false);
        initializeConstraints(builder);
    }

    /** For JSON deserialization (a configuration without {@code configVersion} is one written by 0.1.0). */
    private PhalanxLayer() {
    }

    private static String where(String layerName, int layerIndex) {
        return "PhalanxLayer" + (layerName != null ? " \"" + layerName + "\"" : "")
                + (layerIndex >= 0 ? " (layer index " + layerIndex + ")" : "") + ": ";
    }

    /**
     * Checks this configuration; {@code requireSizes} also demands that nIn and nOut be known (at instantiation).
     * Every message names the layer and the offending setting.
     */
    public void validate(int layerIndex, boolean requireSizes) {
        String where = where(getLayerName(), layerIndex);
        if (nIn < 0 || (nIn == 0 && requireSizes)) {
            throw new IllegalArgumentException(where + "nIn must be positive; got nIn = " + nIn
                    + (nIn == 0 ? " (not set: call nIn(...) or give the network an InputType.recurrent(nIn))" : ""));
        }
        if (nOut < 0 || (nOut == 0 && requireSizes)) {
            throw new IllegalArgumentException(where + "nOut must be positive (default: nIn); got nOut = " + nOut);
        }
        if (isLegacy() && nIn > 0 && nIn % HEAD != 0) {
            throw new IllegalArgumentException(where + "a configuration written by 0.1.0 (no configVersion) has "
                    + "nIn / 16 heads and needs nIn a multiple of 16; got nIn = " + nIn);
        }
        if (heads < 0) {
            throw new IllegalArgumentException(where + "heads must be >= 1 (or 0 for the default ceil(nOut / 16)); got "
                    + heads);
        }
        if (kvHeads < 0) {
            throw new IllegalArgumentException(where + "kvHeads must be >= 1 (or 0 for one per head); got " + kvHeads);
        }
        if (kvHeads > 0 && (heads > 0 || nOut > 0 || (isLegacy() && nIn > 0))) {
            long h = numHeads();
            if (kvHeads > h || h % kvHeads != 0) {
                throw new IllegalArgumentException(where + "kvHeads must divide the number of heads H = " + h
                        + (heads > 0 ? "" : isLegacy() ? " (nIn / 16)" : " (the default ceil(nOut / 16), nOut = " + nOut + ")")
                        + "; got kvHeads = " + kvHeads);
            }
        }
        if (blockSize < 1) {
            throw new IllegalArgumentException(where + "blockSize must be >= 1; got " + blockSize);
        }
        checkWindow(where, window);
        RNNFormat format = getRnnDataFormat();
        if (format != null && format != RNNFormat.NCW && format != RNNFormat.NWC) {
            throw new IllegalArgumentException(where + "dataFormat must be NCW or NWC; got " + format);
        }
    }

    /**
     * The one place that says which SWR windows the layer accepts: any {@code k >= 1} blocks, and
     * {@link org.phalanx.swr.Swr#UNBOUNDED} (the full recurrence); streaming, truncated BPTT and SameDiff carry
     * every one of them.
     */
    static void checkWindow(String where, int window) {
        if (window < 1) {
            throw new IllegalArgumentException(where + "window (in blocks) must be >= 1 (or Swr.UNBOUNDED for the full "
                    + "recurrence); got " + window);
        }
    }

    /**
     * Checks a configuration given by its settings, with the heads {@code nIn / 16} of 0.1.0 (kept for callers
     * written against 0.1.0; prefer {@link #validate(int, boolean)}).
     */
    public static void validate(String layerName, int layerIndex, long nIn, long nOut, int kvHeads, int blockSize,
                                int window, RNNFormat format, boolean requireNIn) {
        PhalanxLayer c = new PhalanxLayer();
        c.setLayerName(layerName);
        c.nIn = nIn;
        c.nOut = nOut;
        c.kvHeads = kvHeads;
        c.blockSize = blockSize;
        c.window = window;
        c.setRnnDataFormat(format);
        c.validate(layerIndex, requireNIn);
    }

    /** Whether this configuration was written by 0.1.0 (heads {@code nIn / 16}, activation ignored). */
    public boolean isLegacy() {
        return configVersion < CONFIG_VERSION;
    }

    /** Whether the activation is applied to the output (not for configurations written by 0.1.0). */
    public boolean appliesActivation() {
        return !isLegacy();
    }

    /** Number of heads {@code H}: the setting, by default {@code ceil(nOut / 16)} ({@code nIn / 16} in 0.1.0). */
    public long numHeads() {
        if (heads > 0) {
            return heads;
        }
        return isLegacy() ? nIn / HEAD : (nOut + HEAD - 1) / HEAD;
    }

    /** The SWR's width {@code C = 16 H}: the rows of {@code Wo}, the columns of {@code Wv}. */
    public long innerWidth() {
        return HEAD * numHeads();
    }

    /** Number of key/value heads actually used ({@code kvHeads}, or {@code H} when unset). */
    public long numKvHeads() {
        return kvHeads > 0 ? kvHeads : numHeads();
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        super.setNIn(inputType, override);
        if (nOut == 0) {
            nOut = nIn;
        }
        validate(-1, true);
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> trainingListeners,
                             int layerIndex, INDArray layerParamsView, boolean initializeParams,
                             DataType networkDataType) {
        validate(layerIndex, true);
        PhalanxLayerImpl ret = new PhalanxLayerImpl(conf, networkDataType);
        ret.setListeners(trainingListeners);
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        ret.setParamTable(paramTable);
        ret.setConf(conf);
        return ret;
    }

    @Override
    public ParamInitializer initializer() {
        return PhalanxParamInitializer.getInstance();
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        InputType outputType = getOutputType(-1, inputType);
        long numParams = initializer().numParams(this);
        int updaterStateSize = (int) getIUpdater().stateSize(numParams);
        long d = nIn, g = HEAD * numKvHeads(), h = numHeads();
        long perStep = h + 2 * g + d;                      // projections a, beta, c, v
        long ws = inputType.arrayElementsPerExample() / Math.max(1, d) * perStep;
        long train = inputType.arrayElementsPerExample() / Math.max(1, d) * (perStep + 3 * d); // + u, y, m
        return new LayerMemoryReport.Builder(getLayerName(), PhalanxLayer.class, inputType, outputType)
                .standardMemory(numParams, updaterStateSize)
                .workingMemory(0, ws, 0, train)
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
    }

    public int getKvHeads() {
        return kvHeads;
    }

    public void setKvHeads(int kvHeads) {
        this.kvHeads = kvHeads;
    }

    public int getBlockSize() {
        return blockSize;
    }

    public void setBlockSize(int blockSize) {
        this.blockSize = blockSize;
    }

    public int getHeads() {
        return heads;
    }

    public void setHeads(int heads) {
        this.heads = heads;
    }

    public int getConfigVersion() {
        return configVersion;
    }

    public void setConfigVersion(int configVersion) {
        this.configVersion = configVersion;
    }

    public int getWindow() {
        return window;
    }

    public void setWindow(int window) {
        this.window = window;
    }

    public boolean isHeadNorm() {
        return headNorm;
    }

    public void setHeadNorm(boolean headNorm) {
        this.headNorm = headNorm;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (!(o instanceof PhalanxLayer)) return false;
        PhalanxLayer p = (PhalanxLayer) o;
        return super.equals(o) && configVersion == p.configVersion && heads == p.heads && kvHeads == p.kvHeads && blockSize == p.blockSize && window == p.window && headNorm == p.headNorm;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), configVersion, heads, kvHeads, blockSize, window, headNorm);
    }

    @Override
    public String toString() {
        return "PhalanxLayer(nIn=" + nIn + ", nOut=" + nOut + ", heads=" + numHeads() + ", kvHeads=" + kvHeads + ", blockSize=" + blockSize
                + ", window=" + window + ", headNorm=" + headNorm + ", dataFormat=" + getRnnDataFormat() + ", " + super.toString() + ")";
    }

    /** Builder in DL4J style: {@code new PhalanxLayer.Builder().nIn(256).kvHeads(4).build()}. */
    public static class Builder extends BaseRecurrentLayer.Builder<Builder> {
        private int heads = 0;
        private int kvHeads = 0;
        private int blockSize = DEFAULT_BLOCK_SIZE;
        private int window = DEFAULT_WINDOW;
        private boolean headNorm = false;

        /** Activation identity unless set here: the network's global default (sigmoid) does not apply. */
        public Builder() {
            this.activationFn = Activation.IDENTITY.getActivationFunction();
        }

        /** Same as {@code new Builder().nIn(nIn)}. */
        public Builder(long nIn) {
            nIn(nIn);
        }

        /**
         * Number of SWR heads of 16 channels: the inner width is {@code 16 heads}, independent of nIn and nOut.
         * Default {@code ceil(nOut / 16)} (so nIn = nOut = 256 has 16 heads).
         */
        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        /**
         * Number of key/value heads: the input gate and readout are shared by groups of {@code H / kvHeads}
         * heads (as keys and values are in grouped-query attention). Default: one per head.
         */
        public Builder kvHeads(int kvHeads) {
            this.kvHeads = kvHeads;
            return this;
        }

        /** SWR block size in steps (default 16). */
        public Builder blockSize(int blockSize) {
            this.blockSize = blockSize;
            return this;
        }

        /**
         * SWR window in blocks: 2 (default; 17..32 steps for blockSize 16), 1 (block-local), any {@code k >= 1}
         * ({@code (k-1) blockSize + 1 .. k blockSize} steps), or {@code Swr.UNBOUNDED} (the full linear recurrence).
         * A finite {@code k >= 3} streams with a state of {@code (k - 2)(C + H)} more numbers per sequence.
         */
        public Builder window(int window) {
            this.window = window;
            return this;
        }

        /**
         * RMS-normalise each head's 16 channels of {@code m = y c + v} before the readout:
         * {@code m / sqrt(mean(m^2) + HEAD_NORM_EPS)} per head and step (no gain: {@code Wo} holds the per-channel scale).
         */
        public Builder headNorm(boolean headNorm) {
            this.headNorm = headNorm;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public PhalanxLayer build() {
            return new PhalanxLayer(this);
        }
    }
}
