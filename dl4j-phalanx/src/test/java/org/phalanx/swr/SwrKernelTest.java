package org.phalanx.swr;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.swr.SwrTestData.Gates;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.phalanx.swr.SwrTestData.*;

/**
 * Forward and backward of {@link Swr} against the float64 references of {@link SwrReference}, at the
 * awkward lengths, in every gate regime, for float32 and float64, k = 1 to 4, B and H > 1.
 */
class SwrKernelTest {

    static final int[] LENGTHS = {1, 2, 15, 16, 17, 31, 33, 100, 1000, 4097};

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = System.nanoTime();
        for (int L : LENGTHS) {
            for (Gates g : Gates.values()) {
                for (int k = 1; k <= 2; k++) {
                    for (DataType t : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
                        out.add(Arguments.of(L, g, k, t, seed++));
                    }
                }
            }
        }
        // Wider windows (CPU only): fewer lengths, the block boundaries that matter.
        for (int L : new int[]{1, 16, 17, 33, 49, 64, 100, 1000}) {
            for (Gates g : new Gates[]{Gates.UNIFORM, Gates.NEAR_ONE, Gates.MIXED_EXACT}) {
                for (int k = 3; k <= 4; k++) {
                    for (DataType t : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
                        out.add(Arguments.of(L, g, k, t, seed++));
                    }
                }
            }
        }
        return out.stream();
    }

    /** Tolerance on ||x - ref|| / ||ref|| (float32: the reference sees the same rounded inputs). */
    static double tol(DataType t) {
        return t == DataType.DOUBLE ? 1e-12 : 2e-6;
    }

    @ParameterizedTest(name = "L={0} gates={1} k={2} {3}")
    @MethodSource("cases")
    void forwardMatchesWindowedSum(int L, Gates g, int k, DataType t, long seed) {
        Random r = new Random(seed);
        int B = L > 1000 ? 2 : 3, H = 2, C = 16 * H;
        INDArray a = arr(gates(r, B * H * L, g), t, B, H, L);
        INDArray u = arr(normal(r, B * C * L), t, B, C, L);
        INDArray a0 = a.dup(), u0 = u.dup();
        double[] ref = SwrReference.forward(flat(a), flat(u), B, H, L, 16, k);
        INDArray y = Swr.forward(a, u, 16, k);
        double err = relErr(flat(y), ref);
        assertTrue(err < tol(t), "relative error " + err + " (seed " + seed + ")");
        assertArrayEquals(flat(a0), flat(a), 0.0, "a was modified");
        assertArrayEquals(flat(u0), flat(u), 0.0, "u was modified");
    }

    @ParameterizedTest(name = "L={0} gates={1} k={2} {3}")
    @MethodSource("cases")
    void backwardMatchesExactGradientAndFiniteDifferences(int L, Gates g, int k, DataType t, long seed) {
        Random r = new Random(seed);
        int B = 2, H = L > 1000 ? 1 : 2, C = 16 * H;
        double[] ad = gates(r, B * H * L, g), ud = normal(r, B * C * L), gd = normal(r, B * C * L);
        INDArray a = arr(ad, t, B, H, L), u = arr(ud, t, B, C, L), dy = arr(gd, t, B, C, L);
        ad = flat(a);
        ud = flat(u);
        gd = flat(dy);
        INDArray[] grads = Swr.backward(a, u, dy, 16, k);
        double[] da = flat(grads[0]), du = flat(grads[1]);

        if (L <= (k > 2 ? 49 : 100)) { // the exact reference costs O(L * window^2)
            double[][] ref = SwrReference.backward(ad, ud, gd, B, H, L, 16, k);
            double eA = relErr(da, ref[0]), eU = relErr(du, ref[1]);
            assertTrue(eA < 10 * tol(t), "da relative error " + eA + " (seed " + seed + ")");
            assertTrue(eU < tol(t), "du relative error " + eU + " (seed " + seed + ")");
        }
        // Directional central differences of f = sum(dy * y) on the float64 reference, along a random
        // direction that moves every a and u: checks the whole gradient at once, at every length.
        double[] dirA = normal(r, ad.length), dirU = normal(r, ud.length);
        double analytic = dot(da, dirA) + dot(du, dirU);
        double eps = 1e-6;
        double fp = dot(gd, SwrReference.forward(axpy(ad, dirA, eps), axpy(ud, dirU, eps), B, H, L, 16, k));
        double fm = dot(gd, SwrReference.forward(axpy(ad, dirA, -eps), axpy(ud, dirU, -eps), B, H, L, 16, k));
        double numeric = (fp - fm) / (2 * eps);
        double scale = Math.sqrt(dot(da, da) * dot(dirA, dirA) + dot(du, du) * dot(dirU, dirU)) + 1e-12;
        double diff = Math.abs(analytic - numeric) / scale;
        assertTrue(diff < (t == DataType.DOUBLE ? 1e-7 : 1e-5),
                "directional derivative " + analytic + " vs finite difference " + numeric + " (seed " + seed + ")");
    }

    /** Shapes nobody chose: B, H, L, gates and type drawn afresh on every run. */
    @org.junit.jupiter.api.RepeatedTest(12)
    void randomShapesMatchTheReference() {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        int B = 1 + r.nextInt(4), H = 1 + r.nextInt(5), L = 1 + r.nextInt(r.nextBoolean() ? 64 : 3000), C = 16 * H;
        int k = 1 + r.nextInt(3);
        DataType t = r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE;
        Gates g = Gates.values()[r.nextInt(Gates.values().length)];
        INDArray a = arr(gates(r, B * H * L, g), t, B, H, L), u = arr(normal(r, B * C * L), t, B, C, L);
        double err = relErr(flat(Swr.forward(a, u, 16, k)), SwrReference.forward(flat(a), flat(u), B, H, L, 16, k));
        assertTrue(err < tol(t), "B=" + B + " H=" + H + " L=" + L + " k=" + k + " " + t + " " + g + ": " + err + " (seed " + seed + ")");
    }

    static double dot(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) s += x[i] * y[i];
        return s;
    }

    static double[] axpy(double[] x, double[] d, double e) {
        double[] o = x.clone();
        for (int i = 0; i < o.length; i++) o[i] += e * d[i];
        return o;
    }
}
