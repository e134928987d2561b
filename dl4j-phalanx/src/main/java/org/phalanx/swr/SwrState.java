package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Streaming (decode) state of SWR for a batch of sequences: O(channels), independent of how many
 * steps were seen (docs/SWR.md, "Streaming state"). Per sequence: {@code h [C]} the local state since
 * the current block's start, {@code P [H]} the prefix product of the decays since then, {@code v [C]}
 * the previous block's terminal local state, and the number of steps seen (which fixes the block
 * phase). About {@code 2C + H} numbers per sequence.
 */
public final class SwrState {

    /** Keys of {@link #toMap(String)}, after the prefix. */
    public static final String H = "h", P = "P", V = "v", POSITION = "position";

    final INDArray h;
    final INDArray p;
    final INDArray v;
    long position;

    private SwrState(INDArray h, INDArray p, INDArray v) {
        this.h = h;
        this.p = p;
        this.v = v;
    }

    /** A fresh state (position 0) for {@code batch} sequences of {@code heads} heads. */
    public static SwrState create(DataType dataType, long batch, long heads) {
        if (batch < 1 || heads < 1) {
            throw new IllegalArgumentException("SwrState.create: batch and heads must be >= 1; got batch="
                    + batch + ", heads=" + heads);
        }
        if (!dataType.isFPType()) {
            throw new IllegalArgumentException("SwrState.create: dataType must be floating point; got " + dataType);
        }
        // Allocated outside any workspace: the state outlives the calls that use it.
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            long c = Swr.HEAD * heads;
            return new SwrState(Nd4j.zeros(dataType, batch, c), Nd4j.ones(dataType, batch, heads),
                    Nd4j.zeros(dataType, batch, c));
        }
    }

    /** Steps seen so far. */
    public long position() {
        return position;
    }

    /** Back to a fresh sequence (the next call starts at position 0, block phase 0). */
    public void reset() {
        position = 0;
        h.assign(0);
        p.assign(1);
        v.assign(0);
    }

    public long batch() {
        return h.size(0);
    }

    public long heads() {
        return p.size(1);
    }

    public DataType dataType() {
        return h.dataType();
    }

    /** A deep copy (e.g. to branch a decode). */
    public SwrState copy() {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            SwrState s = new SwrState(h.dup('c'), p.dup('c'), v.dup('c'));
            s.position = position;
            return s;
        }
    }

    /**
     * Copies of the state's arrays and position, in the form DL4J's {@code rnnGetPreviousState()} uses:
     * {@code prefix + "h"} [B, C], {@code prefix + "P"} [B, H], {@code prefix + "v"} [B, C] and
     * {@code prefix + "position"} (a scalar: steps seen, which fixes the block phase). Outside any workspace.
     */
    public Map<String, INDArray> toMap(String prefix) {
        Map<String, INDArray> m = new HashMap<>();
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            m.put(prefix + H, h.dup('c'));
            m.put(prefix + P, p.dup('c'));
            m.put(prefix + V, v.dup('c'));
            m.put(prefix + POSITION, Nd4j.scalar(position));
        }
        return m;
    }

    /** Whether the map holds a state written by {@link #toMap(String)} with this prefix. */
    public static boolean isIn(Map<String, INDArray> m, String prefix) {
        return m != null && m.containsKey(prefix + H) && m.containsKey(prefix + P) && m.containsKey(prefix + V)
                && m.containsKey(prefix + POSITION);
    }

    /** A new state holding copies of the map's arrays (see {@link #toMap(String)}); checks shapes against {@code heads}. */
    public static SwrState fromMap(Map<String, INDArray> m, String prefix, long heads) {
        if (!isIn(m, prefix)) {
            throw new IllegalArgumentException("SwrState.fromMap: the map must hold " + prefix + H + ", " + prefix + P
                    + ", " + prefix + V + " and " + prefix + POSITION + "; got keys " + (m == null ? "none" : m.keySet()));
        }
        INDArray h = m.get(prefix + H), p = m.get(prefix + P), v = m.get(prefix + V);
        long b = h.rank() == 2 ? h.size(0) : -1, c = Swr.HEAD * heads;
        if (h.rank() != 2 || h.size(1) != c || p.rank() != 2 || p.size(0) != b || p.size(1) != heads
                || v.rank() != 2 || v.size(0) != b || v.size(1) != c) {
            throw new IllegalArgumentException("SwrState.fromMap: expected " + prefix + "h, v [B, " + c + "] and "
                    + prefix + "P [B, " + heads + "]; got h " + Arrays.toString(h.shape()) + ", P "
                    + Arrays.toString(p.shape()) + ", v " + Arrays.toString(v.shape()));
        }
        SwrState s = create(h.dataType(), b, heads);
        s.h.assign(h);
        s.p.assign(p.castTo(h.dataType()));
        s.v.assign(v.castTo(h.dataType()));
        s.position = m.get(prefix + POSITION).getLong(0);
        return s;
    }

    void checkCompatible(INDArray a) {
        if (a.size(0) != batch() || a.size(1) != heads() || a.dataType() != dataType()) {
            throw new IllegalArgumentException("Swr.forward: state holds " + batch() + " sequences of " + heads()
                    + " heads of type " + dataType() + "; a has shape " + Arrays.toString(a.shape())
                    + " and type " + a.dataType() + " (expected [" + batch() + ", " + heads() + ", L])");
        }
    }

    @Override
    public String toString() {
        return "SwrState{batch=" + batch() + ", heads=" + heads() + ", type=" + dataType() + ", position=" + position + "}";
    }
}
