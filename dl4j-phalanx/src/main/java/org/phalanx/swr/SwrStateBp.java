package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.List;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * The {@code swr_state_bp} op, gradient of {@link SwrStateOp}: inputs {@code a, u, h, P, v, position} and the
 * gradients {@code dy, dh, dP, dv} of its outputs; outputs {@code da, du, dh0, dP0, dv0}, exact.
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
 */
public class SwrStateBp extends SwrOpBase {

    public static final String OP_NAME = "swr_state_bp";
    private static final String INPUTS = SwrStateOp.INPUTS + ", dy, dh, dP, dv";

    public SwrStateBp() {
    }

    /** {@code forwardArgs}: the six inputs of {@link SwrStateOp}; {@code grads}: dy, dh, dP, dv. */
    public SwrStateBp(SameDiff sameDiff, SDVariable[] forwardArgs, SDVariable[] grads, int blockSize, int k) {
        super(sameDiff, concat(forwardArgs, grads), blockSize, k);
    }

    public SwrStateBp(INDArray[] inputs, int blockSize, int k) {
        super(inputs, null, blockSize, k);
    }

    private static SDVariable[] concat(SDVariable[] x, SDVariable[] y) {
        if (x == null || x.length != 6 || y == null || y.length != 4) {
            throw new IllegalArgumentException(OP_NAME + " expects the 6 inputs of " + SwrStateOp.OP_NAME
                    + " and 4 output gradients");
        }
        SDVariable[] r = Arrays.copyOf(x, 10);
        System.arraycopy(y, 0, r, 6, 4);
        return r;
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return 5;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        SwrOps.checkInputCount(OP_NAME, in, 10, INPUTS);
        INDArray a = in.get(0), u = in.get(1);
        Swr.check("backward", a, u, in.get(6), blockSize, k);
        SwrStateOp.checkState(OP_NAME, a, in.get(2), in.get(3), in.get(4), in.get(5), k);
        checkLike(in.get(7), in.get(2), "dh");
        checkLike(in.get(8), in.get(3), "dP");
        checkLike(in.get(9), in.get(4), "dv");
        return Arrays.asList(desc(a), desc(u), desc(in.get(2)), desc(in.get(3)), desc(in.get(4)));
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
        long position = SwrStateOp.checkState(OP_NAME, a, in.get(2), in.get(3), in.get(4), in.get(5), k);
        backward(a, u, in.get(2), in.get(3), in.get(4), position, in.get(6), in.get(7), in.get(8), in.get(9),
                out.get(0), out.get(1), out.get(2), out.get(3), out.get(4), blockSize, k);
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

    private static INDArray slice(INDArray x, long from, long to) {
        return x.get(all(), all(), interval(from, to)).dup('c');
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 10) {
            throw new IllegalArgumentException(OP_NAME + " expects 10 inputs (" + INPUTS + "); got types " + dataTypes);
        }
        DataType t = dataTypes.get(1);
        return Arrays.asList(t, t, t, t, t);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException(OP_NAME + ": second derivatives of SWR are not implemented");
    }
}
