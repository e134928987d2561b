package org.phalanx.samediff;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrReference;
import org.phalanx.swr.SwrState;
import org.phalanx.swr.SwrStateOp;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link PhalanxOps#swr(SameDiff, String, SDVariable, SDVariable, SwrGraphState, int, int)}: SWR from a carried
 * state, against the float64 streaming reference and the windowed sum, gradients (also through the final state)
 * against central finite differences in float64, pieces chained in one graph against one pass, save and load.
 */
class PhalanxOpsStateTest {

    static final String UNBOUNDED = "2147483647"; // Swr.UNBOUNDED, as an annotation constant

    final Random r = new Random(System.nanoTime());

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    static INDArray arr(double[] x, long... shape) {
        return Nd4j.createFromArray(x).reshape('c', shape);
    }

    static double[] flat(INDArray x) {
        return x.dup('c').castTo(DataType.DOUBLE).data().asDouble();
    }

    /** Gates spread over (0, 1) with some near 0 and near 1. */
    double[] gates(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            double q = r.nextDouble();
            a[i] = q < 0.15 ? 1e-3 * r.nextDouble() : q < 0.3 ? 1 - 1e-3 * r.nextDouble() : r.nextDouble();
        }
        return a;
    }

    double[] normal(int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = r.nextGaussian();
        return x;
    }

    /**
     * loss = sum(wy * y) + sum(wh * h') + sum(wp * P') + sum(wv * v') over the op's outputs; every input but
     * the position is a variable.
     */
    SameDiff graph(int B, int H, int L, long position, int block, int k) {
        int C = 16 * H;
        SameDiff sd = SameDiff.create();
        SwrGraphState in = new SwrGraphState(sd.var("h", arr(normal(B * C), B, C)),
                sd.var("P", arr(gates(B * H), B, H)), sd.var("v", arr(normal(B * C), B, C)),
                sd.constant("position", Nd4j.scalar(position)));
        SDVariable a = sd.var("a", arr(gates(B * H * L), B, H, L));
        SDVariable u = sd.var("u", arr(normal(B * C * L), B, C, L));
        PhalanxOps.SwrStep s = PhalanxOps.swr(sd, "y", a, u, in, block, k);
        SwrGraphState o = s.state();
        SDVariable loss = s.y().mul(sd.constant("wy", arr(normal(B * C * L), B, C, L))).sum()
                .add(o.h().mul(sd.constant("wh", arr(normal(B * C), B, C))).sum())
                .add(o.p().mul(sd.constant("wp", arr(normal(B * H), B, H))).sum())
                .add(o.v().mul(sd.constant("wv", arr(normal(B * C), B, C))).sum());
        sd.updateVariableNameAndReference(loss, "loss");
        sd.setLossVariables("loss");
        return sd;
    }

    @ParameterizedTest(name = "block {0}, k {1}")
    @CsvSource({"16, 2", "16, 1", "5, 2", "5, 1", "1, 2", "16, " + UNBOUNDED, "5, " + UNBOUNDED, "1, " + UNBOUNDED})
    void forwardAndFinalStateMatchTheStreamingReference(int block, int k) {
        int B = 2, H = 2;
        for (long position : new long[]{0, 1, block - 1, block, block + 1, block + 3, 2L * block, 3L * block - 1, 1000003}) {
            for (int L : new int[]{1, 15, 16, 17, 40}) {
                SameDiff sd = graph(B, H, L, position, block, k);
                Map<String, INDArray> out = sd.output(Map.of(), "y", "y/h", "y/P", "y/v", "y/position");
                SwrStateReference.Result ref = SwrStateReference.run(flat(sd.getArrForVarName("a")),
                        flat(sd.getArrForVarName("u")), flat(sd.getArrForVarName("h")), flat(sd.getArrForVarName("P")),
                        flat(sd.getArrForVarName("v")), position, B, H, L, block, k);
                String where = "position " + position + ", L " + L;
                assertArrayEquals(ref.y(), flat(out.get("y")), 1e-12, where);
                assertArrayEquals(ref.h(), flat(out.get("y/h")), 1e-12, where);
                assertArrayEquals(ref.p(), flat(out.get("y/P")), 1e-12, where);
                assertArrayEquals(ref.v(), flat(out.get("y/v")), 1e-12, where);
                assertEquals(DataType.LONG, out.get("y/position").dataType());
                assertEquals(position + L, out.get("y/position").getLong(0), where);
            }
        }
    }

    @ParameterizedTest(name = "k {0}, block {1}")
    @CsvSource({"1, 16", "2, 16", UNBOUNDED + ", 16", "2, 5", UNBOUNDED + ", 5"})
    void gradientsMatchFiniteDifferencesAtEveryPhase(int k, int block) {
        int B = 2, H = 1;
        for (long position : new long[]{0, 5, 16, 31, 32, 47}) {
            for (int L : new int[]{1, 15, 16, 17, 40}) {
                SameDiff sd = graph(B, H, L, position, block, k);
                String[] names = {"a", "u", "h", "P", "v"};
                Map<String, INDArray> g = sd.calculateGradients(Map.of(), names);
                for (String name : names) {
                    INDArray x = sd.getArrForVarName(name);
                    INDArray gx = g.get(name);
                    assertNotNull(gx, name);
                    String where = "d loss / d " + name + " at position " + position + ", L " + L + ", k " + k;
                    // Along a random direction (all entries at once), and along the first entry.
                    INDArray dir = Nd4j.randn(DataType.DOUBLE, x.shape());
                    assertEquals(directional(sd, x, dir, block, k), gx.mul(dir).sumNumber().doubleValue(),
                            1e-6 * scale(gx, dir), where);
                    INDArray e = Nd4j.zeros(DataType.DOUBLE, x.shape());
                    e.putScalar(0, 1);
                    assertEquals(directional(sd, x, e, block, k), gx.getDouble(0), 1e-6 * Math.max(1, Math.abs(gx.getDouble(0))),
                            where + "[0]");
                }
                if (position == 0) {
                    // A fresh sequence ignores the incoming arrays.
                    for (String name : new String[]{"h", "P", "v"}) assertEquals(0, g.get(name).amaxNumber().doubleValue(), 0);
                }
            }
        }
    }

    static double scale(INDArray g, INDArray d) {
        return Math.max(1, g.norm2Number().doubleValue() * d.norm2Number().doubleValue());
    }

    /** Central difference along dir (x modified in place and restored) of the loss, evaluated eagerly. */
    static double directional(SameDiff sd, INDArray x, INDArray dir, int block, int k) {
        return directional(x, dir, () -> eagerLoss(sd, block, k));
    }

    /** Central difference along dir (x modified in place and restored) of {@code loss}. */
    static double directional(INDArray x, INDArray dir, java.util.function.DoubleSupplier loss) {
        double eps = 1e-6;
        INDArray orig = x.dup();
        x.addi(dir.mul(eps));
        double fp = loss.getAsDouble();
        x.assign(orig).subi(dir.mul(eps));
        double fm = loss.getAsDouble();
        x.assign(orig);
        return (fp - fm) / (2 * eps);
    }

    /** A fresh state (position 0) as constants, with the ring a finite window k >= 3 carries. */
    static SwrGraphState freshState(SameDiff sd, int B, int H, int k) {
        int C = 16 * H;
        boolean ring = SwrStateOp.hasRing(k);
        return new SwrGraphState(sd.constant(Nd4j.zeros(DataType.DOUBLE, B, C)),
                sd.constant(Nd4j.ones(DataType.DOUBLE, B, H)), sd.constant(Nd4j.zeros(DataType.DOUBLE, B, C)),
                sd.constant(Nd4j.scalar(0L)), ring ? sd.constant(Nd4j.zeros(DataType.DOUBLE, B, k - 2, C)) : null,
                ring ? sd.constant(Nd4j.zeros(DataType.DOUBLE, B, k - 2, H)) : null);
    }

    /** The graph's loss, computed with the op run eagerly on the graph's arrays (no SameDiff session). */
    static double eagerLoss(SameDiff sd, int block, int k) {
        INDArray[] o = Nd4j.exec(new SwrStateOp(sd.getArrForVarName("a"), sd.getArrForVarName("u"), sd.getArrForVarName("h"),
                sd.getArrForVarName("P"), sd.getArrForVarName("v"), sd.getArrForVarName("position"), block, k));
        String[] w = {"wy", "wh", "wp", "wv"};
        double loss = 0;
        for (int i = 0; i < 4; i++) loss += o[i].mul(sd.getArrForVarName(w[i])).sumNumber().doubleValue();
        return loss;
    }

    /** Prefill, then pieces of awkward sizes, chained in one graph: equal to one pass, forward and gradients. */
    @ParameterizedTest(name = "k {0}, block {1}")
    @CsvSource({"2, 16", "1, 16", "2, 5", UNBOUNDED + ", 16", UNBOUNDED + ", 5", UNBOUNDED + ", 1", "3, 16", "5, 5", "4, 3"})
    void chainedPiecesInOneGraphEqualOnePass(int k, int block) {
        int B = 2, H = 2, C = 32;
        int[] pieces = {17, 1, 15, 16, 1, 3, 30};
        int L = 0;
        for (int p : pieces) L += p;
        INDArray a0 = arr(gates(B * H * L), B, H, L), u0 = arr(normal(B * C * L), B, C, L), w = arr(normal(B * C * L), B, C, L);

        SameDiff whole = SameDiff.create();
        SDVariable wa = whole.var("a", a0.dup()), wu = whole.var("u", u0.dup());
        PhalanxOps.swr(whole, "y", wa, wu, block, k).mul(whole.constant(w)).sum("loss");
        whole.setLossVariables("loss");

        SameDiff sd = SameDiff.create();
        SDVariable a = sd.var("a", a0.dup()), u = sd.var("u", u0.dup());
        SwrGraphState s = freshState(sd, B, H, k);
        SDVariable[] ys = new SDVariable[pieces.length];
        int t = 0;
        for (int i = 0; i < pieces.length; i++) {
            SDIndex range = SDIndex.interval(t, t + pieces[i]);
            PhalanxOps.SwrStep step = PhalanxOps.swr(sd, "y" + i, a.get(SDIndex.all(), SDIndex.all(), range),
                    u.get(SDIndex.all(), SDIndex.all(), range), s, block, k);
            ys[i] = step.y();
            s = step.state();
            t += pieces[i];
        }
        sd.concat("y", 2, ys).mul(sd.constant(w)).sum("loss");
        sd.setLossVariables("loss");

        double[] ref = SwrReference.forward(flat(a0), flat(u0), B, H, L, block, k);
        assertArrayEquals(ref, flat(sd.outputSingle(Map.of(), "y")), 1e-12);
        assertEquals(L, sd.outputSingle(Map.of(), s.position().name()).getLong(0));
        Map<String, INDArray> g1 = whole.calculateGradients(Map.of(), "a", "u");
        Map<String, INDArray> g2 = sd.calculateGradients(Map.of(), "a", "u");
        for (String name : new String[]{"a", "u"}) {
            double err = g1.get(name).sub(g2.get(name)).amaxNumber().doubleValue();
            assertTrue(err < 1e-10 * Math.max(1, g1.get(name).amaxNumber().doubleValue()), name + ": " + err);
        }
    }

    /** Decoding step by step with the state fed back through placeholders equals one pass; FLOAT, survives save/load. */
    @ParameterizedTest(name = "k {0}")
    @CsvSource({"2", UNBOUNDED, "3", "6"})
    void decodeWithPlaceholdersSurvivesSaveAndLoad(int k, @TempDir File dir) throws Exception {
        int B = 3, H = 2, C = 32, L = 70;
        SameDiff sd = SameDiff.create();
        SDVariable a = sd.placeHolder("a", DataType.FLOAT, -1, H, -1), u = sd.placeHolder("u", DataType.FLOAT, -1, C, -1);
        SwrGraphState in = SwrGraphState.placeholders(sd, "s/", DataType.FLOAT, H, k);
        assertEquals(SwrStateOp.hasRing(k), in.hasRing());
        PhalanxOps.SwrStep step = PhalanxOps.swr(sd, "y", a, u, in, 16, k);
        String[] outs = new String[1 + step.state().names().length];
        outs[0] = "y";
        System.arraycopy(step.state().names(), 0, outs, 1, outs.length - 1);
        File f = new File(dir, "swr-state.sd");
        sd.save(f, true);
        SameDiff loaded = SameDiff.load(f, true);

        INDArray av = Nd4j.rand(DataType.FLOAT, B, H, L), uv = Nd4j.randn(DataType.FLOAT, B, C, L);
        INDArray want = Swr.forward(av, uv, 16, k);
        for (SameDiff g : new SameDiff[]{sd, loaded}) {
            Map<String, INDArray> feed = new HashMap<>(in.zeros(B));
            INDArray got = Nd4j.create(DataType.FLOAT, B, C, L);
            int t = 0;
            for (int len : new int[]{16, 1, 1, 15, 1, 3, 17, 16}) { // 70 steps: five blocks, the last one partial
                feed.put("a", av.get(all3(t, t + len)).dup());
                feed.put("u", uv.get(all3(t, t + len)).dup());
                Map<String, INDArray> res = g.output(feed, outs);
                got.get(all3(t, t + len)).assign(res.get("y"));
                feed.putAll(step.state().feed(res, in));
                t += len;
            }
            assertEquals(L, t);
            assertEquals(0, want.sub(got).amaxNumber().doubleValue(), 1e-5);
        }
    }

    static org.nd4j.linalg.indexing.INDArrayIndex[] all3(long from, long to) {
        return new org.nd4j.linalg.indexing.INDArrayIndex[]{org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to)};
    }

    @ParameterizedTest(name = "k {0}")
    @CsvSource({"2", UNBOUNDED})
    void gradientsSurviveSaveAndLoad(int k, @TempDir File dir) throws Exception {
        SameDiff sd = graph(2, 1, 21, 23, 16, k);
        File f = new File(dir, "swr-state-grad.sd");
        sd.save(f, true);
        SameDiff loaded = SameDiff.load(f, true);
        String[] names = {"a", "u", "h", "P", "v"};
        Map<String, INDArray> g1 = sd.calculateGradients(Map.of(), names), g2 = loaded.calculateGradients(Map.of(), names);
        for (String n : names) {
            assertEquals(g1.get(n), g2.get(n), n);
            assertTrue(g1.get(n).amaxNumber().doubleValue() > 0, n + " has a gradient");
        }
    }

    @ParameterizedTest(name = "k {0}")
    @CsvSource({"2", UNBOUNDED})
    void theStateOfSwrStateFeedsTheOp(int k) {
        // The op takes what SwrState.toMap writes (h, P, v, position), and gives what SwrState would continue with.
        int B = 2, H = 1, C = 16, L = 53;
        INDArray a = Nd4j.rand(DataType.DOUBLE, B, H, L), u = Nd4j.randn(DataType.DOUBLE, B, C, L);
        for (int split : new int[]{1, 13, 16, 17, 32, 40}) {
            SwrState s = SwrState.create(DataType.DOUBLE, B, H);
            Swr.forward(a.get(all3(0, split)).dup(), u.get(all3(0, split)).dup(), 16, k, s);
            Map<String, INDArray> m = s.toMap("");
            INDArray[] out = Nd4j.exec(new SwrStateOp(a.get(all3(split, L)).dup(), u.get(all3(split, L)).dup(), m.get("h"),
                    m.get("P"), m.get("v"), m.get("position"), 16, k));
            INDArray y = Swr.forward(a.get(all3(split, L)).dup(), u.get(all3(split, L)).dup(), 16, k, s);
            assertEquals(y, out[0], "split " + split);
            Map<String, INDArray> after = s.toMap("");
            assertEquals(after.get("h"), out[1], "split " + split);
            assertEquals(after.get("P"), out[2], "split " + split);
            assertEquals(after.get("v"), out[3], "split " + split);
            assertEquals(L, out[4].getLong(0));
        }
    }

    @Test
    void badStateIsRefusedWithAClearMessage() {
        INDArray a = Nd4j.rand(DataType.DOUBLE, 2, 1, 5), u = Nd4j.randn(DataType.DOUBLE, 2, 16, 5);
        INDArray h = Nd4j.zeros(DataType.DOUBLE, 2, 16), p = Nd4j.ones(DataType.DOUBLE, 2, 1), v = Nd4j.zeros(DataType.DOUBLE, 2, 16);
        INDArray pos = Nd4j.scalar(3L);
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, Nd4j.zeros(DataType.DOUBLE, 2, 15), p, v, pos, 16, 2)), "h (the local state");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, Nd4j.ones(DataType.DOUBLE, 3, 1), v, pos, 16, 2)), "P (the prefix product");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v.castTo(DataType.FLOAT), pos, 16, 2)), "v (the carry into the current block");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, Nd4j.scalar(-1L), 16, 2)), "position must be a non-negative integer");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, Nd4j.scalar(2.5), 16, 2)), "position must be a non-negative integer");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, Nd4j.zeros(DataType.LONG, 2), 16, 2)), "position must be a scalar");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, pos, 16, 3)), "swr_state with k = 3 expects 8 input arrays (a, u, h, P, v, vRing, aRing, position: a finite window k >= 3 carries its ring of blocks)");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, pos, 16, 0)), "k (window in blocks) must be >= 1");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, Nd4j.zeros(DataType.DOUBLE, 2, 1, 16),
                Nd4j.zeros(DataType.DOUBLE, 2, 2, 1), pos, 16, 4)), "vRing (the terminal local states of the last k - 2 blocks) must have shape [2, 2, 16]");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, u, h, p, v, Nd4j.zeros(DataType.DOUBLE, 2, 2, 16),
                Nd4j.zeros(DataType.DOUBLE, 2, 2, 16), pos, 16, 4)), "aRing (the products of the decays of the last k - 2 blocks) must have shape [2, 2, 1]");
        assertMessage(() -> Nd4j.exec(new SwrStateOp(a, Nd4j.randn(DataType.DOUBLE, 2, 17, 5), h, p, v, pos, 16, 2)), "u must have shape");
        SameDiff sd = SameDiff.create();
        SwrGraphState in = SwrGraphState.placeholders(sd, "", DataType.DOUBLE, 1);
        assertMessage(() -> PhalanxOps.swr(sd, "y", sd.var(a), sd.var(u), in, 16, 3), "window k = 3 streams with a ring of its last k - 2 blocks, but the state has none");
        SwrGraphState ringed = SwrGraphState.placeholders(sd, "r/", DataType.DOUBLE, 1, 3);
        assertMessage(() -> PhalanxOps.swr(sd, "y", sd.var(a), sd.var(u), ringed, 16, 2), "streams without a ring of blocks, but the state has one");
        // Inputs are not modified.
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 2, 16), h);
        assertEquals(3L, pos.getLong(0));
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable e, String part) {
        Throwable t = assertThrows(RuntimeException.class, e);
        String msg = t.getMessage() + (t.getCause() != null ? " / " + t.getCause().getMessage() : "");
        assertTrue(msg.contains(part), "expected '" + part + "' in: " + msg);
    }
}
