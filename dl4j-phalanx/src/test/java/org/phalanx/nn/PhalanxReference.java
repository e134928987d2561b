package org.phalanx.nn;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

/**
 * Independent float64 evaluation of the Phalanx layer, docs/SWR.md section 2, in plain Java loops: the SWR
 * is the brute-force windowed sum of section 1 (no recurrence), reading the parameters by key
 * ({@code Wa [nIn, H], ba [H], Wb [nIn, G], bb [G], Wc [nIn, G], bc [G], Wv [nIn, C], Wo [C, nOut]}, C = 16 H).
 * Masked steps (mask 0) carry the state (decay 1, input 0) and output 0, as the layer documents; each sequence's
 * blocks are counted from its first valid step (left padding is the same as the sequence alone).
 */
public final class PhalanxReference {

    private PhalanxReference() {
    }

    static double sigmoid(double z) {
        return 1.0 / (1.0 + Math.exp(-z));
    }

    static double[][] mat(INDArray w) {
        double[][] m = new double[(int) w.size(0)][(int) w.size(1)];
        for (int i = 0; i < m.length; i++)
            for (int j = 0; j < m[0].length; j++)
                m[i][j] = w.getDouble(i, j);
        return m;
    }

    static double[] vec(INDArray b) {
        double[] v = new double[(int) b.length()];
        for (int i = 0; i < v.length; i++) v[i] = b.getDouble(i);
        return v;
    }

    /** x in the given format as [B][d][L]. */
    public static double[][][] toNcw(INDArray x, RNNFormat f) {
        int b = (int) x.size(0), c = (int) x.size(f == RNNFormat.NCW ? 1 : 2), l = (int) x.size(f == RNNFormat.NCW ? 2 : 1);
        double[][][] r = new double[b][c][l];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < c; j++)
                for (int t = 0; t < l; t++)
                    r[i][j][t] = f == RNNFormat.NCW ? x.getDouble(i, j, t) : x.getDouble(i, t, j);
        return r;
    }

    public static INDArray fromNcw(double[][][] r, RNNFormat f) {
        int b = r.length, c = r[0].length, l = r[0][0].length;
        INDArray x = f == RNNFormat.NCW ? Nd4j.create(DataType.DOUBLE, b, c, l) : Nd4j.create(DataType.DOUBLE, b, l, c);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < c; j++)
                for (int t = 0; t < l; t++) {
                    if (f == RNNFormat.NCW) x.putScalar(new long[]{i, j, t}, r[i][j][t]);
                    else x.putScalar(new long[]{i, t, j}, r[i][j][t]);
                }
        return x;
    }

    /** SWR, section 1, by the windowed sum: y_t = sum_{s=s0(t)}^{t} (prod_{r=s+1}^{t} a_r) u_s. */
    public static double[] swr(double[] a, double[] u, int block, int k) {
        int l = u.length;
        double[] y = new double[l];
        for (int t = 0; t < l; t++) {
            int c = t / block;
            int s0 = block * Math.max(0, c - k + 1);
            double sum = 0;
            for (int s = s0; s <= t; s++) {
                double p = 1;
                for (int r = s + 1; r <= t; r++) p *= a[r];
                sum += p * u[s];
            }
            y[t] = sum;
        }
        return y;
    }

    /** The layer's output [B][nOut][L] for input x [B][nIn][L] (mask [B][L] or null), no activation. */
    public static double[][][] forward(Map<String, INDArray> params, double[][][] x, double[][] mask, int kvHeads,
                                       int block, int k) {
        return forward(params, x, mask, kvHeads, block, k, java.util.function.DoubleUnaryOperator.identity());
    }

    /** The layer's output with the activation {@code act} applied to each output value. */
    public static double[][][] forward(Map<String, INDArray> params, double[][][] x, double[][] mask, int kvHeads,
                                       int block, int k, java.util.function.DoubleUnaryOperator act) {
        return forward(params, x, mask, kvHeads, block, k, act, false);
    }

    /**
     * The layer's output with {@code headNorm}: each head's 16 values of m at a step divided by
     * {@code sqrt(mean(m^2) + 1e-5)} before the readout.
     */
    public static double[][][] forward(Map<String, INDArray> params, double[][][] x, double[][] mask, int kvHeads,
                                       int block, int k, java.util.function.DoubleUnaryOperator act, boolean headNorm) {
        double[][] wa = mat(params.get("Wa")), wb = mat(params.get("Wb")), wc = mat(params.get("Wc"));
        double[][] wv = mat(params.get("Wv")), wo = mat(params.get("Wo"));
        double[] ba = vec(params.get("ba")), bb = vec(params.get("bb")), bc = vec(params.get("bc"));
        int bsz = x.length, d = x[0].length, l = x[0][0].length, h = wa[0].length, cw = 16 * h, g = 16 * kvHeads;
        int nOut = wo[0].length;
        int rep = h / kvHeads;
        double[][][] out = new double[bsz][nOut][l];
        for (int b = 0; b < bsz; b++) {
            double[][] a = new double[h][l], beta = new double[g][l], c = new double[g][l], v = new double[cw][l];
            for (int t = 0; t < l; t++) {
                boolean on = mask == null || mask[b][t] != 0;
                for (int j = 0; j < h; j++) {
                    double z = ba[j];
                    for (int i = 0; i < d; i++) z += x[b][i][t] * wa[i][j];
                    a[j][t] = on ? sigmoid(z) : 1.0;
                }
                for (int j = 0; j < g; j++) {
                    double zb = bb[j], zc = bc[j];
                    for (int i = 0; i < d; i++) {
                        zb += x[b][i][t] * wb[i][j];
                        zc += x[b][i][t] * wc[i][j];
                    }
                    beta[j][t] = sigmoid(zb);
                    c[j][t] = zc;
                }
                for (int j = 0; j < cw; j++) {
                    double z = 0;
                    for (int i = 0; i < d; i++) z += x[b][i][t] * wv[i][j];
                    v[j][t] = z;
                }
            }
            int first = 0;   // blocks are counted from the sequence's first valid step
            while (mask != null && first < l && mask[b][first] == 0) first++;
            if (first == l) first = 0;
            double[][] m = new double[cw][l];
            for (int j = 0; j < cw; j++) {
                int head = j / 16, kv = head / rep, gj = kv * 16 + j % 16;
                double[] u = new double[l - first], as = new double[l - first];
                for (int t = first; t < l; t++) {
                    boolean on = mask == null || mask[b][t] != 0;
                    u[t - first] = on ? beta[gj][t] * v[j][t] : 0.0;
                    as[t - first] = a[head][t];
                }
                double[] y = swr(as, u, block, k);
                for (int t = 0; t < l; t++) m[j][t] = (t >= first ? y[t - first] * c[gj][t] : 0.0) + v[j][t];
            }
            for (int head = 0; headNorm && head < h; head++) {
                for (int t = 0; t < l; t++) {
                    double ms = 0;
                    for (int j = 16 * head; j < 16 * head + 16; j++) ms += m[j][t] * m[j][t];
                    double r = 1.0 / Math.sqrt(ms / 16 + 1e-5);
                    for (int j = 16 * head; j < 16 * head + 16; j++) m[j][t] *= r;
                }
            }
            for (int o = 0; o < nOut; o++)
                for (int t = 0; t < l; t++) {
                    double z = 0;
                    for (int j = 0; j < cw; j++) z += m[j][t] * wo[j][o];
                    out[b][o][t] = (mask == null || mask[b][t] != 0) ? act.applyAsDouble(z) : 0.0;
                }
        }
        return out;
    }

    public static double maxAbsDiff(double[][][] p, double[][][] q) {
        double m = 0;
        for (int i = 0; i < p.length; i++)
            for (int j = 0; j < p[0].length; j++)
                for (int t = 0; t < p[0][0].length; t++)
                    m = Math.max(m, Math.abs(p[i][j][t] - q[i][j][t]));
        return m;
    }

    public static double maxAbs(double[][][] p) {
        double m = 0;
        for (double[][] a : p) for (double[] b : a) for (double v : b) m = Math.max(m, Math.abs(v));
        return m;
    }
}
