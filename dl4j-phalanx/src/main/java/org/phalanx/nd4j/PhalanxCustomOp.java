package org.phalanx.nd4j;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;

import java.util.List;

/**
 * A custom op that runs in Java-side code (our own native library) instead of libnd4j. The
 * Phalanx executioners ({@link PhalanxNativeOpExecutioner} and its CUDA twin) route every op of this
 * type to {@link #outputShapes} and {@link #execute}; anything else goes to ND4J as before.
 */
public interface PhalanxCustomOp extends CustomOp {

    /** Output shapes and types for these inputs; validates them (clear exceptions on bad input). */
    List<LongShapeDescriptor> outputShapes(List<INDArray> inputs);

    /** Computes the outputs (already allocated with {@link #outputShapes}) from the inputs. */
    void execute(List<INDArray> inputs, List<INDArray> outputs);
}
