package org.phalanx.examples.txt;

import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.phalanx.lm.AustenCorpus;
import org.phalanx.lm.LossPlots;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * DL4J's character-model recipe ({@code GenerateTxtModel} / {@code LSTMCharModellingExample} in dl4j-examples)
 * on Jane Austen: two recurrent layers of 200, an {@code RnnOutputLayer} (MCXENT, softmax), truncated BPTT of
 * 50 forward and backward, minibatches of 32 examples of 1000 characters, Adam, and sampling with
 * {@code rnnTimeStep}. {@code --layer lstm} uses DL4J's {@code LSTM(tanh)}; {@code --layer phalanx} changes only
 * the two layer lines to the recommended replacement (docs/PHALANX_LAYER.md, "Replacing an LSTM").
 *
 * <p>Training runs for a wall-time budget (evaluation and sampling excluded from it); at fixed wall-time
 * checkpoints it writes a CSV row (step, tokens, seconds, train_bpc, val_bpc) with the held-out bits per
 * character on a prefix of the corpus's validation split. See docs/GENERATE_TXT.md.
 */
@Command(name = "generate-txt", mixinStandardHelpOptions = true,
        subcommands = {GenerateTxtModel.Train.class, GenerateTxtModel.Plot.class},
        description = "DL4J's GenerateTxtModel character model on Jane Austen, with LSTM or Phalanx layers.")
public final class GenerateTxtModel implements Runnable {

    private static final Logger log = LoggerFactory.getLogger(GenerateTxtModel.class);
    static final double LN2 = Math.log(2);

    /** The recurrent layer of the recipe: the only lines that differ between the two models. */
    public enum LayerKind {
        lstm, phalanx;

        Layer build(int width) {
            return switch (this) {
                case lstm -> new LSTM.Builder().nOut(width).activation(Activation.TANH).build();
                case phalanx -> new PhalanxLayer.Builder().nOut(width).activation(Activation.TANH).headNorm(true).build();
            };
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new GenerateTxtModel()).execute(args));
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    /** The two-layer character model with truncated BPTT. */
    public static MultiLayerNetwork network(LayerKind layer, int vocab, int width, int tbptt, double lr, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(lr))
                .list()
                .layer(layer.build(width))
                .layer(layer.build(width))
                .layer(new RnnOutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(vocab).build())
                .backpropType(BackpropType.TruncatedBPTT).tBPTTForwardLength(tbptt).tBPTTBackwardLength(tbptt)
                .setInputType(InputType.recurrent(vocab))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /**
     * Held-out bits per character of {@code text} (all but its first character predicted), read as
     * {@code streams} contiguous pieces side by side through {@code rnnTimeStep} in chunks of {@code chunk}
     * steps, so every prediction has all of its piece before it as context. Clears the network's streaming
     * state before and after.
     */
    public static double bitsPerCharacter(MultiLayerNetwork net, Vocabulary vocab, byte[] text, int streams, int chunk) {
        if (streams < 1 || chunk < 1) {
            throw new IllegalArgumentException("streams and chunk must be >= 1; got " + streams + ", " + chunk);
        }
        int per = (text.length - 1) / streams;
        if (per < 1) {
            throw new IllegalArgumentException("text of " + text.length + " characters is too short for " + streams
                    + " streams");
        }
        net.rnnClearPreviousState();
        double nats = 0;
        long n = 0;
        for (int t0 = 0; t0 < per; t0 += chunk) {
            int l = Math.min(chunk, per - t0);
            byte[][] in = new byte[streams][], next = new byte[streams][];
            for (int s = 0; s < streams; s++) {
                int o = s * per + t0;
                in[s] = Arrays.copyOfRange(text, o, o + l);
                next[s] = Arrays.copyOfRange(text, o + 1, o + l + 1);
            }
            INDArray p = net.rnnTimeStep(vocab.oneHot(in));                      // [S, V, l] softmax
            INDArray pTrue = p.mul(vocab.oneHot(next)).sum(1);                  // [S, l]
            nats -= Transforms.log(pTrue.castTo(DataType.DOUBLE), false).sumNumber().doubleValue();
            n += (long) streams * l;
        }
        net.rnnClearPreviousState();
        return nats / n / LN2;
    }

    /**
     * {@code count} samples of {@code length} characters after {@code prime}, drawn from the network's
     * softmax with {@code rnnTimeStep} one character at a time (the prime is fed in one call).
     */
    public static String[] sample(MultiLayerNetwork net, Vocabulary vocab, byte[] prime, int count, int length, Random rng) {
        if (prime.length < 1 || count < 1 || length < 0) {
            throw new IllegalArgumentException("prime must be non-empty, count >= 1, length >= 0; got " + prime.length
                    + ", " + count + ", " + length);
        }
        byte[][] primes = new byte[count][];
        Arrays.fill(primes, prime);
        net.rnnClearPreviousState();
        INDArray out = net.rnnTimeStep(vocab.oneHot(primes));
        INDArray dist = out.get(NDArrayIndex.all(), NDArrayIndex.all(),
                NDArrayIndex.point(prime.length - 1));  // [count, V]
        byte[][] text = new byte[count][length];
        for (int t = 0; t < length; t++) {
            byte[][] step = new byte[count][1];
            double[][] p = dist.castTo(DataType.DOUBLE).toDoubleMatrix();
            for (int s = 0; s < count; s++) {
                step[s][0] = text[s][t] = vocab.character(draw(p[s], rng));
            }
            dist = net.rnnTimeStep(vocab.oneHot(step).reshape(count, vocab.size()));  // one step: [count, V]
        }
        net.rnnClearPreviousState();
        String[] res = new String[count];
        for (int s = 0; s < count; s++) {
            res[s] = new String(prime, StandardCharsets.ISO_8859_1) + new String(text[s], StandardCharsets.ISO_8859_1);
        }
        return res;
    }

    private static int draw(double[] p, Random rng) {
        double u = rng.nextDouble(), c = 0;
        for (int i = 0; i < p.length; i++) {
            c += p[i];
            if (u < c) {
                return i;
            }
        }
        return p.length - 1;                                                    // rounding: the sum is ~1
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train for a wall-time budget; write <out>/<layer>.csv and <out>/<layer>-samples.txt.")
    static final class Train implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = "--layer", required = true, description = "lstm or phalanx")
        LayerKind layer;
        @Option(names = "--width", description = "units per recurrent layer; default ${DEFAULT-VALUE}")
        int width = 200;
        @Option(names = "--tbptt", description = "truncated BPTT length, forward and backward; default ${DEFAULT-VALUE}")
        int tbptt = 50;
        @Option(names = "--batch", description = "examples per minibatch; default ${DEFAULT-VALUE}")
        int batch = 32;
        @Option(names = "--example-length", description = "characters per example; default ${DEFAULT-VALUE}")
        int exampleLength = 1000;
        @Option(names = "--lr", description = "Adam learning rate; default ${DEFAULT-VALUE}")
        double lr = 5e-3;
        @Option(names = "--seconds", description = "training wall-time budget; default ${DEFAULT-VALUE}")
        double seconds = 300;
        @Option(names = "--eval-every", description = "wall seconds between validation checkpoints; default ${DEFAULT-VALUE}")
        double evalEvery = 30;
        @Option(names = "--max-minibatches", description = "stop after this many minibatches too (0: no limit); default ${DEFAULT-VALUE}")
        long maxMinibatches = 0;
        @Option(names = "--val-chars", description = "validation characters evaluated (a prefix of the split); default ${DEFAULT-VALUE}")
        int valChars = 40_000;
        @Option(names = "--val-streams", description = "validation pieces read side by side; default ${DEFAULT-VALUE}")
        int valStreams = 20;
        @Option(names = "--samples", description = "samples drawn at the end; default ${DEFAULT-VALUE}")
        int samples = 3;
        @Option(names = "--sample-length", description = "characters per sample; default ${DEFAULT-VALUE}")
        int sampleLength = 300;
        @Option(names = "--prime", description = "text the samples continue; default \"${DEFAULT-VALUE}\"")
        String prime = "It is a truth ";
        @Option(names = "--seed", description = "default ${DEFAULT-VALUE}")
        long seed = 12345;
        @Option(names = "--corpus", description = "the data/austen directory; default: found from the working directory")
        Path corpus;
        @Option(names = "--out", description = "output directory; default ${DEFAULT-VALUE}")
        Path out = Path.of("target/generate-txt");

        @Override
        public Integer call() throws IOException {
            for (Object[] a : new Object[][]{{"--width", width}, {"--tbptt", tbptt}, {"--batch", batch},
                    {"--example-length", exampleLength}, {"--val-chars", valChars}, {"--val-streams", valStreams},
                    {"--samples", samples}}) {
                if ((Integer) a[1] < 1) {
                    throw new CommandLine.ParameterException(spec.commandLine(), a[0] + " must be >= 1; got " + a[1]);
                }
            }
            if (!(seconds > 0) || !(evalEvery > 0) || !(lr > 0) || maxMinibatches < 0 || prime.isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--seconds, --eval-every and --lr must be > 0, --max-minibatches >= 0, --prime non-empty");
            }
            AustenCorpus c = AustenCorpus.load(corpus != null ? corpus : AustenCorpus.findDefault());
            Vocabulary vocab = new Vocabulary(c.train, c.validation, c.test);
            byte[] val = Arrays.copyOf(c.validation, Math.min(valChars, c.validation.length));
            Random rng = new Random(seed);
            CharacterIterator it = new CharacterIterator(c.train, vocab, batch, exampleLength, rng);
            MultiLayerNetwork net = network(layer, vocab.size(), width, tbptt, lr, seed);
            log.info("{}: {} parameters, vocabulary {}, {} train / {} validation characters ({} evaluated), {} threads (OMP_NUM_THREADS)",
                    layer, net.numParams(), vocab.size(), c.train.length, c.validation.length, val.length,
                    Nd4j.getEnvironment().maxThreads());
            Files.createDirectories(out);
            Path csv = out.resolve(layer + ".csv");
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
                w.println("step,tokens,seconds,train_bpc,val_bpc");
                w.printf(Locale.ROOT, "0,0,0.0,,%.5f%n", bitsPerCharacter(net, vocab, val, valStreams, 200));
                long step = 0, tokens = 0;
                double trained = 0, nextEval = evalEvery, trainBits = 0;
                int since = 0, lastSegment = exampleLength % tbptt == 0 ? tbptt : exampleLength % tbptt;
                while (trained < seconds && (maxMinibatches == 0 || step < maxMinibatches)) {
                    long t0 = System.nanoTime();
                    if (!it.hasNext()) {
                        it.reset();
                    }
                    DataSet ds = it.next();
                    net.fit(ds);
                    trained += (System.nanoTime() - t0) * 1e-9;
                    step++;
                    tokens += ds.getFeatures().size(0) * ds.getFeatures().size(2);
                    trainBits += net.score() / lastSegment / LN2;    // the score sums the last segment's steps
                    since++;
                    boolean last = trained >= seconds || (maxMinibatches > 0 && step >= maxMinibatches);
                    if (trained >= nextEval || last) {
                        double v = bitsPerCharacter(net, vocab, val, valStreams, 200);
                        w.printf(Locale.ROOT, "%d,%d,%.1f,%.5f,%.5f%n", step, tokens, trained, trainBits / since, v);
                        w.flush();
                        log.info("{} step {}: {} s, {} characters, train {} bpc, validation {} bpc", layer, step,
                                String.format(Locale.ROOT, "%.1f", trained), tokens,
                                String.format(Locale.ROOT, "%.3f", trainBits / since), String.format(Locale.ROOT, "%.3f", v));
                        trainBits = 0;
                        since = 0;
                        while (nextEval <= trained) {
                            nextEval += evalEvery;
                        }
                    }
                }
            }
            String[] s = sample(net, vocab, prime.getBytes(StandardCharsets.ISO_8859_1), samples, sampleLength, rng);
            Path samplesFile = out.resolve(layer + "-samples.txt");
            Files.writeString(samplesFile, String.join("\n----\n", s) + "\n", StandardCharsets.ISO_8859_1);
            for (String x : s) {
                log.info("sample:\n{}", x);
            }
            log.info("wrote {} and {}", csv, samplesFile);
            return 0;
        }
    }

    @Command(name = "plot", mixinStandardHelpOptions = true,
            description = "Plot runs' CSVs (label=path) into <out>/<prefix>loss-vs-time.png and loss-vs-tokens.png.")
    static final class Plot implements Callable<Integer> {
        @Parameters(arity = "1..*", description = "label=path/to/run.csv")
        Map<String, Path> runs = new LinkedHashMap<>();
        @Option(names = "--out", description = "default ${DEFAULT-VALUE}")
        Path out = Path.of("docs");
        @Option(names = "--prefix", description = "default ${DEFAULT-VALUE}")
        String prefix = "generate-txt-";

        @Override
        public Integer call() throws IOException {
            Files.createDirectories(out);
            LossPlots.write(runs, out, prefix);
            log.info("wrote {}", out.resolve(prefix + "loss-vs-time.png"));
            return 0;
        }
    }
}
