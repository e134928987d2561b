package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nd4j.ArrayMemory;
import org.phalanx.nd4j.CpuSwrKernels;
import org.phalanx.nd4j.PhalanxRuntime;

import java.util.Arrays;

/**
 * One streaming (decode) step of a Phalanx layer (docs/SWR.md section 2) in one native call on the CPU
 * ({@code libnd4j-ops/src/main/cpp/include/swr/phalanx_step.h}): the four input projections, the gates, one SWR
 * step from a {@link SwrState} (any window) and the readout {@code z = m Wo}, {@code m = y rep(c) + v} (normalised
 * per head with the layer's {@code headNorm}), the output before the layer's activation. At B = 1..8 a step is a few
 * hundred thousand multiply-adds, less than the fixed cost of the dozen ND4J calls the same arithmetic takes op by
 * op; this is what {@code rnnTimeStep} runs for a single step.
 */
public final class PhalanxStep {

    private PhalanxStep() {
    }

    /**
     * Whether the fused step can run here: the CPU backend, FLOAT or DOUBLE, every weight a dense column-major
     * ({@code 'f'}) matrix, as DL4J lays parameters out (anything else: use the op-by-op path).
     */
    public static boolean supports(DataType type, INDArray... weights) {
        if ((type != DataType.FLOAT && type != DataType.DOUBLE) || !(PhalanxRuntime.kernels() instanceof CpuSwrKernels)) {
            return false;
        }
        for (INDArray w : weights) {
            if (w == null || w.dataType() != type || !isDenseF(w)) return false;
        }
        return true;
    }

    /** Elements of scratch {@link #stepInto} needs for batch {@code b}, {@code heads} and {@code kvHeads}. */
    public static long scratchLength(long b, long heads, long kvHeads) {
        return b * (heads + 2 * Swr.HEAD * kvHeads + 2 * Swr.HEAD * heads);
    }

    /**
     * {@code z [B, nOut]} = the layer's output before its activation (with {@code tanh}: after a tanh activation)
     * for the step {@code x [B, nIn]}, continuing
     * (and advancing by one step) {@code state}. Weights {@code wa [nIn, H], wb, wc [nIn, 16 kvHeads], wv [nIn, 16 H],
     * wo [16 H, nOut]} dense column-major; biases of {@code H}, {@code 16 kvHeads} elements; {@code x}, {@code z} and
     * {@code scratch} (at least {@link #scratchLength} elements) dense 'c' arrays; one type for all; {@code headNorm}
     * as the layer's option of that name. Checked; nothing but {@code z}, {@code scratch} and the state is written.
     */
    public static void stepInto(INDArray x, INDArray wa, INDArray ba, INDArray wb, INDArray bb, INDArray wc,
                                INDArray bc, INDArray wv, INDArray wo, long kvHeads, boolean headNorm, boolean tanh,
                                int blockSize, int k, SwrState state, INDArray z, INDArray scratch) {
        String where = "PhalanxStep.stepInto: ";
        if (x == null || x.rank() != 2 || !ArrayMemory.isDenseC(x)) {
            throw new IllegalArgumentException(where + "x must be a dense 'c' array [B, nIn]; got "
                    + (x == null ? "null" : Arrays.toString(x.shape()) + " order " + x.ordering()));
        }
        DataType t = x.dataType();
        long b = x.size(0), nIn = x.size(1);
        long h = wa == null || wa.rank() != 2 ? -1 : wa.size(1), c = Swr.HEAD * h, g = Swr.HEAD * kvHeads;
        if (h < 1 || kvHeads < 1 || h % kvHeads != 0) {
            throw new IllegalArgumentException(where + "wa must be [nIn, H] with H >= 1 and kvHeads (" + kvHeads
                    + ") dividing H; got wa " + (wa == null ? "null" : Arrays.toString(wa.shape())));
        }
        long nOut = wo == null || wo.rank() != 2 ? -1 : wo.size(1);
        checkWeight(where, "wa", wa, nIn, h, t);
        checkWeight(where, "wb", wb, nIn, g, t);
        checkWeight(where, "wc", wc, nIn, g, t);
        checkWeight(where, "wv", wv, nIn, c, t);
        checkWeight(where, "wo", wo, c, nOut, t);
        checkVector(where, "ba", ba, h, t);
        checkVector(where, "bb", bb, g, t);
        checkVector(where, "bc", bc, g, t);
        if (z == null || z.rank() != 2 || z.size(0) != b || z.size(1) != nOut || z.dataType() != t || !ArrayMemory.isDenseC(z)) {
            throw new IllegalArgumentException(where + "z must be a dense 'c' array [" + b + ", " + nOut + "] of type " + t
                    + "; got " + (z == null ? "null" : Arrays.toString(z.shape()) + " " + z.dataType()));
        }
        long need = scratchLength(b, h, kvHeads);
        if (scratch == null || scratch.length() < need || scratch.dataType() != t || !ArrayMemory.isDenseC(scratch)) {
            throw new IllegalArgumentException(where + "scratch must be a dense array of at least " + need
                    + " elements of type " + t + "; got " + (scratch == null ? "null" : scratch.length() + " " + scratch.dataType()));
        }
        if (blockSize < 1 || k < 1) {
            throw new IllegalArgumentException(where + "blockSize and k must be >= 1; got " + blockSize + ", " + k);
        }
        if (state == null || state.batch() != b || state.heads() != h || state.dataType() != t) {
            throw new IllegalArgumentException(where + "state must hold " + b + " sequences of " + h + " heads of type " + t
                    + "; got " + state);
        }
        if (state.position == Long.MAX_VALUE) {
            throw new IllegalArgumentException(where + "the state's position " + state.position + " plus 1 overflows");
        }
        state.bind("PhalanxStep.stepInto", blockSize, k);
        CpuSwrKernels.phalanxStep(x, wa, ba, wb, bb, wc, bc, wv, wo, z, scratch, kvHeads, headNorm, tanh, blockSize, k,
                state.h, state.p, k >= 2 ? state.v : null, state.vRing, state.aRing, state.position);
        state.position += 1;
    }

    /** Dense column-major: element (i, j) at i + j * rows from the array's first element. */
    static boolean isDenseF(INDArray w) {
        if (w.rank() != 2 || ArrayMemory.isClosed(w) || !ArrayMemory.fitsItsBuffer(w)) return false;
        long rows = w.size(0), cols = w.size(1);
        return (rows == 1 || w.stride(0) == 1) && (cols == 1 || w.stride(1) == rows);
    }

    private static void checkWeight(String where, String name, INDArray w, long rows, long cols, DataType t) {
        if (w == null || w.rank() != 2 || w.size(0) != rows || w.size(1) != cols || w.dataType() != t || !isDenseF(w)) {
            throw new IllegalArgumentException(where + name + " must be a dense column-major ('f') [" + rows + ", " + cols
                    + "] array of type " + t + "; got " + (w == null ? "null" : Arrays.toString(w.shape()) + " "
                    + w.dataType() + " order " + w.ordering() + " strides " + Arrays.toString(w.stride())));
        }
    }

    private static void checkVector(String where, String name, INDArray v, long n, DataType t) {
        boolean dense = v != null && v.length() == n && v.dataType() == t && !ArrayMemory.isClosed(v)
                && ArrayMemory.fitsItsBuffer(v) && (n == 1 || v.elementWiseStride() == 1) && v.isVectorOrScalar();
        if (!dense) {
            throw new IllegalArgumentException(where + name + " must be a dense vector of " + n + " elements of type " + t
                    + "; got " + (v == null ? "null" : Arrays.toString(v.shape()) + " " + v.dataType()));
        }
    }
}
