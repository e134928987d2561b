package org.phalanx.nd4j;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The SWR kernels of one ND4J backend, called on arrays that {@link org.phalanx.swr.Swr} has already
 * validated: rank 3, one floating type, dense in 'c' order ({@link ArrayMemory#isDenseC}), shapes
 * {@code a [B, H, L]}, {@code u, y, dy, du [B, 16 H, L]}, {@code da [B, H, L]}, {@code blockSize >= 1},
 * {@code 1 <= k <= maxWindow()} ({@code Swr.UNBOUNDED} included where maxWindow() allows it), outputs
 * sharing no memory with inputs or each other. Outputs are written in full; inputs are only read.
 * Implementations take the arrays, not their addresses, and keep every one reachable until the native
 * call has returned (otherwise the garbage collector may free a temporary copy while a kernel still
 * reads it).
 */
public interface SwrKernels {

    /** Whether this backend runs SWR on arrays of this type. */
    boolean supports(org.nd4j.linalg.api.buffer.DataType dataType);

    /** The largest window k (in blocks) these kernels take. */
    default int maxWindow() {
        return Integer.MAX_VALUE;
    }

    /**
     * Whether two arrays may share memory as these kernels see it (host addresses on the CPU; the
     * buffer that owns the memory where host addresses say nothing about the device).
     */
    default boolean mayOverlap(INDArray x, INDArray y) {
        return ArrayMemory.overlapOnHost(x, y);
    }

    void forward(INDArray a, INDArray u, INDArray y, int blockSize, int k);

    /**
     * Streaming forward from the state of docs/SWR.md "Streaming state" after {@code position} steps:
     * {@code h [B, C], P [B, H], v [B, C]} (v null for k = 1) and, for a finite {@code k >= 3} only,
     * {@code vRing [B, k-2, C], aRing [B, k-2, H]} (null otherwise). The state arrays are updated in place.
     */
    void forwardStream(INDArray a, INDArray u, INDArray y, int blockSize, int k,
                       INDArray h, INDArray p, INDArray v, INDArray vRing, INDArray aRing, long position);

    void backward(INDArray a, INDArray u, INDArray dy, INDArray da, INDArray du, int blockSize, int k);

    /**
     * The fused Phalanx core ({@code phalanx_core.h}): {@code m = SWR(a, rep(beta) v) rep(c) + v}, with
     * {@code v, m, y [B, 16 H, L]} and {@code beta, c [B, 16 kvH, L]} (kvH = beta.size(1) / 16, dividing H);
     * {@code y} may be null (then not written), else it receives {@code SWR(a, rep(beta) v)}.
     */
    void coreForward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray m, INDArray y, int blockSize, int k);

    /**
     * Its backward from {@code dm}: {@code da [B, H, L]}, {@code dbeta, dc [B, 16 kvH, L]} (summed over the heads
     * sharing a group), {@code dv [B, 16 H, L]}; {@code y} (the forward's SWR output) may be null (recomputed).
     */
    void coreBackward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray y, INDArray dm,
                      INDArray da, INDArray dbeta, INDArray dv, INDArray dc, int blockSize, int k);
}
