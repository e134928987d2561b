package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Streaming (decode) state of SWR for a batch of sequences: O(channels), independent of how many
 * steps were seen (docs/SWR.md, "Streaming state"). Per sequence: {@code h [C]} the local state since
 * the current block's start, {@code P [H]} the prefix product of the decays since then, {@code v [C]}
 * the previous block's terminal local state, and the number of steps seen (which fixes the block
 * phase). About {@code 2C + H} numbers per sequence.
 */
public final class SwrState {

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
