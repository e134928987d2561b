package org.phalanx.lm;

import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.samediff.lm.CausalLm;
import org.phalanx.samediff.lm.LmConfig;
import org.phalanx.samediff.lm.LmDecoder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Byte-level language models on Jane Austen: {@code train} (T, S, P, R; resumes from its {@code --out}
 * directory) and {@code generate} (streaming decode from a checkpoint). See the README and docs/RESULTS.md.
 */
@Command(name = "lm", mixinStandardHelpOptions = true, subcommands = {LmMain.Train.class, LmMain.Generate.class, LmSpeed.class, LmMain.Plot.class},
        description = "Byte-level language models on Jane Austen's novels (Phalanx hybrids and attention baselines).")
public final class LmMain implements Runnable {

    public static void main(String[] args) {
        int code = run(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    /** Runs the command line; returns the exit code (bad arguments: 2, failures: 1, each with one line on stderr). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new LmMain());
        cl.setParameterExceptionHandler((ex, rest) -> {
            ex.getCommandLine().getErr().println("lm: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (t.getCause() != null && (t.getMessage() == null || t instanceof java.lang.reflect.InvocationTargetException)) {
                t = t.getCause();
            }
            cmd.getErr().println("lm: " + (t instanceof IllegalArgumentException || t instanceof IOException
                    ? t.getMessage() : t.toString()));
            return t instanceof IllegalArgumentException ? 2 : 1;
        });
        return cl.execute(args);
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    static void setThreads(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("--threads must be >= 1 (or 0: ND4J's default); got " + threads);
        }
        if (threads > 0) {
            Nd4j.getEnvironment().setMaxThreads(threads);
            Nd4j.getEnvironment().setMaxMasterThreads(threads);
            Nd4j.factory().blas().setMaxThreads(threads);
        }
    }

    /** Peak resident memory of this process (VmHWM), in MiB; -1 where /proc is unavailable. */
    static double peakRssMiB() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.replaceAll("\\D", "")) / 1024.0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a model; resumes when --out holds a checkpoint. Prints validation/test bpb and a sample.")
    static final class Train implements Callable<Integer> {
        @Option(names = "--model", description = "T (global attention), S (SWA hybrid), P (Phalanx hybrid), R (linear-recurrence hybrid); default ${DEFAULT-VALUE}")
        String model = "P";
        @Option(names = "--seq-len", description = "training sequence length; default ${DEFAULT-VALUE}")
        int seqLen = 256;
        @Option(names = "--batch", description = "sequences per step; default ${DEFAULT-VALUE}")
        int batch = 16;
        @Option(names = "--d-model", description = "width, a multiple of 16; default ${DEFAULT-VALUE}")
        int dModel = 128;
        @Option(names = "--layers", description = "blocks; every fourth is global attention; default ${DEFAULT-VALUE}")
        int layers = 4;
        @Option(names = "--window", description = "sliding-window attention span (S); default ${DEFAULT-VALUE}")
        int window = 64;
        @Option(names = "--steps", description = "training steps in all (default ${DEFAULT-VALUE}; --tokens overrides)")
        long steps = 250;
        @Option(names = "--tokens", description = "training tokens in all (rounded up to whole steps)")
        Long tokens;
        @Option(names = "--lr", description = "Adam learning rate; default ${DEFAULT-VALUE}")
        double lr = 3e-3;
        @Option(names = "--seed", description = "initialisation and batch seed; default ${DEFAULT-VALUE}")
        long seed = 1;
        @Option(names = "--threads", description = "ND4J/BLAS threads (0: ND4J's default); default ${DEFAULT-VALUE}")
        int threads = 0;
        @Option(names = "--eval-every", description = "steps between validation evaluations and checkpoints; default ${DEFAULT-VALUE}")
        int evalEvery = 100;
        @Option(names = "--eval-tokens", description = "validation bytes per evaluation (0: all); default ${DEFAULT-VALUE}")
        int evalTokens = 32768;
        @Option(names = "--final-eval-tokens", description = "bytes of validation and of test text for the final bpb (0: all); default ${DEFAULT-VALUE}")
        int finalEvalTokens = 0;
        @Option(names = "--sample", description = "bytes of text to generate at the end; default ${DEFAULT-VALUE}")
        int sample = 400;
        @Option(names = "--out", description = "run directory (log, plots, checkpoint); default ${DEFAULT-VALUE}")
        Path out = Path.of("runs/lm");
        @Option(names = "--data", description = "corpus directory (default: data/austen of the repository)")
        Path data;
        @Option(names = "--rope", description = "rotary position encoding in the attention blocks (default: none)")
        boolean rope;

        @Override
        public Integer call() throws Exception {
            if (batch < 1 || seqLen < 2 || steps < 1 || evalEvery < 1 || evalTokens < 0 || finalEvalTokens < 0 || layers < 1 || sample < 0) {
                throw new IllegalArgumentException("--batch, --layers, --steps, --eval-every must be >= 1, --seq-len >= 2,"
                        + " --eval-tokens, --final-eval-tokens and --sample >= 0");
            }
            setThreads(threads);
            LmConfig conf = LmConfig.of(LmConfig.pattern(model, layers), dModel, seqLen, window).withRope(rope);
            long totalSteps = tokens != null ? (tokens + (long) batch * seqLen - 1) / ((long) batch * seqLen) : steps;
            AustenCorpus corpus = AustenCorpus.load(data != null ? data : AustenCorpus.findDefault());
            PrintStream o = System.out;
            LmTrainer tr = new LmTrainer(new LmTrainer.Settings(conf, batch, totalSteps, seed, lr, evalEvery, evalTokens, out),
                    corpus, o);
            LmConfig m = tr.model();
            o.printf("model %s (%s): d=%d, %d blocks %s, MLP %d, attention heads %d%s, SWA window %d, %,d parameters%n",
                    model, describe(m), m.dModel(), m.layers(), m.pattern(), m.mlpHidden(), m.attnHeads(),
                    m.rope() ? " (RoPE)" : "", m.window(),
                    CausalLm.parameterCount(tr.graph()));
            o.printf("data: train %,d bytes, validation %,d, test %,d; batch %d x %d bytes, %d steps (%,d tokens)%n",
                    corpus.train.length, corpus.validation.length, corpus.test.length, batch, m.seqLen(), totalSteps,
                    totalSteps * batch * m.seqLen());
            tr.run();
            double val = tr.bitsPerByte(corpus.validation, finalEvalTokens), test = tr.bitsPerByte(corpus.test, finalEvalTokens);
            double h = AustenCorpus.unigramEntropyBits(corpus.validation);
            o.printf("validation %.4f bpb, test %.4f bpb; unigram entropy of the validation text %.4f bits/byte "
                    + "(%.2f bits below it); peak RSS %.0f MiB%n", val, test, h, h - val, peakRssMiB());
            Files.writeString(out.resolve("result.properties"), String.format(java.util.Locale.ROOT,
                    "model=%s%npattern=%s%nparameters=%d%nseq_len=%d%nbatch=%d%ntokens=%d%ntrain_seconds=%.1f%n"
                            + "train_tokens_per_s=%.0f%nval_bpb=%.5f%ntest_bpb=%.5f%nunigram_bits=%.5f%npeak_rss_mib=%.0f%n",
                    model, m.pattern(), CausalLm.parameterCount(tr.graph()), m.seqLen(), batch, tr.step() * tr.tokensPerStep(),
                    tr.seconds(), tr.step() * tr.tokensPerStep() / tr.seconds(), val, test, h, peakRssMiB()));
            if (sample > 0) {
                o.println("sample (temperature 0.8, prompt \"Chapter 1\\n\\n\"):");
                o.println("----");
                Generator.Stats st = Generator.generate(new LmDecoder(tr.graph(), m, sample + 16),
                        "Chapter 1\n\n".getBytes(StandardCharsets.UTF_8), sample, 0.8, seed, o);
                o.println();
                o.println("----");
                o.printf("decode %.0f tokens/s, per-sequence state %,d bytes%n", st.tokensPerSecond(), st.stateBytes());
            }
            return 0;
        }
    }

    static String describe(LmConfig m) {
        String p = m.pattern();
        return p.chars().allMatch(c -> c == 'G') ? "Transformer" : p.indexOf('S') >= 0 ? "SWA hybrid"
                : p.indexOf('P') >= 0 ? "Phalanx hybrid" : p.indexOf('R') >= 0 ? "linear-recurrence hybrid" : "custom";
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Stream text from a checkpoint: Phalanx blocks with their O(1) SWR state, attention with a KV cache.")
    static final class Generate implements Callable<Integer> {
        @Option(names = "--checkpoint", required = true, description = "a train --out directory (or its checkpoint/)")
        Path checkpoint;
        @Option(names = "--prompt", description = "prompt text; default ${DEFAULT-VALUE}")
        String prompt = "Chapter 1\n\n";
        @Option(names = "--tokens", description = "bytes to generate; default ${DEFAULT-VALUE}")
        int tokens = 500;
        @Option(names = "--temperature", description = "sampling temperature (0: greedy); default ${DEFAULT-VALUE}")
        double temperature = 0.8;
        @Option(names = "--seed", description = "sampling seed; default ${DEFAULT-VALUE}")
        long seed = 1;
        @Option(names = "--threads", description = "ND4J/BLAS threads (0: ND4J's default); default ${DEFAULT-VALUE}")
        int threads = 0;

        @Override
        public Integer call() throws Exception {
            if (tokens < 0 || !(temperature >= 0) || prompt.isEmpty()) {
                throw new IllegalArgumentException("--tokens must be >= 0, --temperature >= 0 and --prompt non-empty");
            }
            setThreads(threads);
            if (!Files.isDirectory(checkpoint)) {
                throw new IOException("--checkpoint " + checkpoint + ": no such directory");
            }
            LmTrainer.Loaded l = LmTrainer.load(checkpoint);
            byte[] p = prompt.replace("\\n", "\n").getBytes(StandardCharsets.UTF_8);
            LmDecoder dec = new LmDecoder(l.sd(), l.model(), p.length + tokens);
            System.out.write(p);
            Generator.Stats st = Generator.generate(dec, p, tokens, temperature, seed, System.out);
            System.out.println();
            System.err.printf("%s (%s, step %d): %d tokens at %.0f tokens/s; per-sequence state %,d bytes at context %d%n",
                    l.model().pattern(), describe(l.model()), l.step(), st.tokens(), st.tokensPerSecond(), st.stateBytes(),
                    st.context());
            return 0;
        }
    }

    @Command(name = "plot", mixinStandardHelpOptions = true,
            description = "Plot several runs' loss curves together: label=path/to/log.csv ...")
    static final class Plot implements Callable<Integer> {
        @Option(names = "--out", required = true, description = "directory for the PNG files")
        Path out;
        @Option(names = "--prefix", description = "file name prefix; default none")
        String prefix = "";
        @Option(names = "--speed", split = ",", description = "label=tokens/s: plot time as tokens over this "
                + "training speed (measured on a quiet machine) instead of the logged wall time")
        Map<String, Double> speeds = new LinkedHashMap<>();
        @picocli.CommandLine.Parameters(arity = "1..*", description = "label=log.csv")
        List<String> runs;

        @Override
        public Integer call() throws IOException {
            Map<String, Path> m = new LinkedHashMap<>();
            for (String r : runs) {
                int eq = r.indexOf('=');
                if (eq < 1 || !Files.isReadable(Path.of(r.substring(eq + 1)))) {
                    throw new IllegalArgumentException("expected label=readable/log.csv; got " + r);
                }
                m.put(r.substring(0, eq), Path.of(r.substring(eq + 1)));
            }
            Files.createDirectories(out);
            for (Map.Entry<String, Double> e : speeds.entrySet()) {
                if (!m.containsKey(e.getKey()) || !(e.getValue() > 0)) {
                    throw new IllegalArgumentException("--speed " + e.getKey() + "=" + e.getValue()
                            + ": expected a plotted label and a positive tokens/s");
                }
            }
            LossPlots.write(m, speeds, out, prefix);
            return 0;
        }
    }
}
