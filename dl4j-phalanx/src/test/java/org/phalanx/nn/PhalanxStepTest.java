package org.phalanx.nn;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.swr.PhalanxStep;
import org.phalanx.swr.SwrState;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused decode step ({@link PhalanxStep}, native {@code phalanx_step.h}) fed a sequence one step at a time
 * equals the independent float64 {@link PhalanxReference} of one full pass (brute-force windowed sum), in float64
 * and float32, for odd nIn and nOut, shared kv heads, blocks 16, 5 and 1 and windows 1, 2, 3, 5 and UNBOUNDED.
 */
class PhalanxStepTest {

    @ParameterizedTest(name = "{0} nIn={1} nOut={2} heads={3} kv={4} block={5} k={6} B={7} headNorm={8} tanh={9}")
    @CsvSource({
            "DOUBLE, 77, 24, 2, 1, 16, 2, 1, false, false",
            "DOUBLE, 3, 1, 1, 1, 5, 1, 3, false, false",
            "DOUBLE, 33, 40, 4, 2, 5, 3, 8, false, false",
            "DOUBLE, 16, 17, 2, 2, 3, 5, 5, false, false",
            "DOUBLE, 20, 16, 1, 1, 16, 2147483647, 2, false, false",
            "DOUBLE, 9, 7, 3, 3, 1, 4, 2, false, true",
            "FLOAT, 256, 256, 16, 16, 16, 2, 8, false, true",
            "FLOAT, 77, 200, 13, 13, 16, 3, 1, false, false",
            "DOUBLE, 77, 24, 2, 1, 16, 2, 1, true, false",
            "DOUBLE, 33, 40, 4, 2, 5, 3, 8, true, true",
            "DOUBLE, 20, 16, 1, 1, 16, 2147483647, 3, true, false",
            "FLOAT, 77, 200, 13, 13, 16, 2, 5, true, true",
    })
    void stepByStepEqualsTheFloat64ReferenceOfOneFullPass(DataType t, int nIn, int nOut, int heads, int kv, int block,
                                                          int k, int b, boolean headNorm, boolean tanh) {
        int len = 3 * block + 7 > 40 ? 40 : 3 * block + 7;   // several blocks, the last one partial
        if (block == 16) len = 53;
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, nIn, heads, nOut, kv, block, k, RNNFormat.NCW, 41);
        Map<String, INDArray> p64 = net.getLayer(0).paramTable();
        INDArray x64 = PhalanxTestUtil.randn(DataType.DOUBLE, 43, b, nIn, len);
        double[][][] want = PhalanxReference.forward(p64, PhalanxReference.toNcw(x64, RNNFormat.NCW), null, kv, block, k,
                tanh ? Math::tanh : java.util.function.DoubleUnaryOperator.identity(), headNorm);

        // The parameters in the tested type, as DL4J lays them out (column-major weights).
        Map<String, INDArray> p = new java.util.HashMap<>();
        for (Map.Entry<String, INDArray> e : p64.entrySet()) {
            INDArray v = e.getValue();
            p.put(e.getKey(), v.rank() == 2 && v.size(0) > 1 ? v.castTo(t).dup('f') : v.castTo(t).dup('c'));
        }
        assertTrue(PhalanxStep.supports(t, p.get("Wa"), p.get("Wb"), p.get("Wc"), p.get("Wv"), p.get("Wo")));
        SwrState s = SwrState.create(t, b, heads);
        INDArray z = Nd4j.create(t, b, nOut), scratch = Nd4j.create(t, PhalanxStep.scratchLength(b, heads, kv));
        // Float32 rounding grows with the pre-activation's scale (tanh's slope is at most 1): measure against it.
        double[][][] pre = !tanh ? want : PhalanxReference.forward(p64, PhalanxReference.toNcw(x64, RNNFormat.NCW), null,
                kv, block, k, java.util.function.DoubleUnaryOperator.identity(), headNorm);
        double scale = Math.max(1, PhalanxReference.maxAbs(pre)), worst = 0;
        for (int step = 0; step < len; step++) {
            INDArray xt = x64.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(step)).castTo(t).dup('c');
            INDArray before = xt.dup();
            PhalanxStep.stepInto(xt, p.get("Wa"), p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"), p.get("bc"),
                    p.get("Wv"), p.get("Wo"), kv, headNorm, tanh, block, k, s, z, scratch);
            assertEquals(before, xt, "the input is not modified");
            for (int i = 0; i < b; i++)
                for (int o = 0; o < nOut; o++)
                    worst = Math.max(worst, Math.abs(z.getDouble(i, o) - want[i][o][step]));
        }
        assertEquals(len, s.position());
        double tol = t == DataType.DOUBLE ? 1e-12 : 2e-5;
        assertTrue(worst <= tol * scale, "max diff " + worst + " (scale " + scale + ")");
    }

    /**
     * The vectorised gates and tanh keep NaN as the scalar functions do: a NaN in one sequence's input makes that
     * sequence's outputs NaN (every projection reads it) and leaves the other sequences' outputs as they were.
     */
    @ParameterizedTest(name = "headNorm={0} tanh={1}")
    @CsvSource({"false, false", "true, true"})
    void aNanInOneSequenceStaysInThatSequence(boolean headNorm, boolean tanh) {
        int b = 9, nIn = 40, nOut = 24, heads = 2;
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, nIn, heads, nOut, heads, 16, 2, RNNFormat.NCW, 3);
        Map<String, INDArray> p = new java.util.HashMap<>();
        for (Map.Entry<String, INDArray> e : net.getLayer(0).paramTable().entrySet()) {
            INDArray v = e.getValue();
            p.put(e.getKey(), v.rank() == 2 && v.size(0) > 1 ? v.castTo(DataType.FLOAT).dup('f') : v.castTo(DataType.FLOAT).dup('c'));
        }
        INDArray x = PhalanxTestUtil.randn(DataType.FLOAT, 4, b, nIn), xNan = x.dup();
        xNan.putScalar(new long[]{5, 7}, Float.NaN);
        INDArray[] z = new INDArray[2];
        for (int run = 0; run < 2; run++) {
            SwrState s = SwrState.create(DataType.FLOAT, b, heads);
            z[run] = Nd4j.create(DataType.FLOAT, b, nOut);
            PhalanxStep.stepInto(run == 0 ? x : xNan, p.get("Wa"), p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"),
                    p.get("bc"), p.get("Wv"), p.get("Wo"), heads, headNorm, tanh, 16, 2, s, z[run],
                    Nd4j.create(DataType.FLOAT, PhalanxStep.scratchLength(b, heads, heads)));
        }
        for (int i = 0; i < b; i++)
            for (int o = 0; o < nOut; o++) {
                if (i == 5) {
                    assertTrue(Double.isNaN(z[1].getDouble(i, o)), "output " + o + " of the NaN sequence");
                } else {
                    assertEquals(z[0].getDouble(i, o), z[1].getDouble(i, o), 0.0, "sequence " + i);
                }
            }
    }

    @Test
    void badArgumentsAreRefusedWithAClearMessage() {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, 32, 2, 16, 1, 16, 2, RNNFormat.NCW, 5);
        Map<String, INDArray> p = net.getLayer(0).paramTable();
        INDArray x = Nd4j.rand(DataType.DOUBLE, 2, 32), z = Nd4j.create(DataType.DOUBLE, 2, 16);
        INDArray scratch = Nd4j.create(DataType.DOUBLE, PhalanxStep.scratchLength(2, 2, 1));
        SwrState s = SwrState.create(DataType.DOUBLE, 2, 2);
        INDArray waC = p.get("Wa").dup('c');
        assertFalse(PhalanxStep.supports(DataType.DOUBLE, waC));
        PhalanxTestUtil.assertMessage(assertThrows(IllegalArgumentException.class, () -> PhalanxStep.stepInto(x, waC,
                p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"), p.get("bc"), p.get("Wv"), p.get("Wo"), 1, false, false, 16, 2, s, z,
                scratch)), "wa must be a dense column-major ('f') [32, 2]");
        PhalanxTestUtil.assertMessage(assertThrows(IllegalArgumentException.class, () -> PhalanxStep.stepInto(x,
                p.get("Wa"), p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"), p.get("bc"), p.get("Wv"), p.get("Wo"), 1,
                false, false, 16, 2, s, Nd4j.create(DataType.DOUBLE, 2, 15), scratch)), "z must be a dense 'c' array [2, 16]");
        PhalanxTestUtil.assertMessage(assertThrows(IllegalArgumentException.class, () -> PhalanxStep.stepInto(x,
                p.get("Wa"), p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"), p.get("bc"), p.get("Wv"), p.get("Wo"), 1,
                false, false, 16, 2, SwrState.create(DataType.DOUBLE, 3, 2), z, scratch)), "state must hold 2 sequences of 2 heads");
        PhalanxTestUtil.assertMessage(assertThrows(IllegalArgumentException.class, () -> PhalanxStep.stepInto(x,
                p.get("Wa"), p.get("ba"), p.get("Wb"), p.get("bb"), p.get("Wc"), p.get("bc"), p.get("Wv"), p.get("Wo"), 1,
                false, false, 16, 2, s, z, Nd4j.create(DataType.DOUBLE, 10))), "scratch must be a dense array of at least");
        assertEquals(0, s.position(), "nothing ran");
    }
}
