package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.Arrays;
import java.util.List;

/**
 * The {@code phalanx_core_bp} op, gradient of {@link PhalanxCoreOp}: inputs {@code a, beta, v, c, dm}; outputs
 * {@code da [B, H, L]}, {@code dbeta [B, 16 kvH, L]}, {@code dv [B, 16 H, L]}, {@code dc [B, 16 kvH, L]}
 * (the SWR output is recomputed, not stored between the passes).
 */
public class PhalanxCoreBp extends SwrOpBase {

    public static final String OP_NAME = "phalanx_core_bp";

    public PhalanxCoreBp() {
    }

    public PhalanxCoreBp(SameDiff sameDiff, SDVariable a, SDVariable beta, SDVariable v, SDVariable c, SDVariable dm,
                         int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, beta, v, c, dm}, blockSize, k);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return 4;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> inputs) {
        SwrOps.checkInputCount(OP_NAME, inputs, 5, "a, beta, v, c, dm");
        INDArray a = inputs.get(0), beta = inputs.get(1), v = inputs.get(2), c = inputs.get(3);
        PhalanxCore.check("backward", a, beta, v, c, null, inputs.get(4), blockSize, k);
        return Arrays.asList(LongShapeDescriptor.fromShape(a.shape(), a.dataType()),
                LongShapeDescriptor.fromShape(beta.shape(), beta.dataType()),
                LongShapeDescriptor.fromShape(v.shape(), v.dataType()),
                LongShapeDescriptor.fromShape(c.shape(), c.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        PhalanxCore.backwardInto(inputs.get(0), inputs.get(1), inputs.get(2), inputs.get(3), null, inputs.get(4),
                outputs.get(0), outputs.get(1), outputs.get(2), outputs.get(3), blockSize, k);
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 5) {
            throw new IllegalArgumentException(OP_NAME + " expects 5 inputs (a, beta, v, c, dm); got types " + dataTypes);
        }
        return Arrays.asList(dataTypes.get(0), dataTypes.get(1), dataTypes.get(2), dataTypes.get(3));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException(OP_NAME + ": second derivatives of the Phalanx core are not implemented");
    }
}
