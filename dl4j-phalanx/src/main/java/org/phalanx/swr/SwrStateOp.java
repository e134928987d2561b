package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code swr_state} op: SWR continuing from a streaming state, returning the state it ends in
 * (docs/SWR.md, "Streaming (decode) state"), so that a graph can prefill and then decode, or chain
 * pieces, with its state as ordinary variables.
 *
 * <p>Inputs {@code a [B, H, L], u [B, 16 H, L]}, the incoming state {@code h [B, C], P [B, H], v [B, C]}
 * and {@code position} (an integer scalar: the steps seen before this piece, which fixes the block phase).
 * Outputs {@code y [B, C, L]}, the state after the piece {@code h, P, v}, and {@code position + L} (LONG).
 * With {@code position = 0} the incoming arrays are ignored (a fresh sequence), as in {@link SwrState}.
 * Windows {@code k = 1} ({@code v} unused: its output is 0), {@code k = 2} ({@code v}: the previous block's
 * terminal local state) and {@link Swr#UNBOUNDED} ({@code v}: the recurrence's value at the end of the previous
 * block); in the sequence's block 0 {@code v} is not read (there is no carry) and passes through. A finite
 * {@code k >= 3} is refused: its state adds a ring of blocks (see {@link SwrState}) not carried here. Integer arguments
 * {@code [blockSize, k]}. Its gradient, {@link SwrStateBp}, is exact with respect to {@code a, u, h, P, v}.
 */
public class SwrStateOp extends SwrOpBase {

    public static final String OP_NAME = "swr_state";
    static final String INPUTS = "a, u, h, P, v, position";

    public SwrStateOp() {
    }

    public SwrStateOp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable h, SDVariable p, SDVariable v,
                      SDVariable position, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, h, p, v, position}, blockSize, k);
    }

    /** Eager use: {@code Nd4j.exec(new SwrStateOp(a, u, h, P, v, position, 16, 2))} returns {y, h, P, v, position}. */
    public SwrStateOp(INDArray a, INDArray u, INDArray h, INDArray p, INDArray v, INDArray position, int blockSize, int k) {
        super(new INDArray[]{a, u, h, p, v, position}, null, blockSize, k);
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
    public List<LongShapeDescriptor> outputShapes(List<INDArray> inputs) {
        SwrOps.checkInputCount(OP_NAME, inputs, 6, INPUTS);
        INDArray a = inputs.get(0), u = inputs.get(1);
        Swr.check("forward", a, u, null, blockSize, k);
        checkState(OP_NAME, a, inputs.get(2), inputs.get(3), inputs.get(4), inputs.get(5), k);
        DataType t = a.dataType();
        long b = a.size(0), h = a.size(1), c = u.size(1);
        return Arrays.asList(LongShapeDescriptor.fromShape(u.shape(), t), LongShapeDescriptor.fromShape(new long[]{b, c}, t),
                LongShapeDescriptor.fromShape(new long[]{b, h}, t), LongShapeDescriptor.fromShape(new long[]{b, c}, t),
                LongShapeDescriptor.fromShape(new long[0], DataType.LONG));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        INDArray a = inputs.get(0), u = inputs.get(1);
        long position = checkState(OP_NAME, a, inputs.get(2), inputs.get(3), inputs.get(4), inputs.get(5), k);
        Map<String, INDArray> in = new HashMap<>();
        in.put(SwrState.H, inputs.get(2));
        in.put(SwrState.P, inputs.get(3));
        in.put(SwrState.V, inputs.get(4));
        in.put(SwrState.POSITION, inputs.get(5));
        in.put(SwrState.BLOCK, Nd4j.scalar(blockSize));
        in.put(SwrState.WINDOW, Nd4j.scalar(k));
        SwrState state = SwrState.fromMap(in, "", a.size(1));
        Swr.forwardInto(a, u, outputs.get(0), blockSize, k, state);
        Map<String, INDArray> out = state.toMap("");
        outputs.get(1).assign(out.get(SwrState.H));
        outputs.get(2).assign(out.get(SwrState.P));
        if (k != 1) {
            outputs.get(3).assign(out.get(SwrState.V));
        } else {
            outputs.get(3).assign(0);
        }
        outputs.get(4).putScalar(0, position + a.size(2));
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 6) {
            throw new IllegalArgumentException(OP_NAME + " expects 6 inputs (" + INPUTS + "); got types " + dataTypes);
        }
        DataType t = dataTypes.get(1);
        return Arrays.asList(t, t, t, t, DataType.LONG);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        SDVariable[] out = outputVariables();
        SDVariable[] g = new SDVariable[4];
        for (int i = 0; i < 4; i++) {
            g[i] = gradients.get(i) != null ? gradients.get(i) : sameDiff.zerosLike(out[i]);
        }
        // Gradients for a, u, h, P, v; none for the integer position (the last input).
        return Arrays.asList(new SwrStateBp(sameDiff, args(), g, blockSize, k).outputVariables());
    }

    /**
     * Checks the incoming state against {@code a [B, H, L]} (already checked) and returns the position.
     * Every message names the argument and what was expected.
     */
    static long checkState(String op, INDArray a, INDArray h, INDArray p, INDArray v, INDArray position, int k) {
        String where = op + ": ";
        checkWindow(where, k);
        long b = a.size(0), heads = a.size(1), c = Swr.HEAD * heads;
        DataType t = a.dataType();
        checkStateArray(where, "h", h, t, b, c, heads, "local state since the current block's start");
        checkStateArray(where, "P", p, t, b, heads, heads, "prefix product of the decays since the current block's start");
        checkStateArray(where, "v", v, t, b, c, heads, "carry into the current block");
        if (position == null || position.length() != 1 || position.rank() > 1) {
            throw new IllegalArgumentException(where + "position must be a scalar (the steps seen so far); got "
                    + (position == null ? "null" : "shape " + Arrays.toString(position.shape())));
        }
        double pd = position.getDouble(0);
        if (!(pd >= 0) || pd != Math.rint(pd) || pd > (double) (1L << 53)) {
            throw new IllegalArgumentException(where + "position must be a non-negative integer (the steps seen so far); got " + pd);
        }
        return position.dataType().isIntType() ? position.getLong(0) : (long) pd;
    }

    /** The windows a state of (h, P, v, position) streams: 1, 2 and {@link Swr#UNBOUNDED}. */
    public static void checkWindow(String where, int k) {
        if (k != 1 && k != 2 && k != Swr.UNBOUNDED) {
            throw new IllegalArgumentException(where + "a carried state (h, P, v, position) streams k = 1, 2 or "
                    + "Swr.UNBOUNDED; got k = " + k + (k >= 3 ? " (a finite window k >= 3 also needs the ring of the last "
                    + "k - 2 blocks, which the SameDiff state does not carry: use SwrState for it, or Swr.UNBOUNDED)" : ""));
        }
    }

    private static void checkStateArray(String where, String name, INDArray x, DataType t, long b, long n, long heads,
                                        String what) {
        if (x == null || x.rank() != 2 || x.size(0) != b || x.size(1) != n || x.dataType() != t) {
            throw new IllegalArgumentException(where + name + " (the " + what + ") must have shape [" + b + ", " + n
                    + "] and type " + t + " (a has B = " + b + ", H = " + heads + "); got "
                    + (x == null ? "null" : Arrays.toString(x.shape()) + " " + x.dataType()));
        }
    }
}
