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
 * The {@code swr} op: inputs {@code a [B, H, L]}, {@code u [B, 16 H, L]}; output {@code y [B, 16 H, L]};
 * integer arguments {@code [blockSize, k]}. Its gradient is {@link SwrBp}.
 */
public class SwrOp extends SwrOpBase {

    public static final String OP_NAME = "swr";

    public SwrOp() {
    }

    public SwrOp(SameDiff sameDiff, SDVariable a, SDVariable u, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u}, blockSize, k);
    }

    /** Eager use: {@code Nd4j.exec(new SwrOp(a, u, null, 16, 2))} (output allocated when null). */
    public SwrOp(INDArray a, INDArray u, INDArray y, int blockSize, int k) {
        super(new INDArray[]{a, u}, y == null ? null : new INDArray[]{y}, blockSize, k);
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
        SwrOps.checkInputCount(OP_NAME, inputs, 2, "a, u");
        Swr.check("forward", inputs.get(0), inputs.get(1), null, blockSize, k);
        INDArray u = inputs.get(1);
        return Collections.singletonList(LongShapeDescriptor.fromShape(u.shape(), u.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        Swr.forwardInto(inputs.get(0), inputs.get(1), outputs.get(0), blockSize, k);
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 2) {
            throw new IllegalArgumentException("swr expects 2 inputs (a, u); got types " + dataTypes);
        }
        return Collections.singletonList(dataTypes.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return Arrays.asList(new SwrBp(sameDiff, arg(0), arg(1), gradients.get(0), blockSize, k).outputVariables());
    }
}
