package org.phalanx.swr;

import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nd4j.ArrayMemory;

/**
 * Run by {@link SwrHugeTest} in a child JVM with room off the heap: SWR forward and backward on
 * {@code u [1, 32, L]} with {@code L = 2^26 + 1} by default, 2^31 + 32 elements (8 GiB of float32),
 * whose first stride ND4J M2.1 computes with 32-bit overflow. Values are a hash of the linear index,
 * so the float64 reference can be evaluated at sampled positions (including ones past element 2^31)
 * on short slices around them without holding the arrays. Peak memory: u, y or du, a and da, about
 * 17 GiB (dy is u itself). Prints {@code OK} or throws.
 */
public final class SwrHugeMain {

    static final int H = 2, C = 16 * H, BLOCK = 16, K = 2;

    /** A value in [-1, 1) from the linear index (SplitMix64 finaliser). */
    static double hash(long i, long salt) {
        long z = i * 0x9E3779B97F4A7C15L + salt;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 11) * 0x1.0p-52 - 1;
    }

    static float uAt(long i) {
        return (float) hash(i, 1);
    }

    static float aAt(long i) {
        return (float) (0.5 + 0.45 * hash(i, 2)); // gates in (0.05, 0.95)
    }

    /** Fills the buffer of a dense array through its pointer (ND4J's own ops would use the wrapped strides). */
    static void fill(INDArray x, boolean gates) {
        FloatPointer p = new FloatPointer(x.data().addressPointer());
        float[] chunk = new float[1 << 20];
        for (long at = 0; at < x.length(); at += chunk.length) {
            int n = (int) Math.min(chunk.length, x.length() - at);
            for (int i = 0; i < n; i++) chunk[i] = gates ? aAt(at + i) : uAt(at + i);
            p.position(at).put(chunk, 0, n);
        }
    }

    static double at(INDArray x, long i) {
        return new FloatPointer(x.data().addressPointer()).get(i);
    }

    public static void main(String[] args) {
        long L = Long.parseLong(args[0]);
        INDArray a = Nd4j.createUninitialized(DataType.FLOAT, new long[]{1, H, L}, 'c');
        INDArray u = Nd4j.createUninitialized(DataType.FLOAT, new long[]{1, C, L}, 'c');
        System.out.println("u " + u.length() + " elements, strides " + java.util.Arrays.toString(u.stride())
                + ", dense: " + ArrayMemory.isDenseC(u));
        fill(a, true);
        fill(u, false);
        long[] steps = {0, 1, 15, 16, 17, L / 2, L - 17, L - 16, L - 2, L - 1};
        int[] channels = {0, 17, C - 1};

        INDArray y = Swr.forward(a, u);
        for (int j : channels) {
            for (long t : steps) {
                Slice s = new Slice(j / 16, t, L);
                double ref = s.forward()[(j % 16) * s.n + (int) (t - s.t0)];
                check("y", j, t, at(y, j * L + t), ref);
            }
        }
        y.close();
        System.out.println("forward OK");

        INDArray[] g = Swr.backward(a, u, u); // dy = u: one 8 GiB array fewer
        for (int j : channels) {
            for (long t : steps) {
                Slice s = new Slice(j / 16, t, L);
                double[][] ref = s.backward();
                check("du", j, t, at(g[1], j * L + t), ref[1][(j % 16) * s.n + (int) (t - s.t0)]);
                check("da", j / 16, t, at(g[0], (j / 16) * L + t), ref[0][(int) (t - s.t0)]);
            }
        }
        System.out.println("backward OK");
        System.out.println("OK");
    }

    static void check(String what, int row, long t, double got, double ref) {
        if (!(Math.abs(got - ref) <= 1e-4 * (Math.abs(ref) + 1))) {
            throw new AssertionError(what + "[" + row + ", " + t + "] = " + got + ", reference " + ref);
        }
    }

    /**
     * One head's 16 channels on steps [t0, t0 + n) around step t: block-aligned and reaching k + 1
     * blocks on both sides, so every term of the sums that touch step t lies inside.
     */
    static final class Slice {
        final int head;
        final long L, t0;
        final int n;

        Slice(int head, long t, long L) {
            this.head = head;
            this.L = L;
            long blk = t / BLOCK;
            t0 = Math.max(0, (blk - K - 1) * BLOCK);
            n = (int) (Math.min(L, (blk + K + 2) * BLOCK) - t0);
        }

        double[] a() {
            double[] x = new double[n];
            for (int i = 0; i < n; i++) x[i] = aAt(head * L + t0 + i);
            return x;
        }

        double[] u() {
            double[] x = new double[16 * n];
            for (int c = 0; c < 16; c++)
                for (int i = 0; i < n; i++) x[c * n + i] = uAt((16L * head + c) * L + t0 + i);
            return x;
        }

        double[] forward() {
            return SwrReference.forward(a(), u(), 1, 1, n, BLOCK, K);
        }

        double[][] backward() {
            double[] u = u();
            return SwrReference.backwardLinear(a(), u, u, 1, 1, n, BLOCK, K);
        }
    }
}
