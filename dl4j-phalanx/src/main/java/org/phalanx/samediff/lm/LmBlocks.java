package org.phalanx.samediff.lm;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reusable SameDiff blocks for causal language models, on rows {@code x [N, d]} with {@code N = B * L}
 * (batch-major: row {@code b * L + t}). Every block creates its parameters as variables named
 * {@code prefix + key} and returns a new variable; nothing is modified in place.
 *
 * <p>M2.1 has no causal flag on its attention ops, so {@link #causalAttention} builds exact masks from a
 * batched {@code mmul}, an additive mask and a softmax.
 */
public final class LmBlocks {

    /** Added to the scores of disallowed (future or out-of-window) positions; exp() of it is exactly 0. */
    static final double MASKED = -1e9;
    /** RMSNorm epsilon. */
    public static final double RMS_EPS = 1e-5;

    private LmBlocks() {
    }

    /** Token embedding as a one-hot matrix product: the gradient adds rows (M2.1's gather gradient assigns them). */
    public static SDVariable embed(SameDiff sd, SDVariable tokens, SDVariable table, int vocab) {
        SDVariable oneHot = sd.oneHot(tokens, vocab, -1, 1.0, 0.0, table.dataType());
        return sd.mmul(sd.reshape(oneHot, -1, vocab), table);
    }

    /** RMSNorm over the last dimension: {@code x / sqrt(mean(x^2) + eps) * g}, gain {@code prefix + "g"} (ones). */
    public static SDVariable rmsNorm(SameDiff sd, String prefix, SDVariable x, long d) {
        SDVariable g = sd.var(prefix + "g", Nd4j.ones(x.dataType(), 1, d));
        SDVariable ms = sd.mean(x.mul(x), true, 1);
        return x.mul(sd.math.rsqrt(ms.add(RMS_EPS))).mul(g);
    }

    /** MLP {@code gelu(x W1 + b1) W2 + b2}, hidden width {@code hidden}; {@code outStd} scales W2's initialisation. */
    public static SDVariable mlp(SameDiff sd, String prefix, SDVariable x, long d, long hidden, double outStd) {
        DataType t = x.dataType();
        SDVariable w1 = sd.var(prefix + "W1", normal(t, 1 / Math.sqrt(d), d, hidden));
        SDVariable b1 = sd.var(prefix + "b1", Nd4j.zeros(t, 1, hidden));
        SDVariable w2 = sd.var(prefix + "W2", normal(t, outStd, hidden, d));
        SDVariable b2 = sd.var(prefix + "b2", Nd4j.zeros(t, 1, d));
        return sd.mmul(sd.nn.gelu(sd.mmul(x, w1).add(b1)), w2).add(b2);
    }

    /**
     * Causal multi-head self-attention on rows {@code x [B*L, d]} of sequences of length {@code length}:
     * position {@code i} attends to {@code j} with {@code i - window < j <= i} ({@code window <= 0}: all
     * {@code j <= i}). Parameters {@code Wq, Wk, Wv [d, d]}, {@code Wo [d, d]}, no biases, no positional
     * encoding (causal masking alone tells positions apart).
     */
    public static SDVariable causalAttention(SameDiff sd, String prefix, SDVariable x, int length, long d,
                                             int heads, int window, double outStd) {
        if (heads < 1 || d % heads != 0) {
            throw new IllegalArgumentException("causalAttention: heads must divide d = " + d + "; got " + heads);
        }
        if (length < 1) {
            throw new IllegalArgumentException("causalAttention: length must be >= 1; got " + length);
        }
        DataType t = x.dataType();
        long dh = d / heads;
        double std = 1 / Math.sqrt(d);
        SDVariable q = headsFirst(sd, sd.mmul(x, sd.var(prefix + "Wq", normal(t, std, d, d))), length, heads, dh);
        SDVariable k = headsFirst(sd, sd.mmul(x, sd.var(prefix + "Wk", normal(t, std, d, d))), length, heads, dh);
        SDVariable v = headsFirst(sd, sd.mmul(x, sd.var(prefix + "Wv", normal(t, std, d, d))), length, heads, dh);
        SDVariable scores = sd.mmul(q, k, false, true, false).mul(1 / Math.sqrt(dh));       // [B*H, L, L]
        SDVariable p = sd.nn.softmax(scores.add(sd.constant(causalMask(t, length, window))), -1);
        SDVariable o = sd.mmul(p, v);                                                         // [B*H, L, dh]
        SDVariable rows = sd.reshape(sd.permute(sd.reshape(o, -1, heads, length, dh), 0, 2, 1, 3), -1, d);
        return sd.mmul(rows, sd.var(prefix + "Wo", normal(t, outStd, d, d)));
    }

    /** [B*L, d] -> [B*H, L, dh]. */
    private static SDVariable headsFirst(SameDiff sd, SDVariable rows, int length, int heads, long dh) {
        return sd.reshape(sd.permute(sd.reshape(rows, -1, length, heads, dh), 0, 2, 1, 3), -1, length, dh);
    }

    /** Additive mask [L, L]: 0 where {@code i - window < j <= i} (or {@code j <= i} for window <= 0), else {@link #MASKED}. */
    public static INDArray causalMask(DataType t, int length, int window) {
        double[] m = new double[length * length];
        for (int i = 0; i < length; i++) {
            for (int j = 0; j < length; j++) {
                boolean allowed = j <= i && (window <= 0 || i - j < window);
                m[i * length + j] = allowed ? 0 : MASKED;
            }
        }
        return Nd4j.createFromArray(m).reshape(length, length).castTo(t);
    }

    /** Normal(0, std) initial values from ND4J's (seedable) generator. */
    static INDArray normal(DataType t, double std, long... shape) {
        return Nd4j.randn(DataType.DOUBLE, shape).muli(std).castTo(t);
    }
}
