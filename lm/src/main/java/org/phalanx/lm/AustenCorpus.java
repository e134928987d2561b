package org.phalanx.lm;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Jane Austen's six novels (data/austen, see data/README.md) as bytes, split for language modelling:
 * train = the five novels other than Persuasion; validation / test = the first / second half of
 * Persuasion, cut at the line break nearest its middle. Tokens are bytes (vocabulary 256).
 */
public final class AustenCorpus {

    public static final List<String> TRAIN = List.of("emma", "mansfieldpark", "northangerabbey", "prideprejudice",
            "sensesensibility");
    public static final String HELD_OUT = "persuasion";
    /** Where the corpus sits, relative to the repository root. */
    public static final String DEFAULT_DIR = "data/austen";

    public final byte[] train, validation, test;

    private AustenCorpus(byte[] train, byte[] validation, byte[] test) {
        this.train = train;
        this.validation = validation;
        this.test = test;
    }

    /** Loads the corpus from {@code dir}; checks every text against {@code SHA256SUMS}. */
    public static AustenCorpus load(Path dir) throws IOException {
        Map<String, byte[]> texts = texts(dir);
        ByteArrayOutputStream tr = new ByteArrayOutputStream();
        for (String n : TRAIN) {
            tr.writeBytes(texts.get(n));
        }
        byte[] p = texts.get(HELD_OUT);
        int mid = p.length / 2, cut = mid;
        for (int off = 0; off < mid; off++) {                        // nearest '\n' to the middle
            if (p[mid + off] == '\n') {
                cut = mid + off + 1;
                break;
            }
            if (p[mid - off] == '\n') {
                cut = mid - off + 1;
                break;
            }
        }
        return new AustenCorpus(tr.toByteArray(), java.util.Arrays.copyOfRange(p, 0, cut),
                java.util.Arrays.copyOfRange(p, cut, p.length));
    }

    /** The default directory: {@value #DEFAULT_DIR} under the working directory or one of its parents. */
    public static Path findDefault() {
        Path d = Path.of("").toAbsolutePath();
        for (Path p = d; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve(DEFAULT_DIR))) {
                return p.resolve(DEFAULT_DIR);
            }
        }
        return d.resolve(DEFAULT_DIR);
    }

    /** Novel name -> its text, each verified against {@code SHA256SUMS} (an IOException names any mismatch). */
    public static Map<String, byte[]> texts(Path dir) throws IOException {
        Path sums = dir.resolve("SHA256SUMS");
        if (!Files.isReadable(sums)) {
            throw new IOException("corpus: " + sums + " not found or unreadable (expected the repository's data/austen)");
        }
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(sums, StandardCharsets.UTF_8)) {
            String[] f = line.trim().split("\\s+");
            if (f.length != 2) {
                continue;
            }
            String name = f[1].replaceFirst("\\.txt$", "");
            byte[] text;
            try (InputStream in = new GZIPInputStream(Files.newInputStream(dir.resolve(f[1] + ".gz")))) {
                text = in.readAllBytes();
            }
            String got = sha256(text);
            if (!got.equals(f[0])) {
                throw new IOException("corpus: " + f[1] + " has SHA-256 " + got + ", expected " + f[0]);
            }
            out.put(name, text);
        }
        for (String n : TRAIN) {
            if (!out.containsKey(n)) {
                throw new IOException("corpus: " + dir + " lacks " + n);
            }
        }
        if (!out.containsKey(HELD_OUT)) {
            throw new IOException("corpus: " + dir + " lacks " + HELD_OUT);
        }
        return out;
    }

    public static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new UncheckedIOException(new IOException(e));
        }
    }

    /** Entropy of the byte distribution of {@code text} itself, in bits per byte. */
    public static double unigramEntropyBits(byte[] text) {
        long[] n = new long[256];
        for (byte b : text) {
            n[b & 0xff]++;
        }
        double h = 0;
        for (long c : n) {
            if (c > 0) {
                double p = c / (double) text.length;
                h -= p * Math.log(p) / Math.log(2);
            }
        }
        return h;
    }
}
