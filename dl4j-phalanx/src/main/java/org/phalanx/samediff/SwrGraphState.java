package org.phalanx.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.Swr;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The streaming state of SWR as SameDiff variables (docs/SWR.md, "Streaming (decode) state"):
 * {@code h [B, C]} the local state since the current block's start, {@code p [B, H]} the prefix product of the
 * decays since then, {@code v [B, C]} the carry into the current block (for {@code k = 2} the previous block's terminal local state, for
 * {@link Swr#UNBOUNDED} the recurrence's value at the previous block's end; unused for {@code k = 1}), {@code position} a LONG scalar
 * (steps seen, which fixes the block phase). The same fields as {@link org.phalanx.swr.SwrState}.
 *
 * <p>Typical use: {@link #placeholders} as the incoming state of {@link PhalanxOps#swr(SameDiff, String,
 * SDVariable, SDVariable, SwrGraphState, int, int)} or {@link PhalanxBlock#apply(SameDiff, String, SDVariable,
 * org.phalanx.nn.conf.layers.PhalanxLayer, Map, SDVariable, SwrGraphState)}; {@link #zeros} to start a
 * sequence; after each {@code sd.output(...)}, {@link #feed} turns the final state's values into the next feed.
 */
public record SwrGraphState(SDVariable h, SDVariable p, SDVariable v, SDVariable position) {

    public SwrGraphState {
        if (h == null || p == null || v == null || position == null) {
            throw new IllegalArgumentException("SwrGraphState: h, p, v and position must not be null");
        }
    }

    /** Placeholders {@code prefix + "h", "P", "v", "position"} for {@code heads} heads (any batch size). */
    public static SwrGraphState placeholders(SameDiff sd, String prefix, DataType dataType, long heads) {
        if (sd == null || dataType == null || !dataType.isFPType() || heads < 1) {
            throw new IllegalArgumentException("SwrGraphState.placeholders: need a SameDiff, a floating-point type and "
                    + "heads >= 1; got type " + dataType + ", heads " + heads);
        }
        String p = prefix == null ? "" : prefix;
        long c = Swr.HEAD * heads;
        return new SwrGraphState(sd.placeHolder(p + "h", dataType, -1, c), sd.placeHolder(p + "P", dataType, -1, heads),
                sd.placeHolder(p + "v", dataType, -1, c), sd.placeHolder(p + "position", DataType.LONG));
    }

    /** The variables' names, in the order h, P, v, position (e.g. for {@code sd.output(feed, names)}). */
    public String[] names() {
        return new String[]{h.name(), p.name(), v.name(), position.name()};
    }

    /** A fresh state (position 0) for {@code batch} sequences, keyed by this state's names. */
    public Map<String, INDArray> zeros(long batch) {
        long[] hs = h.getShape(), ps = p.getShape();
        if (hs == null || hs.length != 2 || hs[1] < 1 || ps == null || ps.length != 2 || ps[1] < 1 || batch < 1) {
            throw new IllegalArgumentException("SwrGraphState.zeros: needs batch >= 1 and h, P of known widths (as made by "
                    + "placeholders(...)); got batch " + batch + ", h " + java.util.Arrays.toString(hs) + ", P "
                    + java.util.Arrays.toString(ps));
        }
        long c = hs[1], heads = ps[1];
        DataType t = h.dataType();
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put(h.name(), Nd4j.zeros(t, batch, c));
        m.put(p.name(), Nd4j.ones(t, batch, heads));
        m.put(v.name(), Nd4j.zeros(t, batch, c));
        m.put(position.name(), Nd4j.scalar(0L));
        return m;
    }

    /**
     * Copies of the values of this state (found in {@code results}, e.g. what {@code sd.output} returned for
     * {@link #names()}) keyed by the names of {@code into} (e.g. the placeholders of the next call). Copies,
     * because SameDiff may reuse the memory of arrays it returned for the next call's intermediates.
     */
    public Map<String, INDArray> feed(Map<String, INDArray> results, SwrGraphState into) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        String[] from = names(), to = into.names();
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
