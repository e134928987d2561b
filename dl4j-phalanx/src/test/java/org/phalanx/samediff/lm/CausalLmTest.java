package org.phalanx.samediff.lm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CausalLmTest {

    static INDArray randomTokens(Random r, int b, int len, int vocab) {
        int[] t = new int[b * len];
        for (int i = 0; i < t.length; i++) {
            t[i] = r.nextInt(vocab);
        }
        return Nd4j.createFromArray(t).reshape(b, len);
    }

    static INDArray logits(SameDiff sd, INDArray tokens) {
        return sd.output(Map.of(CausalLm.TOKENS, tokens), CausalLm.LOGITS).get(CausalLm.LOGITS);
    }

    /** Perturbing token t changes no logit before t (and does change the logits at t). */
    @ParameterizedTest
    @ValueSource(strings = {"T", "S", "P", "R"})
    void causal(String model) {
        int len = 37, b = 2;
        LmConfig c = new LmConfig(256, 32, LmConfig.pattern(model, 4), len, 64, 2, 5, true);
        SameDiff sd = CausalLm.build(c, 7);
        Random r = new Random(11);
        INDArray tokens = randomTokens(r, b, len, 256);
        INDArray base = logits(sd, tokens).reshape(b, len, 256);
        for (int t : new int[]{0, 1, 15, 16, 17, 36}) {
            INDArray p = tokens.dup();
            p.putScalar(1, t, (p.getInt(1, t) + 1 + r.nextInt(255)) % 256);
            INDArray out = logits(sd, p).reshape(b, len, 256);
            for (int s = 0; s < len; s++) {
                double diff = out.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1),
                        org.nd4j.linalg.indexing.NDArrayIndex.point(s)).sub(base.get(
                        org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(s)))
                        .norm1Number().doubleValue();
                if (s < t) {
                    assertEquals(0, diff, 1e-5, model + ": logits at " + s + " moved when token " + t + " changed");
                } else if (s == t) {
                    assertTrue(diff > 1e-4, model + ": logits at " + t + " ignore token " + t);
                }
            }
            // the other sequence of the batch is untouched
            assertEquals(0, out.slice(0).sub(base.slice(0)).norm1Number().doubleValue(), 1e-5);
        }
    }

    /** The four models at the study's shapes have equal parameter counts within 5%. */
    @Test
    void equalParameterCounts() {
        for (int d : new int[]{128, 256}) {
            long[] n = new long[4];
            String[] models = {"T", "S", "P", "R"};
            for (int i = 0; i < 4; i++) {
                n[i] = CausalLm.parameterCount(CausalLm.build(LmConfig.of(LmConfig.pattern(models[i], 4), d, 16), 1));
            }
            for (int i = 1; i < 4; i++) {
                double rel = Math.abs(n[i] - n[0]) / (double) n[0];
                assertTrue(rel < 0.05, models[i] + " has " + n[i] + " parameters against T's " + n[0] + " at d=" + d);
            }
            // T: embedding 256 d + 4 (attention 4 d^2 + MLP 8 d^2 + 5 d + 2 d gains) + final gain
            assertEquals(256L * d + 4L * (12L * d * d + 5L * d + 2L * d) + d, n[0]);
        }
    }

    /** The loss is the mean cross-entropy in nats per token of the logits against the labels (float64 reference). */
    @Test
    void lossIsMeanCrossEntropy() {
        int len = 17, b = 3;
        LmConfig c = new LmConfig(256, 32, "PG", len, 32, 1, 4, false);
        SameDiff sd = CausalLm.build(c, 2);
        Random r = new Random(3);
        INDArray tokens = randomTokens(r, b, len, 256), labels = randomTokens(r, b, len, 256);
        Map<String, INDArray> out = sd.output(Map.of(CausalLm.TOKENS, tokens, CausalLm.LABELS, labels),
                CausalLm.LOGITS, CausalLm.LOSS);
        double[][] logits = out.get(CausalLm.LOGITS).castTo(DataType.DOUBLE).toDoubleMatrix();
        double sum = 0;
        for (int i = 0; i < b * len; i++) {
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (double v : logits[i]) {
                max = Math.max(max, v);
            }
            for (double v : logits[i]) {
                z += Math.exp(v - max);
            }
            sum += max + Math.log(z) - logits[i][labels.getInt(i / len, i % len)];
        }
        assertEquals(sum / (b * len), out.get(CausalLm.LOSS).getDouble(0), 1e-4);
    }

    @Test
    void badConfigurations() {
        assertThrows(IllegalArgumentException.class, () -> LmConfig.of("GGX", 64, 8));
        assertThrows(IllegalArgumentException.class, () -> LmConfig.of("GG", 40, 8));
        assertThrows(IllegalArgumentException.class, () -> LmConfig.pattern("Q", 4));
        assertEquals("SSSGSS", LmConfig.pattern("S", 6));
    }
}
