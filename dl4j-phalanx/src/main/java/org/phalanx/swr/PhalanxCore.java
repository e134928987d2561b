package org.phalanx.swr;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nd4j.SwrKernels;

import java.util.Arrays;

/**
 * The fused Phalanx core (docs/SWR.md section 2; {@code phalanx_core.h}): the part of a Phalanx layer between
 * its input projections and its output projection, in one pass over memory,
 *
 * <pre>
 *   m = SWR(a, rep(beta) * v) * rep(c) + v
 * </pre>
 *
 * Layout NCW: {@code a [B, H, L]}, {@code v, m [B, 16 H, L]}, {@code beta, c [B, 16 kvH, L]} with {@code kvH}
 * dividing {@code H}: channel {@code j} of head {@code h = j / 16} reads group channel
 * {@code (h / (H / kvH)) * 16 + j % 16} of {@code beta} and {@code c} (grouped heads; {@code kvH = H} is one
 * gate channel per channel). Block and window as in {@link Swr}.
 *
 * <p>The same contract as {@link Swr} (and the same checks, shared with it): inputs validated and never
 * modified, dense 'c' arrays passed as they are and others as contiguous copies, every array reachable until
 * the kernel returns, outputs that share memory with an input computed through a temporary, outputs sharing
 * memory with each other or overlapping themselves refused. FLOAT and DOUBLE on the CPU; on CUDA also HALF and
 * BFLOAT16, block 16.
 */
public final class PhalanxCore {

    private PhalanxCore() {
    }

    /** {@code m} with block 16 and window 2. */
    public static INDArray forward(INDArray a, INDArray beta, INDArray v, INDArray c) {
        return forward(a, beta, v, c, Swr.DEFAULT_BLOCK, Swr.DEFAULT_WINDOW);
    }

    /** {@code m = SWR(a, rep(beta) v) rep(c) + v}, a new array. */
    public static INDArray forward(INDArray a, INDArray beta, INDArray v, INDArray c, int blockSize, int k) {
        check("forward", a, beta, v, c, null, null, blockSize, k);
        INDArray m = Nd4j.createUninitialized(v.dataType(), v.shape(), 'c');
        return forwardInto(a, beta, v, c, m, null, blockSize, k);
    }

    /**
     * The forward written into {@code m} (any layout, even sharing memory with an input: then through a
     * temporary) and, when {@code y} is not null, {@code SWR(a, rep(beta) v)} into {@code y} (for a backward
     * that reads it). Returns {@code m}.
     */
    public static INDArray forwardInto(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray m, INDArray y,
                                       int blockSize, int k) {
        SwrKernels kernels = check("forward", a, beta, v, c, null, null, blockSize, k);
        String where = where("forward");
        Swr.checkOutputAs(where, "m", m, v);
        if (y != null) {
            Swr.checkOutputAs(where, "y", y, v);
            refuseShared(kernels, where, "m", m, "y", y);
        }
        INDArray mc = Swr.writableAs(kernels, where, "m", m, a, beta, v, c);
        INDArray yc = y == null ? null : Swr.writableAs(kernels, where, "y", y, a, beta, v, c);
        kernels.coreForward(Swr.contiguous(a), Swr.contiguous(beta), Swr.contiguous(v), Swr.contiguous(c), mc, yc, blockSize, k);
        if (mc != m) m.assign(mc);
        if (yc != y) y.assign(yc);
        return m;
    }

    /**
     * Gradients of {@code sum(dm * m)}: {@code {da [B, H, L], dbeta [B, 16 kvH, L], dv [B, 16 H, L], dc [B, 16 kvH, L]}}
     * ({@code da} summed over each head's 16 channels, {@code dbeta, dc} over the heads sharing a group).
     */
    public static INDArray[] backward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray dm, int blockSize, int k) {
        check("backward", a, beta, v, c, null, dm, blockSize, k);
        INDArray da = Nd4j.createUninitialized(a.dataType(), a.shape(), 'c');
        INDArray dbeta = Nd4j.createUninitialized(beta.dataType(), beta.shape(), 'c');
        INDArray dv = Nd4j.createUninitialized(v.dataType(), v.shape(), 'c');
        INDArray dc = Nd4j.createUninitialized(c.dataType(), c.shape(), 'c');
        backwardInto(a, beta, v, c, null, dm, da, dbeta, dv, dc, blockSize, k);
        return new INDArray[]{da, dbeta, dv, dc};
    }

    /**
     * The backward written into the given arrays (each may share memory with an input, not with another
     * output). {@code y}, the forward's {@code SWR(a, rep(beta) v)}, may be null: it is then recomputed (the
     * CPU's fused float32 kernel recomputes it in registers either way).
     */
    public static void backwardInto(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray y, INDArray dm,
                                    INDArray da, INDArray dbeta, INDArray dv, INDArray dc, int blockSize, int k) {
        SwrKernels kernels = check("backward", a, beta, v, c, y, dm, blockSize, k);
        String where = where("backward");
        Swr.checkOutputAs(where, "da", da, a);
        Swr.checkOutputAs(where, "dbeta", dbeta, beta);
        Swr.checkOutputAs(where, "dv", dv, v);
        Swr.checkOutputAs(where, "dc", dc, c);
        INDArray[] outs = {da, dbeta, dv, dc};
        String[] names = {"da", "dbeta", "dv", "dc"};
        for (int i = 0; i < outs.length; i++) {
            for (int j = i + 1; j < outs.length; j++) refuseShared(kernels, where, names[i], outs[i], names[j], outs[j]);
        }
        INDArray[] in = y == null ? new INDArray[]{a, beta, v, c, dm} : new INDArray[]{a, beta, v, c, dm, y};
        INDArray[] w = new INDArray[outs.length];
        for (int i = 0; i < outs.length; i++) w[i] = Swr.writableAs(kernels, where, names[i], outs[i], in);
        kernels.coreBackward(Swr.contiguous(a), Swr.contiguous(beta), Swr.contiguous(v), Swr.contiguous(c),
                y == null ? null : Swr.contiguous(y), Swr.contiguous(dm), w[0], w[1], w[2], w[3], blockSize, k);
        for (int i = 0; i < outs.length; i++) {
            if (w[i] != outs[i]) outs[i].assign(w[i]);
        }
    }

    private static String where(String op) {
        return "PhalanxCore." + op + ": ";
    }

    private static void refuseShared(SwrKernels kernels, String where, String xName, INDArray x, String yName, INDArray y) {
        if (kernels.mayOverlap(x, y)) {
            throw new IllegalArgumentException(where + "outputs " + xName + " and " + yName + " share memory; pass separate arrays");
        }
    }

    /**
     * Validates a core call (a, v, dm as {@link Swr#check} validates a, u, dy; beta, c as the gates of
     * {@code kvH} groups; y, when given, like v) and returns the backend's kernels.
     */
    public static SwrKernels check(String op, INDArray a, INDArray beta, INDArray v, INDArray c, INDArray y, INDArray dm,
                                   int blockSize, int k) {
        String where = where(op);
        SwrKernels kernels = Swr.check(where, "v", "dm", "m", op.equals("backward"), a, v, dm, blockSize, k);
        long b = a.size(0), h = a.size(1), l = a.size(2);
        checkGate(where, "beta", beta, a, b, h, l);
        checkGate(where, "c", c, a, b, h, l);
        if (!Arrays.equals(beta.shape(), c.shape())) {
            throw new IllegalArgumentException(where + "beta and c must have one shape [B, 16*kvH, L]; got beta "
                    + Arrays.toString(beta.shape()) + ", c " + Arrays.toString(c.shape()));
        }
        if (y != null) {
            if (!Arrays.equals(y.shape(), v.shape()) || y.dataType() != v.dataType()) {
                throw new IllegalArgumentException(where + "y (the forward's SWR output) must have the shape and type of v, "
                        + Arrays.toString(v.shape()) + " " + v.dataType() + "; got " + Arrays.toString(y.shape()) + " " + y.dataType());
            }
            Swr.checkMemory(where + "y", y);
        }
        return kernels;
    }

    private static void checkGate(String where, String name, INDArray g, INDArray a, long b, long h, long l) {
        if (g == null) throw new IllegalArgumentException(where + name + " must not be null (expected [B, 16*kvH, L])");
        if (g.rank() != 3 || g.size(0) != b || g.size(2) != l || g.size(1) < Swr.HEAD || g.size(1) % Swr.HEAD != 0) {
            throw new IllegalArgumentException(where + name + " must have shape [B, 16*kvH, L] = [" + b + ", 16*kvH, " + l
                    + "] (kvH >= 1) to match a " + Arrays.toString(a.shape()) + "; got " + Arrays.toString(g.shape()));
        }
        long kvH = g.size(1) / Swr.HEAD;
        if (h % kvH != 0) {
            throw new IllegalArgumentException(where + name + " has kvH = " + kvH + " groups of 16 channels, which must divide "
                    + "the H = " + h + " heads of a; got shape " + Arrays.toString(g.shape()));
        }
        if (g.dataType() != a.dataType()) {
            throw new IllegalArgumentException(where + name + " must have the type of a (" + a.dataType() + "); got " + g.dataType());
        }
        Swr.checkMemory(where + name, g);
    }
}
