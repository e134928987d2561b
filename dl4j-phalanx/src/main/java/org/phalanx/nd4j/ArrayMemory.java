package org.phalanx.nd4j;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Comparator;

/**
 * Where an ND4J array's elements lie in memory, judged from its shape, strides, offset and buffer
 * rather than from ND4J's flags: whether it is dense in 'c' order (what the kernels read and write),
 * whether its elements can overlap each other, and whether two arrays share memory.
 *
 * <p>Two facts of ND4J 1.0.0-M2.1 shape this class. Its default-stride test
 * ({@code Shape.hasDefaultStridesForShape}) rejects dense arrays with a dimension of size 1
 * ({@code [B, 1, L]} has strides {@code [L, L, 1]}); the stride of a size-1 dimension never moves to
 * another element, so it is ignored here. And it computes the strides of a fresh array with 32-bit
 * arithmetic, so a stride of 2^31 or more wraps (shape {@code [2, 32, 2^26 + 1]} gets a negative
 * stride); such an array is still dense when it is not a view and its buffer holds exactly its
 * elements from offset 0, which is what {@link #isDenseC} then checks instead.
 */
public final class ArrayMemory {

    /**
     * Keeps every argument strongly reachable up to this call (one fence on the array, which refers to all
     * of them): called in a {@code finally} after a native call that reads or writes their memory by address.
     */
    public static void keepReachable(Object... arrays) {
        java.lang.ref.Reference.reachabilityFence(arrays);
    }


    private ArrayMemory() {
    }

    /** The strides ND4J M2.1 gives a fresh 'c' array of this shape, wrapped to 32 bits as it does. */
    static long wrapped(long stride) {
        return (int) stride;
    }

    /**
     * Whether the elements are laid out densely in row-major order from the array's first element
     * ({@code data().addressPointer()}), so that element {@code (i, j, t)} is at linear index
     * {@code (i * size(1) + j) * size(2) + t}.
     */
    public static boolean isDenseC(INDArray x) {
        long[] shape = x.shape(), stride = x.stride();
        long expect = 1;
        boolean wrappedStrides = false;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expect) {
                if (stride[i] != wrapped(expect)) return false;
                wrappedStrides = true;
            }
            expect *= shape[i];
        }
        // With wrapped strides the strides prove nothing: the buffer must be this array's own, whole.
        return !wrappedStrides || (x.offset() == 0 && x.data().originalDataBuffer() == null
                && x.data().length() == x.length());
    }

    /** Whether ND4J's strides for this array may be wrong (it has 2^31 or more elements). */
    public static boolean beyondIntStrides(INDArray x) {
        return x.length() > Integer.MAX_VALUE;
    }

    /**
     * The range of linear element offsets {@code [min, max]} (relative to the first element) that the
     * array's elements occupy.
     */
    static long[] reach(INDArray x) {
        if (isDenseC(x)) return new long[]{0, x.length() - 1};
        long[] shape = x.shape(), stride = x.stride();
        long lo = 0, hi = 0;
        for (int i = 0; i < shape.length; i++) {
            long d = (shape[i] - 1) * stride[i];
            if (d < 0) lo += d;
            else hi += d;
        }
        return new long[]{lo, hi};
    }

    /**
     * Whether two elements of the array may be the same memory: a stride of 0 (broadcast) or strides
     * that interleave. Sufficient test: with the dimensions of size above 1 sorted by |stride|, each
     * |stride| must exceed the span of the dimensions before it.
     */
    public static boolean mayOverlapItself(INDArray x) {
        if (isDenseC(x)) return false;
        long[] shape = x.shape(), stride = x.stride();
        Integer[] dims = new Integer[shape.length];
        for (int i = 0; i < dims.length; i++) dims[i] = i;
        Arrays.sort(dims, Comparator.comparingLong(i -> Math.abs(stride[i])));
        long span = 0;
        for (int i : dims) {
            if (shape[i] == 1) continue;
            long s = Math.abs(stride[i]);
            if (s <= span) return true;
            span += s * (shape[i] - 1);
        }
        return false;
    }

    /**
     * Whether the buffer behind the array holds every element its shape and strides reach (ND4J lets
     * an array claim more than its buffer has).
     */
    public static boolean fitsItsBuffer(INDArray x) {
        long[] r = reach(x);
        return x.offset() + r[0] >= 0 && x.offset() + r[1] < root(x).length(); // a view's offset counts from its root
    }

    /** The buffer that owns the memory of a view (the view's buffer itself if it is not a view). */
    public static DataBuffer root(INDArray x) {
        DataBuffer d = x.data();
        return d.originalDataBuffer() != null ? d.originalDataBuffer() : d;
    }

    /** Whether the array or the buffer behind it was closed ({@code INDArray.close()}). */
    public static boolean isClosed(INDArray x) {
        return x.wasClosed() || root(x).wasClosed();
    }

    /**
     * Whether the host memory of two arrays may overlap: their address ranges (first element's address
     * plus the reach times the element size) intersect. Catches arrays on one memory through different
     * buffers (a buffer wrapping another's pointer) as well as views of one buffer.
     */
    public static boolean overlapOnHost(INDArray x, INDArray y) {
        long[] rx = byteRange(x, x.data().addressPointer().address());
        long[] ry = byteRange(y, y.data().addressPointer().address());
        return rx[0] < ry[1] && ry[0] < rx[1];
    }

    /**
     * Whether two arrays may overlap within the buffer that owns their memory (for backends whose
     * host pointers say nothing about device memory): the same root buffer and intersecting ranges
     * of elements.
     */
    public static boolean overlapInBuffer(INDArray x, INDArray y) {
        if (root(x) != root(y)) return false;
        long[] rx = byteRange(x, x.offset() * x.data().getElementSize());
        long[] ry = byteRange(y, y.offset() * y.data().getElementSize());
        return rx[0] < ry[1] && ry[0] < rx[1];
    }

    /** {@code [first byte, one past the last byte)} of the elements, from the first element's position. */
    private static long[] byteRange(INDArray x, long first) {
        long[] r = reach(x);
        long es = x.data().getElementSize();
        return new long[]{first + r[0] * es, first + (r[1] + 1) * es};
    }
}
