package org.phalanx.samediff.lm;

import org.nd4j.autodiff.samediff.SDIndex;
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
     *
     * <p>Global attention scores the full {@code L x L} matrix. A sliding window shorter than half the
     * length is computed in chunks of {@code window} queries, each against its own and the previous chunk's
     * keys ({@code 2 window} scores per query instead of {@code L}): the same result, in
     * {@code O(L window)} time and memory.
     */
    public static SDVariable causalAttention(SameDiff sd, String prefix, SDVariable x, int length, long d,
                                             int heads, int window, double outStd) {
        return causalAttention(sd, prefix, x, length, d, heads, window, outStd, false);
    }

    /**
     * As {@link #causalAttention(SameDiff, String, SDVariable, int, long, int, int, double)}; with {@code rope},
     * queries and keys are rotated by their position first (rotary position encoding, {@link #rotate}).
     */
    public static SDVariable causalAttention(SameDiff sd, String prefix, SDVariable x, int length, long d,
                                             int heads, int window, double outStd, boolean rope) {
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
        if (rope) {
            q = rotate(sd, q, length, dh);
            k = rotate(sd, k, length, dh);
        }
        SDVariable o = window > 0 && 2L * window < length
                ? slidingWindowChunks(sd, q, k, v, length, window, dh)
                : sd.mmul(sd.nn.softmax(sd.mmul(q, k, false, true, false).mul(1 / Math.sqrt(dh))
                        .add(sd.constant(causalMask(t, length, window))), -1), v);             // [B*H, L, dh]
        SDVariable rows = sd.reshape(sd.permute(sd.reshape(o, -1, heads, length, dh), 0, 2, 1, 3), -1, d);
        return sd.mmul(rows, sd.var(prefix + "Wo", normal(t, outStd, d, d)));
    }

    /**
     * Sliding-window attention on {@code q, k, v [B*H, L, dh]} in chunks of {@code w} positions (the length
     * padded with zero rows to {@code n w}, {@code 2 w < L}): chunk {@code c}'s queries score the keys of chunks
     * {@code c - 1} and {@code c} ({@code [B*H*n, w, 2w]}) under {@link #chunkMask}; returns {@code [B*H, L, dh]}.
     */
    private static SDVariable slidingWindowChunks(SameDiff sd, SDVariable q, SDVariable k, SDVariable v,
                                                  int length, int w, long dh) {
        int n = (length + w - 1) / w, pad = n * w - length;     // pad < w < length: zero rows cut from q
        SDVariable qc = sd.reshape(padRows(q, pad), -1, w, dh);                                 // [B*H*n, w, dh]
        SDVariable kk = previousAndOwnChunk(sd, padRows(k, pad), n, w, dh);                     // [B*H*n, 2w, dh]
        SDVariable vv = previousAndOwnChunk(sd, padRows(v, pad), n, w, dh);
        SDVariable scores = sd.reshape(sd.mmul(qc, kk, false, true, false).mul(1 / Math.sqrt(dh)), -1, n, w, 2L * w);
        SDVariable p = sd.reshape(sd.nn.softmax(scores.add(sd.constant(chunkMask(q.dataType(), n, w))), -1), -1, w, 2L * w);
        SDVariable o = sd.reshape(sd.mmul(p, vv), -1, (long) n * w, dh);
        return pad == 0 ? o : o.get(SDIndex.all(), SDIndex.interval(0, length), SDIndex.all());
    }

    /** {@code x [X, L, dh]} with {@code pad} zero rows appended along L (made from x, so the batch stays dynamic). */
    private static SDVariable padRows(SDVariable x, int pad) {
        if (pad == 0) {
            return x;
        }
        SDVariable zeros = x.get(SDIndex.all(), SDIndex.interval(0, pad), SDIndex.all()).mul(0.0);
        return x.getSameDiff().concat(1, x, zeros);
    }

    /** {@code x [X, n w, dh]} -> {@code [X n, 2w, dh]}: for each chunk, the previous chunk's rows (zeros before the first) then its own. */
    private static SDVariable previousAndOwnChunk(SameDiff sd, SDVariable x, int n, int w, long dh) {
        SDVariable chunks = sd.reshape(x, -1, n, w, dh);
        SDVariable first = chunks.get(SDIndex.all(), SDIndex.interval(0, 1), SDIndex.all(), SDIndex.all()).mul(0.0);
        SDVariable previous = n == 1 ? first
                : sd.concat(1, first, chunks.get(SDIndex.all(), SDIndex.interval(0, n - 1), SDIndex.all(), SDIndex.all()));
        return sd.reshape(sd.concat(2, previous, chunks), -1, 2L * w, dh);
    }

    /**
     * Additive mask [n, w, 2w] of {@link #slidingWindowChunks}: query {@code i} of chunk {@code c} (position
     * {@code c w + i}) may see key {@code j} (position {@code (c - 1) w + j}) when that position is {@code >= 0},
     * {@code <= c w + i} and within the window.
     */
    static INDArray chunkMask(DataType t, int n, int w) {
        double[] m = new double[n * w * 2 * w];
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < w; i++) {
                for (int j = 0; j < 2 * w; j++) {
                    long query = (long) c * w + i, key = (long) (c - 1) * w + j;
                    boolean allowed = key >= 0 && key <= query && query - key < w;
                    m[(c * w + i) * 2 * w + j] = allowed ? 0 : MASKED;
                }
            }
        }
        return Nd4j.createFromArray(m).reshape(n, w, 2L * w).castTo(t);
    }

    /** RoPE base: pair {@code j} of a head turns by {@code t * ROPE_BASE^(-2j/dh)} at position {@code t}. */
    public static final double ROPE_BASE = 10000;

    /**
     * Rotary position encoding of {@code x [B*H, L, dh]} (dh even), half-split pairs {@code (j, j + dh/2)}:
     * {@code x'_j = x_j cos - x_{j+dh/2} sin}, {@code x'_{j+dh/2} = x_{j+dh/2} cos + x_j sin}, angle
     * {@link #ropeAngle}. Scores {@code q'.k'} then depend on positions only through their difference.
     */
    static SDVariable rotate(SameDiff sd, SDVariable x, int length, long dh) {
        if (dh % 2 != 0) {
            throw new IllegalArgumentException("rope: the head width must be even; got " + dh);
        }
        DataType t = x.dataType();
        int half = (int) dh / 2;
        double[] cos = new double[length * (int) dh], sin = new double[length * (int) dh];
        for (int p = 0; p < length; p++) {
            for (int j = 0; j < half; j++) {
                double a = ropeAngle(p, j, dh);
                cos[p * (int) dh + j] = cos[p * (int) dh + j + half] = Math.cos(a);
                sin[p * (int) dh + j] = sin[p * (int) dh + j + half] = Math.sin(a);
            }
        }
        double[] swap = new double[(int) (dh * dh)];           // x swap = (-x_{j+half}, x_j)
        for (int j = 0; j < half; j++) {
            swap[(j + half) * (int) dh + j] = -1;
            swap[j * (int) dh + j + half] = 1;
        }
        SDVariable swapped = sd.reshape(sd.mmul(sd.reshape(x, -1, dh),
                sd.constant(Nd4j.createFromArray(swap).reshape(dh, dh).castTo(t))), -1, length, dh);
        return x.mul(sd.constant(Nd4j.createFromArray(cos).reshape(length, dh).castTo(t)))
                .add(swapped.mul(sd.constant(Nd4j.createFromArray(sin).reshape(length, dh).castTo(t))));
    }

    /** The RoPE angle of pair {@code j} at position {@code p}. */
    public static double ropeAngle(long p, int j, long dh) {
        return p * Math.pow(ROPE_BASE, -2.0 * j / dh);
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
