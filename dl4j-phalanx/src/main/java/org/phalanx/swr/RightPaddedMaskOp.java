package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * The {@code swr_right_padded_mask} op: passes a {@code [B, L]} mask through after checking that every row is
 * right-padded ({@code 1 ... 1 0 ... 0}, values exactly 0 or 1). Used where the batch shares one block phase (a
 * carried state): there a left-padded sequence would be cut into blocks counted from the array's start, not from
 * its own first step, a silent difference refused here with a clear exception instead. (Without a state,
 * {@link SwrMaskedOp} counts each sequence's blocks from its own first step.) Not differentiable (a mask).
 */
public class RightPaddedMaskOp extends PhalanxOpBase {

    public static final String OP_NAME = "swr_right_padded_mask";

    public RightPaddedMaskOp() {
    }

    public RightPaddedMaskOp(SameDiff sameDiff, SDVariable mask) {
        super(sameDiff, new SDVariable[]{mask});
    }

    public RightPaddedMaskOp(INDArray mask) {
        super(new INDArray[]{mask}, null);
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
        SwrOps.checkInputCount(OP_NAME, inputs, 1, "mask");
        INDArray m = inputs.get(0);
        if (m.rank() != 2) {
            throw new IllegalArgumentException(OP_NAME + ": the mask must have shape [B, L] (one value per sequence and "
                    + "step); got shape " + Arrays.toString(m.shape()));
        }
        return Collections.singletonList(LongShapeDescriptor.fromShape(m.shape(), m.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        INDArray m = inputs.get(0);
        check(m);
        outputs.get(0).assign(m);
    }

    /** Throws unless every row of the [B, L] mask is 1 ... 1 0 ... 0. */
    public static void check(INDArray mask) {
        long b = mask.size(0), l = mask.size(1);
        double[] x = SwrMaskedOp.binaryValues(OP_NAME, mask);
        for (int i = 0; i < b; i++) {
            for (int t = 1; t < l; t++) {
                if (x[(int) (i * l + t)] == 1 && x[(int) (i * l + t - 1)] == 0) {
                    throw new IllegalArgumentException(OP_NAME + ": sequence " + i + " has a valid step (" + t
                            + ") after padding; with a carried state masks must be right-padded (1 ... 1 0 ... 0): the "
                            + "batch shares one SWR block phase, so left or inner padding would change the valid outputs. "
                            + "Shift each sequence to start at step 0, or run without a state");
                }
            }
        }
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 1) {
            throw new IllegalArgumentException(OP_NAME + " expects 1 input (mask); got types " + dataTypes);
        }
        return Collections.singletonList(dataTypes.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return Collections.singletonList(sameDiff.zerosLike(arg(0)));
    }
}
