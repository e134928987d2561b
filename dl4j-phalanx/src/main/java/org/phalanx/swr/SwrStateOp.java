package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
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
 * (for a finite window {@code 3 <= k < UNBOUNDED} also the ring of the last {@code k - 2} finished blocks,
 * {@code vRing [B, k-2, C]} (terminal local states) and {@code aRing [B, k-2, H]} (block products), block
 * {@code j} in slot {@code j mod (k - 2)}, as {@link SwrState} holds them), then {@code position} (an integer
 * scalar, the last input: the steps seen before this piece, which fixes the block phase). Outputs {@code y [B, C, L]}, the state
 * after the piece {@code h, P, v} (and for a ring window the ring after it), then {@code position + L} (LONG).
 * With {@code position = 0} the incoming arrays (ring included) are ignored (a fresh sequence), as in
 * {@link SwrState}. {@code v}: unused for {@code k = 1} (its output is 0); the carry into the current block
 * otherwise (k = 2: the previous block's terminal local state; UNBOUNDED: the recurrence's value at the end of the
 * previous block); in the sequence's block 0 {@code v} is not read (there is no carry) and passes through.
 * Integer arguments {@code [blockSize, k]}. Its gradient, {@link SwrStateBp}, is exact with respect to
 * {@code a, u, h, P, v} and the ring.
 */
public class SwrStateOp extends SwrOpBase {

    public static final String OP_NAME = "swr_state";
    static final String INPUTS = "a, u, h, P, v[, vRing, aRing], position";

    public SwrStateOp() {
    }

    public SwrStateOp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable h, SDVariable p, SDVariable v,
                      SDVariable position, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, h, p, v, position}, blockSize, k);
    }

    /** With the ring of a finite window {@code k >= 3} ({@code vRing [B, k-2, C], aRing [B, k-2, H]}). */
    public SwrStateOp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable h, SDVariable p, SDVariable v,
                      SDVariable vRing, SDVariable aRing, SDVariable position, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, h, p, v, vRing, aRing, position}, blockSize, k);
    }

    /** Eager use: {@code Nd4j.exec(new SwrStateOp(a, u, h, P, v, position, 16, 2))} returns {y, h, P, v, position}. */
    public SwrStateOp(INDArray a, INDArray u, INDArray h, INDArray p, INDArray v, INDArray position, int blockSize, int k) {
        super(new INDArray[]{a, u, h, p, v, position}, null, blockSize, k);
    }

    /** Eager use with the ring of a finite window {@code k >= 3}: returns {y, h, P, v, vRing, aRing, position}. */
    public SwrStateOp(INDArray a, INDArray u, INDArray h, INDArray p, INDArray v, INDArray vRing, INDArray aRing,
                      INDArray position, int blockSize, int k) {
        super(new INDArray[]{a, u, h, p, v, vRing, aRing, position}, null, blockSize, k);
    }

    /** Whether a window streams with a ring of blocks (finite k >= 3): its state has two more arrays. */
    public static boolean hasRing(int k) {
        return SwrState.ringSlots(k) > 0;
    }

    /** Inputs (and forward outputs) of the op for window k: 6 (5) without a ring, 8 (7) with one. */
    static int inputCount(int k) {
        return hasRing(k) ? 8 : 6;
    }

    /** Index of the position among the inputs: the last one (among the outputs too, one less). */
    static int positionInput(int k) {
        return inputCount(k) - 1;
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return inputCount(k) - 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> inputs) {
        SwrOps.checkInputCount(OP_NAME + " with k = " + SwrState.windowName(k), inputs, inputCount(k),
                hasRing(k) ? "a, u, h, P, v, vRing, aRing, position: a finite window k >= 3 carries its ring of blocks"
                        : "a, u, h, P, v, position");
        INDArray a = inputs.get(0), u = inputs.get(1);
        Swr.check("forward", a, u, null, blockSize, k);
        checkState(OP_NAME, a, inputs, k);
        DataType t = a.dataType();
        long b = a.size(0), h = a.size(1), c = u.size(1);
        List<LongShapeDescriptor> out = new ArrayList<>(Arrays.asList(LongShapeDescriptor.fromShape(u.shape(), t),
                LongShapeDescriptor.fromShape(new long[]{b, c}, t), LongShapeDescriptor.fromShape(new long[]{b, h}, t),
                LongShapeDescriptor.fromShape(new long[]{b, c}, t)));
        if (hasRing(k)) {
            out.add(LongShapeDescriptor.fromShape(inputs.get(5).shape(), t));
            out.add(LongShapeDescriptor.fromShape(inputs.get(6).shape(), t));
        }
        out.add(LongShapeDescriptor.fromShape(new long[0], DataType.LONG));
        return out;
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        INDArray a = inputs.get(0), u = inputs.get(1);
        long position = checkState(OP_NAME, a, inputs, k);
        Map<String, INDArray> in = new HashMap<>();
        in.put(SwrState.H, inputs.get(2));
        in.put(SwrState.P, inputs.get(3));
        in.put(SwrState.V, inputs.get(4));
        in.put(SwrState.POSITION, inputs.get(positionInput(k)));
        in.put(SwrState.BLOCK, Nd4j.scalar(blockSize));
        in.put(SwrState.WINDOW, Nd4j.scalar(k));
        if (hasRing(k)) {
            in.put(SwrState.V_RING, inputs.get(5));
            in.put(SwrState.A_RING, inputs.get(6));
        }
        SwrState state = SwrState.fromMap(in, "", a.size(1));
        if (position == 0 && state.vRing != null) {
            // A fresh sequence: the ring's slots of blocks not yet seen come out as 0, whatever came in.
            state.vRing.assign(0);
            state.aRing.assign(0);
        }
        Swr.forwardInto(a, u, outputs.get(0), blockSize, k, state);
        outputs.get(1).assign(state.h);
        outputs.get(2).assign(state.p);
        if (k != 1) {
            outputs.get(3).assign(state.v);
        } else {
            outputs.get(3).assign(0);
        }
        if (state.vRing != null) {
            outputs.get(4).assign(state.vRing);
            outputs.get(5).assign(state.aRing);
        }
        outputs.get(positionInput(k) - 1).putScalar(0, position + a.size(2));
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        int n = inputCount(k);
        if (dataTypes == null || dataTypes.size() != n) {
            throw new IllegalArgumentException(OP_NAME + " with k = " + SwrState.windowName(k) + " expects " + n
                    + " inputs (" + INPUTS + "); got types " + dataTypes);
        }
        DataType t = dataTypes.get(1);
        return hasRing(k) ? Arrays.asList(t, t, t, t, t, t, DataType.LONG) : Arrays.asList(t, t, t, t, DataType.LONG);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        SDVariable[] out = outputVariables();
        // The gradients of y, h, P, v (and the ring): every output but the integer position (the last).
        SDVariable[] g = new SDVariable[out.length - 1];
        for (int i = 0; i < g.length; i++) {
            g[i] = gradients.get(i) != null ? gradients.get(i) : sameDiff.zerosLike(out[i]);
        }
        // Gradients for a, u, h, P, v (and the ring); none for the integer position (the last input).
        return Arrays.asList(new SwrStateBp(sameDiff, args(), g, blockSize, k).outputVariables());
    }

    /**
     * Checks the incoming state against {@code a [B, H, L]} (already checked) and returns the position.
     * Every message names the argument and what was expected.
     */
    static long checkState(String op, INDArray a, List<INDArray> in, int k) {
        String where = op + ": ";
        checkWindow(where, k);
        INDArray h = in.get(2), p = in.get(3), v = in.get(4), position = in.get(positionInput(k));
        long b = a.size(0), heads = a.size(1), c = Swr.HEAD * heads;
        DataType t = a.dataType();
        checkStateArray(where, "h", h, t, b, c, heads, "local state since the current block's start");
        checkStateArray(where, "P", p, t, b, heads, heads, "prefix product of the decays since the current block's start");
        checkStateArray(where, "v", v, t, b, c, heads, "carry into the current block");
        if (hasRing(k)) {
            long slots = SwrState.ringSlots(k);
            checkRingArray(where, "vRing", in.get(5), t, b, slots, c, "terminal local states of the last k - 2 blocks");
            checkRingArray(where, "aRing", in.get(6), t, b, slots, heads, "products of the decays of the last k - 2 blocks");
        }
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

    /** The windows a carried state streams: any {@code k >= 1} and {@link Swr#UNBOUNDED}. */
    public static void checkWindow(String where, int k) {
        if (k < 1) {
            throw new IllegalArgumentException(where + "k (window in blocks) must be >= 1 or Swr.UNBOUNDED; got k = " + k);
        }
    }

    private static void checkRingArray(String where, String name, INDArray x, DataType t, long b, long slots, long n,
                                       String what) {
        if (x == null || x.rank() != 3 || x.size(0) != b || x.size(1) != slots || x.size(2) != n || x.dataType() != t) {
            throw new IllegalArgumentException(where + name + " (the " + what + ") must have shape [" + b + ", " + slots
                    + ", " + n + "] and type " + t + "; got " + (x == null ? "null" : Arrays.toString(x.shape()) + " "
                    + x.dataType()));
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
