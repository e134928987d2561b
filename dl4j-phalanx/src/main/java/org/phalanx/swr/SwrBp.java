package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.Arrays;
import java.util.List;

/**
 * The {@code swr_bp} op, gradient of {@link SwrOp}: inputs {@code a, u, dy}; outputs
 * {@code da [B, H, L]} (summed over each head's 16 channels) and {@code du [B, 16 H, L]}.
 */
public class SwrBp extends SwrOpBase {

    public static final String OP_NAME = "swr_bp";

    public SwrBp() {
    }

    public SwrBp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable dy, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, dy}, blockSize, k);
    }

    public SwrBp(INDArray a, INDArray u, INDArray dy, INDArray da, INDArray du, int blockSize, int k) {
        super(new INDArray[]{a, u, dy}, da == null || du == null ? null : new INDArray[]{da, du}, blockSize, k);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return 2;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> inputs) {
        SwrOps.checkInputCount(OP_NAME, inputs, 3, "a, u, dy");
        INDArray a = inputs.get(0), u = inputs.get(1);
        Swr.check("backward", a, u, inputs.get(2), blockSize, k);
        return Arrays.asList(LongShapeDescriptor.fromShape(a.shape(), a.dataType()),
                LongShapeDescriptor.fromShape(u.shape(), u.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        Swr.backwardInto(inputs.get(0), inputs.get(1), inputs.get(2), outputs.get(0), outputs.get(1), blockSize, k);
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 3) {
            throw new IllegalArgumentException("swr_bp expects 3 inputs (a, u, dy); got types " + dataTypes);
        }
        return Arrays.asList(dataTypes.get(0), dataTypes.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException("swr_bp: second derivatives of SWR are not implemented");
    }
}
