package org.phalanx.samediff;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.nn.PhalanxReference;
import org.phalanx.nn.conf.layers.PhalanxLayer;

import java.io.File;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link PhalanxBlock} with a carried state (prefill, then decode step by step, state fed back through
 * placeholders), with {@code [B, L]} masks, and with nIn != nOut; all against the independent float64
 * {@link PhalanxReference} (plain loops, brute-force windowed sum).
 */
class PhalanxBlockStateTest {

    final Random r = new Random(System.nanoTime());

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    /** nIn / 16 heads (inner width nIn), independent of nOut. */
    static PhalanxLayer conf(int nIn, int nOut, int kv, int block, int k, RNNFormat f) {
        return new PhalanxLayer.Builder().nIn(nIn).nOut(nOut).heads(nIn / 16).kvHeads(kv).blockSize(block).window(k)
                .dataFormat(f).build();
    }

    /** Parameters of the initializer's shapes, N(0, 0.25^2): gates spread over (0, 1). */
    Map<String, INDArray> params(PhalanxLayer conf) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : PhalanxBlock.paramShapes(conf).entrySet()) {
            INDArray w = Nd4j.create(DataType.DOUBLE, e.getValue());
            for (long i = 0; i < w.length(); i++) w.putScalar(i, 0.25 * r.nextGaussian());
            m.put(e.getKey(), w);
        }
        return m;
    }

    INDArray randn(long... shape) {
        INDArray x = Nd4j.create(DataType.DOUBLE, shape);
        for (long i = 0; i < x.length(); i++) x.putScalar(i, r.nextGaussian());
        return x;
    }

    static INDArrayIndex[] steps(RNNFormat f, long from, long to) {
        INDArrayIndex all = NDArrayIndex.all(), t = NDArrayIndex.interval(from, to);
        return f == RNNFormat.NCW ? new INDArrayIndex[]{all, all, t} : new INDArrayIndex[]{all, t, all};
    }

    @ParameterizedTest(name = "{0} k={1} block={2} kv={3}")
    @CsvSource({"NCW, 2, 16, 0", "NWC, 1, 5, 1", "NCW, 3, 5, 0", "NWC, 5, 3, 1", "NCW, 4, 16, 1", "NCW, 2147483647, 5, 0"})
    void prefillThenDecodeStepByStepEqualsOnePass(RNNFormat f, int k, int block, int kv) {
        int nIn = 32, nOut = 24, b = 2, total = 50, decoded = 17;   // 17 single steps cross a block boundary
        PhalanxLayer conf = conf(nIn, nOut, kv, block, k, f);
        Map<String, INDArray> p = params(conf);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, f == RNNFormat.NCW ? new long[]{-1, nIn, -1} : new long[]{-1, -1, nIn});
        SwrGraphState in = SwrGraphState.placeholders(sd, "p/state/", DataType.DOUBLE, conf.numHeads(), k);
        PhalanxBlock.Output o = PhalanxBlock.apply(sd, "p/", x, conf, p, null, in);
        assertEquals(k >= 3 && k != Integer.MAX_VALUE, o.state().hasRing());
        List<String> outList = new ArrayList<>(List.of(o.out().name()));
        outList.addAll(List.of(o.state().names()));
        String[] outs = outList.toArray(new String[0]);

        INDArray xs = f == RNNFormat.NCW ? randn(b, nIn, total) : randn(b, total, nIn);
        double[][][] want = PhalanxReference.forward(p, PhalanxReference.toNcw(xs, f), null, (int) conf.numKvHeads(), block, k);
        for (int prefill : new int[]{1, 15, 16, 17, 33}) {
            Map<String, INDArray> feed = new HashMap<>(in.zeros(b));
            INDArray got = f == RNNFormat.NCW ? Nd4j.create(DataType.DOUBLE, b, nOut, total)
                    : Nd4j.create(DataType.DOUBLE, b, total, nOut);
            for (int t = 0; t < prefill + decoded; t = t == 0 ? prefill : t + 1) {
                int end = t == 0 ? prefill : t + 1;
                feed.put("x", xs.get(steps(f, t, end)).dup());
                Map<String, INDArray> res = sd.output(feed, outs);
                got.get(steps(f, t, end)).assign(res.get(outs[0]));
                feed.putAll(o.state().feed(res, in));
                assertEquals(end, feed.get(in.position().name()).getLong(0));
            }
            double[][][] wantHere = firstSteps(want, prefill + decoded);   // of the one full pass
            double err = PhalanxReference.maxAbsDiff(wantHere, PhalanxReference.toNcw(got.get(steps(f, 0, prefill + decoded)).dup(), f));
            assertTrue(err < 1e-12 * Math.max(1, PhalanxReference.maxAbs(wantHere)), "prefill " + prefill + ": " + err);
        }
        // The stateless block gives the same full pass.
        SameDiff sd2 = SameDiff.create();
        SDVariable x2 = sd2.placeHolder("x", DataType.DOUBLE, f == RNNFormat.NCW ? new long[]{-1, nIn, -1} : new long[]{-1, -1, nIn});
        SDVariable full = PhalanxBlock.apply(sd2, "p/", x2, conf, p);
        double err = PhalanxReference.maxAbsDiff(want, PhalanxReference.toNcw(sd2.outputSingle(Map.of("x", xs), full.name()), f));
        assertTrue(err < 1e-12 * Math.max(1, PhalanxReference.maxAbs(want)), "full pass: " + err);
    }

    static double[][][] firstSteps(double[][][] x, int n) {
        double[][][] r = new double[x.length][x[0].length][];
        for (int i = 0; i < x.length; i++)
            for (int j = 0; j < x[0].length; j++)
                r[i][j] = java.util.Arrays.copyOf(x[i][j], n);
        return r;
    }

    @ParameterizedTest(name = "k={0}")
    @CsvSource({"2", "1"})
    void maskedStepsEqualEachSequenceAloneAndPassNoGradient(int k) {
        int nIn = 32, nOut = 16, len = 33;
        // Valid steps [starts[i], ends[i]): full, right-padded, left-padded (aligned and not), both, empty.
        int[] starts = {0, 0, 0, 5, 16, 3, 0, 0};
        int[] ends = {33, 1, 17, 22, 33, 33, 0, 16};
        int b = starts.length;
        PhalanxLayer conf = conf(nIn, nOut, 1, 16, k, RNNFormat.NCW);
        Map<String, INDArray> p = params(conf);
        INDArray xs = randn(b, nIn, len), w = randn(b, nOut, len), mask = Nd4j.zeros(DataType.DOUBLE, b, len);
        for (int i = 0; i < b; i++) for (int t = starts[i]; t < ends[i]; t++) mask.putScalar(i, t, 1.0);

        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", xs.dup());
        SDVariable m = sd.placeHolder("mask", DataType.DOUBLE, -1, -1);
        SDVariable out = PhalanxBlock.apply(sd, "p/", x, conf, p, m, null).out();
        out.mul(sd.constant(w)).sum("loss");
        sd.setLossVariables("loss");
        INDArray got = sd.outputSingle(Map.of("mask", mask), out.name());
        // Each valid run against the float64 reference of that sequence alone.
        for (int i = 0; i < b; i++) {
            if (ends[i] == starts[i]) continue;
            INDArrayIndex[] mine = {NDArrayIndex.interval(i, i + 1), NDArrayIndex.all(), NDArrayIndex.interval(starts[i], ends[i])};
            double[][][] ref = PhalanxReference.forward(p, PhalanxReference.toNcw(xs.get(mine).dup(), RNNFormat.NCW), null,
                    (int) conf.numKvHeads(), 16, k);
            assertTrue(PhalanxReference.maxAbsDiff(ref, PhalanxReference.toNcw(got.get(mine).dup(), RNNFormat.NCW)) < 1e-12,
                    "sequence " + i);
        }

        String[] names = p.keySet().stream().map(s -> "p/" + s).toArray(String[]::new);
        String[] withX = java.util.stream.Stream.concat(java.util.Arrays.stream(names), java.util.stream.Stream.of("x"))
                .toArray(String[]::new);
        Map<String, INDArray> g = sd.calculateGradients(Map.of("mask", mask), withX);
        Map<String, INDArray> alone = new HashMap<>();
        for (int i = 0; i < b; i++) {
            INDArrayIndex[] before = {NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.interval(0, starts[i])};
            INDArrayIndex[] after = {NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.interval(ends[i], len)};
            for (INDArrayIndex[] pad : new INDArrayIndex[][]{before, after}) {
                if (pad == before ? starts[i] == 0 : ends[i] == len) continue;
                assertEquals(0, got.get(pad).amaxNumber().doubleValue(), 0, "padded outputs of " + i);
                assertEquals(0, g.get("x").get(pad).amaxNumber().doubleValue(), 0, "gradient at padded steps of " + i);
            }
            if (ends[i] == starts[i]) continue;
            INDArrayIndex[] mine = {NDArrayIndex.interval(i, i + 1), NDArrayIndex.all(), NDArrayIndex.interval(starts[i], ends[i])};
            SameDiff one = SameDiff.create();
            SDVariable xo = one.var("x", xs.get(mine).dup());
            SDVariable oo = PhalanxBlock.apply(one, "p/", xo, conf, p);
            oo.mul(one.constant(w.get(mine).dup())).sum("loss");
            one.setLossVariables("loss");
            INDArray yo = one.outputSingle(Map.of(), oo.name());
            assertEquals(0, yo.sub(got.get(mine)).amaxNumber().doubleValue(), 1e-12, "sequence " + i + " alone");
            Map<String, INDArray> go = one.calculateGradients(Map.of(), withX);
            assertEquals(0, go.get("x").sub(g.get("x").get(mine)).amaxNumber().doubleValue(), 1e-10, "d/dx of " + i);
            for (String n : names) alone.merge(n, go.get(n).dup(), INDArray::add);
        }
        for (String n : names) {
            double err = alone.get(n).sub(g.get(n)).amaxNumber().doubleValue();
            assertTrue(err < 1e-10 * Math.max(1, alone.get(n).amaxNumber().doubleValue()), n + ": " + err);
            assertTrue(g.get(n).amaxNumber().doubleValue() > 1e-6, n + " has a gradient");
        }
    }

    @Test
    void withAStateLeftPaddedMasksAreRefusedAndNonBinaryMasksAlways() {
        PhalanxLayer conf = conf(16, 16, 1, 16, 2, RNNFormat.NCW);
        Map<String, INDArray> p = params(conf);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, -1, 16, -1);
        SDVariable m = sd.placeHolder("mask", DataType.DOUBLE, -1, -1);
        SwrGraphState in = SwrGraphState.placeholders(sd, "s/", DataType.DOUBLE, 1);
        SDVariable out = PhalanxBlock.apply(sd, "p/", x, conf, p, m, in).out();
        SDVariable plain = PhalanxBlock.apply(sd, "q/", x, conf, p, m, null).out();
        INDArray xs = randn(2, 16, 4);
        Map<String, INDArray> feed = new HashMap<>(in.zeros(2));
        feed.put("x", xs);
        feed.put("mask", Nd4j.createFromArray(new double[][]{{1, 1, 1, 1}, {0, 0, 1, 1}}));
        PhalanxOpsStateTest.assertMessage(() -> sd.outputSingle(feed, out.name()), "right-padded");
        sd.outputSingle(feed, plain.name());   // without a state, left padding is exact (see above)
        feed.put("mask", Nd4j.createFromArray(new double[][]{{1, 1, 0.5, 0}, {1, 0, 0, 0}}));
        PhalanxOpsStateTest.assertMessage(() -> sd.outputSingle(feed, out.name()), "must be 0 (padding) or 1");
        PhalanxOpsStateTest.assertMessage(() -> sd.outputSingle(feed, plain.name()), "must be 0 (padding) or 1");
        feed.put("mask", Nd4j.createFromArray(new double[][]{{1, 1, 1, 0}, {1, 0, 0, 0}}));
        assertEquals(0, sd.outputSingle(feed, out.name()).getDouble(1, 0, 2), 0);
    }

    @ParameterizedTest(name = "nIn={0} nOut={1} kv={2}")
    @CsvSource({"32, 1, 1", "32, 3, 2", "48, 77, 3", "16, 200, 0"})
    void anyNOutWithTheInitializersShapes(int nIn, int nOut, int kv) {
        PhalanxLayer conf = conf(nIn, nOut, kv, 16, 2, RNNFormat.NCW);
        Map<String, INDArray> p = params(conf);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, -1, nIn, -1);
        SDVariable out = PhalanxBlock.apply(sd, "p/", x, conf, p);
        for (Map.Entry<String, long[]> e : PhalanxBlock.paramShapes(conf).entrySet()) {
            assertArrayEquals(e.getValue(), sd.getVariable("p/" + e.getKey()).getArr().shape(), e.getKey());
        }
        assertArrayEquals(new long[]{conf.numHeads() * 16, nOut}, p.get("Wo").shape());
        INDArray xs = randn(2, nIn, 19);
        INDArray got = sd.outputSingle(Map.of("x", xs), out.name());
        assertArrayEquals(new long[]{2, nOut, 19}, got.shape());
        double[][][] want = PhalanxReference.forward(p, PhalanxReference.toNcw(xs, RNNFormat.NCW), null, (int) conf.numKvHeads(), 16, 2);
        assertTrue(PhalanxReference.maxAbsDiff(want, PhalanxReference.toNcw(got, RNNFormat.NCW)) < 1e-12);
        // A parameter of the wrong shape is refused, naming it.
        Map<String, INDArray> bad = new LinkedHashMap<>(p);
        bad.put("Wo", Nd4j.zeros(DataType.DOUBLE, nIn, nOut + 1));
        PhalanxOpsStateTest.assertMessage(() -> PhalanxBlock.apply(SameDiff.create(), "q/",
                SameDiff.create().placeHolder("x", DataType.DOUBLE, -1, nIn, -1), conf, bad), "parameter Wo must have shape");
    }

    @Test
    void aStatefulMaskedBlockSurvivesSaveAndLoad(@TempDir File dir) throws Exception {
        PhalanxLayer conf = conf(32, 16, 1, 16, 2, RNNFormat.NCW);
        Map<String, INDArray> p = params(conf);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, -1, 32, -1);
        SDVariable m = sd.placeHolder("mask", DataType.DOUBLE, -1, -1);
        SwrGraphState in = SwrGraphState.placeholders(sd, "s/", DataType.DOUBLE, conf.numHeads());
        PhalanxBlock.Output o = PhalanxBlock.apply(sd, "p/", x, conf, p, m, in);
        File f = new File(dir, "block.sd");
        sd.save(f, true);
        SameDiff back = SameDiff.load(f, true);
        Map<String, INDArray> feed = new HashMap<>(in.zeros(2));
        feed.put("x", randn(2, 32, 21));
        feed.put("mask", Nd4j.ones(DataType.DOUBLE, 2, 21));
        feed.put(in.position().name(), Nd4j.scalar(7L));
        feed.put(in.h().name(), randn(2, 32));
        feed.put(in.v().name(), randn(2, 32));
        String[] outs = {o.out().name(), o.state().h().name(), o.state().v().name()};
        Map<String, INDArray> r1 = sd.output(feed, outs), r2 = back.output(feed, outs);
        for (String n : outs) assertEquals(r1.get(n), r2.get(n), n);
    }
}
