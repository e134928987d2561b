package org.phalanx.nd4j.cuda;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.jcublas.ops.executioner.CudaExecutioner;
import org.phalanx.nd4j.PhalanxCustomOp;
import org.phalanx.nd4j.PhalanxExecutioner;
import org.phalanx.nd4j.PhalanxOpDispatch;

import java.util.List;

/**
 * nd4j-cuda's executioner, plus our ops: a {@link PhalanxCustomOp} runs in our CUDA library, every
 * other op exactly as before. Installed by {@link PhalanxRuntime} when ND4J starts.
 */
public class PhalanxCudaOpExecutioner extends CudaExecutioner implements PhalanxExecutioner {

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
