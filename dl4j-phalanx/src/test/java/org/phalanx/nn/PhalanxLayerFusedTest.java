package org.phalanx.nn;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nn.layers.PhalanxLayerImpl;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The layer's whole-sequence path runs the fused core (PhalanxCore); its stored-state path (truncated BPTT,
 * from a fresh state) still runs the three passes (u = beta v, SWR, m = y c + v). In float64 both must give
 * the same outputs, parameter gradients and input gradient, with and without a right-padded mask, grouped heads
 * or not, at awkward lengths and block phases.
 */
class PhalanxLayerFusedTest {

    @ParameterizedTest
    @CsvSource({"4, 16, 2, 33, false", "2, 16, 2, 17, true", "4, 5, 1, 23, true", "1, 16, 2, 1, false", "2, 16, 1, 16, true",
            "4, 3, 2, 40, false"})
    void fusedAndUnfusedPathsAgree(int kvHeads, int block, int k, int len, boolean masked) {
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, 40, 4, 24, kvHeads, block, k, RNNFormat.NCW, 7);
        INDArray x = PhalanxTestUtil.randn(DataType.DOUBLE, 8, 3, 40, len);
        INDArray eps = PhalanxTestUtil.randn(DataType.DOUBLE, 9, 3, 24, len);
        INDArray mask = masked ? PhalanxTestUtil.rightPadded(DataType.DOUBLE, len, len, Math.max(1, len - 5), 1) : null;
        net.initGradientsView(); // the layer is driven directly, without fit
        Layer layer = net.getLayer(0);
        assertInstanceOf(PhalanxLayerImpl.class, layer);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();

        layer.setInput(x, mgr);
        layer.setMaskArray(mask);
        INDArray fused = layer.activate(true, mgr).dup();
        Pair<Gradient, INDArray> gf = layer.backpropGradient(eps.dup(), mgr);
        Map<String, INDArray> gFused = copy(gf.getFirst());
        INDArray dxFused = gf.getSecond().dup();

        PhalanxLayerImpl impl = (PhalanxLayerImpl) layer;
        impl.rnnClearPreviousState();
        layer.setMaskArray(mask);
        INDArray unfused = impl.rnnActivateUsingStoredState(x, true, true, mgr).dup();
        Pair<Gradient, INDArray> gu = impl.tbpttBackpropGradient(eps.dup(), len, mgr);

        String where = "kvHeads=" + kvHeads + " block=" + block + " k=" + k + " L=" + len + " masked=" + masked;
        assertClose(unfused, fused, where + " output");
        assertClose(gu.getSecond(), dxFused, where + " input gradient");
        for (Map.Entry<String, INDArray> e : gFused.entrySet()) {
            assertClose(gu.getFirst().gradientForVariable().get(e.getKey()), e.getValue(), where + " gradient " + e.getKey());
        }
        assertTrue(fused.norm2Number().doubleValue() > 0 && dxFused.norm2Number().doubleValue() > 0, where);
    }

    private static Map<String, INDArray> copy(Gradient g) {
        Map<String, INDArray> out = new java.util.LinkedHashMap<>();
        g.gradientForVariable().forEach((key, v) -> out.put(key, v.dup()));
        return out;
    }

    private static void assertClose(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double scale = Math.max(1e-300, expected.norm2Number().doubleValue());
        double err = expected.sub(actual).norm2Number().doubleValue() / scale;
        assertTrue(err < 1e-12, what + ": relative difference " + err);
    }
}
