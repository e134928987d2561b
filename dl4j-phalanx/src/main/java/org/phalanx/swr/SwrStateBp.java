package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * The {@code swr_state_bp} op, gradient of {@link SwrStateOp}: inputs {@code a, u, h, P, v[, vRing, aRing], position}
 * and the gradients {@code dy, dh, dP, dv[, dvRing, daRing]} of its outputs; outputs
 * {@code da, du, dh0, dP0, dv0[, dvRing0, daRing0]}, exact (the ring for a finite window {@code 3 <= k < UNBOUNDED}).
 *
 * <p>How: a state {@code (h, P, v)} at block phase {@code f = position mod l} is what a prefix of known steps
 * leaves behind. Its current block (the one {@code h, P} run over) starts with {@code a = P, u = h} and continues
 * with {@code a = 1, u = 0} up to phase {@code f} (a whole block when {@code f = 0}). Unless that block is the
 * sequence's block 0 (which has no carry, so {@code v} is not read), one block of zeros goes before it, but for
 * {@code u = v} at its last step: its terminal local state ({@code k = 2}) and the recurrence's value there
 * ({@link Swr#UNBOUNDED}) are both {@code v}. SWR over {@code prefix + piece} from position 0 gives the piece's
 * {@code y} on its last {@code L} steps, so one native backward over it gives {@code da, du} of the piece and,
 * at the prefix steps that hold them, the gradients of {@code v, h, P}. The final state is read from the same
 * sequence: {@code h} is the block-local ({@code k = 1}) SWR at the last step, {@code P} the product of the
 * decays since the last block start, {@code v} at the step before that start the block-local SWR ({@code k = 2})
 * or the recurrence itself ({@code UNBOUNDED}, whose gradient joins the main backward's {@code dy}); the others'
 * gradients come from {@code k = 1} backwards over the last one or two blocks only. No division by {@code a}.
 * With {@code position = 0} the state is ignored and the piece is differentiated as is.
 *
 * <p>A finite window {@code k >= 3} (the ring): the state's current block reads the carry {@code v}, later blocks
 * read the ring and the current block's terminal state instead (docs/SWR.md). So the output gradient is split in
 * two, the backward being linear in it: the piece's steps still in the current block are differentiated with the
 * prefix of {@code k = 2} above (their outputs are {@code h_t + P_t v}, as for {@code k = 2}); the later steps with a
 * prefix of the ring's blocks (block {@code j}: decay {@code A_j} at its first step and 1 after, input
 * {@code V_j} at its last step and 0 before) followed by the current block, under the window {@code k}: SWR over it
 * gives the later steps' outputs, and the gradients of the ring at the steps that hold it. The final ring's blocks
 * finished in the piece are block-local SWRs (and products) read at their last steps; the final carry {@code v} is
 * SWR with window {@code k - 1} read at the step before the last block start; blocks the piece did not reach pass
 * their gradients through.
 */
public class SwrStateBp extends SwrOpBase {

    public static final String OP_NAME = "swr_state_bp";
    private static final String INPUTS = SwrStateOp.INPUTS + ", dy, dh, dP, dv[, dvRing, daRing]";

    public SwrStateBp() {
    }

    /** {@code forwardArgs}: the inputs of {@link SwrStateOp}; {@code grads}: dy, dh, dP, dv (and dvRing, daRing). */
    public SwrStateBp(SameDiff sameDiff, SDVariable[] forwardArgs, SDVariable[] grads, int blockSize, int k) {
        super(sameDiff, concat(forwardArgs, grads, k), blockSize, k);
    }

    public SwrStateBp(INDArray[] inputs, int blockSize, int k) {
        super(inputs, null, blockSize, k);
    }

    private static SDVariable[] concat(SDVariable[] x, SDVariable[] y, int k) {
        int nx = SwrStateOp.inputCount(k), ny = nx - 2;
        if (x == null || x.length != nx || y == null || y.length != ny) {
            throw new IllegalArgumentException(OP_NAME + " with k = " + SwrState.windowName(k) + " expects the " + nx
                    + " inputs of " + SwrStateOp.OP_NAME + " and " + ny + " output gradients");
        }
        SDVariable[] r = Arrays.copyOf(x, nx + ny);
        System.arraycopy(y, 0, r, nx, ny);
        return r;
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return SwrStateOp.inputCount(k) - 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        int nx = SwrStateOp.inputCount(k);
        SwrOps.checkInputCount(OP_NAME, in, 2 * nx - 2, INPUTS);
        INDArray a = in.get(0), u = in.get(1);
        Swr.check("backward", a, u, in.get(nx), blockSize, k);
        SwrStateOp.checkState(OP_NAME, a, in, k);
        String[] names = {"dh", "dP", "dv", "dvRing", "daRing"};
        List<LongShapeDescriptor> out = new ArrayList<>(Arrays.asList(desc(a), desc(u)));
        for (int i = 2; i < nx - 1; i++) {
            checkLike(in.get(nx + i - 1), in.get(i), names[i - 2]);
            out.add(desc(in.get(i)));
        }
        return out;
    }

    private static LongShapeDescriptor desc(INDArray x) {
        return LongShapeDescriptor.fromShape(x.shape(), x.dataType());
    }

    private static void checkLike(INDArray g, INDArray x, String name) {
        if (g == null || !Arrays.equals(g.shape(), x.shape()) || g.dataType() != x.dataType()) {
            throw new IllegalArgumentException(OP_NAME + ": " + name + " must have shape " + Arrays.toString(x.shape())
                    + " and type " + x.dataType() + "; got " + (g == null ? "null" : Arrays.toString(g.shape()) + " " + g.dataType()));
        }
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        INDArray a = in.get(0), u = in.get(1);
        long position = SwrStateOp.checkState(OP_NAME, a, in, k);
        if (SwrStateOp.hasRing(k)) {
            backwardRing(a, u, in.get(2), in.get(3), in.get(4), in.get(5), in.get(6), position,
                    in.get(8), in.get(9), in.get(10), in.get(11), in.get(12), in.get(13),
                    out.get(0), out.get(1), out.get(2), out.get(3), out.get(4), out.get(5), out.get(6), blockSize, k);
        } else {
            backward(a, u, in.get(2), in.get(3), in.get(4), position, in.get(6), in.get(7), in.get(8), in.get(9),
                    out.get(0), out.get(1), out.get(2), out.get(3), out.get(4), blockSize, k);
        }
    }

    /** See the class comment. Inputs are checked; outputs are written in full. */
    static void backward(INDArray a, INDArray u, INDArray h0, INDArray p0, INDArray v0, long position,
                         INDArray dy, INDArray dhT, INDArray dpT, INDArray dvT,
                         INDArray da, INDArray du, INDArray dh0, INDArray dp0, INDArray dv0, int l, int k) {
        DataType t = a.dataType();
        long b = a.size(0), heads = a.size(1), c = u.size(1), len = a.size(2);
        boolean carries = k != 1; // k = 2 or UNBOUNDED: v is a carry, and an output
        long phase = position % l;
        // The state's current block (the one h and P run over) and where it starts in the prefixed sequence:
        // block 0 of the sequence has no carry (v is not read), so no carrier block goes before it.
        long current = position == 0 ? 0 : (position - 1) / l;
        long start = position == 0 || current == 0 ? 0 : l;
        long pre = position == 0 ? 0 : start + (phase > 0 ? phase : l);
        long n = pre + len;
        // Last block start of the prefixed sequence: the final h and P run from there; the final v is what
        // the block before it left (k = 2: its terminal local state; UNBOUNDED: the recurrence's value).
        long last = ((n - 1) / l) * l;
        boolean vFromPrefix = carries && pre > 0 && last == start; // no block started in the piece
        INDArray sa = a, su = u, sdy = dy;
        if (pre > 0) {
            INDArray pa = Nd4j.ones(t, b, heads, pre), pu = Nd4j.zeros(t, b, c, pre);
            pa.get(all(), all(), point(start)).assign(p0);
            pu.get(all(), all(), point(start)).assign(h0);
            if (carries && start > 0) pu.get(all(), all(), point(start - 1)).assign(v0);
            sa = Nd4j.concat(2, pa, a);
            su = Nd4j.concat(2, pu, u);
            sdy = Nd4j.concat(2, Nd4j.zeros(t, b, c, pre), dy);
        }
        if (k == Swr.UNBOUNDED && last > 0) {
            if (sdy == dy) sdy = dy.dup('c');
            sdy.get(all(), all(), point(last - 1)).addi(dvT);
        }
        INDArray[] g = Swr.backward(sa, su, sdy, l, k);
        INDArray ga = g[0], gu = g[1];

        // Final h and, for k = 2, v: block-local SWR over the last one or two blocks, read at the last step and
        // at the step before the last block start (none when that start is step 0: v = 0, or v passed through).
        long from = k == 2 ? Math.max(0, last - l) : last;
        INDArray tdy = Nd4j.zeros(t, b, c, n - from);
        tdy.get(all(), all(), point(n - 1 - from)).assign(dhT);
        if (k == 2 && last > 0) tdy.get(all(), all(), point(last - 1 - from)).assign(dvT);
        INDArray[] gt = Swr.backward(slice(sa, from, n), slice(su, from, n), tdy, l, 1);
        ga.get(all(), all(), interval(from, n)).addi(gt[0]);
        gu.get(all(), all(), interval(from, n)).addi(gt[1]);

        // Final P = prod of a since the last block start: the block-local SWR of u = a at that start (on one
        // channel per head), read at the last step; u's gradient there is a's.
        long m = n - last;
        INDArray pa = slice(sa, last, n);
        INDArray pu = Nd4j.zeros(t, b, c, m), pdy = Nd4j.zeros(t, b, c, m);
        pu.reshape('c', b, heads, Swr.HEAD, m).get(all(), all(), point(0), point(0)).assign(pa.get(all(), all(), point(0)));
        pdy.reshape('c', b, heads, Swr.HEAD, m).get(all(), all(), point(0), point(m - 1)).assign(dpT);
        INDArray[] gp = Swr.backward(pa, pu, pdy, l, 1);
        ga.get(all(), all(), interval(last, n)).addi(gp[0]);
        ga.get(all(), all(), point(last)).addi(gp[1].reshape('c', b, heads, Swr.HEAD, m).get(all(), all(), point(0), point(0)));

        if (pre == 0) {
            da.assign(ga);
            du.assign(gu);
            dh0.assign(0);
            dp0.assign(0);
            dv0.assign(0);
        } else {
            da.assign(ga.get(all(), all(), interval(pre, n)));
            du.assign(gu.get(all(), all(), interval(pre, n)));
            dh0.assign(gu.get(all(), all(), point(start)));
            dp0.assign(ga.get(all(), all(), point(start)));
            if (carries && start > 0) dv0.assign(gu.get(all(), all(), point(start - 1)));
            else if (vFromPrefix) dv0.assign(dvT); // in block 0 the state's v is passed through unread
            else dv0.assign(0);
        }
    }

    /**
     * The backward of a finite window {@code 3 <= k < UNBOUNDED} (see the class comment): ring {@code vr0 [B, k-2, C]},
     * {@code ar0 [B, k-2, H]} and their gradients. Inputs are checked; outputs are written in full.
     */
    static void backwardRing(INDArray a, INDArray u, INDArray h0, INDArray p0, INDArray v0, INDArray vr0, INDArray ar0,
                             long position, INDArray dy, INDArray dhT, INDArray dpT, INDArray dvT, INDArray dvrT,
                             INDArray darT, INDArray da, INDArray du, INDArray dh0, INDArray dp0, INDArray dv0,
                             INDArray dvr0, INDArray dar0, int l, int k) {
        DataType t = a.dataType();
        long b = a.size(0), heads = a.size(1), c = u.size(1), len = a.size(2), slots = SwrState.ringSlots(k);
        boolean fresh = position == 0;
        long phase = position % l;
        long cur = fresh ? 0 : (position - 1) / l;         // the state's current block (h and P run over it)
        long nr = fresh ? 0 : Math.min(slots, cur);         // ring blocks that exist: cur - nr .. cur - 1
        long base = cur - nr;                               // the sequence's block at the prefix's step 0
        long curStart = nr * l;                             // the current block's start in the prefixed sequence
        long pre = fresh ? 0 : curStart + (phase > 0 ? phase : l);
        long n = pre + len;
        long nCur = fresh || phase == 0 ? 0 : Math.min(len, l - phase); // piece steps still in the current block

        // The prefix: the ring's blocks, oldest first, then the current block as far as it went.
        INDArray sa = a, su = u;
        if (pre > 0) {
            INDArray pa = Nd4j.ones(t, b, heads, pre), pu = Nd4j.zeros(t, b, c, pre);
            for (long i = 0; i < nr; i++) {
                long slot = (base + i) % slots;
                pa.get(all(), all(), point(i * l)).assign(ar0.get(all(), point(slot), all()));
                pu.get(all(), all(), point(i * l + l - 1)).assign(vr0.get(all(), point(slot), all()));
            }
            pa.get(all(), all(), point(curStart)).assign(p0);
            pu.get(all(), all(), point(curStart)).assign(h0);
            sa = Nd4j.concat(2, pa, a);
            su = Nd4j.concat(2, pu, u);
        }
        // The outputs after the current block, under the window k.
        INDArray sdy = Nd4j.zeros(t, b, c, n);
        if (nCur < len) {
            sdy.get(all(), all(), interval(pre + nCur, n)).assign(dy.get(all(), all(), interval(nCur, len)));
        }
        INDArray[] g = Swr.backward(sa, su, sdy, l, k);
        INDArray ga = g[0], gu = g[1];

        // The final state. Blocks (of the prefixed sequence) nr .. last/l - 1 finished in the piece.
        long last = ((n - 1) / l) * l, cLast = last / l;
        boolean boundary = last > curStart;
        long firstOwn = boundary ? Math.max(nr, cLast - slots) : cLast;   // first block whose end state is read
        long from = firstOwn * l;
        INDArray tdy = Nd4j.zeros(t, b, c, n - from);
        INDArray pu = Nd4j.zeros(t, b, c, n - from), pdy = Nd4j.zeros(t, b, c, n - from);
        INDArray pu4 = pu.reshape('c', b, heads, Swr.HEAD, n - from), pdy4 = pdy.reshape('c', b, heads, Swr.HEAD, n - from);
        tdy.get(all(), all(), point(n - 1 - from)).assign(dhT);
        pdy4.get(all(), all(), point(0), point(n - 1 - from)).assign(dpT);
        for (long j = firstOwn; j <= cLast; j++) {
            // Block products: the block-local SWR of u = a at each block start, on one channel per head.
            pu4.get(all(), all(), point(0), point(j * l - from)).assign(sa.get(all(), all(), point(j * l)));
            if (j < cLast) {   // a finished block in the final ring
                long slot = (base + j) % slots, end = j * l + l - 1 - from;
                tdy.get(all(), all(), point(end)).addi(dvrT.get(all(), point(slot), all()));
                pdy4.get(all(), all(), point(0), point(end)).addi(darT.get(all(), point(slot), all()));
            }
        }
        INDArray sFromA = slice(sa, from, n);
        INDArray[] gt = Swr.backward(sFromA, slice(su, from, n), tdy, l, 1);
        ga.get(all(), all(), interval(from, n)).addi(gt[0]);
        gu.get(all(), all(), interval(from, n)).addi(gt[1]);
        INDArray[] gp = Swr.backward(sFromA, pu, pdy, l, 1);
        ga.get(all(), all(), interval(from, n)).addi(gp[0]);
        INDArray gpu4 = gp[1].reshape('c', b, heads, Swr.HEAD, n - from);
        for (long j = firstOwn; j <= cLast; j++) {
            ga.get(all(), all(), point(j * l)).addi(gpu4.get(all(), all(), point(0), point(j * l - from)));
        }
        if (boundary) {
            // The final carry: SWR with window k - 1 at the step before the last block start.
            long fromV = Math.max(0, last - (long) (k - 1) * l);
            INDArray vdy = Nd4j.zeros(t, b, c, last - fromV);
            vdy.get(all(), all(), point(last - 1 - fromV)).assign(dvT);
            INDArray[] gv = Swr.backward(slice(sa, fromV, last), slice(su, fromV, last), vdy, l, k - 1);
            ga.get(all(), all(), interval(fromV, last)).addi(gv[0]);
            gu.get(all(), all(), interval(fromV, last)).addi(gv[1]);
        }

        da.assign(ga.get(all(), all(), interval(pre, n)));
        du.assign(gu.get(all(), all(), interval(pre, n)));
        dh0.assign(0);
        dp0.assign(0);
        dv0.assign(0);
        dvr0.assign(0);
        dar0.assign(0);
        if (fresh) {
            return;   // the incoming state is not read
        }
        dh0.assign(gu.get(all(), all(), point(curStart)));
        dp0.assign(ga.get(all(), all(), point(curStart)));
        for (long i = 0; i < nr; i++) {
            long slot = (base + i) % slots;
            dvr0.get(all(), point(slot), all()).assign(gu.get(all(), all(), point(i * l + l - 1)));
            dar0.get(all(), point(slot), all()).assign(ga.get(all(), all(), point(i * l)));
        }
        // Slots the piece did not overwrite hold the incoming values: their gradients pass through (all of
        // them, less those of the slots of the blocks finished in the piece).
        INDArray passV = dvrT.dup('c'), passA = darT.dup('c');
        for (long j = boundary ? Math.max(nr, cLast - slots) : cLast; j < cLast; j++) {
            long slot = (base + j) % slots;
            passV.get(all(), point(slot), all()).assign(0);
            passA.get(all(), point(slot), all()).assign(0);
        }
        dvr0.addi(passV);
        dar0.addi(passA);
        if (!boundary) {
            dv0.addi(dvT);   // no block started: the carry passes through
        }
        if (nCur > 0) {
            // The piece's steps in the current block read the carry v: y = h + P v, as for k = 2.
            INDArray cda = Nd4j.createUninitialized(t, b, heads, nCur), cdu = Nd4j.createUninitialized(t, b, c, nCur);
            INDArray ch = Nd4j.createUninitialized(t, b, c), cp = Nd4j.createUninitialized(t, b, heads);
            INDArray cv = Nd4j.createUninitialized(t, b, c);
            INDArray zc = Nd4j.zeros(t, b, c), zh = Nd4j.zeros(t, b, heads);
            backward(slice(a, 0, nCur), slice(u, 0, nCur), h0, p0, v0, position, slice(dy, 0, nCur), zc, zh, zc,
                    cda, cdu, ch, cp, cv, l, 2);
            da.get(all(), all(), interval(0, nCur)).addi(cda);
            du.get(all(), all(), interval(0, nCur)).addi(cdu);
            dh0.addi(ch);
            dp0.addi(cp);
            dv0.addi(cv);
        }
    }

    private static INDArray slice(INDArray x, long from, long to) {
        return x.get(all(), all(), interval(from, to)).dup('c');
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        int n = 2 * SwrStateOp.inputCount(k) - 2;
        if (dataTypes == null || dataTypes.size() != n) {
            throw new IllegalArgumentException(OP_NAME + " with k = " + SwrState.windowName(k) + " expects " + n
                    + " inputs (" + INPUTS + "); got types " + dataTypes);
        }
        DataType t = dataTypes.get(1);
        return java.util.Collections.nCopies(getNumOutputs(), t);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException(OP_NAME + ": second derivatives of SWR are not implemented");
    }
}
