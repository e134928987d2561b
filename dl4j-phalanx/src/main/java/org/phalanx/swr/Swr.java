package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nd4j.ArrayMemory;
import org.phalanx.nd4j.PhalanxRuntime;
import org.phalanx.nd4j.SwrKernels;

import java.util.Arrays;

/**
 * The Sliding Window Recurrence (docs/SWR.md section 1) on ND4J arrays.
 *
 * <pre>
 *   y_t = sum_{s = s0(t)}^{t} (prod_{r = s+1}^{t} a_r) u_s,   s0(t) = l * max(0, floor(t / l) - k + 1)
 * </pre>
 *
 * Layout NCW: {@code a [B, H, L]} (one decay per head and step), {@code u, y [B, C, L]} with
 * {@code C = 16 H}; channel {@code j} uses head {@code j / 16}. Block size {@code l} (default 16) and window
 * {@code k} in blocks (default 2; any {@code k >= 1} and {@link #UNBOUNDED}, on the CPU and CUDA; streaming
 * runs on the CPU kernels). Any length {@code L >= 1}; FLOAT or DOUBLE on the CPU.
 *
 * <p>Inputs are validated (rank, sizes, type, buffer, not closed) and never modified; arrays dense in
 * 'c' order reach the kernels as they are (size-1 dimensions and offsets included), views, 'f'-order
 * and other strided arrays as contiguous copies. Outputs are new arrays (in the current workspace, if
 * one is open), or for the {@code *Into} variants arrays of the caller: an output that shares memory
 * with an input is computed into a temporary and copied over; outputs that share memory with each
 * other, or whose elements overlap themselves (stride 0, broadcast), are refused. Arrays of 2^31 or
 * more elements (whose strides ND4J M2.1 computes with 32-bit overflow) are taken when dense and
 * refused otherwise, before anything is allocated. Thread-safe: the kernels hold no state.
 */
public final class Swr {

    /** Channels per head: one decay per 16 channels. */
    public static final int HEAD = 16;
    public static final int DEFAULT_BLOCK = 16;
    public static final int DEFAULT_WINDOW = 2;
    /**
     * The unbounded window ({@code Integer.MAX_VALUE} blocks): every step since {@code t = 0}, i.e. the full
     * linear recurrence {@code x_t = a_t x_{t-1} + u_t}, in O(L) forward and backward. Any {@code k} at least
     * the number of blocks gives the same result; when streaming, this one keeps an O(C) state.
     */
    public static final int UNBOUNDED = Integer.MAX_VALUE;

    private Swr() {
    }

    /** {@code y = SWR(a, u)} with block 16 and window 2. */
    public static INDArray forward(INDArray a, INDArray u) {
        return forward(a, u, DEFAULT_BLOCK, DEFAULT_WINDOW);
    }

    /** {@code y = SWR(a, u)} with the given block size and window (in blocks). */
    public static INDArray forward(INDArray a, INDArray u, int blockSize, int k) {
        check("forward", a, u, null, blockSize, k); // before u's shape is used to allocate
        return forwardInto(a, u, Nd4j.createUninitialized(u.dataType(), u.shape(), 'c'), blockSize, k);
    }

    /**
     * Streaming forward: continues the sequences held by {@code state} (which must match B, H and the
     * type) with the next {@code L} steps, and advances the state. Any {@code k >= 1} and {@link #UNBOUNDED}.
     * Feeding a sequence in pieces of any sizes gives the same outputs as one
     * {@link #forward(INDArray, INDArray, int, int)} over it. The state records {@code blockSize} and
     * {@code k} on its first call and refuses others afterwards.
     */
    public static INDArray forward(INDArray a, INDArray u, int blockSize, int k, SwrState state) {
        check("forward", a, u, null, blockSize, k); // before u's shape is used to allocate
        return forwardInto(a, u, Nd4j.createUninitialized(u.dataType(), u.shape(), 'c'), blockSize, k, state);
    }

    /** The streaming forward written into the given output array (see {@link #forwardInto(INDArray, INDArray, INDArray, int, int)}). */
    public static INDArray forwardInto(INDArray a, INDArray u, INDArray y, int blockSize, int k, SwrState state) {
        SwrKernels kernels = check("forward", a, u, null, blockSize, k);
        if (state == null) {
            throw new IllegalArgumentException("Swr.forward: state must not be null (use SwrState.create)");
        }
        state.checkCompatible(a);
        checkOutput("forward", "y", y, u);
        if (state.position > Long.MAX_VALUE - a.size(2)) {
            throw new IllegalArgumentException("Swr.forward: the state's position " + state.position + " plus L = "
                    + a.size(2) + " overflows");
        }
        state.bind("Swr.forward", blockSize, k);
        INDArray yc = writable(kernels, "forward", "y", y, a, u);
        kernels.forwardStream(contiguous(a), contiguous(u), yc, blockSize, k, state.h, state.p, k >= 2 ? state.v : null,
                state.vRing, state.aRing, state.position);
        if (yc != y) y.assign(yc);
        state.position += a.size(2);
        return y;
    }

    /** Gradients {@code {da, du}} of {@code sum(dy * y)} with block 16 and window 2. */
    public static INDArray[] backward(INDArray a, INDArray u, INDArray dy) {
        return backward(a, u, dy, DEFAULT_BLOCK, DEFAULT_WINDOW);
    }

    /**
     * Gradients of {@code sum(dy * SWR(a, u))}: returns {@code {da [B, H, L], du [B, C, L]}}, where
     * {@code da} is summed over each head's 16 channels.
     */
    public static INDArray[] backward(INDArray a, INDArray u, INDArray dy, int blockSize, int k) {
        check("backward", a, u, dy, blockSize, k); // before a's and u's shapes are used to allocate
        INDArray da = Nd4j.createUninitialized(a.dataType(), a.shape(), 'c');
        INDArray du = Nd4j.createUninitialized(u.dataType(), u.shape(), 'c');
        backwardInto(a, u, dy, da, du, blockSize, k);
        return new INDArray[]{da, du};
    }

    /**
     * Gradients {@code {da, du}} of {@code sum(dy * y)} for {@code y = forward(a, u, blockSize, k, state)}, with the
     * state the piece started from held fixed (the gradient stops at the piece's start, as truncated BPTT wants).
     * {@code state} is that incoming state (e.g. a {@link SwrState#copy()} taken before the forward) and is not
     * modified; any {@code k >= 1} and {@link #UNBOUNDED}, exact at every block phase.
     */
    public static INDArray[] backward(INDArray a, INDArray u, INDArray dy, int blockSize, int k, SwrState state) {
        check("backward", a, u, dy, blockSize, k);
        if (state == null) {
            throw new IllegalArgumentException("Swr.backward: state must not be null (the state the piece started from)");
        }
        state.checkCompatible(a);
        if (state.blockSize != 0 && (state.blockSize != blockSize || state.window != k)) {
            throw new IllegalArgumentException("Swr.backward: the state streams with blockSize " + state.blockSize
                    + " and k = " + SwrState.windowName(state.window) + "; got blockSize " + blockSize + ", k = "
                    + SwrState.windowName(k));
        }
        if (state.position == 0) {
            return backward(a, u, dy, blockSize, k);
        }
        DataType t = a.dataType();
        long b = a.size(0), heads = a.size(1), c = u.size(1);
        INDArray da = Nd4j.createUninitialized(t, a.shape(), 'c'), du = Nd4j.createUninitialized(t, u.shape(), 'c');
        INDArray dh0 = Nd4j.createUninitialized(t, b, c), dp0 = Nd4j.createUninitialized(t, b, heads);
        INDArray dv0 = Nd4j.createUninitialized(t, b, c);
        INDArray zc = Nd4j.zeros(t, b, c), zh = Nd4j.zeros(t, b, heads);
        INDArray v = k >= 2 ? state.v : zc;
        long slots = SwrState.ringSlots(k);
        if (slots > 0) {
            if (state.vRing == null) {
                throw new IllegalArgumentException("Swr.backward: window k = " + k + " needs the state's ring of blocks; "
                        + "this state has none (it was saved by a version that streamed k <= 2 only)");
            }
            INDArray zr = Nd4j.zeros(t, state.vRing.shape()), zra = Nd4j.zeros(t, state.aRing.shape());
            SwrStateBp.backwardRing(a, u, state.h, state.p, v, state.vRing, state.aRing, state.position, dy, zc, zh, zc,
                    zr, zra, da, du, dh0, dp0, dv0, Nd4j.createUninitialized(t, state.vRing.shape(), 'c'),
                    Nd4j.createUninitialized(t, state.aRing.shape(), 'c'), blockSize, k);
        } else {
            SwrStateBp.backward(a, u, state.h, state.p, v, state.position, dy, zc, zh, zc, da, du, dh0, dp0, dv0,
                    blockSize, k);
        }
        return new INDArray[]{da, du};
    }

    /**
     * {@code y = SWR(a, u)} written into the given output array (any layout). A dense 'c' array that
     * shares no memory with {@code a} or {@code u} is written directly; anything else through a
     * temporary copied over afterwards, so {@code y} may even be {@code u} itself. Lets callers reuse
     * buffers. Refused: a {@code y} whose elements overlap each other (e.g. a broadcast view).
     */
    public static INDArray forwardInto(INDArray a, INDArray u, INDArray y, int blockSize, int k) {
        SwrKernels kernels = check("forward", a, u, null, blockSize, k);
        checkOutput("forward", "y", y, u);
        INDArray yc = writable(kernels, "forward", "y", y, a, u);
        kernels.forward(contiguous(a), contiguous(u), yc, blockSize, k);
        if (yc != y) y.assign(yc);
        return y;
    }

    /**
     * {@link #backward(INDArray, INDArray, INDArray, int, int)} written into {@code da} and {@code du}
     * (as {@link #forwardInto(INDArray, INDArray, INDArray, int, int)} writes {@code y}: either may share
     * memory with the inputs, e.g. {@code du} may be {@code dy}). {@code da} and {@code du} must not
     * share memory with each other.
     */
    public static void backwardInto(INDArray a, INDArray u, INDArray dy, INDArray da, INDArray du, int blockSize, int k) {
        SwrKernels kernels = check("backward", a, u, dy, blockSize, k);
        checkOutput("backward", "da", da, a);
        checkOutput("backward", "du", du, u);
        if (kernels.mayOverlap(da, du)) {
            throw new IllegalArgumentException("Swr.backward: outputs da and du share memory (da " + Arrays.toString(da.shape())
                    + " lies within or across du's memory); pass two separate arrays");
        }
        INDArray dac = writable(kernels, "backward", "da", da, a, u, dy), duc = writable(kernels, "backward", "du", du, a, u, dy);
        kernels.backward(contiguous(a), contiguous(u), contiguous(dy), dac, duc, blockSize, k);
        if (dac != da) da.assign(dac);
        if (duc != du) du.assign(duc);
    }

    private static void checkOutput(String op, String name, INDArray out, INDArray like) {
        checkOutputAs("Swr." + op + ": ", name, out, like);
    }

    /** An output array: the shape and type of {@code like}, live memory, one location per element. */
    static void checkOutputAs(String prefix, String name, INDArray out, INDArray like) {
        String where = prefix + "output " + name;
        if (out == null || !Arrays.equals(out.shape(), like.shape()) || out.dataType() != like.dataType()) {
            throw new IllegalArgumentException(where + " must have shape "
                    + Arrays.toString(like.shape()) + " and type " + like.dataType() + "; got "
                    + (out == null ? "null" : Arrays.toString(out.shape()) + " " + out.dataType()));
        }
        checkMemory(where, out);
        if (ArrayMemory.mayOverlapItself(out)) {
            throw new IllegalArgumentException(where + " has elements that share memory (strides "
                    + Arrays.toString(out.stride()) + " for shape " + Arrays.toString(out.shape())
                    + ", e.g. a broadcast view); pass an array with one memory location per element");
        }
    }

    /**
     * The output itself where the kernels can write it directly: dense 'c' order and no memory shared
     * with any input (the kernels read neighbouring blocks of their inputs while other threads write
     * outputs); otherwise a temporary that the caller copies back.
     */
    private static INDArray writable(SwrKernels kernels, String op, String name, INDArray out, INDArray... inputs) {
        return writableAs(kernels, "Swr." + op + ": ", name, out, inputs);
    }

    static INDArray writableAs(SwrKernels kernels, String prefix, String name, INDArray out, INDArray... inputs) {
        boolean direct = ArrayMemory.isDenseC(out);
        for (INDArray in : inputs) {
            direct &= !kernels.mayOverlap(in, out);
        }
        if (direct) return out;
        if (ArrayMemory.beyondIntStrides(out)) { // ND4J's copy back would use its wrapped strides
            throw new IllegalArgumentException(prefix + "output " + name + " has " + out.length()
                    + " elements (2^31 or more) and shares memory with an input; pass a separate output array");
        }
        return Nd4j.createUninitialized(out.dataType(), out.shape(), 'c');
    }

    /** Refuses what no kernel may touch: closed arrays, arrays reaching past their buffer, undense huge arrays. */
    static void checkMemory(String what, INDArray x) {
        if (ArrayMemory.isClosed(x)) {
            throw new IllegalArgumentException(what + " was closed (INDArray.close()); its memory is gone");
        }
        if (ArrayMemory.beyondIntStrides(x) && !ArrayMemory.isDenseC(x)) {
            throw new IllegalArgumentException(what + " has " + x.length() + " elements (2^31 or more) and is not a "
                    + "dense 'c'-order array of its own (strides " + Arrays.toString(x.stride()) + ", offset " + x.offset()
                    + "); ND4J 1.0.0-M2.1 computes strides of 2^31 or more with 32-bit overflow, so Swr takes such "
                    + "arrays only dense, as Nd4j.create/createUninitialized(..., 'c') makes them");
        }
        if (!ArrayMemory.fitsItsBuffer(x)) {
            throw new IllegalArgumentException(what + " claims shape " + Arrays.toString(x.shape()) + ", strides "
                    + Arrays.toString(x.stride()) + " at offset " + x.offset() + " but its buffer holds only "
                    + ArrayMemory.root(x).length() + " elements");
        }
    }

    /**
     * Validates the arguments of an SWR call and returns the backend's kernels. Every message names
     * the argument and what was expected.
     */
    public static SwrKernels check(String op, INDArray a, INDArray u, INDArray dy, int blockSize, int k) {
        return check("Swr." + op + ": ", "u", "dy", "y", op.equals("backward"), a, u, dy, blockSize, k);
    }

    /**
     * {@link #check(String, INDArray, INDArray, INDArray, int, int)} for any API that takes a decay {@code a} and a
     * channel input like {@code u} (and its output gradient like {@code dy}), under the names that API gives them:
     * {@code where} prefixes every message, {@code outName} names the output {@code dy} is the gradient of; {@code needDy}: the gradient is required.
     */
    static SwrKernels check(String where, String uName, String dyName, String outName, boolean needDy, INDArray a, INDArray u, INDArray dy,
                            int blockSize, int k) {
        if (a == null) throw new IllegalArgumentException(where + "a must not be null (expected [B, H, L])");
        if (u == null) throw new IllegalArgumentException(where + uName + " must not be null (expected [B, 16*H, L])");
        if (a.rank() != 3) {
            throw new IllegalArgumentException(where + "a must have rank 3, shape [B, H, L]; got shape "
                    + Arrays.toString(a.shape()));
        }
        if (u.rank() != 3) {
            throw new IllegalArgumentException(where + uName + " must have rank 3, shape [B, C, L] with C = 16*H; got shape "
                    + Arrays.toString(u.shape()));
        }
        long b = a.size(0), h = a.size(1), l = a.size(2);
        long[] expectU = {b, HEAD * h, l};
        if (!Arrays.equals(u.shape(), expectU)) {
            throw new IllegalArgumentException(where + uName + " must have shape [B, 16*H, L] = " + Arrays.toString(expectU)
                    + " to match a " + Arrays.toString(a.shape()) + "; got " + Arrays.toString(u.shape()));
        }
        if (b < 1 || h < 1 || l < 1) {
            throw new IllegalArgumentException(where + "a must have B, H, L >= 1; got shape " + Arrays.toString(a.shape()));
        }
        if (dy == null && needDy) {
            throw new IllegalArgumentException(where + dyName + " (the gradient of " + outName + ") must not be null (expected shape "
                    + Arrays.toString(expectU) + ")");
        }
        if (dy != null && dy.rank() != 3) {
            throw new IllegalArgumentException(where + dyName + " must have rank 3, the shape of y, " + Arrays.toString(expectU)
                    + "; got shape " + Arrays.toString(dy.shape()));
        }
        if (dy != null && !Arrays.equals(dy.shape(), expectU)) {
            throw new IllegalArgumentException(where + dyName + " must have the shape of " + outName + ", " + Arrays.toString(expectU)
                    + "; got " + Arrays.toString(dy.shape()));
        }
        if (blockSize < 1) {
            throw new IllegalArgumentException(where + "blockSize must be >= 1; got " + blockSize);
        }
        if (k < 1) {
            throw new IllegalArgumentException(where + "k (window in blocks) must be >= 1; got " + k);
        }
        DataType t = a.dataType();
        if (!t.isFPType()) {
            throw new IllegalArgumentException(where + "a must have a floating-point type; got " + t);
        }
        if (u.dataType() != t) {
            throw new IllegalArgumentException(where + uName + " must have the type of a (" + t + "); got " + u.dataType());
        }
        if (dy != null && dy.dataType() != t) {
            throw new IllegalArgumentException(where + dyName + " must have the type of a (" + t + "); got " + dy.dataType());
        }
        checkMemory(where + "a", a);
        checkMemory(where + uName, u);
        if (dy != null) checkMemory(where + dyName, dy);
        SwrKernels kernels = PhalanxRuntime.kernels();
        if (!kernels.supports(t)) {
            throw new IllegalArgumentException(where + "the " + PhalanxRuntime.backendName()
                    + " backend runs SWR on FLOAT and DOUBLE arrays; a, " + uName + " have type " + t + " (cast them first)");
        }
        if (k > kernels.maxWindow()) {
            throw new IllegalArgumentException(where + "the " + PhalanxRuntime.backendName() + " kernels take k <= "
                    + kernels.maxWindow() + "; got k = " + k);
        }
        return kernels;
    }

    /** The array itself if it is dense in 'c' order ({@link ArrayMemory#isDenseC}), else a contiguous copy. */
    public static INDArray contiguous(INDArray x) {
        return ArrayMemory.isDenseC(x) ? x : x.dup('c');
    }
}
