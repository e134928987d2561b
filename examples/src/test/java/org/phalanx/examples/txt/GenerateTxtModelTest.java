package org.phalanx.examples.txt;

import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.phalanx.examples.txt.GenerateTxtModel.LayerKind;
import org.phalanx.lm.AustenCorpus;
import picocli.CommandLine;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * The GenerateTxtModel port in a tiny configuration (seconds): both layers train with truncated BPTT on the
 * Austen corpus and learn, the held-out bits per character read through {@code rnnTimeStep} equal a float64
 * computation from one full pass, and sampling continues the prime with characters of the vocabulary.
 */
class GenerateTxtModelTest {

    static final byte[] TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good "
            + "fortune, must be in want of a wife.\n").repeat(4).getBytes(StandardCharsets.ISO_8859_1);

    @ParameterizedTest
    @EnumSource(LayerKind.class)
    void trainsWithTbpttOnAustenWritesCsvAndSamples(LayerKind layer, @TempDir Path out) throws Exception {
        int rc = new CommandLine(new GenerateTxtModel()).execute("train", "--layer", layer.name(), "--width", "24",
                "--batch", "8", "--example-length", "37", "--tbptt", "15", "--lr", "0.02", "--max-minibatches", "25",
                "--eval-every", "1e9", "--val-chars", "1500", "--val-streams", "5", "--samples", "2",
                "--sample-length", "17", "--out", out.toString());
        assertEquals(0, rc);
        List<String> csv = Files.readAllLines(out.resolve(layer + ".csv"));
        assertEquals("step,tokens,seconds,train_bpc,val_bpc", csv.get(0));
        assertEquals(3, csv.size(), "header, the untrained evaluation and the final one: " + csv);
        String[] first = csv.get(1).split(",", -1), last = csv.get(2).split(",", -1);
        assertEquals("25", last[0]);
        assertEquals(25L * 8 * 37, Long.parseLong(last[1]));
        double v0 = Double.parseDouble(first[4]), v1 = Double.parseDouble(last[4]), train = Double.parseDouble(last[3]);
        double uniform = Math.log(vocab().size()) / Math.log(2);
        assertEquals(uniform, v0, 0.5, "untrained: about uniform over the vocabulary");
        assertTrue(v1 < uniform - 1.2, "after 25 minibatches validation bpc " + v1 + " (uniform " + uniform + ")");
        assertTrue(train > 0 && train < uniform - 1.2, "train bpc " + train);
        assertEquals(v1, train, 1.0, "train bpc per character, as validation (DL4J's score sums a segment's steps)");
        String samples = Files.readString(out.resolve(layer + "-samples.txt"), StandardCharsets.ISO_8859_1);
        assertTrue(samples.startsWith("It is a truth "), samples);
    }

    @Test
    void theRecipeUsesTruncatedBptt() {
        for (LayerKind k : LayerKind.values()) {
            MultiLayerNetwork net = GenerateTxtModel.network(k, 7, 5, 13, 1e-3, 1);
            assertEquals(BackpropType.TruncatedBPTT, net.getLayerWiseConfigurations().getBackpropType());
            assertEquals(13, net.getLayerWiseConfigurations().getTbpttFwdLength());
            assertEquals(13, net.getLayerWiseConfigurations().getTbpttBackLength());
        }
    }

    @ParameterizedTest
    @EnumSource(LayerKind.class)
    void streamedBitsPerCharacterEqualAFullPassInFloat64(LayerKind layer) {
        Vocabulary v = new Vocabulary(TEXT);
        MultiLayerNetwork net = GenerateTxtModel.network(layer, v.size(), 20, 16, 1e-3, 7);
        // Train a little so the prediction is not near uniform.
        CharacterIterator it = new CharacterIterator(TEXT, v, 4, 33, new Random(3));
        for (int i = 0; i < 5; i++) {
            if (!it.hasNext()) it.reset();
            net.fit(it.next());
        }
        int streams = 3, per = (TEXT.length - 1) / streams;
        double nats = 0;
        for (int s = 0; s < streams; s++) {
            byte[] in = Arrays.copyOfRange(TEXT, s * per, s * per + per);
            INDArray p = net.output(v.oneHot(in));                               // one full pass, fresh state
            for (int t = 0; t < per; t++) {
                nats -= Math.log(p.getDouble(0, v.index(TEXT[s * per + t + 1]), t));
            }
        }
        double expected = nats / (streams * per) / Math.log(2);
        for (int chunk : new int[]{1, 15, 16, 17, 1000}) {
            assertEquals(expected, GenerateTxtModel.bitsPerCharacter(net, v, TEXT, streams, chunk), 1e-4,
                    "chunk " + chunk);
        }
        assertThrows(IllegalArgumentException.class, () -> GenerateTxtModel.bitsPerCharacter(net, v, TEXT, 0, 5));
    }

    @Test
    void samplesContinueThePrimeWithVocabularyCharacters() {
        Vocabulary v = new Vocabulary(TEXT);
        Set<Character> chars = new HashSet<>();
        for (byte b : TEXT) chars.add((char) (b & 0xff));
        for (LayerKind k : LayerKind.values()) {
            MultiLayerNetwork net = GenerateTxtModel.network(k, v.size(), 16, 10, 1e-3, 5);
            String[] s = GenerateTxtModel.sample(net, v, "It is".getBytes(StandardCharsets.ISO_8859_1), 3, 1, new Random(1));
            String[] l = GenerateTxtModel.sample(net, v, "a".getBytes(StandardCharsets.ISO_8859_1), 2, 40, new Random(1));
            assertEquals(3, s.length);
            assertEquals(2, l.length);
            for (String x : s) assertTrue(x.startsWith("It is") && x.length() == 6, x);
            for (String x : l) {
                assertTrue(x.startsWith("a") && x.length() == 41, x);
                for (char c : x.toCharArray()) assertTrue(chars.contains(c), "'" + c + "' in " + x);
            }
            assertThrows(IllegalArgumentException.class, () -> GenerateTxtModel.sample(net, v, new byte[0], 1, 1, new Random()));
        }
    }

    @Test
    void iteratorLabelsAreTheNextCharacterAndAnEpochCoversEveryExampleOnce() {
        Vocabulary v = new Vocabulary(TEXT);
        int l = 17;
        CharacterIterator it = new CharacterIterator(TEXT, v, 5, l, new Random(2));
        List<String> got = new ArrayList<>(), expected = new ArrayList<>();
        while (it.hasNext()) {
            DataSet ds = it.next();
            INDArray x = ds.getFeatures(), y = ds.getLabels();
            assertArrayEquals(new long[]{x.size(0), v.size(), l}, x.shape());
            for (int i = 0; i < x.size(0); i++) {
                byte[] in = new byte[l + 1];
                for (int t = 0; t < l; t++) {
                    INDArray xt = x.get(point(i), all(), point(t)), yt = y.get(point(i), all(), point(t));
                    assertEquals(1.0, xt.sumNumber().doubleValue(), 0);
                    assertEquals(1.0, yt.sumNumber().doubleValue(), 0);
                    in[t] = v.character(xt.argMax().getInt(0));
                    in[t + 1] = v.character(yt.argMax().getInt(0));
                }
                got.add(new String(in, StandardCharsets.ISO_8859_1));
            }
        }
        for (int s = 0; s + l < TEXT.length; s += l) {
            expected.add(new String(TEXT, s, l + 1, StandardCharsets.ISO_8859_1));
        }
        int rows = got.size();
        Collections.sort(got);
        Collections.sort(expected);
        assertEquals(expected, got);
        assertEquals(rows, it.examples());
        assertThrows(IllegalArgumentException.class, () -> new CharacterIterator(TEXT, v, 0, 5, new Random()));
        assertThrows(IllegalArgumentException.class, () -> new CharacterIterator(TEXT, v, 1, TEXT.length, new Random()));
        assertThrows(IllegalArgumentException.class, () -> new Vocabulary(TEXT).index((byte) '#'));
    }

    @Test
    void badArgumentsAreRefusedByName(@TempDir Path out) {
        CommandLine cl = new CommandLine(new GenerateTxtModel());
        assertNotEquals(0, cl.execute("train", "--layer", "gru", "--out", out.toString()));
        assertNotEquals(0, cl.execute("train", "--layer", "lstm", "--width", "0", "--out", out.toString()));
    }

    private static Vocabulary vocab() throws Exception {
        AustenCorpus c = AustenCorpus.load(AustenCorpus.findDefault());
        return new Vocabulary(c.train, c.validation, c.test);
    }
}
