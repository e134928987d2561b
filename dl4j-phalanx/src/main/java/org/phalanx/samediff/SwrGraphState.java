package org.phalanx.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrStateOp;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The streaming state of SWR as SameDiff variables (docs/SWR.md, "Streaming (decode) state"):
 * {@code h [B, C]} the local state since the current block's start, {@code p [B, H]} the prefix product of the
 * decays since then, {@code v [B, C]} the carry into the current block (for {@code k = 2} the previous block's
 * terminal local state, for {@link Swr#UNBOUNDED} the recurrence's value at the previous block's end; unused for
 * {@code k = 1}), {@code position} a LONG scalar (steps seen, which fixes the block phase), and for a finite window
 * {@code 3 <= k < UNBOUNDED} the ring of the last {@code k - 2} finished blocks, {@code vRing [B, k-2, C]} and
 * {@code aRing [B, k-2, H]} (null for other windows). The same fields as {@link org.phalanx.swr.SwrState}.
 *
 * <p>Typical use: {@link #placeholders(SameDiff, String, DataType, long, int)} as the incoming state of
 * {@link PhalanxOps#swr(SameDiff, String, SDVariable, SDVariable, SwrGraphState, int, int)} or
 * {@link PhalanxBlock#apply(SameDiff, String, SDVariable, org.phalanx.nn.conf.layers.PhalanxLayer, Map, SDVariable,
 * SwrGraphState)}; {@link #zeros} to start a sequence; after each {@code sd.output(...)}, {@link #feed} turns the
 * final state's values into the next feed.
 */
public record SwrGraphState(SDVariable h, SDVariable p, SDVariable v, SDVariable position, SDVariable vRing,
                            SDVariable aRing) {

    public SwrGraphState {
        if (h == null || p == null || v == null || position == null) {
            throw new IllegalArgumentException("SwrGraphState: h, p, v and position must not be null");
        }
        if ((vRing == null) != (aRing == null)) {
            throw new IllegalArgumentException("SwrGraphState: vRing and aRing go together (a finite window k >= 3) or "
                    + "are both null; got " + (vRing == null ? "aRing only" : "vRing only"));
        }
    }

    /** A state without a ring (windows 1, 2 and {@link Swr#UNBOUNDED}). */
    public SwrGraphState(SDVariable h, SDVariable p, SDVariable v, SDVariable position) {
        this(h, p, v, position, null, null);
    }

    /** Whether this state holds the ring of a finite window {@code k >= 3}. */
    public boolean hasRing() {
        return vRing != null;
    }

    /** Placeholders {@code prefix + "h", "P", "v", "position"} for {@code heads} heads (any batch size), no ring. */
    public static SwrGraphState placeholders(SameDiff sd, String prefix, DataType dataType, long heads) {
        return placeholders(sd, prefix, dataType, heads, Swr.DEFAULT_WINDOW);
    }

    /**
     * Placeholders for a state streaming window {@code k} (any {@code k >= 1} or {@link Swr#UNBOUNDED}): those of
     * {@link #placeholders(SameDiff, String, DataType, long)}, and for a finite {@code k >= 3} also
     * {@code prefix + "vRing" [-1, k-2, 16 heads]} and {@code prefix + "aRing" [-1, k-2, heads]}.
     */
    public static SwrGraphState placeholders(SameDiff sd, String prefix, DataType dataType, long heads, int k) {
        if (sd == null || dataType == null || !dataType.isFPType() || heads < 1) {
            throw new IllegalArgumentException("SwrGraphState.placeholders: need a SameDiff, a floating-point type and "
                    + "heads >= 1; got type " + dataType + ", heads " + heads);
        }
        SwrStateOp.checkWindow("SwrGraphState.placeholders: ", k);
        String p = prefix == null ? "" : prefix;
        long c = Swr.HEAD * heads;
        SDVariable vr = null, ar = null;
        if (SwrStateOp.hasRing(k)) {
            vr = sd.placeHolder(p + "vRing", dataType, -1, k - 2L, c);
            ar = sd.placeHolder(p + "aRing", dataType, -1, k - 2L, heads);
        }
        return new SwrGraphState(sd.placeHolder(p + "h", dataType, -1, c), sd.placeHolder(p + "P", dataType, -1, heads),
                sd.placeHolder(p + "v", dataType, -1, c), sd.placeHolder(p + "position", DataType.LONG), vr, ar);
    }

    /** The variables' names, in the order h, P, v, position (then vRing, aRing when present), e.g. for {@code sd.output}. */
    public String[] names() {
        return hasRing() ? new String[]{h.name(), p.name(), v.name(), position.name(), vRing.name(), aRing.name()}
                : new String[]{h.name(), p.name(), v.name(), position.name()};
    }

    /** A fresh state (position 0) for {@code batch} sequences, keyed by this state's names. */
    public Map<String, INDArray> zeros(long batch) {
        long[] hs = h.getShape(), ps = p.getShape();
        long[] rs = hasRing() ? vRing.getShape() : null;
        if (hs == null || hs.length != 2 || hs[1] < 1 || ps == null || ps.length != 2 || ps[1] < 1 || batch < 1
                || (hasRing() && (rs == null || rs.length != 3 || rs[1] < 1))) {
            throw new IllegalArgumentException("SwrGraphState.zeros: needs batch >= 1 and h, P (and vRing) of known widths "
                    + "(as made by placeholders(...)); got batch " + batch + ", h " + Arrays.toString(hs) + ", P "
                    + Arrays.toString(ps) + (hasRing() ? ", vRing " + Arrays.toString(rs) : ""));
        }
        long c = hs[1], heads = ps[1];
        DataType t = h.dataType();
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put(h.name(), Nd4j.zeros(t, batch, c));
        m.put(p.name(), Nd4j.ones(t, batch, heads));
        m.put(v.name(), Nd4j.zeros(t, batch, c));
        m.put(position.name(), Nd4j.scalar(0L));
        if (hasRing()) {
            m.put(vRing.name(), Nd4j.zeros(t, batch, rs[1], c));
            m.put(aRing.name(), Nd4j.zeros(t, batch, rs[1], heads));
        }
        return m;
    }

    /**
     * Copies of the values of this state (found in {@code results}, e.g. what {@code sd.output} returned for
     * {@link #names()}) keyed by the names of {@code into} (e.g. the placeholders of the next call). Copies,
     * because SameDiff may reuse the memory of arrays it returned for the next call's intermediates.
     */
    public Map<String, INDArray> feed(Map<String, INDArray> results, SwrGraphState into) {
        String[] from = names(), to = into.names();
        if (from.length != to.length) {
            throw new IllegalArgumentException("SwrGraphState.feed: this state " + (hasRing() ? "has" : "has no")
                    + " ring of blocks and the target " + (into.hasRing() ? "has" : "has no") + " (they must stream the same window)");
        }
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (int i = 0; i < from.length; i++) {
            INDArray x = results.get(from[i]);
            if (x == null) {
                throw new IllegalArgumentException("SwrGraphState.feed: results hold no value for " + from[i]
                        + " (ask sd.output for all of " + String.join(", ", from) + ")");
            }
            m.put(to[i], x.dup());
        }
        return m;
    }
}
