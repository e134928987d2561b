package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.samediff.PhalanxOps;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.swr.SwrTestData.*;

/**
 * The fused core ({@link PhalanxCore}, the {@code phalanx_core} ops) against a float64 reference composed from
 * {@link SwrReference} exactly as phalanx_core.h defines it (u = rep(beta) v, y = SWR(a, u), m = y rep(c) + v;
 * dy = dm rep(c), dv = dm + du rep(beta), dbeta = gsum(du v), dc = gsum(dm y)), and the SameDiff op's gradients
 * against finite differences.
 */
class PhalanxCoreTest {

    /** Reference {m, y} and {da, dbeta, dv, dc} on flat 'c' arrays. */
    static double[][] reference(double[] a, double[] beta, double[] v, double[] c, double[] dm, int B, int H, int kvH, int L,
                                int block, int k) {
        int C = 16 * H, G = 16 * kvH, per = H / kvH;
        double[] u = new double[B * C * L], dy = new double[B * C * L];
        int[] grp = new int[B * C * L];
        for (int b = 0; b < B; b++)
            for (int j = 0; j < C; j++)
                for (int t = 0; t < L; t++) {
                    int i = (b * C + j) * L + t;
                    grp[i] = (b * G + (j / 16) / per * 16 + j % 16) * L + t;
                    u[i] = beta[grp[i]] * v[i];
                    dy[i] = dm[i] * c[grp[i]];
                }
        double[] y = SwrReference.forward(a, u, B, H, L, block, k);
        double[][] g = SwrReference.backward(a, u, dy, B, H, L, block, k);
        double[] m = new double[u.length], dv = new double[u.length], db = new double[B * G * L], dc = new double[B * G * L];
        for (int i = 0; i < u.length; i++) {
            m[i] = y[i] * c[grp[i]] + v[i];
            dv[i] = dm[i] + g[1][i] * beta[grp[i]];
            db[grp[i]] += g[1][i] * v[i];
            dc[grp[i]] += dm[i] * y[i];
        }
        return new double[][]{m, y, g[0], db, dv, dc};
    }

    private static void checkCase(Random r, DataType t, int B, int H, int kvH, int L, int block, int k, Gates gates) {
        int C = 16 * H, G = 16 * kvH;
        double[] a = gates(r, B * H * L, gates), beta = gates(r, B * G * L, Gates.UNIFORM), c = gates(r, B * G * L, Gates.UNIFORM);
        double[] v = normal(r, B * C * L), dm = normal(r, B * C * L);
        INDArray aA = arr(a, t, B, H, L), bA = arr(beta, t, B, G, L), vA = arr(v, t, B, C, L), cA = arr(c, t, B, G, L),
                dmA = arr(dm, t, B, C, L);
        // the reference on the inputs as rounded to t
        double[][] ref = reference(flat(aA), flat(bA), flat(vA), flat(cA), flat(dmA), B, H, kvH, L, block, k);
        double tol = t == DataType.DOUBLE ? 1e-12 : 2e-5;
        String where = t + " B=" + B + " H=" + H + " kvH=" + kvH + " L=" + L + " l=" + block + " k=" + k + " " + gates;
        INDArray y = vA.ulike();
        INDArray m = PhalanxCore.forwardInto(aA, bA, vA, cA, vA.ulike(), y, block, k);
        assertTrue(relErr(flat(m), ref[0]) < tol, where + " m: " + relErr(flat(m), ref[0]));
        assertTrue(relErr(flat(y), ref[1]) < tol, where + " y: " + relErr(flat(y), ref[1]));
        assertTrue(relErr(flat(PhalanxCore.forward(aA, bA, vA, cA, block, k)), ref[0]) < tol, where + " m (no y)");
        INDArray[] g = PhalanxCore.backward(aA, bA, vA, cA, dmA, block, k);
        String[] names = {"da", "dbeta", "dv", "dc"};
        for (int i = 0; i < 4; i++) {
            double e = relErr(flat(g[i]), ref[2 + i]);
            assertTrue(e < (t == DataType.DOUBLE ? 1e-12 : 1e-4), where + " " + names[i] + ": " + e);
        }
        INDArray[] g2 = {aA.ulike(), bA.ulike(), vA.ulike(), cA.ulike()};
        PhalanxCore.backwardInto(aA, bA, vA, cA, y, dmA, g2[0], g2[1], g2[2], g2[3], block, k);
        for (int i = 0; i < 4; i++) {
            double e = relErr(flat(g2[i]), ref[2 + i]);
            assertTrue(e < (t == DataType.DOUBLE ? 1e-12 : 1e-4), where + " " + names[i] + " (y given): " + e);
        }
    }

    @Test
    void forwardAndBackwardMatchTheReferenceAtEveryShapeClass() {
        Random r = new Random(11);
        int[][] heads = {{2, 2}, {4, 1}, {4, 2}, {1, 1}};
        int n = 0;
        for (int k : new int[]{1, 2, 3, Swr.UNBOUNDED})
            for (int block : new int[]{16, 5})
                for (int L : new int[]{1, 15, 16, 17, 33, 100}) {
                    int[] hk = heads[n++ % heads.length];
                    for (DataType t : new DataType[]{DataType.DOUBLE, DataType.FLOAT})
                        checkCase(r, t, 2, hk[0], hk[1], L, block, k, Gates.values()[n % Gates.values().length]);
                }
        // a long odd length through the kernels' parallel split, grouped heads, gates near 0 and near 1
        for (DataType t : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            checkCase(r, t, 1, 4, 2, 1537, 16, 2, Gates.NEAR_ONE);
            checkCase(r, t, 3, 2, 1, 257, 16, 1, Gates.NEAR_ZERO);
        }
    }

    @Test
    void stridedInputsAndOutputsThatAliasAnInputAreHandled() {
        Random r = new Random(3);
        int B = 2, H = 2, kvH = 1, L = 19;
        INDArray a = Nd4j.rand(DataType.DOUBLE, B, H, L), beta = Nd4j.rand(DataType.DOUBLE, B, 16 * kvH, L);
        INDArray c = Nd4j.rand(DataType.DOUBLE, B, 16 * kvH, L), v = Nd4j.randn(DataType.DOUBLE, B, 16 * H, L);
        INDArray m = PhalanxCore.forward(a, beta, v, c, 16, 2);
        // 'f' order and a strided view of the same values give the same result
        INDArray vf = v.dup('f'), bigA = Nd4j.rand(DataType.DOUBLE, B, H, 2 * L);
        bigA.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2, 2 * L)).assign(a);
        INDArray aView = bigA.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2, 2 * L));
        assertEquals(0, relErr(flat(PhalanxCore.forward(aView, beta, vf, c, 16, 2)), flat(m)), 1e-15);
        // m written over v itself
        INDArray vCopy = v.dup(), vBefore = v.dup();
        PhalanxCore.forwardInto(a, beta, vCopy, c, vCopy, null, 16, 2);
        assertEquals(0, relErr(flat(vCopy), flat(m)), 1e-15);
        // inputs untouched
        assertEquals(vBefore, v);
        // dv over dm
        INDArray dm = Nd4j.randn(DataType.DOUBLE, B, 16 * H, L);
        INDArray[] g = PhalanxCore.backward(a, beta, v, c, dm, 16, 2);
        INDArray dmCopy = dm.dup();
        INDArray da = a.ulike(), db = beta.ulike(), dc = c.ulike();
        PhalanxCore.backwardInto(a, beta, v, c, null, dmCopy, da, db, dmCopy, dc, 16, 2);
        assertEquals(0, relErr(flat(dmCopy), flat(g[2])), 1e-15);
        assertEquals(0, relErr(flat(db), flat(g[1])), 1e-15);
        assertNotNull(r);
    }

    @Test
    void badArgumentsAreRefusedNamingTheArgument() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 2, 3, 10), v = Nd4j.rand(DataType.FLOAT, 2, 48, 10);
        INDArray g2 = Nd4j.rand(DataType.FLOAT, 2, 32, 10), g1 = Nd4j.rand(DataType.FLOAT, 2, 16, 10);
        assertMessage(() -> PhalanxCore.forward(a, g2, v, g2, 16, 2), "beta has kvH = 2 groups of 16 channels, which must divide the H = 3");
        assertMessage(() -> PhalanxCore.forward(a, g1, v, Nd4j.rand(DataType.FLOAT, 2, 16, 9), 16, 2), "c must have shape [B, 16*kvH, L]");
        assertMessage(() -> PhalanxCore.forward(a, g1, v, null, 16, 2), "c must not be null");
        assertMessage(() -> PhalanxCore.forward(a, g1.castTo(DataType.DOUBLE), v, g1, 16, 2), "beta must have the type of a");
        assertMessage(() -> PhalanxCore.forward(a, g1, Nd4j.rand(DataType.FLOAT, 2, 32, 10), g1, 16, 2), "PhalanxCore.forward: v must have shape");
        assertMessage(() -> PhalanxCore.forward(a, g1, v, g1, 0, 2), "blockSize must be >= 1");
        assertMessage(() -> PhalanxCore.backward(a, g1, v, g1, null, 16, 2), "dm (the gradient of m) must not be null");
        INDArray out = v.ulike();
        assertMessage(() -> PhalanxCore.forwardInto(a, g1, v, g1, out, out, 16, 2), "outputs m and y share memory");
        assertMessage(() -> PhalanxCore.backwardInto(a, g1, v, g1, null, v, a.ulike(), out, out.dup(), out, 16, 2),
                "output dbeta must have shape");
        INDArray dc = g1.ulike();
        assertMessage(() -> PhalanxCore.backwardInto(a, g1, v, g1, null, v, a.ulike(), dc, out, dc, 16, 2),
                "outputs dbeta and dc share memory");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), "message \"" + e.getMessage() + "\" lacks \"" + part + "\"");
    }

    /** The SameDiff op's gradients (through phalanx_core_bp) against central differences of its own forward. */
    @Test
    void sameDiffGradientsMatchFiniteDifferences() {
        Random r = new Random(5);
        int B = 2, H = 4, kvH = 2, L = 21, block = 5, k = 2;
        Map<String, INDArray> in = Map.of(
                "a", arr(gates(r, B * H * L, Gates.UNIFORM), DataType.DOUBLE, B, H, L),
                "beta", arr(gates(r, B * 16 * kvH * L, Gates.UNIFORM), DataType.DOUBLE, B, 16 * kvH, L),
                "v", arr(normal(r, B * 16 * H * L), DataType.DOUBLE, B, 16 * H, L),
                "c", arr(gates(r, B * 16 * kvH * L, Gates.UNIFORM), DataType.DOUBLE, B, 16 * kvH, L));
        INDArray w = arr(normal(r, B * 16 * H * L), DataType.DOUBLE, B, 16 * H, L);
        SameDiff sd = SameDiff.create();
        SDVariable a = sd.var("a", in.get("a")), beta = sd.var("beta", in.get("beta")), v = sd.var("v", in.get("v")),
                c = sd.var("c", in.get("c"));
        SDVariable m = PhalanxOps.phalanxCore(sd, "m", a, beta, v, c, block, k);
        m.mul(sd.constant("w", w)).sum().rename("loss");
        sd.setLossVariables("loss");
        Map<String, INDArray> grads = sd.calculateGradients(Map.of(), "a", "beta", "v", "c");
        for (String name : new String[]{"a", "beta", "v", "c"}) {
            INDArray x = in.get(name), gx = grads.get(name);
            assertArrayEquals(x.shape(), gx.shape(), name);
            for (int trial = 0; trial < 12; trial++) {
                long i = r.nextInt((int) x.length());
                double x0 = x.getDouble(i), h = 1e-6;
                x.putScalar(i, x0 + h);
                double up = loss(in, w, block, k);
                x.putScalar(i, x0 - h);
                double down = loss(in, w, block, k);
                x.putScalar(i, x0);
                double fd = (up - down) / (2 * h);
                assertEquals(fd, gx.getDouble(i), 1e-6 * Math.max(1, Math.abs(fd)), name + "[" + i + "]");
            }
        }
    }

    private static double loss(Map<String, INDArray> in, INDArray w, int block, int k) {
        return PhalanxCore.forward(in.get("a"), in.get("beta"), in.get("v"), in.get("c"), block, k).mul(w).sumNumber().doubleValue();
    }

    @Test
    void eagerOpEqualsTheApi() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 1, 2, 40), g = Nd4j.rand(DataType.FLOAT, 1, 16, 40), c = Nd4j.rand(DataType.FLOAT, 1, 16, 40);
        INDArray v = Nd4j.randn(DataType.FLOAT, 1, 32, 40);
        INDArray m = Nd4j.exec(new PhalanxCoreOp(a, g, v, c, null, 16, 2))[0];
        assertEquals(PhalanxCore.forward(a, g, v, c), m);
    }
}
