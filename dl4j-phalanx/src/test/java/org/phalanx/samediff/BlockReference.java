package org.phalanx.samediff;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * Independent float64 evaluation of the Phalanx block (docs/SWR.md section 2) in plain loops, with every size
 * read from the parameters themselves ({@code Wa [nIn, H], Wb, Wc [nIn, G], Wv [nIn, C], Wo [C, nOut]}), so it
 * holds for any nIn, inner width and nOut. SWR is the brute-force windowed sum of section 1. Masked steps
 * (mask 0) have decay 1 and input 0 and output 0, as the layer documents.
 */
final class BlockReference {

    private BlockReference() {
    }

    static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
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

    /** out [B][nOut][L] for x [B][nIn][L], mask [B][L] (or null). */
    static double[][][] forward(Map<String, INDArray> p, double[][][] x, double[][] mask, int block, int k) {
        double[][] wa = mat(p.get("Wa")), wb = mat(p.get("Wb")), wc = mat(p.get("Wc")), wv = mat(p.get("Wv")), wo = mat(p.get("Wo"));
        double[] ba = vec(p.get("ba")), bb = vec(p.get("bb")), bc = vec(p.get("bc"));
        int bsz = x.length, nIn = wa.length, h = wa[0].length, g = wb[0].length, c = wv[0].length, nOut = wo[0].length, l = x[0][0].length;
        int rep = h / (g / 16);
        double[][][] out = new double[bsz][nOut][l];
        for (int b = 0; b < bsz; b++) {
            double[][] a = new double[h][l], beta = new double[g][l], cc = new double[g][l], v = new double[c][l];
            for (int t = 0; t < l; t++) {
                for (int j = 0; j < h; j++) a[j][t] = sigmoid(ba[j] + dot(x[b], wa, j, t, nIn));
                for (int j = 0; j < g; j++) {
                    beta[j][t] = sigmoid(bb[j] + dot(x[b], wb, j, t, nIn));
                    cc[j][t] = bc[j] + dot(x[b], wc, j, t, nIn);
                }
                for (int j = 0; j < c; j++) v[j][t] = dot(x[b], wv, j, t, nIn);
            }
            double[][] m = new double[c][l];
            for (int j = 0; j < c; j++) {
                int head = j / 16, gj = (head / rep) * 16 + j % 16;
                for (int t = 0; t < l; t++) {
                    int s0 = block * Math.max(0, t / block - k + 1);
                    double y = 0;
                    for (int s = s0; s <= t; s++) {
                        if (!on(mask, b, s)) continue;
                        double prod = 1;
                        for (int r = s + 1; r <= t; r++) prod *= on(mask, b, r) ? a[head][r] : 1.0;
                        y += prod * beta[gj][s] * v[j][s];
                    }
                    m[j][t] = y * cc[gj][t] + v[j][t];
                }
            }
            for (int o = 0; o < nOut; o++)
                for (int t = 0; t < l; t++) {
                    double z = 0;
                    for (int j = 0; j < c; j++) z += m[j][t] * wo[j][o];
                    out[b][o][t] = on(mask, b, t) ? z : 0;
                }
        }
        return out;
    }

    private static boolean on(double[][] mask, int b, int t) {
        return mask == null || mask[b][t] != 0;
    }

    private static double dot(double[][] xb, double[][] w, int j, int t, int nIn) {
        double z = 0;
        for (int i = 0; i < nIn; i++) z += xb[i][t] * w[i][j];
        return z;
    }
}
