package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.Arrays;
import java.util.List;

/**
 * The {@code swr_masked_bp} op, gradient of {@link SwrMaskedOp}: inputs {@code a, u, mask, dy}; outputs
 * {@code da [B, H, L], du [B, C, L]} (0 before each sequence's first valid step, which contributes nothing).
 */
public class SwrMaskedBp extends SwrOpBase {

    public static final String OP_NAME = "swr_masked_bp";

    public SwrMaskedBp() {
    }

    public SwrMaskedBp(SameDiff sameDiff, SDVariable a, SDVariable u, SDVariable mask, SDVariable dy, int blockSize, int k) {
        super(sameDiff, new SDVariable[]{a, u, mask, dy}, blockSize, k);
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
        SwrOps.checkInputCount(OP_NAME, inputs, 4, "a, u, mask, dy");
        INDArray a = inputs.get(0), u = inputs.get(1);
        Swr.check("backward", a, u, inputs.get(3), blockSize, k);
        SwrMaskedOp.firstSteps(OP_NAME, inputs.get(2), a);
        return Arrays.asList(LongShapeDescriptor.fromShape(a.shape(), a.dataType()),
                LongShapeDescriptor.fromShape(u.shape(), u.dataType()));
    }

    @Override
    public void execute(List<INDArray> inputs, List<INDArray> outputs) {
        INDArray a = inputs.get(0), u = inputs.get(1), dy = inputs.get(3), da = outputs.get(0), du = outputs.get(1);
        long[] first = SwrMaskedOp.firstSteps(OP_NAME, inputs.get(2), a);
        Swr.backwardInto(a, u, dy, da, du, blockSize, k);
        long len = a.size(2);
        for (int b = 0; b < first.length; b++) {
            if (first[b] % blockSize == 0) continue;
            INDArray[] s = SwrMaskedOp.tail(b, first[b], a, u, dy);
            INDArray[] g = Swr.backward(s[0], s[1], s[2], blockSize, k);
            da.get(SwrMaskedOp.row(b, 0, first[b])).assign(0);
            du.get(SwrMaskedOp.row(b, 0, first[b])).assign(0);
            da.get(SwrMaskedOp.row(b, first[b], len)).assign(g[0]);
            du.get(SwrMaskedOp.row(b, first[b], len)).assign(g[1]);
        }
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        if (dataTypes == null || dataTypes.size() != 4) {
            throw new IllegalArgumentException(OP_NAME + " expects 4 inputs (a, u, mask, dy); got types " + dataTypes);
        }
        return Arrays.asList(dataTypes.get(0), dataTypes.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException(OP_NAME + ": second derivatives of SWR are not implemented");
    }
}
