package org.phalanx.samediff;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrReference;
import org.phalanx.swr.SwrState;
import org.phalanx.swr.SwrStateOp;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.samediff.PhalanxOpsStateTest.*;

/**
 * The carried state of a finite window {@code k >= 3} in SameDiff: {@code h, P, v}, the position and the ring of
 * the last {@code k - 2} blocks ({@code vRing, aRing}). Outputs against the brute-force windowed sum of the whole
 * sequence at every phase; gradients with respect to every input (the ring included, the final state and ring in
 * the loss) against central finite differences in float64. (Chained pieces and decode through placeholders after
 * save and load: {@link PhalanxOpsStateTest}, for these windows too.)
 */
class PhalanxOpsRingStateTest {

    /** Random gates (some near 0 and 1) and normals, as PhalanxOpsStateTest draws them. */
    final PhalanxOpsStateTest draw = new PhalanxOpsStateTest();

    @BeforeAll
    static void dtypes() {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    double[] normal(int n) {
        return draw.normal(n);
    }

    double[] gates(int n) {
        return draw.gates(n);
    }

    @ParameterizedTest(name = "block {0}, k {1}")
    @CsvSource({"16, 3", "16, 5", "5, 4", "3, 7", "1, 3"})
    void continuingWhatSwrStateWroteEqualsTheWindowedSumOfTheWholeSequence(int block, int k) {
        int B = 2, H = 2, C = 32;
        for (int position : new int[]{0, 1, block - 1, block, block + 1, 2 * block, 3 * block - 1, 3 * block,
                (k + 1) * block + 2}) {
            for (int L : new int[]{1, 15, 16, 17, 40}) {
                int total = position + L;
                double[] af = gates(B * H * total), uf = normal(B * C * total);
                INDArray a = arr(af, B, H, total), u = arr(uf, B, C, total);
                SwrState s = SwrState.create(DataType.DOUBLE, B, H, block, k);
                if (position > 0) {
                    Swr.forward(a.get(all3(0, position)).dup(), u.get(all3(0, position)).dup(), block, k, s);
                }
                Map<String, INDArray> m = s.toMap("");
                INDArray ap = a.get(all3(position, total)).dup(), up = u.get(all3(position, total)).dup();
                INDArray[] out = Nd4j.exec(new SwrStateOp(ap, up, m.get("h"), m.get("P"), m.get("v"), m.get("vRing"),
                        m.get("aRing"), Nd4j.scalar((long) position), block, k));
                double[] ref = SwrReference.forward(af, uf, B, H, total, block, k);
                double[] want = flat(arr(ref, B, C, total).get(all3(position, total)));
                String where = "position " + position + ", L " + L;
                assertArrayEquals(want, flat(out[0]), 1e-12, where);
                // The final state and ring are what SwrState continues with.
                Swr.forward(ap, up, block, k, s);
                Map<String, INDArray> after = s.toMap("");
                String[] keys = {"h", "P", "v", "vRing", "aRing"};
                for (int i = 0; i < keys.length; i++) {
                    INDArray w = after.get(keys[i]);
                    assertEquals(0, w.sub(out[i + 1]).amaxNumber().doubleValue(), 1e-12, where + ", " + keys[i]);
                }
                assertEquals(total, out[6].getLong(0), where);
            }
        }
    }

    /** loss = sum of random weights times every output (y, h, P, v, vRing, aRing); the inputs are variables. */
    SameDiff graph(int B, int H, int L, long position, int block, int k) {
        int C = 16 * H, S = k - 2;
        SameDiff sd = SameDiff.create();
        SwrGraphState in = new SwrGraphState(sd.var("h", arr(normal(B * C), B, C)),
                sd.var("P", arr(gates(B * H), B, H)), sd.var("v", arr(normal(B * C), B, C)),
                sd.constant("position", Nd4j.scalar(position)), sd.var("vRing", arr(normal(B * S * C), B, S, C)),
                sd.var("aRing", arr(gates(B * S * H), B, S, H)));
        SDVariable a = sd.var("a", arr(gates(B * H * L), B, H, L));
        SDVariable u = sd.var("u", arr(normal(B * C * L), B, C, L));
        PhalanxOps.SwrStep s = PhalanxOps.swr(sd, "y", a, u, in, block, k);
        SwrGraphState o = s.state();
        SDVariable loss = s.y().mul(sd.constant("wy", arr(normal(B * C * L), B, C, L))).sum()
                .add(o.h().mul(sd.constant("wh", arr(normal(B * C), B, C))).sum())
                .add(o.p().mul(sd.constant("wp", arr(normal(B * H), B, H))).sum())
                .add(o.v().mul(sd.constant("wv", arr(normal(B * C), B, C))).sum())
                .add(o.vRing().mul(sd.constant("wvr", arr(normal(B * S * C), B, S, C))).sum())
                .add(o.aRing().mul(sd.constant("war", arr(normal(B * S * H), B, S, H))).sum());
        sd.updateVariableNameAndReference(loss, "loss");
        sd.setLossVariables("loss");
        return sd;
    }

    static double eagerLoss(SameDiff sd, int block, int k) {
        INDArray[] o = Nd4j.exec(new SwrStateOp(sd.getArrForVarName("a"), sd.getArrForVarName("u"), sd.getArrForVarName("h"),
                sd.getArrForVarName("P"), sd.getArrForVarName("v"), sd.getArrForVarName("vRing"),
                sd.getArrForVarName("aRing"), sd.getArrForVarName("position"), block, k));
        String[] w = {"wy", "wh", "wp", "wv", "wvr", "war"};
        double loss = 0;
        for (int i = 0; i < w.length; i++) loss += o[i].mul(sd.getArrForVarName(w[i])).sumNumber().doubleValue();
        return loss;
    }

    static double directional(SameDiff sd, INDArray x, INDArray dir, int block, int k) {
        return PhalanxOpsStateTest.directional(x, dir, () -> eagerLoss(sd, block, k));
    }

    @ParameterizedTest(name = "k {0}, block {1}")
    @CsvSource({"3, 16", "5, 16", "4, 5", "3, 1"})
    void gradientsMatchFiniteDifferencesAtEveryPhase(int k, int block) {
        int B = 2, H = 1;
        for (long position : new long[]{0, 5, 16, 31, 32, 47, 83}) {
            for (int L : new int[]{1, 15, 16, 17, 40}) {
                SameDiff sd = graph(B, H, L, position, block, k);
                String[] names = {"a", "u", "h", "P", "v", "vRing", "aRing"};
                Map<String, INDArray> g = sd.calculateGradients(Map.of(), names);
                for (String name : names) {
                    INDArray x = sd.getArrForVarName(name);
                    INDArray gx = g.get(name);
                    assertNotNull(gx, name);
                    String where = "d loss / d " + name + " at position " + position + ", L " + L + ", k " + k;
                    INDArray dir = Nd4j.randn(DataType.DOUBLE, x.shape());
                    assertEquals(directional(sd, x, dir, block, k), gx.mul(dir).sumNumber().doubleValue(),
                            1e-6 * scale(gx, dir), where);
                    // Entry by entry for the small state arrays (each ring slot on its own).
                    if (!name.equals("a") && !name.equals("u")) {
                        for (long i = 0; i < x.length(); i += Math.max(1, x.length() / 7)) {
                            INDArray e = Nd4j.zeros(DataType.DOUBLE, x.shape());
                            e.putScalar(i, 1);
                            assertEquals(directional(sd, x, e, block, k), gx.getDouble(i),
                                    1e-6 * Math.max(1, Math.abs(gx.getDouble(i))), where + "[" + i + "]");
                        }
                    }
                }
                if (position == 0) {
                    for (String name : new String[]{"h", "P", "v", "vRing", "aRing"}) {
                        assertEquals(0, g.get(name).amaxNumber().doubleValue(), 0, "fresh sequence: " + name);
                    }
                }
            }
        }
    }
}
