package org.phalanx.nn;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

/** The layer's forward pass against the independent float64 evaluation of docs/SWR.md section 2. */
class PhalanxLayerForwardTest {

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @ParameterizedTest(name = "{0} nIn={1} nOut={2} kv={3} block={4} k={5} {6} B={7} L={8}")
    @CsvSource({
            "DOUBLE, 32, 32, 0, 16, 2, NCW, 3, 37",
            "DOUBLE, 32, 24, 1, 16, 2, NWC, 2, 50",
            "DOUBLE, 48, 16, 3, 5, 2, NCW, 2, 23",
            "DOUBLE, 16, 16, 0, 16, 1, NWC, 1, 33",
            "DOUBLE, 64, 8, 2, 7, 1, NCW, 3, 15",
            "DOUBLE, 32, 32, 0, 16, 2, NCW, 2, 1",
            "FLOAT, 32, 40, 2, 16, 2, NWC, 3, 45",
            "FLOAT, 16, 16, 1, 16, 2, NCW, 4, 70",
    })
    void forwardMatchesFloat64Reference(DataType t, int nIn, int nOut, int kv, int block, int k, RNNFormat f,
                                        int b, int l) {
        long seed = 1000L * nIn + 10L * l + b;
        MultiLayerNetwork net = PhalanxTestUtil.single(t, nIn, nOut, kv, block, k, f, seed);
        INDArray x = f == RNNFormat.NCW ? PhalanxTestUtil.randn(t, seed + 1, b, nIn, l)
                : PhalanxTestUtil.randn(t, seed + 1, b, l, nIn);
        INDArray out = net.output(x);
        long[] expShape = f == RNNFormat.NCW ? new long[]{b, nOut, l} : new long[]{b, l, nOut};
        assertArrayEquals(expShape, out.shape());
        int kvHeads = kv == 0 ? nIn / 16 : kv;
        double[][][] ref = PhalanxReference.forward(net.getLayer(0).paramTable(), PhalanxReference.toNcw(x, f),
                null, kvHeads, block, k);
        double[][][] got = PhalanxReference.toNcw(out, f);
        double scale = Math.max(1, PhalanxReference.maxAbs(ref));
        double err = PhalanxReference.maxAbsDiff(ref, got) / scale;
        assertTrue(err < (t == DataType.DOUBLE ? 1e-12 : 2e-5), "max relative error " + err);
        assertTrue(PhalanxReference.maxAbs(ref) > 0.1, "degenerate reference");
    }
}
