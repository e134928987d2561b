package org.phalanx.swr;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;

/**
 * {@link SwrState} to and from a map of arrays, the form DL4J's {@code RecurrentLayer.rnnGetPreviousState()}
 * and {@code rnnSetPreviousState(...)} use. Keys: {@code prefix + "h"} [B, C], {@code prefix + "P"} [B, H],
 * {@code prefix + "v"} [B, C] and {@code prefix + "position"} (a scalar: steps seen, which fixes the block phase).
 * Arrays are copied both ways and live outside any workspace.
 */
public final class SwrStateMaps {

    public static final String H = "h", P = "P", V = "v", POSITION = "position";

    private SwrStateMaps() {
    }

    /** Copies of the state's arrays and position. */
    public static Map<String, INDArray> toMap(SwrState s, String prefix) {
        Map<String, INDArray> m = new HashMap<>();
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            m.put(prefix + H, s.h.dup('c'));
            m.put(prefix + P, s.p.dup('c'));
            m.put(prefix + V, s.v.dup('c'));
            m.put(prefix + POSITION, Nd4j.scalar(s.position));
        }
        return m;
    }

    /** Whether the map holds a state written by {@link #toMap(SwrState, String)} with this prefix. */
    public static boolean contains(Map<String, INDArray> m, String prefix) {
        return m != null && m.containsKey(prefix + H) && m.containsKey(prefix + P) && m.containsKey(prefix + V)
                && m.containsKey(prefix + POSITION);
    }

    /** A new state with copies of the map's arrays; checks shapes against {@code heads}. */
    public static SwrState fromMap(Map<String, INDArray> m, String prefix, long heads) {
        if (!contains(m, prefix)) {
            throw new IllegalArgumentException("SwrStateMaps.fromMap: the map must hold " + prefix + H + ", " + prefix + P
                    + ", " + prefix + V + " and " + prefix + POSITION + "; got keys " + (m == null ? "none" : m.keySet()));
        }
        INDArray h = m.get(prefix + H), p = m.get(prefix + P), v = m.get(prefix + V);
        long b = h.rank() == 2 ? h.size(0) : -1, c = Swr.HEAD * heads;
        if (h.rank() != 2 || h.size(1) != c || p.rank() != 2 || p.size(0) != b || p.size(1) != heads
                || v.rank() != 2 || v.size(0) != b || v.size(1) != c) {
            throw new IllegalArgumentException("SwrStateMaps.fromMap: expected " + prefix + "h, v [B, " + c + "] and "
                    + prefix + "P [B, " + heads + "]; got h " + java.util.Arrays.toString(h.shape()) + ", P "
                    + java.util.Arrays.toString(p.shape()) + ", v " + java.util.Arrays.toString(v.shape()));
        }
        SwrState s = SwrState.create(h.dataType(), b, heads);
        s.h.assign(h);
        s.p.assign(p.castTo(h.dataType()));
        s.v.assign(v.castTo(h.dataType()));
        s.position = m.get(prefix + POSITION).getLong(0);
        return s;
    }
}
