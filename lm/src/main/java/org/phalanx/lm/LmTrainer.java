package org.phalanx.lm;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.samediff.lm.CausalLm;
import org.phalanx.samediff.lm.LmConfig;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Properties;
import java.util.Random;

/**
 * Trains a {@link CausalLm} on byte windows of a corpus: Adam, fixed learning rate, batches of random
 * windows drawn from a generator seeded by (seed, step), so a resumed run sees the same batches as an
 * unbroken one. A checkpoint ({@code out/checkpoint/}) holds the graph with its weights and Adam state
 * ({@code model.sd}) and the run's position ({@code state.properties}); {@code out/log.csv} gets one
 * row per logged step, and PNG plots are redrawn at every evaluation.
 */
public final class LmTrainer {

    public static final String CHECKPOINT = "checkpoint", MODEL = "model.sd", STATE = "state.properties", LOG = "log.csv";
    static final String CSV_HEADER = "step,tokens,seconds,train_bpb,val_bpb";
    static final double LN2 = Math.log(2);

    /** What a run is asked to do. */
    public record Settings(LmConfig model, int batch, long steps, long seed, double learningRate, int evalEvery,
                           int evalTokens, Path out) {
    }

    private final Settings s;
    private final AustenCorpus corpus;
    private final SameDiff sd;
    private final LmConfig model;
    private long step;
    private double seconds;
    private final PrintStream log;
    /** A fresh run, or the continuation of the checkpoint in {@code s.out()} when there is one. */
    public LmTrainer(Settings s, AustenCorpus corpus, PrintStream log) throws IOException {
        this.s = s;
        this.corpus = corpus;
        this.log = log;
        Path ck = s.out().resolve(CHECKPOINT);
        if (Files.isRegularFile(ck.resolve(STATE))) {
            Properties p = readProperties(ck.resolve(STATE));
            model = LmConfig.fromProperties(p);
            step = Long.parseLong(p.getProperty("step"));
            seconds = Double.parseDouble(p.getProperty("seconds"));
            sd = SameDiff.load(ck.resolve(MODEL).toFile(), true);
            log.printf("resuming %s from step %d (%s)%n", model.pattern(), step, ck);
        } else {
            model = s.model();
            sd = CausalLm.build(model, s.seed());
            sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(s.learningRate()))
                    .dataSetFeatureMapping(CausalLm.TOKENS).dataSetLabelMapping(CausalLm.LABELS).build());
            Files.createDirectories(s.out());
            Files.writeString(s.out().resolve(LOG), CSV_HEADER + "\n", StandardCharsets.UTF_8);
        }
    }

    public SameDiff graph() {
        return sd;
    }

    public LmConfig model() {
        return model;
    }

    public long step() {
        return step;
    }

    /** Training wall time so far (evaluations excluded), across resumes. */
    public double seconds() {
        return seconds;
    }

    public long tokensPerStep() {
        return (long) s.batch() * model.seqLen();
    }

    /** Trains up to {@code s.steps()} steps in all (counting those before a resume); checkpoints at every evaluation and at the end. */
    public void run() throws IOException {
        ProgressLine bar = new ProgressLine(log, s.steps());
        long firstStep = step;
        double startSeconds = seconds;
        long t0 = System.nanoTime();
        double lastLoss = Double.NaN;
        int logEvery = Math.max(1, s.evalEvery() / 10);
        while (step < s.steps()) {
            DataSet b = batch(step);
            boolean logged = step % logEvery == 0;
            if (logged) {
                // M2.1's fit computes no loss value when it is not needed for the gradients (fit's listener
                // "required variables" are not passed on), so measure the step's batch before training on it.
                double evalStart = System.nanoTime();
                lastLoss = loss(sd, b.getFeatures(), b.getLabels());
                t0 += (long) (System.nanoTime() - evalStart);
                if (!Double.isFinite(lastLoss)) {
                    throw new IllegalStateException("training diverged at step " + step + " (loss " + lastLoss + ")");
                }
            }
            sd.fit(b);
            step++;
            seconds = startSeconds + (System.nanoTime() - t0) * 1e-9;
            double tokPerSec = (step - firstStep) * tokensPerStep() / (seconds - startSeconds);
            bar.update(step, lastLoss / LN2, tokPerSec, (s.steps() - step) * tokensPerStep() / tokPerSec);
            if (step % s.evalEvery() == 0 || step == s.steps()) {
                double evalStart = System.nanoTime();
                double val = bitsPerByte(corpus.validation, s.evalTokens());
                t0 += (long) (System.nanoTime() - evalStart);               // evaluation time is not training time
                appendLog(lastLoss / LN2, val);
                bar.note(String.format("step %d: train %.3f bpb, validation %.3f bpb", step, lastLoss / LN2, val));
                checkpoint();
                LossPlots.write(s.out().resolve(LOG), s.out());
            } else if (logged) {
                appendLog(lastLoss / LN2, Double.NaN);
            }
        }
        bar.done();
    }

    /** The batch of a step: {@code batch} random windows of {@code seqLen + 1} bytes of the training text. */
    DataSet batch(long atStep) {
        int b = s.batch(), len = model.seqLen();
        Random r = new Random(s.seed() * 1_000_003L + atStep);
        int[] x = new int[b * len], y = new int[b * len];
        byte[] text = corpus.train;
        for (int i = 0; i < b; i++) {
            int start = r.nextInt(text.length - len - 1);
            for (int t = 0; t < len; t++) {
                x[i * len + t] = text[start + t] & 0xff;
                y[i * len + t] = text[start + t + 1] & 0xff;
            }
        }
        return new DataSet(Nd4j.createFromArray(x).reshape(b, len), Nd4j.createFromArray(y).reshape(b, len));
    }

    /**
     * Bits per byte on the first {@code maxTokens} bytes of {@code text} (all of it when {@code maxTokens <= 0}):
     * consecutive windows of {@code seqLen} predictions, each predicting from the window's own prefix.
     */
    public double bitsPerByte(byte[] text, int maxTokens) {
        return bitsPerByte(sd, model.seqLen(), s.batch(), text, maxTokens);
    }

    public static double bitsPerByte(SameDiff sd, int len, int batch, byte[] text, int maxTokens) {
        int n = maxTokens > 0 ? Math.min(maxTokens, text.length - 1) : text.length - 1;
        int windows = Math.max(1, n / len);
        double sumNats = 0;
        long counted = 0;
        for (int w0 = 0; w0 < windows; w0 += batch) {
            int b = Math.min(batch, windows - w0);
            int[] x = new int[b * len], y = new int[b * len];
            for (int i = 0; i < b; i++) {
                for (int t = 0; t < len; t++) {
                    int pos = Math.min((w0 + i) * len + t, text.length - 2);
                    x[i * len + t] = text[pos] & 0xff;
                    y[i * len + t] = text[pos + 1] & 0xff;
                }
            }
            sumNats += loss(sd, Nd4j.createFromArray(x).reshape(b, len), Nd4j.createFromArray(y).reshape(b, len)) * b * len;
            counted += (long) b * len;
        }
        return sumNats / counted / LN2;
    }

    /** Mean cross-entropy (nats per token) of a batch. */
    static double loss(SameDiff sd, INDArray tokens, INDArray labels) {
        return sd.output(Map.of(CausalLm.TOKENS, tokens, CausalLm.LABELS, labels), CausalLm.LOSS).get(CausalLm.LOSS).getDouble(0);
    }

    private void appendLog(double trainBpb, double valBpb) throws IOException {
        String row = String.format(java.util.Locale.ROOT, "%d,%d,%.3f,%.5f,%s%n", step, step * tokensPerStep(), seconds,
                trainBpb, Double.isNaN(valBpb) ? "" : String.format(java.util.Locale.ROOT, "%.5f", valBpb));
        Files.writeString(s.out().resolve(LOG), row, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    /** Writes the checkpoint to a temporary directory, then moves it into place (a crash leaves the old one). */
    public void checkpoint() throws IOException {
        Path ck = s.out().resolve(CHECKPOINT), tmp = s.out().resolve(CHECKPOINT + ".tmp");
        Files.createDirectories(tmp);
        sd.save(tmp.resolve(MODEL).toFile(), true);
        Properties p = model.toProperties();
        p.setProperty("step", Long.toString(step));
        p.setProperty("seconds", Double.toString(seconds));
        p.setProperty("seed", Long.toString(s.seed()));
        p.setProperty("batch", Integer.toString(s.batch()));
        p.setProperty("tokens", Long.toString(step * tokensPerStep()));
        try (Writer w = Files.newBufferedWriter(tmp.resolve(STATE), StandardCharsets.UTF_8)) {
            p.store(w, "dl4j-phalanx lm checkpoint");
        }
        Files.createDirectories(ck);
        Files.move(tmp.resolve(MODEL), ck.resolve(MODEL), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmp.resolve(STATE), ck.resolve(STATE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.deleteIfExists(tmp);
    }

    static Properties readProperties(Path f) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(r);
        }
        return p;
    }

    /** The weights of a checkpoint directory (a {@code train --out} directory or its {@code checkpoint/}). */
    public static Loaded load(Path dir) throws IOException {
        Path ck = Files.isRegularFile(dir.resolve(STATE)) ? dir : dir.resolve(CHECKPOINT);
        if (!Files.isRegularFile(ck.resolve(STATE)) || !Files.isRegularFile(ck.resolve(MODEL))) {
            throw new IOException("no checkpoint in " + dir + " (expected " + STATE + " and " + MODEL + ")");
        }
        Properties p = readProperties(ck.resolve(STATE));
        return new Loaded(LmConfig.fromProperties(p), SameDiff.load(ck.resolve(MODEL).toFile(), false),
                Long.parseLong(p.getProperty("step")));
    }

    public record Loaded(LmConfig model, SameDiff sd, long step) {
    }
}
