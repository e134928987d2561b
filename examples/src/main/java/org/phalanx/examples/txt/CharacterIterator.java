package org.phalanx.examples.txt;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * Minibatches of one-hot character sequences for next-character prediction, as DL4J's character examples
 * feed them: the text is cut into non-overlapping examples of {@code exampleLength + 1} characters whose start
 * offsets are shuffled each epoch; features {@code [B, V, L]} (NCW) hold characters {@code 0..L-1} of an
 * example, labels the characters {@code 1..L}. The last minibatch of an epoch may be smaller.
 */
public final class CharacterIterator implements DataSetIterator {

    private final byte[] text;
    private final Vocabulary vocab;
    private final int batch, exampleLength;
    private final Random rng;
    private final List<Integer> starts = new ArrayList<>();
    private int cursor;

    /**
     * @param text          the characters (bytes); not modified
     * @param vocab         maps every byte of {@code text} to its index
     * @param batch         examples per minibatch, {@code >= 1}
     * @param exampleLength steps per example, {@code >= 1} and at most {@code text.length - 1}
     * @param rng           shuffles the example order
     */
    public CharacterIterator(byte[] text, Vocabulary vocab, int batch, int exampleLength, Random rng) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1; got " + batch);
        }
        if (exampleLength < 1 || exampleLength >= text.length) {
            throw new IllegalArgumentException("exampleLength must be in 1.." + (text.length - 1)
                    + " (the text has " + text.length + " characters); got " + exampleLength);
        }
        this.text = text;
        this.vocab = vocab;
        this.batch = batch;
        this.exampleLength = exampleLength;
        this.rng = rng;
        for (int s = 0; s + exampleLength < text.length; s += exampleLength) {
            starts.add(s);
        }
        reset();
    }

    /** Examples per epoch. */
    public int examples() {
        return starts.size();
    }

    @Override
    public boolean hasNext() {
        return cursor < starts.size();
    }

    @Override
    public DataSet next() {
        return next(batch);
    }

    @Override
    public DataSet next(int num) {
        if (!hasNext()) {
            throw new NoSuchElementException("epoch exhausted: call reset()");
        }
        int b = Math.min(num, starts.size() - cursor);
        byte[][] in = new byte[b][], next = new byte[b][];
        for (int i = 0; i < b; i++) {
            int s = starts.get(cursor++);
            in[i] = Arrays.copyOfRange(text, s, s + exampleLength);
            next[i] = Arrays.copyOfRange(text, s + 1, s + exampleLength + 1);
        }
        return new DataSet(vocab.oneHot(in), vocab.oneHot(next));
    }

    @Override
    public void reset() {
        Collections.shuffle(starts, rng);
        cursor = 0;
    }

    @Override
    public int inputColumns() {
        return vocab.size();
    }

    @Override
    public int totalOutcomes() {
        return vocab.size();
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return true;
    }

    @Override
    public int batch() {
        return batch;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        throw new UnsupportedOperationException("CharacterIterator takes no preprocessor");
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return null;
    }

    @Override
    public List<String> getLabels() {
        return null;
    }
}
