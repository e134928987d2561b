package org.phalanx.lm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.samediff.lm.LmConfig;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LmProgramTest {

    static AustenCorpus corpus() throws IOException {
        return AustenCorpus.load(AustenCorpus.findDefault());
    }

    /** The shipped texts match SHA256SUMS; sizes and character set are those of data/README.md. */
    @Test
    void corpusHashesAndSplits() throws IOException {
        Map<String, byte[]> texts = AustenCorpus.texts(AustenCorpus.findDefault());
        long total = texts.values().stream().mapToLong(b -> b.length).sum();
        assertEquals(4_025_029, total);
        String all = new String(texts.values().stream().reduce(new byte[0], LmProgramTest::concat), StandardCharsets.UTF_8);
        assertEquals(81, all.chars().distinct().count());
        AustenCorpus c = corpus();
        assertEquals(3_558_175, c.train.length);
        assertEquals(texts.get("persuasion").length, c.validation.length + c.test.length);
        assertEquals('\n', c.validation[c.validation.length - 1]);
        double h = AustenCorpus.unigramEntropyBits(c.validation);
        assertTrue(h > 4 && h < 5, "unigram entropy " + h);
    }

    /** A corpus whose text does not match its hash is refused, naming the file. */
    @Test
    void corruptedCorpusIsRefused(@TempDir Path dir) throws IOException {
        Path src = AustenCorpus.findDefault();
        try (var files = Files.list(src)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        byte[] emma;
        try (var in = new GZIPInputStream(Files.newInputStream(dir.resolve("emma.txt.gz")))) {
            emma = in.readAllBytes();
        }
        emma[1000] ^= 1;
        try (var out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("emma.txt.gz")))) {
            out.write(emma);
        }
        IOException e = assertThrows(IOException.class, () -> AustenCorpus.load(dir));
        assertTrue(e.getMessage().contains("emma.txt"), e.getMessage());
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static LmTrainer.Settings tiny(Path out, long steps) {
        return new LmTrainer.Settings(new LmConfig(256, 32, "PSPG", 24, 64, 2, 8, true), 2, steps, 5, 3e-3, 2, 96, out);
    }

    /** Training 3 steps, checkpointing, and resuming to 5 gives the weights of an unbroken 5-step run. */
    @Test
    void resumeContinuesExactly(@TempDir Path dir) throws IOException {
        AustenCorpus c = corpus();
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        LmTrainer straight = new LmTrainer(tiny(dir.resolve("a"), 5), c, quiet);
        straight.run();
        LmTrainer first = new LmTrainer(tiny(dir.resolve("b"), 3), c, quiet);
        first.run();
        LmTrainer resumed = new LmTrainer(tiny(dir.resolve("b"), 5), c, quiet);
        assertEquals(3, resumed.step());
        resumed.run();
        int compared = 0;
        for (SDVariable v : straight.graph().variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) {
                INDArray a = v.getArr(), b = resumed.graph().getVariable(v.name()).getArr();
                assertEquals(0, a.sub(b).amaxNumber().doubleValue(), 1e-5, v.name());
                compared++;
            }
        }
        assertTrue(compared > 20);
        // the 3-step weights differ from the 5-step ones: resuming did train
        LmTrainer.Loaded three = LmTrainer.load(dir.resolve("b"));
        assertEquals(5, three.step());
        assertTrue(Files.readString(dir.resolve("b").resolve(LmTrainer.LOG)).lines().count() >= 4);
        assertTrue(Files.size(dir.resolve("b").resolve("loss-vs-tokens.png")) > 1000);
    }

    /** The command line: train, then generate from its checkpoint; bad arguments give one line and a non-zero exit. */
    @Test
    void commandLine(@TempDir Path dir) {
        Path out = dir.resolve("run");
        String[] train = {"train", "--model", "R", "--d-model", "32", "--layers", "4", "--seq-len", "16", "--batch", "2",
                "--steps", "2", "--eval-every", "2", "--eval-tokens", "64", "--final-eval-tokens", "64", "--sample", "8",
                "--out", out.toString()};
        assertEquals(0, LmMain.run(train));
        assertEquals(0, LmMain.run("generate", "--checkpoint", out.toString(), "--tokens", "12", "--prompt", "It is"));
        assertBad(2, "unknown model", "train", "--model", "X", "--out", dir.resolve("x").toString());
        assertBad(2, "multiple of 16", "train", "--d-model", "40", "--out", dir.resolve("y").toString());
        assertBad(1, "no such directory", "generate", "--checkpoint", dir.resolve("none").toString());
        assertBad(1, "SHA256SUMS", "train", "--data", dir.toString(), "--out", dir.resolve("z").toString());
        assertBad(2, "--steps", "train", "--steps", "zero");
    }

    private static void assertBad(int code, String expected, String... args) {
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int got;
        try {
            got = LmMain.run(args);
        } finally {
            System.setErr(err);
        }
        String msg = buf.toString(StandardCharsets.UTF_8);
        assertTrue(got == code, "exit " + got + " for " + String.join(" ", args) + ": " + msg);
        assertTrue(msg.contains(expected), "message for " + String.join(" ", args) + ": " + msg);
        assertTrue(!msg.contains("\tat "), "a stack trace: " + msg);
    }
}
