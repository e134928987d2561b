package org.phalanx.samediff.lm;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Causal attention (global, sliding window: full-mask and chunked paths) against plain float64 loops. */
class LmBlocksTest {

    private static final int B = 2, D = 8, HEADS = 2;

    /** Reference: out[b, i] = sum_j softmax_j(q_i . k_j / sqrt(dh)) v_j over allowed j, then Wo. */
    static double[][] reference(double[][] x, double[][] wq, double[][] wk, double[][] wv, double[][] wo,
                                int len, int window, boolean rope) {
        int dh = D / HEADS;
        double[][] q = matmul(x, wq), k = matmul(x, wk), v = matmul(x, wv);
        if (rope) {
            rotate(q, len, dh);
            rotate(k, len, dh);
        }
        double[][] o = new double[x.length][D];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < HEADS; h++) {
                for (int i = 0; i < len; i++) {
                    int lo = window <= 0 ? 0 : Math.max(0, i - window + 1);
                    double[] s = new double[i - lo + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = lo; j <= i; j++) {
                        double dot = 0;
                        for (int e = 0; e < dh; e++) {
                            dot += q[b * len + i][h * dh + e] * k[b * len + j][h * dh + e];
                        }
                        s[j - lo] = dot / Math.sqrt(dh);
                        max = Math.max(max, s[j - lo]);
                    }
                    double z = 0;
                    for (int j = 0; j < s.length; j++) {
                        s[j] = Math.exp(s[j] - max);
                        z += s[j];
                    }
                    for (int j = lo; j <= i; j++) {
                        for (int e = 0; e < dh; e++) {
                            o[b * len + i][h * dh + e] += s[j - lo] / z * v[b * len + j][h * dh + e];
                        }
                    }
                }
            }
        }
        return matmul(o, wo);
    }

    /** RoPE on rows {@code b * len + t}: pair (j, j + dh/2) of each head turned by t * 10000^(-2j/dh). */
    static void rotate(double[][] x, int len, int dh) {
        for (int row = 0; row < x.length; row++) {
            int t = row % len;
            for (int h = 0; h < HEADS; h++) {
                for (int j = 0; j < dh / 2; j++) {
                    double a = t * Math.pow(10000, -2.0 * j / dh);
                    int i1 = h * dh + j, i2 = i1 + dh / 2;
                    double x1 = x[row][i1], x2 = x[row][i2];
                    x[row][i1] = x1 * Math.cos(a) - x2 * Math.sin(a);
                    x[row][i2] = x2 * Math.cos(a) + x1 * Math.sin(a);
                }
            }
        }
    }

    static double[][] matmul(double[][] a, double[][] b) {
        double[][] c = new double[a.length][b[0].length];
        for (int i = 0; i < a.length; i++) {
            for (int k = 0; k < b.length; k++) {
                for (int j = 0; j < b[0].length; j++) {
                    c[i][j] += a[i][k] * b[k][j];
                }
            }
        }
        return c;
    }

    /** window 0: global; 2 window < len: the chunked path (with and without padding); else the full mask. */
    @ParameterizedTest
    @CsvSource({"1,0,false", "17,0,false", "5,1,false", "17,5,false", "16,4,false", "33,16,false", "129,64,false",
            "200,64,false", "256,64,false", "40,20,false", "40,30,false", "15,15,false",
            "1,0,true", "23,0,true", "33,16,true", "200,64,true", "40,30,true"})
    void matchesFloat64Reference(int len, int window, boolean rope) {
        Random r = new Random(31L * len + window);
        SameDiff sd = SameDiff.create();
        INDArray xa = Nd4j.rand(DataType.DOUBLE, (long) B * len, D).subi(0.5).muli(4);
        SDVariable x = sd.var("x", xa);
        SDVariable out = LmBlocks.causalAttention(sd, "att/", x, len, D, HEADS, window, 0.5, rope);
        INDArray got = out.eval();
        double[][] want = reference(xa.toDoubleMatrix(), w(sd, "Wq"), w(sd, "Wk"), w(sd, "Wv"), w(sd, "Wo"), len, window, rope);
        for (int i = 0; i < want.length; i++) {
            for (int j = 0; j < D; j++) {
                assertEquals(want[i][j], got.getDouble(i, j), 1e-10, "len " + len + " window " + window + " at " + i + "," + j);
            }
        }
        // gradients of sum(out * R) w.r.t. x and Wk against central differences of the reference
        INDArray rw = Nd4j.rand(DataType.DOUBLE, (long) B * len, D).subi(0.5);
        SDVariable loss = out.mul(sd.constant(rw)).sum();
        Map<String, INDArray> g = sd.calculateGradients(Map.of(), "x", "att/Wk");
        for (String name : new String[]{"x", "att/Wk"}) {
            INDArray p = sd.getVariable(name).getArr();
            for (int trial = 0; trial < 6; trial++) {
                int i = r.nextInt((int) p.rows()), j = r.nextInt(D);
                double orig = p.getDouble(i, j), eps = 1e-6;
                p.putScalar(i, j, orig + eps);
                double up = referenceLoss(sd, p == xa ? p : xa, rw, len, window, rope);
                p.putScalar(i, j, orig - eps);
                double down = referenceLoss(sd, p == xa ? p : xa, rw, len, window, rope);
                p.putScalar(i, j, orig);
                assertEquals((up - down) / (2 * eps), g.get(name).getDouble(i, j), 1e-6,
                        name + " gradient at " + i + "," + j + " (len " + len + ", window " + window + ")");
            }
        }
        assertEquals(loss.eval().getDouble(0), referenceLoss(sd, xa, rw, len, window, rope), 1e-9);
    }

    private static double referenceLoss(SameDiff sd, INDArray xa, INDArray rw, int len, int window, boolean rope) {
        double[][] o = reference(xa.toDoubleMatrix(), w(sd, "Wq"), w(sd, "Wk"), w(sd, "Wv"), w(sd, "Wo"), len, window, rope);
        double s = 0;
        for (int i = 0; i < o.length; i++) {
            for (int j = 0; j < D; j++) {
                s += o[i][j] * rw.getDouble(i, j);
            }
        }
        return s;
    }

    private static double[][] w(SameDiff sd, String key) {
        return sd.getVariable("att/" + key).getArr().toDoubleMatrix();
    }
}
