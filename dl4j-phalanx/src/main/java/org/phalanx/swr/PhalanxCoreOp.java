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
 * The {@code phalanx_core} op ({@link PhalanxCore}): inputs {@code a [B, H, L]}, {@code beta [B, 16 kvH, L]},
 * {@code v [B, 16 H, L]}, {@code c [B, 16 kvH, L]}; output {@code m = SWR(a, rep(beta) v) rep(c) + v}; integer
 * arguments {@code [blockSize, k]}. Its gradient is {@link PhalanxCoreBp}.
 */
public class PhalanxCoreOp extends SwrOpBase {

    public static final String OP_NAME = "phalanx_core";

    public PhalanxCoreOp() {
    }

    public PhalanxCoreOp(SameDiff sameDiff, SDVariable a, SDVariable beta, SDVariable v, SDVariable c, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, beta, v, c}, blockSize, k);
    }

    /** Eager use: {@code Nd4j.exec(new PhalanxCoreOp(a, beta, v, c, null, 16, 2))} (output allocated when null). */
    public PhalanxCoreOp(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray m, int blockSize, int k) {
        super(new INDArray[]{a, beta, v, c}, m == null ? null : new INDArray[]{m}, blockSize, k);
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
        SwrOps.checkInputCount(OP_NAME, inputs, 4, "a, beta, v, c");
        PhalanxCore.check("forward", inputs.get(0), inputs.get(1), inputs.get(2), inputs.get(3), null, null, blockSize, k);
        INDArray v = inputs.get(2);
        return Collections.singletonList(LongShapeDescriptor.fromShape(v.shape(), v.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        PhalanxCore.forwardInto(inputs.get(0), inputs.get(1), inputs.get(2), inputs.get(3), outputs.get(0), null, blockSize, k);
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 4) {
            throw new IllegalArgumentException(OP_NAME + " expects 4 inputs (a, beta, v, c); got types " + dataTypes);
        }
        return Collections.singletonList(dataTypes.get(2));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return Arrays.asList(new PhalanxCoreBp(sameDiff, arg(0), arg(1), arg(2), arg(3), gradients.get(0), blockSize, k)
                .outputVariables());
    }
}
