package org.phalanx.samediff.lm;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The shape of a causal language model built by {@link CausalLm}: vocabulary, width, the pattern of
 * mixing blocks (one letter per block, see {@link Mixer}), sequence length, MLP width, attention heads,
 * the sliding window, whether the output head is tied to the embedding and whether attention rotates queries
 * and keys by position (RoPE; off: no positional encoding at all). Immutable; checked on creation.
 *
 * <p>The four models of docs/RESULTS.md share everything but the pattern: T = "GGGG", S = "SSSG",
 * P = "PPPG", R = "RRRG" (for four blocks; {@link #pattern(String, int)} repeats the motif for other depths).
 */
public record LmConfig(int vocab, int dModel, String pattern, int seqLen, int mlpHidden, int attnHeads,
                       int window, boolean tiedHead, boolean rope) {

    /** The mixing block in one position of the pattern. */
    public enum Mixer {
        /** Global causal attention. */
        G,
        /** Sliding-window causal attention (the last {@code window} positions, this one included). */
        S,
        /** Phalanx (SWR, block 16, window 2 blocks: 17..32 steps). */
        P,
        /** Phalanx with an unbounded window: the plain gated linear recurrence (see {@link CausalLm#UNBOUNDED_BLOCK}). */
        R;

        public boolean isAttention() {
            return this == G || this == S;
        }
    }

    public LmConfig {
        if (vocab < 2) {
            throw new IllegalArgumentException("LmConfig: vocab must be >= 2; got " + vocab);
        }
        if (dModel < 16 || dModel % 16 != 0) {
            throw new IllegalArgumentException("LmConfig: dModel must be a positive multiple of 16 (Phalanx heads of 16); got " + dModel);
        }
        if (pattern == null || pattern.isEmpty() || !pattern.chars().allMatch(ch -> "GSPR".indexOf(ch) >= 0)) {
            throw new IllegalArgumentException("LmConfig: pattern must be a non-empty string of G, S, P, R; got " + pattern);
        }
        if (seqLen < 1) {
            throw new IllegalArgumentException("LmConfig: seqLen must be >= 1; got " + seqLen);
        }
        if (mlpHidden < 1) {
            throw new IllegalArgumentException("LmConfig: mlpHidden must be >= 1; got " + mlpHidden);
        }
        if (attnHeads < 1 || dModel % attnHeads != 0) {
            throw new IllegalArgumentException("LmConfig: attnHeads must divide dModel = " + dModel + "; got " + attnHeads);
        }
        if (window < 1) {
            throw new IllegalArgumentException("LmConfig: window must be >= 1; got " + window);
        }
    }

    /** Without rotary position encoding (the configurations of the first version). */
    public LmConfig(int vocab, int dModel, String pattern, int seqLen, int mlpHidden, int attnHeads, int window,
                    boolean tiedHead) {
        this(vocab, dModel, pattern, seqLen, mlpHidden, attnHeads, window, tiedHead, false);
    }

    /** Defaults around a pattern: bytes, MLP 4 d, heads of 32 channels (at least one), window 64, tied head. */
    public static LmConfig of(String pattern, int dModel, int seqLen) {
        return of(pattern, dModel, seqLen, 64);
    }

    /** As {@link #of(String, int, int)} with a sliding window of {@code window} positions. */
    public static LmConfig of(String pattern, int dModel, int seqLen, int window) {
        return new LmConfig(256, dModel, pattern, seqLen, 4 * dModel, Math.max(1, dModel / 32), window, true);
    }

    /**
     * The pattern of a named model at a depth: "T" all global; "S", "P", "R" put S, P or R blocks
     * everywhere but every fourth block (counting from 1), which is global attention.
     */
    public static String pattern(String model, int layers) {
        if (layers < 1) {
            throw new IllegalArgumentException("layers must be >= 1; got " + layers);
        }
        char local = switch (model) {
            case "T" -> 'G';
            case "S" -> 'S';
            case "P" -> 'P';
            case "R" -> 'R';
            default -> throw new IllegalArgumentException("unknown model " + model + ": expected T, S, P or R");
        };
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= layers; i++) {
            b.append(i % 4 == 0 ? 'G' : local);
        }
        return b.toString();
    }

    public Mixer mixer(int block) {
        return Mixer.valueOf(String.valueOf(pattern.charAt(block)));
    }

    public int layers() {
        return pattern.length();
    }

    public LmConfig withSeqLen(int newSeqLen) {
        return new LmConfig(vocab, dModel, pattern, newSeqLen, mlpHidden, attnHeads, window, tiedHead, rope);
    }

    public LmConfig withRope(boolean newRope) {
        return new LmConfig(vocab, dModel, pattern, seqLen, mlpHidden, attnHeads, window, tiedHead, newRope);
    }

    /** As properties (for checkpoints). */
    public Properties toProperties() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("vocab", vocab);
        m.put("dModel", dModel);
        m.put("pattern", pattern);
        m.put("seqLen", seqLen);
        m.put("mlpHidden", mlpHidden);
        m.put("attnHeads", attnHeads);
        m.put("window", window);
        m.put("tiedHead", tiedHead);
        m.put("rope", rope);
        Properties p = new Properties();
        m.forEach((k, v) -> p.setProperty(k, String.valueOf(v)));
        return p;
    }

    public static LmConfig fromProperties(Properties p) {
        try {
            return new LmConfig(Integer.parseInt(p.getProperty("vocab")), Integer.parseInt(p.getProperty("dModel")),
                    p.getProperty("pattern"), Integer.parseInt(p.getProperty("seqLen")),
                    Integer.parseInt(p.getProperty("mlpHidden")), Integer.parseInt(p.getProperty("attnHeads")),
                    Integer.parseInt(p.getProperty("window")), Boolean.parseBoolean(p.getProperty("tiedHead")),
                    Boolean.parseBoolean(p.getProperty("rope", "false")));      // absent in checkpoints of 0.1.0
        } catch (NumberFormatException | NullPointerException e) {
            throw new IllegalArgumentException("LmConfig: incomplete or malformed properties " + p, e);
        }
    }
}
