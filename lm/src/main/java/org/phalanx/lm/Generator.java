package org.phalanx.lm;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.samediff.lm.LmDecoder;

import java.io.OutputStream;
import java.io.IOException;
import java.util.Random;

/** Streams bytes from a {@link LmDecoder}: feeds a prompt, then samples at a temperature (0: greedy). */
public final class Generator {

    /** What a generation did: tokens generated, their seconds, the decoder's state at the end. */
    public record Stats(int tokens, double seconds, long stateBytes, long context) {
        public double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    private Generator() {
    }

    public static Stats generate(LmDecoder dec, byte[] prompt, int tokens, double temperature, long seed, OutputStream out)
            throws IOException {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("generate: the prompt must not be empty");
        }
        if (tokens < 0 || !(temperature >= 0)) {
            throw new IllegalArgumentException("generate: tokens must be >= 0 and temperature >= 0; got "
                    + tokens + ", " + temperature);
        }
        INDArray logits = null;
        for (byte b : prompt) {
            logits = dec.step(b & 0xff);
        }
        Random r = new Random(seed);
        long t0 = System.nanoTime();
        for (int i = 0; i < tokens; i++) {
            int next = sample(logits.toDoubleVector(), temperature, r);
            out.write(next);
            if (next == '\n' || i % 16 == 15) {
                out.flush();
            }
            if (i + 1 < tokens) {
                logits = dec.step(next);
            }
        }
        out.flush();
        return new Stats(tokens, (System.nanoTime() - t0) * 1e-9, dec.stateBytes(), dec.position());
    }

    static int sample(double[] logits, double temperature, Random r) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        if (temperature == 0) {
            return best;
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp((logits[i] - logits[best]) / temperature);
            sum += p[i];
        }
        double u = r.nextDouble() * sum;
        for (int i = 0; i < p.length; i++) {
            u -= p[i];
            if (u <= 0) {
                return i;
            }
        }
        return best;
    }
}
