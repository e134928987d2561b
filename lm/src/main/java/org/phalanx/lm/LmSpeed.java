package org.phalanx.lm;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.samediff.lm.CausalLm;
import org.phalanx.samediff.lm.LmConfig;
import org.phalanx.samediff.lm.LmDecoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * Side-by-side speeds of the four models in one process: training tokens/s (fit steps on random bytes
 * at the study's shapes, after warm-up) and streaming decode tokens/s at a given context (the decoder is
 * first fed {@code --context} tokens, then timed on {@code --decode-tokens} more), with the decoder's
 * per-sequence state. Weights are random: speed does not depend on them. Garbage is collected before each
 * timed step (outside the timing), so {@code peak_rss_mib}, the process's peak resident set so far, is
 * what training needs rather than the collector's schedule; run one model per process for a per-model
 * figure (lm/scripts/speed.sh does).
 */
@Command(name = "speed", mixinStandardHelpOptions = true,
        description = "Measure training and decode tokens/s of T, S, P, R side by side (random weights).")
final class LmSpeed implements Callable<Integer> {
    @Option(names = "--models", split = ",", description = "default ${DEFAULT-VALUE}")
    List<String> models = List.of("T", "S", "P", "R");
    @Option(names = "--seq-len", description = "default ${DEFAULT-VALUE}")
    int seqLen = 2048;
    @Option(names = "--batch", description = "default ${DEFAULT-VALUE}")
    int batch = 2;
    @Option(names = "--d-model", description = "default ${DEFAULT-VALUE}")
    int dModel = 128;
    @Option(names = "--layers", description = "default ${DEFAULT-VALUE}")
    int layers = 4;
    @Option(names = "--window", description = "default ${DEFAULT-VALUE}")
    int window = 64;
    @Option(names = "--steps", description = "timed training steps per model; default ${DEFAULT-VALUE}")
    int steps = 3;
    @Option(names = "--context", description = "decode context; default ${DEFAULT-VALUE}")
    int context = 2048;
    @Option(names = "--decode-tokens", description = "timed decode tokens; default ${DEFAULT-VALUE}")
    int decodeTokens = 64;
    @Option(names = "--threads", description = "ND4J/BLAS threads (0: ND4J's default); default ${DEFAULT-VALUE}")
    int threads = 0;

    @Override
    public Integer call() {
        if (seqLen < 2 || batch < 1 || steps < 1 || context < 1 || decodeTokens < 1) {
            throw new IllegalArgumentException("--seq-len >= 2, --batch, --steps, --context, --decode-tokens >= 1");
        }
        LmMain.setThreads(threads);
        System.out.printf("model,pattern,params,seq_len,batch,train_tokens_per_s,peak_rss_mib,decode_context,decode_tokens_per_s,state_bytes%n");
        for (String m : models) {
            LmConfig c = LmConfig.of(LmConfig.pattern(m, layers), dModel, seqLen, window);
            SameDiff sd = CausalLm.build(c, 1);
            sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(1e-3))
                    .dataSetFeatureMapping(CausalLm.TOKENS).dataSetLabelMapping(CausalLm.LABELS).build());
            Random r = new Random(1);
            DataSet ds = new DataSet(randomTokens(r), randomTokens(r));
            sd.fit(ds);                                                    // warm-up: builds the gradient graph
            long nanos = 0;
            for (int i = 0; i < steps; i++) {
                collect();
                long t0 = System.nanoTime();
                sd.fit(ds);
                nanos += System.nanoTime() - t0;
            }
            double train = (double) steps * batch * seqLen / (nanos * 1e-9);
            long peakMib = peakRssMib();
            LmDecoder dec = new LmDecoder(sd, c, context + decodeTokens);
            for (int i = 0; i < context; i++) {
                dec.step(r.nextInt(256));
            }
            long t1 = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                dec.step(r.nextInt(256));
            }
            double decode = decodeTokens / ((System.nanoTime() - t1) * 1e-9);
            System.out.printf(java.util.Locale.ROOT, "%s,%s,%d,%d,%d,%.0f,%d,%d,%.1f,%d%n", m, c.pattern(),
                    CausalLm.parameterCount(sd), seqLen, batch, train, peakMib, context, decode, dec.stateBytes());
        }
        return 0;
    }

    /**
     * Collects garbage and waits for JavaCPP to free the collected arrays: ND4J frees an array only when the
     * collector finds it unreachable, so without this the resident set measures the collector's schedule,
     * not the model. Called before each timed step, outside the timing.
     */
    private static void collect() {
        System.gc();
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The process's peak resident set so far (MiB), or -1 where /proc is not there. */
    static long peakRssMib() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.substring(6).replace("kB", "").trim()) / 1024;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // not Linux
        }
        return -1;
    }

    private org.nd4j.linalg.api.ndarray.INDArray randomTokens(Random r) {
        int[] t = new int[batch * seqLen];
        for (int i = 0; i < t.length; i++) {
            t[i] = r.nextInt(256);
        }
        return Nd4j.createFromArray(t).reshape(batch, seqLen);
    }
}
