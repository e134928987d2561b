package org.phalanx.samediff.lm;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The graph's gradients (embedding through one-hot product, attention with masks, RMSNorm, GELU MLP,
 * Phalanx, tied head) against central finite differences of the loss, in float64.
 */
class CausalLmGradientTest {

    @Test
    void gradientsMatchFiniteDifferences() {
        int len = 19;
        LmConfig c = new LmConfig(256, 32, "SPRG", len, 40, 2, 5, true);
        SameDiff sd = CausalLm.build(c, 9, DataType.DOUBLE);
        Random r = new Random(13);
        // a small alphabet so that embedding rows are hit several times (an assigning gradient would fail)
        INDArray tokens = CausalLmTest.randomTokens(r, 2, len, 6), labels = CausalLmTest.randomTokens(r, 2, len, 6);
        Map<String, INDArray> ph = Map.of(CausalLm.TOKENS, tokens, CausalLm.LABELS, labels);
        List<String> names = List.of(CausalLm.EMBEDDING, "b0/attn/Wq", "b0/attn/Wo", "b0/norm1/g", "b0/mlp/W1",
                "b1/phalanx/Wa", "b1/phalanx/Wb", "b2/phalanx/Wv", "b3/attn/Wk", "b3/mlp/b2", "final/g");
        Map<String, INDArray> grads = sd.calculateGradients(ph, names);
        double eps = 1e-6;
        for (String n : names) {
            INDArray w = sd.getVariable(n).getArr(), g = grads.get(n);
            for (int k = 0; k < 3; k++) {
                long i = n.equals(CausalLm.EMBEDDING) ? (k * 2 + r.nextInt(2)) * c.dModel() + r.nextInt(c.dModel())
                        : r.nextInt((int) w.length());
                double orig = w.getDouble(i);
                w.putScalar(i, orig + eps);
                double up = loss(sd, ph);
                w.putScalar(i, orig - eps);
                double down = loss(sd, ph);
                w.putScalar(i, orig);
                double numeric = (up - down) / (2 * eps), analytic = g.getDouble(i);
                double err = Math.abs(numeric - analytic) / Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic));
                assertTrue(err < 1e-4, n + "[" + i + "]: analytic " + analytic + ", numeric " + numeric);
            }
        }
    }

    private static double loss(SameDiff sd, Map<String, INDArray> ph) {
        return sd.output(ph, CausalLm.LOSS).get(CausalLm.LOSS).getDouble(0);
    }
}
