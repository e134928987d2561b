package org.phalanx.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrOp;

/**
 * SameDiff namespace of dl4j-phalanx. Graphs built with it differentiate ({@code calculateGradients},
 * {@code fit}) and save/load like any SameDiff graph; no JVM flag is needed.
 *
 * <pre>{@code
 * SDVariable y = PhalanxOps.swr(sd, "y", a, u);   // a [B, H, L], u [B, 16H, L] -> y [B, 16H, L]
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
}
