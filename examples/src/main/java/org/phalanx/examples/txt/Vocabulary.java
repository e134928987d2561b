package org.phalanx.examples.txt;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The characters of a text (bytes that occur in it), numbered in byte order: the model's input and output
 * vocabulary. Every split of the corpus is scanned, so no held-out character is unknown to the model.
 */
public final class Vocabulary {

    private final int[] index = new int[256];
    private final byte[] chars;

    /** The distinct bytes of all {@code texts}. */
    public Vocabulary(byte[]... texts) {
        boolean[] seen = new boolean[256];
        for (byte[] t : texts) {
            for (byte b : t) {
                seen[b & 0xff] = true;
            }
        }
        Arrays.fill(index, -1);
        byte[] c = new byte[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (seen[b]) {
                index[b] = n;
                c[n++] = (byte) b;
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("texts: no characters");
        }
        chars = Arrays.copyOf(c, n);
    }

    public int size() {
        return chars.length;
    }

    /** The index of byte {@code b}; an IllegalArgumentException if it is not in the vocabulary. */
    public int index(byte b) {
        int i = index[b & 0xff];
        if (i < 0) {
            throw new IllegalArgumentException("character byte " + (b & 0xff) + " is not in the vocabulary");
        }
        return i;
    }

    public byte character(int i) {
        if (i < 0 || i >= chars.length) {
            throw new IllegalArgumentException("index must be in 0.." + (chars.length - 1) + "; got " + i);
        }
        return chars[i];
    }

    /** Rows of equal length as one-hot {@code [rows, V, length]} (NCW). */
    public INDArray oneHot(byte[]... rows) {
        int v = size(), l = rows[0].length;
        float[] x = new float[rows.length * v * l];
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != l) {
                throw new IllegalArgumentException("rows must have equal lengths: row 0 has " + l + ", row " + i
                        + " has " + rows[i].length);
            }
            for (int t = 0; t < l; t++) {
                x[(i * v + index(rows[i][t])) * l + t] = 1f;
            }
        }
        return Nd4j.create(x, new long[]{rows.length, v, l}, 'c');
    }
}
