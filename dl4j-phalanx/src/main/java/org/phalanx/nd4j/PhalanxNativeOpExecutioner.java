package org.phalanx.nd4j;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner;

import java.util.List;

/**
 * nd4j-native's executioner, plus our ops: a {@link PhalanxCustomOp} runs in our library, every
 * other op exactly as before. Installed by {@link PhalanxRuntime} when ND4J starts.
 */
public class PhalanxNativeOpExecutioner extends NativeOpExecutioner implements PhalanxExecutioner {

    @Override
    public INDArray[] exec(CustomOp op) {
        return op instanceof PhalanxCustomOp ? PhalanxOpDispatch.exec((PhalanxCustomOp) op) : super.exec(op);
    }

    @Override
    public INDArray[] exec(CustomOp op, OpContext context) {
        return op instanceof PhalanxCustomOp ? PhalanxOpDispatch.exec((PhalanxCustomOp) op, context) : super.exec(op, context);
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(CustomOp op) {
        return calculateOutputShape(op, null);
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(CustomOp op, OpContext context) {
        return op instanceof PhalanxCustomOp ? PhalanxOpDispatch.calculateOutputShape((PhalanxCustomOp) op, context)
                : super.calculateOutputShape(op, context);
    }
}
