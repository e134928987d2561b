package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

/**
 * The {@code swr_masked} op: SWR with each sequence's blocks counted from its own first valid step, so that
 * left-padded sequences (and any 0/1 mask) give what each sequence gives alone. Inputs {@code a [B, H, L]},
 * {@code u [B, C, L]} (the caller has already set padded steps to decay 1 and input 0) and {@code mask [B, L]}
 * (values 0 or 1); output {@code y [B, C, L]}: for sequence {@code b} with first valid step {@code f},
 * {@code y[b, :, f:] = SWR(a[b, :, f:], u[b, :, f:])} and 0 before {@code f}. Integer arguments
 * {@code [blockSize, k]}. Sequences with {@code f} a multiple of the block size (right padding) run in one
 * batched call; the others are recomputed one by one. Gradient: {@link SwrMaskedBp}.
 */
public class SwrMaskedOp extends SwrOpBase {

    public static final String OP_NAME = "swr_masked";

    public SwrMaskedOp() {
    }

    public SwrMaskedOp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable mask, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, mask}, blockSize, k);
    }

    public SwrMaskedOp(INDArray a, INDArray u, INDArray mask, int blockSize, int k) {
        super(new INDArray[]{a, u, mask}, null, blockSize, k);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> inputs) {
        SwrOps.checkInputCount(OP_NAME, inputs, 3, "a, u, mask");
        INDArray a = inputs.get(0), u = inputs.get(1);
        Swr.check("forward", a, u, null, blockSize, k);
        firstSteps(OP_NAME, inputs.get(2), a);
        return Collections.singletonList(LongShapeDescriptor.fromShape(u.shape(), u.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        INDArray a = inputs.get(0), u = inputs.get(1), y = outputs.get(0);
        long[] first = firstSteps(OP_NAME, inputs.get(2), a);
        Swr.forwardInto(a, u, y, blockSize, k);
        for (int b = 0; b < first.length; b++) {
            if (first[b] % blockSize == 0) continue;   // blocks already aligned with the sequence's start
            INDArray[] s = tail(b, first[b], a, u);
            y.get(row(b, 0, first[b])).assign(0);
            y.get(row(b, first[b], a.size(2))).assign(Swr.forward(s[0], s[1], blockSize, k));
        }
    }

    /** Sequence b's steps [from, to) of a rank-3 array. */
    static org.nd4j.linalg.indexing.INDArrayIndex[] row(int b, long from, long to) {
        return new org.nd4j.linalg.indexing.INDArrayIndex[]{interval(b, b + 1), all(), interval(from, to)};
    }

    /** Contiguous copies of sequence b's steps from {@code from} on, of each array. */
    static INDArray[] tail(int b, long from, INDArray... xs) {
        INDArray[] r = new INDArray[xs.length];
        for (int i = 0; i < xs.length; i++) r[i] = xs[i].get(row(b, from, xs[i].size(2))).dup('c');
        return r;
    }

    /**
     * Each sequence's first valid step (0 when it has none: nothing to realign), after checking that the mask is
     * [B, L] like {@code a} with values 0 or 1.
     */
    static long[] firstSteps(String op, INDArray mask, INDArray a) {
        long b = a.size(0), l = a.size(2);
        if (mask == null || mask.rank() != 2 || mask.size(0) != b || mask.size(1) != l) {
            throw new IllegalArgumentException(op + ": mask must have shape [B, L] = [" + b + ", " + l + "]; got "
                    + (mask == null ? "null" : Arrays.toString(mask.shape())));
        }
        double[] m = binaryValues(op, mask);
        long[] first = new long[(int) b];
        for (int i = 0; i < b; i++) {
            int t = 0;
            while (t < l && m[(int) (i * l + t)] == 0) t++;
            first[i] = t < l ? t : 0;
        }
        return first;
    }

    /** The [B, L] mask's values in 'c' order, after checking that each is 0 (padding) or 1 (a step). */
    static double[] binaryValues(String op, INDArray mask) {
        double[] m = mask.dup('c').castTo(DataType.DOUBLE).data().asDouble();
        long l = mask.size(1);
        for (int i = 0; i < m.length; i++) {
            if (m[i] != 0 && m[i] != 1) {
                throw new IllegalArgumentException(op + ": mask values must be 0 (padding) or 1 (a step); got " + m[i]
                        + " at sequence " + i / l + ", step " + i % l);
            }
        }
        return m;
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 3) {
            throw new IllegalArgumentException(OP_NAME + " expects 3 inputs (a, u, mask); got types " + dataTypes);
        }
        return Collections.singletonList(dataTypes.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        SDVariable[] g = new SwrMaskedBp(sameDiff, arg(0), arg(1), arg(2), gradients.get(0), blockSize, k).outputVariables();
        return Arrays.asList(g[0], g[1], sameDiff.zerosLike(arg(2)));
    }
}
