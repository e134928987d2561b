package org.phalanx.samediff.lm;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.samediff.PhalanxBlock;

/**
 * Builds a pre-norm causal language model in SameDiff from an {@link LmConfig}:
 *
 * <pre>
 * x = embed(tokens)                                    one-hot x E, E [vocab, d]
 * per block i:  x = x + mixer_i(rmsNorm(x))            G/S attention or P/R Phalanx
 *               x = x + mlp_i(rmsNorm(x))              gelu, 4 d hidden by default
 * logits = rmsNorm(x) E^T   (tied)  or  rmsNorm(x) W_head
 * loss = mean cross-entropy of logits against labels   (nats per token)
 * </pre>
 *
 * Placeholders {@link #TOKENS} and {@link #LABELS}, INT {@code [B, seqLen]} (any B); outputs
 * {@link #LOGITS} {@code [B * seqLen, vocab]} and {@link #LOSS}. Parameter names are stable
 * ({@code emb/E}, {@code b0/attn/Wq}, {@code b1/phalanx/Wa}, {@code b0/mlp/W1}, ...): {@link LmDecoder}
 * reads them.
 */
public final class CausalLm {

    public static final String TOKENS = "tokens", LABELS = "labels", LOGITS = "logits", LOSS = "loss";
    public static final String EMBEDDING = "emb/E", HEAD = "head/W", FINAL_NORM = "final/";

    /**
     * Block size of the R blocks' SWR: one block spans every sequence shorter than this, so with a window
     * of one block each step sees its whole prefix, exactly the gated linear recurrence
     * {@code h_t = a_t h_{t-1} + u_t}, in O(L): the same function as block 16 with the window
     * {@code Swr.UNBOUNDED}, kept so that checkpoints and the study of docs/RESULTS.md stay as they were.
     * The one place to switch R to another unbounded formulation.
     */
    public static final int UNBOUNDED_BLOCK = 1 << 20;

    private CausalLm() {
    }

    public static String blockPrefix(int i) {
        return "b" + i + "/";
    }

    /** Prefix of block i's mixer parameters ("attn/" or "phalanx/" under the block). */
    public static String mixerPrefix(LmConfig c, int i) {
        return blockPrefix(i) + (c.mixer(i).isAttention() ? "attn/" : "phalanx/");
    }

    /** The Phalanx configuration of a P or R block. */
    public static PhalanxLayer phalanxConf(LmConfig c, LmConfig.Mixer m) {
        if (m.isAttention()) {
            throw new IllegalArgumentException("phalanxConf: mixer " + m + " is attention");
        }
        return new PhalanxLayer.Builder().nIn(c.dModel()).nOut(c.dModel())
                .blockSize(m == LmConfig.Mixer.R ? UNBOUNDED_BLOCK : PhalanxLayer.DEFAULT_BLOCK_SIZE)
                .window(m == LmConfig.Mixer.R ? 1 : PhalanxLayer.DEFAULT_WINDOW)
                .dataFormat(RNNFormat.NWC).build();
    }

    /** The model in float32 with fresh parameters drawn from ND4J's generator seeded with {@code seed}. */
    public static SameDiff build(LmConfig c, long seed) {
        return build(c, seed, DataType.FLOAT);
    }

    /** The model in {@code t} (FLOAT or DOUBLE) with fresh parameters drawn from ND4J's generator seeded with {@code seed}. */
    public static SameDiff build(LmConfig c, long seed, DataType t) {
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            throw new IllegalArgumentException("CausalLm.build: data type must be FLOAT or DOUBLE; got " + t);
        }
        Nd4j.getRandom().setSeed(seed);
        SameDiff sd = SameDiff.create();
        int d = c.dModel(), len = c.seqLen();
        SDVariable tokens = sd.placeHolder(TOKENS, DataType.INT, -1, len);
        SDVariable labels = sd.placeHolder(LABELS, DataType.INT, -1, len);
        SDVariable table = sd.var(EMBEDDING, LmBlocks.normal(t, 1 / Math.sqrt(d), c.vocab(), d));
        SDVariable x = LmBlocks.embed(sd, tokens, table, c.vocab());                          // [N, d]
        double outStd = 1 / Math.sqrt(d) / Math.sqrt(2.0 * c.layers());                        // residual branches
        for (int i = 0; i < c.layers(); i++) {
            String p = blockPrefix(i);
            LmConfig.Mixer m = c.mixer(i);
            SDVariable h = LmBlocks.rmsNorm(sd, p + "norm1/", x, d);
            SDVariable mixed;
            if (m.isAttention()) {
                mixed = LmBlocks.causalAttention(sd, mixerPrefix(c, i), h, len, d, c.attnHeads(),
                        m == LmConfig.Mixer.S ? c.window() : 0, outStd, c.rope());
            } else {
                SDVariable seq = sd.reshape(h, -1, len, d);                                     // [B, L, d] NWC
                mixed = sd.reshape(PhalanxBlock.apply(sd, mixerPrefix(c, i), seq, phalanxConf(c, m)), -1, d);
            }
            x = x.add(mixed);
            x = x.add(LmBlocks.mlp(sd, p + "mlp/", LmBlocks.rmsNorm(sd, p + "norm2/", x, d), d, c.mlpHidden(), outStd));
        }
        SDVariable hOut = LmBlocks.rmsNorm(sd, FINAL_NORM, x, d);
        SDVariable logits = c.tiedHead()
                ? sd.mmul(LOGITS, hOut, table, false, true, false)
                : sd.mmul(LOGITS, hOut, sd.var(HEAD, LmBlocks.normal(t, 1 / Math.sqrt(d), d, c.vocab())), false, false, false);
        // Cross-entropy as logsumexp(logits) - logits[label], from elementary ops: M2.1's sparse cross-entropy
        // returns one loss per row and its gradient ignores the incoming gradient (as if the rows were summed),
        // and its logSoftmax with a dimension does not survive the graph clone made for gradients.
        SDVariable target = sd.oneHot(sd.reshape(labels, -1), c.vocab(), -1, 1.0, 0.0, t);
        SDVariable max = sd.max(logits, true, 1);              // any shift gives the same value and gradient
        SDVariable lse = sd.math.log(sd.sum(sd.math.exp(logits.sub(max)), true, 1)).add(max);
        SDVariable perToken = sd.reshape(lse, -1).sub(sd.sum(logits.mul(target), 1));
        sd.mean(LOSS, perToken);
        sd.setLossVariables(LOSS);
        return sd;
    }

    /** Number of trainable parameters. */
    public static long parameterCount(SameDiff sd) {
        long n = 0;
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) {
                n += v.getArr().length();
            }
        }
        return n;
    }
}
