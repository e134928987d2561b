package org.phalanx.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrMaskedOp;
import org.phalanx.swr.SwrOp;
import org.phalanx.swr.SwrStateOp;

/**
 * SameDiff namespace of dl4j-phalanx. Graphs built with it differentiate ({@code calculateGradients},
 * {@code fit}) and save/load like any SameDiff graph; no JVM flag is needed.
 *
 * <pre>{@code
 * SDVariable y = PhalanxOps.swr(sd, "y", a, u);   // a [B, H, L], u [B, 16H, L] -> y [B, 16H, L]
 *
 * // carried state: continue from (h, P, v, position), get the state after the piece
 * SwrGraphState in = SwrGraphState.placeholders(sd, "s/", DataType.FLOAT, H);
 * PhalanxOps.SwrStep step = PhalanxOps.swr(sd, "y", a, u, in, 16, 2);   // step.y(), step.state()
 * }</pre>
 */
public final class PhalanxOps {

    private PhalanxOps() {
    }

    /** SWR with block 16 and window 2 (docs/SWR.md section 1). */
    public static SDVariable swr(SameDiff sd, String name, SDVariable a, SDVariable u) {
        return swr(sd, name, a, u, Swr.DEFAULT_BLOCK, Swr.DEFAULT_WINDOW);
    }

    /** SWR with the given block size and window (in blocks; 1 or 2 on CUDA). */
    public static SDVariable swr(SameDiff sd, String name, SDVariable a, SDVariable u, int blockSize, int k) {
        if (sd == null || a == null || u == null) {
            throw new IllegalArgumentException("PhalanxOps.swr: sd, a and u must not be null");
        }
        if (blockSize < 1) throw new IllegalArgumentException("PhalanxOps.swr: blockSize must be >= 1; got " + blockSize);
        if (k < 1) throw new IllegalArgumentException("PhalanxOps.swr: k must be >= 1; got " + k);
        SDVariable y = new SwrOp(sd, a, u, blockSize, k).outputVariable();
        return name == null ? y : sd.updateVariableNameAndReference(y, name);
    }

    /**
     * The fused Phalanx core (the {@link org.phalanx.swr.PhalanxCoreOp}): {@code m = SWR(a, rep(beta) v) rep(c) + v}
     * with {@code a [B, H, L]}, {@code v [B, 16 H, L]}, {@code beta, c [B, 16 kvH, L]} (kvH dividing H; see
     * {@link org.phalanx.swr.PhalanxCore}); differentiable with respect to all four inputs.
     */
    public static SDVariable phalanxCore(SameDiff sd, String name, SDVariable a, SDVariable beta, SDVariable v, SDVariable c,
                                         int blockSize, int k) {
        if (sd == null || a == null || beta == null || v == null || c == null) {
            throw new IllegalArgumentException("PhalanxOps.phalanxCore: sd, a, beta, v and c must not be null");
        }
        if (blockSize < 1) throw new IllegalArgumentException("PhalanxOps.phalanxCore: blockSize must be >= 1; got " + blockSize);
        if (k < 1) throw new IllegalArgumentException("PhalanxOps.phalanxCore: k must be >= 1; got " + k);
        SDVariable m = new org.phalanx.swr.PhalanxCoreOp(sd, a, beta, v, c, blockSize, k).outputVariable();
        return name == null ? m : sd.updateVariableNameAndReference(m, name);
    }

    /**
     * SWR with each sequence's blocks counted from its own first valid step of the {@code [B, L]} 0/1 {@code mask}
     * (the {@link SwrMaskedOp}): a left-padded sequence gives what it gives alone. Padded steps should already
     * have decay 1 and input 0 in {@code a, u}; steps before a sequence's first valid one output 0.
     */
    public static SDVariable swrMasked(SameDiff sd, String name, SDVariable a, SDVariable u, SDVariable mask,
                                       int blockSize, int k) {
        if (sd == null || a == null || u == null || mask == null) {
            throw new IllegalArgumentException("PhalanxOps.swrMasked: sd, a, u and mask must not be null");
        }
        if (blockSize < 1) throw new IllegalArgumentException("PhalanxOps.swrMasked: blockSize must be >= 1; got " + blockSize);
        if (k < 1) throw new IllegalArgumentException("PhalanxOps.swrMasked: k must be >= 1; got " + k);
        SDVariable y = new SwrMaskedOp(sd, a, u, mask, blockSize, k).outputVariable();
        return name == null ? y : sd.updateVariableNameAndReference(y, name);
    }

    /** The output of SWR from a carried state: {@code y [B, C, L]} and the state after the piece. */
    public record SwrStep(SDVariable y, SwrGraphState state) {
    }

    /**
     * SWR continuing from {@code state} (the {@link SwrStateOp}): {@code y} equals the corresponding steps of one
     * pass over the whole sequence, at every block phase; the returned state (named {@code name + "/h"},
     * {@code "/P"}, {@code "/v"}, {@code "/position"}, and {@code "/vRing"}, {@code "/aRing"} for a ring window)
     * continues it. Differentiable with respect to {@code a}, {@code u} and the incoming state, also through the
     * returned state (so pieces can be chained in one graph). With position 0 the incoming arrays are ignored. Any
     * window {@code k >= 1} and {@link Swr#UNBOUNDED}; a finite {@code k >= 3} needs a state with its ring of
     * {@code k - 2} blocks ({@link SwrGraphState#placeholders(SameDiff, String, org.nd4j.linalg.api.buffer.DataType,
     * long, int)} with that {@code k}).
     */
    public static SwrStep swr(SameDiff sd, String name, SDVariable a, SDVariable u, SwrGraphState state,
                              int blockSize, int k) {
        if (sd == null || a == null || u == null || state == null) {
            throw new IllegalArgumentException("PhalanxOps.swr: sd, a, u and state must not be null");
        }
        if (blockSize < 1) throw new IllegalArgumentException("PhalanxOps.swr: blockSize must be >= 1; got " + blockSize);
        SwrStateOp.checkWindow("PhalanxOps.swr: ", k);
        boolean ring = SwrStateOp.hasRing(k);
        if (ring != state.hasRing()) {
            throw new IllegalArgumentException("PhalanxOps.swr: window k = " + (k == Swr.UNBOUNDED ? "UNBOUNDED" : k)
                    + (ring ? " streams with a ring of its last k - 2 blocks, but the state has none: make it with "
                    + "SwrGraphState.placeholders(sd, prefix, type, heads, " + k + ")"
                    : " streams without a ring of blocks, but the state has one (made for a window k >= 3)"));
        }
        SDVariable[] out = (ring
                ? new SwrStateOp(sd, a, u, state.h(), state.p(), state.v(), state.vRing(), state.aRing(), state.position(),
                        blockSize, k)
                : new SwrStateOp(sd, a, u, state.h(), state.p(), state.v(), state.position(), blockSize, k))
                .outputVariables();
        if (name != null) {
            String[] suffix = ring ? new String[]{"", "/h", "/P", "/v", "/vRing", "/aRing", "/position"}
                    : new String[]{"", "/h", "/P", "/v", "/position"};
            for (int i = 0; i < out.length; i++) {
                out[i] = sd.updateVariableNameAndReference(out[i], name + suffix[i]);
            }
        }
        SwrGraphState next = ring ? new SwrGraphState(out[1], out[2], out[3], out[6], out[4], out[5])
                : new SwrGraphState(out[1], out[2], out[3], out[4]);
        return new SwrStep(out[0], next);
    }
}
