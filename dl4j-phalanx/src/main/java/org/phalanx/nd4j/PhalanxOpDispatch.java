package org.phalanx.nd4j;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the Phalanx executioners do with a {@link PhalanxCustomOp}, shared by the CPU and CUDA
 * executioners: validate and shape in Java, allocate missing outputs, run. Nothing here reaches
 * libnd4j.
 */
public final class PhalanxOpDispatch {

    private PhalanxOpDispatch() {
    }

    /** {@code exec(CustomOp)}: the op carries its inputs and (optionally) outputs. */
    public static INDArray[] exec(PhalanxCustomOp op) {
        List<INDArray> in = op.inputArguments();
        List<LongShapeDescriptor> shapes = op.outputShapes(in);
        if (op.outputArguments().isEmpty()) {
            for (LongShapeDescriptor d : shapes) {
                op.addOutputArgument(Nd4j.create(d, false));
            }
        }
        List<INDArray> out = op.outputArguments();
        checkOutputs(op, shapes, out);
        op.execute(in, out);
        return out.toArray(new INDArray[0]);
    }

    /** {@code exec(CustomOp, OpContext)}: SameDiff's path; inputs and outputs come in the context. */
    public static INDArray[] exec(PhalanxCustomOp op, OpContext context) {
        List<INDArray> in = context.getInputArrays();
        List<LongShapeDescriptor> shapes = op.outputShapes(in);
        List<INDArray> out = context.getOutputArrays();
        if (out == null || out.size() < shapes.size() || out.contains(null)) {
            out = new ArrayList<>();
            for (LongShapeDescriptor d : shapes) {
                out.add(Nd4j.create(d, false));
            }
            context.setOutputArrays(out);
        }
        checkOutputs(op, shapes, out);
        op.execute(in, out);
        return out.toArray(new INDArray[0]);
    }

    public static List<LongShapeDescriptor> calculateOutputShape(PhalanxCustomOp op, OpContext context) {
        return op.outputShapes(context != null ? context.getInputArrays() : op.inputArguments());
    }

    private static void checkOutputs(CustomOp op, List<LongShapeDescriptor> shapes, List<INDArray> out) {
        if (out.size() != shapes.size()) {
            throw new IllegalArgumentException(op.opName() + ": expected " + shapes.size() + " output arrays; got " + out.size());
        }
        for (int i = 0; i < shapes.size(); i++) {
            LongShapeDescriptor d = shapes.get(i);
            INDArray o = out.get(i);
            if (!Arrays.equals(o.shape(), d.getShape()) || o.dataType() != d.dataType()) {
                throw new IllegalArgumentException(op.opName() + ": output " + i + " must have shape "
                        + Arrays.toString(d.getShape()) + " and type " + d.dataType() + "; got "
                        + Arrays.toString(o.shape()) + " " + o.dataType());
            }
        }
    }
}
