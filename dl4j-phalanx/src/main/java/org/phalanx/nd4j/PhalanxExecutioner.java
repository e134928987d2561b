package org.phalanx.nd4j;

/** Marker of the executioners that route {@link PhalanxCustomOp}s (CPU and CUDA). */
public interface PhalanxExecutioner {
}
