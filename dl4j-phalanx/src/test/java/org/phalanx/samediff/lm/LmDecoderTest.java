package org.phalanx.samediff.lm;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The streaming decoder reproduces the graph's logits at every position (attention caches, SWR state). */
class LmDecoderTest {

    @ParameterizedTest
    @ValueSource(strings = {"T", "S", "P", "R", "T+rope", "S+rope"})
    void decoderMatchesGraph(String name) {
        int len = 41;                                   // crosses two SWR block boundaries and the window of 7
        String model = name.substring(0, 1);
        LmConfig c = new LmConfig(256, 32, LmConfig.pattern(model, 4), len, 48, 2, 7, model.equals("S"),
                name.endsWith("rope"));
        SameDiff sd = CausalLm.build(c, 3);
        INDArray tokens = CausalLmTest.randomTokens(new Random(5), 1, len, 256);
        INDArray expected = CausalLmTest.logits(sd, tokens);                  // [len, 256]
        LmDecoder dec = new LmDecoder(sd, c, len);
        for (int t = 0; t < len; t++) {
            INDArray got = dec.step(tokens.getInt(0, t));
            double err = got.sub(expected.getRow(t)).amaxNumber().doubleValue();
            assertEquals(0, err, 2e-4, model + ": logits differ at position " + t);
        }
        long expectedState = 0;
        for (int i = 0; i < 4; i++) {
            LmConfig.Mixer m = c.mixer(i);
            expectedState += m == LmConfig.Mixer.G ? 2L * len * 32 * 4 : m == LmConfig.Mixer.S ? 2L * 7 * 32 * 4 : (2 * 32 + 2) * 4;
        }
        assertEquals(expectedState, dec.stateBytes());
        assertThrows(IllegalArgumentException.class, () -> dec.step(256));
    }
}
