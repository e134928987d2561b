package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Streaming (decode) state of SWR for a batch of sequences, for one block size and window
 * (docs/SWR.md, "Streaming state"). Per sequence: {@code h [C]} the local state since the current
 * block's start, {@code P [H]} the prefix product of the decays since then, {@code v [C]} the carry
 * into the current block (for {@code k = 2} the previous block's terminal local state; for the
 * unbounded window the recurrence's value at the end of the previous block; unused for
 * {@code k = 1}), and the number of steps seen (which fixes the block phase). A finite window
 * {@code k >= 3} adds a ring of the last {@code k - 2} finished blocks' terminal local states
 * {@code vRing [B, k-2, C]} and block products {@code aRing [B, k-2, H]}. So {@code 2C + H} numbers
 * per sequence for {@code k <= 2} and {@link Swr#UNBOUNDED}, plus {@code (k - 2)(C + H)} for a finite
 * {@code k >= 3}.
 *
 * <p>The state records its block size and window at creation or on first use, and refuses a call
 * with another one (its numbers would mean something else).
 */
public final class SwrState {

    /** Keys of {@link #toMap(String)}, after the prefix. */
    public static final String H = "h", P = "P", V = "v", POSITION = "position", BLOCK = "block", WINDOW = "window",
            V_RING = "vRing", A_RING = "aRing";

    /** The largest ring a streaming state allocates, in numbers (a finite window beyond it: use UNBOUNDED). */
    static final long MAX_RING_ELEMENTS = 1L << 28;

    final INDArray h;
    final INDArray p;
    final INDArray v;
    /** Only for a finite window k >= 3 (null otherwise, and until the window is known). */
    INDArray vRing, aRing;
    long position;
    /** 0: not fixed yet (the first call fixes it). */
    int blockSize, window;
    /** Loaded from a map of the previous version (h, P, v, position: no block, window or ring). */
    private boolean fromOldMap;

    private SwrState(INDArray h, INDArray p, INDArray v) {
        this.h = h;
        this.p = p;
        this.v = v;
    }

    /** A fresh state (position 0) for {@code batch} sequences of {@code heads} heads; block and window fixed by the first call. */
    public static SwrState create(DataType dataType, long batch, long heads) {
        if (dataType == null || !dataType.isFPType()) {
            throw new IllegalArgumentException("SwrState.create: dataType must be floating point; got " + dataType);
        }
        if (batch < 1 || heads < 1) {
            throw new IllegalArgumentException("SwrState.create: batch and heads must be >= 1; got batch="
                    + batch + ", heads=" + heads);
        }
        // Allocated outside any workspace: the state outlives the calls that use it.
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            long c = Swr.HEAD * heads;
            return new SwrState(Nd4j.zeros(dataType, batch, c), Nd4j.ones(dataType, batch, heads),
                    Nd4j.zeros(dataType, batch, c));
        }
    }

    /** A fresh state for this block size and window ({@code k >= 1} or {@link Swr#UNBOUNDED}). */
    public static SwrState create(DataType dataType, long batch, long heads, int blockSize, int k) {
        SwrState s = create(dataType, batch, heads);
        s.bind("SwrState.create", blockSize, k);
        return s;
    }

    /**
     * Fixes the block size and window on first use (allocating the ring a finite {@code k >= 3} needs);
     * afterwards refuses any other.
     */
    void bind(String where, int blockSize, int k) {
        if (blockSize < 1) {
            throw new IllegalArgumentException(where + ": blockSize must be >= 1; got " + blockSize);
        }
        if (k < 1) {
            throw new IllegalArgumentException(where + ": k (window in blocks) must be >= 1 or Swr.UNBOUNDED; got " + k);
        }
        if (this.blockSize != 0) {
            if (blockSize != this.blockSize || k != window) {
                throw new IllegalArgumentException(where + ": this state streams with blockSize " + this.blockSize
                        + " and window k = " + windowName(window) + "; got blockSize " + blockSize + ", k = "
                        + windowName(k) + " (a state cannot change them: create a new one for other values)");
            }
            return;
        }
        if (fromOldMap && position > 0 && k > 2) {
            throw new IllegalArgumentException(where + ": this state was saved by a version that streamed k <= 2 only "
                    + "(no block ring); it can continue with k = 1 or 2, not k = " + windowName(k));
        }
        long slots = ringSlots(k);
        if (slots > 0) {
            long n = slots * batch() * (h.size(1) + heads());
            if (n > MAX_RING_ELEMENTS) {
                throw new IllegalArgumentException(where + ": a streaming window of k = " + k + " blocks keeps the last "
                        + slots + " blocks (" + n + " numbers for this batch, over the limit of " + MAX_RING_ELEMENTS
                        + "); use Swr.UNBOUNDED for the full recurrence (O(C) state) or a smaller k");
            }
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                vRing = Nd4j.zeros(dataType(), batch(), slots, h.size(1));
                aRing = Nd4j.zeros(dataType(), batch(), slots, heads());
            }
        }
        this.blockSize = blockSize;
        this.window = k;
    }

    /** Ring slots of a window: k - 2 for a finite k >= 3, else 0. */
    static long ringSlots(int k) {
        return k >= 3 && k != Swr.UNBOUNDED ? k - 2L : 0;
    }

    static String windowName(int k) {
        return k == Swr.UNBOUNDED ? "UNBOUNDED" : Integer.toString(k);
    }

    /** Steps seen so far. */
    public long position() {
        return position;
    }

    /** The block size this state streams with (0 until its first call fixes it). */
    public int blockSize() {
        return blockSize;
    }

    /** The window k this state streams with ({@link Swr#UNBOUNDED} included; 0 until its first call fixes it). */
    public int window() {
        return window;
    }

    /** Back to a fresh sequence (the next call starts at position 0, block phase 0), same block size and window. */
    public void reset() {
        position = 0;
        fromOldMap = false;
        h.assign(0);
        p.assign(1);
        v.assign(0);
        if (vRing != null) {
            vRing.assign(0);
            aRing.assign(0);
        }
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
            s.copyScalarsAndRing(this);
            return s;
        }
    }

    private void copyScalarsAndRing(SwrState from) {
        position = from.position;
        fromOldMap = from.fromOldMap;
        blockSize = from.blockSize;
        window = from.window;
        vRing = from.vRing == null ? null : from.vRing.dup('c');
        aRing = from.aRing == null ? null : from.aRing.dup('c');
    }

    /**
     * Copies of the state's arrays and numbers, in the form DL4J's {@code rnnGetPreviousState()} uses:
     * {@code prefix + "h"} [B, C], {@code prefix + "P"} [B, H], {@code prefix + "v"} [B, C],
     * {@code prefix + "position"} (steps seen), {@code prefix + "block"} and {@code prefix + "window"}
     * (scalars; 0 while not fixed), and for a finite window {@code k >= 3} {@code prefix + "vRing"}
     * [B, k-2, C] and {@code prefix + "aRing"} [B, k-2, H]. Outside any workspace.
     */
    public Map<String, INDArray> toMap(String prefix) {
        Map<String, INDArray> m = new HashMap<>();
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            m.put(prefix + H, h.dup('c'));
            m.put(prefix + P, p.dup('c'));
            m.put(prefix + V, v.dup('c'));
            m.put(prefix + POSITION, Nd4j.scalar(position));
            m.put(prefix + BLOCK, Nd4j.scalar(blockSize));
            m.put(prefix + WINDOW, Nd4j.scalar(window));
            if (vRing != null) {
                m.put(prefix + V_RING, vRing.dup('c'));
                m.put(prefix + A_RING, aRing.dup('c'));
            }
        }
        return m;
    }

    /** Whether the map holds a state written by {@link #toMap(String)} with this prefix (or by the previous version). */
    public static boolean isIn(Map<String, INDArray> m, String prefix) {
        return m != null && m.containsKey(prefix + H) && m.containsKey(prefix + P) && m.containsKey(prefix + V)
                && m.containsKey(prefix + POSITION);
    }

    /**
     * A new state holding copies of the map's arrays (see {@link #toMap(String)}); checks shapes against
     * {@code heads}, and position, block and window for sense. Maps of the previous version (h, P, v,
     * position only) load too: their block and window are then fixed by the next call.
     */
    public static SwrState fromMap(Map<String, INDArray> m, String prefix, long heads) {
        String where = "SwrState.fromMap: ";
        if (!isIn(m, prefix)) {
            throw new IllegalArgumentException(where + "the map must hold " + prefix + H + ", " + prefix + P
                    + ", " + prefix + V + " and " + prefix + POSITION + "; got keys " + (m == null ? "none" : m.keySet()));
        }
        if (heads < 1) {
            throw new IllegalArgumentException(where + "heads must be >= 1; got " + heads);
        }
        INDArray h = m.get(prefix + H), p = m.get(prefix + P), v = m.get(prefix + V);
        long b = h.rank() == 2 ? h.size(0) : -1, c = Swr.HEAD * heads;
        if (h.rank() != 2 || b < 1 || h.size(1) != c || p.rank() != 2 || p.size(0) != b || p.size(1) != heads
                || v.rank() != 2 || v.size(0) != b || v.size(1) != c) {
            throw new IllegalArgumentException(where + "expected " + prefix + "h, v [B, " + c + "] and "
                    + prefix + "P [B, " + heads + "] with B >= 1; got h " + Arrays.toString(h.shape()) + ", P "
                    + Arrays.toString(p.shape()) + ", v " + Arrays.toString(v.shape()));
        }
        if (!h.dataType().isFPType()) {
            throw new IllegalArgumentException(where + prefix + H + " must be floating point; got " + h.dataType());
        }
        long position = integer(m, prefix + POSITION, 0, Long.MAX_VALUE);
        int block = (int) integer(m, prefix + BLOCK, 0, Integer.MAX_VALUE);
        int window = (int) integer(m, prefix + WINDOW, 0, Integer.MAX_VALUE);
        if ((block == 0) != (window == 0)) {
            throw new IllegalArgumentException(where + prefix + BLOCK + " and " + prefix + WINDOW
                    + " must both be set (>= 1) or both 0 (not fixed yet); got block " + block + ", window " + window);
        }
        SwrState s = create(h.dataType(), b, heads);
        s.h.assign(h);
        s.p.assign(p.castTo(h.dataType()));
        s.v.assign(v.castTo(h.dataType()));
        s.position = position;
        if (block != 0) {
            s.bind("SwrState.fromMap", block, window);
            if (s.vRing != null) {
                INDArray vr = m.get(prefix + V_RING), ar = m.get(prefix + A_RING);
                if (vr == null || ar == null || !Arrays.equals(vr.shape(), s.vRing.shape())
                        || !Arrays.equals(ar.shape(), s.aRing.shape())) {
                    throw new IllegalArgumentException(where + "window k = " + window + " needs " + prefix + V_RING + " "
                            + Arrays.toString(s.vRing.shape()) + " and " + prefix + A_RING + " "
                            + Arrays.toString(s.aRing.shape()) + "; got " + (vr == null ? "none" : Arrays.toString(vr.shape()))
                            + " and " + (ar == null ? "none" : Arrays.toString(ar.shape())));
                }
                s.vRing.assign(vr.castTo(h.dataType()));
                s.aRing.assign(ar.castTo(h.dataType()));
            }
        } else if (position != 0 && m.containsKey(prefix + BLOCK)) {
            throw new IllegalArgumentException(where + "a state at position " + position
                    + " must record its block and window; got 0");
        } else {
            s.fromOldMap = !m.containsKey(prefix + BLOCK);
        }
        return s;
    }

    /** A scalar integer entry in [min, max] (absent: 0). */
    private static long integer(Map<String, INDArray> m, String key, long min, long max) {
        INDArray x = m.get(key);
        if (x == null) return 0;
        if (x.length() != 1) {
            throw new IllegalArgumentException("SwrState.fromMap: " + key + " must be a scalar; got shape "
                    + Arrays.toString(x.shape()));
        }
        boolean ok;
        long value;
        if (x.dataType().isFPType()) {
            double d = x.getDouble(0);
            ok = d >= min && d <= max && d == Math.rint(d);
            value = (long) d;
        } else {
            value = x.getLong(0);
            ok = value >= min && value <= max;
        }
        if (!ok) {
            throw new IllegalArgumentException("SwrState.fromMap: " + key + " must be an integer in [" + min + ", "
                    + max + "]; got " + x.getDouble(0));
        }
        return value;
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
        return "SwrState{batch=" + batch() + ", heads=" + heads() + ", type=" + dataType() + ", position=" + position
                + ", block=" + blockSize + ", window=" + (window == 0 ? "unset" : windowName(window)) + "}";
    }
}
