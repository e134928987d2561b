package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.swr.SwrTestData.Gates;
import org.phalanx.testutil.ChildJvm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.swr.SwrTestData.*;

/**
 * Random cases through the public API against the float64 reference: shapes (B, H, L, lengths 1, 15,
 * 16, 17 and odd ones), blocks 1..40, windows 1..5, FLOAT and DOUBLE, gates in every regime, every
 * input and output in a random layout ('c', 'f', permuted storage, strided steps, offset batch slices,
 * channel slices, outputs on the inputs' memory), forward and backward; inputs must come back
 * unchanged. Then hostile arguments in child JVMs ({@link SwrHostileMain}), so that a crash is caught
 * and named. {@code -Dphalanx.fuzz.cases=N} (default 3000) and {@code -Dphalanx.fuzz.seed=S} by hand.
 */
class SwrFuzzTest {

    enum Layout { C, F, PERMUTED, STRIDED, OFFSET, CHANNEL_SLICE }

    /** The same values as {@code x} in the given memory layout. */
    static INDArray layout(INDArray x, Layout l, Random r) {
        long B = x.size(0), C = x.size(1), L = x.size(2);
        switch (l) {
            case F: return x.dup('f');
            case PERMUTED: return x.permute(2, 0, 1).dup('c').permute(1, 2, 0); // storage [L, B, C]
            case STRIDED: {
                int step = 2 + r.nextInt(2);
                INDArray big = Nd4j.create(x.dataType(), B, C, step * L + 1);
                INDArray v = big.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(1, step, step * L + 1));
                return v.assign(x);
            }
            case OFFSET: {
                INDArray big = Nd4j.create(x.dataType(), B + 2, C, L);
                return big.get(NDArrayIndex.interval(1, B + 1), NDArrayIndex.all(), NDArrayIndex.all()).assign(x);
            }
            case CHANNEL_SLICE: {
                INDArray big = Nd4j.create(x.dataType(), B, C + 3, L);
                return big.get(NDArrayIndex.all(), NDArrayIndex.interval(2, C + 2), NDArrayIndex.all()).assign(x);
            }
            default: return x.dup('c');
        }
    }

    static <T> T pick(Random r, T[] xs) {
        return xs[r.nextInt(xs.length)];
    }

    static int length(Random r) {
        int[] awkward = {1, 2, 15, 16, 17, 31, 33, 40, 41, 81};
        return r.nextInt(3) == 0 ? awkward[r.nextInt(awkward.length)] : 1 + r.nextInt(r.nextBoolean() ? 60 : 250);
    }

    static double tol(DataType t, boolean da) {
        return t == DataType.DOUBLE ? (da ? 1e-10 : 1e-11) : (da ? 5e-4 : 5e-5);
    }

    @Test
    void randomShapesLayoutsBlocksAndWindowsMatchTheReference() {
        long seed = Long.getLong("phalanx.fuzz.seed", System.nanoTime());
        int cases = Integer.getInteger("phalanx.fuzz.cases", 3000);
        Random r = new Random(seed);
        for (int n = 0; n < cases; n++) {
            int B = 1 + r.nextInt(3), H = 1 + r.nextInt(r.nextInt(4) == 0 ? 3 : 1), L = length(r), C = 16 * H;
            int block = 1 + r.nextInt(40), k = 1 + r.nextInt(5);
            DataType t = r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE;
            Gates g = pick(r, Gates.values());
            boolean backward = r.nextBoolean();
            Layout la = pick(r, Layout.values()), lu = pick(r, Layout.values()), ld = pick(r, Layout.values()),
                    lo = pick(r, Layout.values());
            int into = r.nextInt(4); // 0: allocating call; 1: into fresh outputs; 2: into arrays on the inputs' memory
            String what = "case " + n + " (seed " + seed + "): B=" + B + " H=" + H + " L=" + L + " block=" + block + " k=" + k
                    + " " + t + " " + g + " a:" + la + " u:" + lu + (backward ? " dy:" + ld + " backward" : " forward")
                    + " out:" + (into == 0 ? "new" : into == 2 ? "on inputs" : lo);
            double[] ad = gates(r, B * H * L, g), ud = normal(r, B * C * L), gd = normal(r, B * C * L);
            INDArray a = layout(arr(ad, t, B, H, L), la, r), u = layout(arr(ud, t, B, C, L), lu, r);
            ad = flat(a);
            ud = flat(u);
            if (!backward) {
                double[] ref = SwrReference.forward(ad, ud, B, H, L, block, k);
                INDArray y;
                if (into == 0) {
                    y = Swr.forward(a, u, block, k);
                } else if (into == 2) {
                    y = Swr.forwardInto(a, u, u, block, k); // y over u: u is an output here
                } else {
                    y = Swr.forwardInto(a, u, layout(Nd4j.create(t, B, C, L), lo, r), block, k);
                }
                assertTrue(relErr(flat(y), ref) < tol(t, false), what + ": y error " + relErr(flat(y), ref));
                assertArrayEquals(ad, flat(a), 0.0, what + ": a modified");
                if (into != 2) assertArrayEquals(ud, flat(u), 0.0, what + ": u modified");
            } else {
                INDArray dy = layout(arr(gd, t, B, C, L), ld, r);
                gd = flat(dy);
                double[][] ref = SwrReference.backwardLinear(ad, ud, gd, B, H, L, block, k);
                if (n % 50 == 0 && L * Math.min(L, (k + 1) * block) < 4000) { // the O(L W^3) literal reference, now and then
                    double[][] lit = SwrReference.backward(ad, ud, gd, B, H, L, block, k);
                    assertTrue(relErr(ref[0], lit[0]) < 1e-12 && relErr(ref[1], lit[1]) < 1e-12, what + ": references disagree");
                }
                INDArray da, du;
                if (into == 0) {
                    INDArray[] gr = Swr.backward(a, u, dy, block, k);
                    da = gr[0];
                    du = gr[1];
                } else if (into == 2) {
                    da = Nd4j.create(t, B, H, L);
                    du = dy; // du over dy
                    Swr.backwardInto(a, u, dy, da, du, block, k);
                } else {
                    da = layout(Nd4j.create(t, B, H, L), pick(r, Layout.values()), r);
                    du = layout(Nd4j.create(t, B, C, L), lo, r);
                    Swr.backwardInto(a, u, dy, da, du, block, k);
                }
                double ea = relErr(flat(da), ref[0]), eu = relErr(flat(du), ref[1]);
                assertTrue(ea < tol(t, true) || (maxAbs(ref[0]) == 0 && maxAbs(flat(da)) == 0), what + ": da error " + ea);
                assertTrue(eu < tol(t, false), what + ": du error " + eu);
                assertArrayEquals(ad, flat(a), 0.0, what + ": a modified");
                assertArrayEquals(ud, flat(u), 0.0, what + ": u modified");
                if (into != 2) assertArrayEquals(gd, flat(dy), 0.0, what + ": dy modified");
            }
        }
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    /**
     * Hostile arguments, each in a child JVM until one crashes it (then the next child starts after
     * that case): every case must end with the reference result or a clear IllegalArgumentException,
     * never with a dead JVM or another exception.
     */
    @Test
    void hostileArgumentsNeverCrashTheJvm() throws Exception {
        List<String> failures = new ArrayList<>();
        int next = 0, total = SwrHostileMain.cases().size();
        while (next < total) {
            ChildJvm.Result res = ChildJvm.run(SwrHostileMain.class, List.of("-Xmx1g"), Map.of(), 300, String.valueOf(next));
            for (String line : res.output.split("\n")) {
                if (line.startsWith("FAIL ")) failures.add(line);
            }
            int last = SwrHostileMain.lastStarted(res.output);
            if (res.exitCode == 0) break;
            if (last < 0) {
                fail("the hostile-case JVM failed before its first case (exit " + res.exitCode + "):\n" + res.output);
            }
            if (!SwrHostileMain.finished(res.output, last)) {
                failures.add("CRASH (exit " + res.exitCode + ") " + SwrHostileMain.cases().get(last).getKey());
            }
            next = last + 1;
        }
        assertTrue(failures.isEmpty(), failures.size() + " hostile case(s) failed:\n" + String.join("\n", failures));
    }
}
