package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.phalanx.nd4j.PhalanxCustomOp;
import org.phalanx.nd4j.PhalanxRuntime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of dl4j-phalanx's ops: a {@link DynamicCustomOp} whose shapes are computed in Java and which can
 * never be handed to libnd4j (see {@link #opHash()}). Loading the class registers every op of the
 * project ({@link SwrOps#register()}).
 */
public abstract class PhalanxOpBase extends DynamicCustomOp implements PhalanxCustomOp {

    static {
        SwrOps.register();
    }

    protected PhalanxOpBase() {
    }

    protected PhalanxOpBase(SameDiff sameDiff, SDVariable[] args) {
        super(null, sameDiff, args);
    }

    protected PhalanxOpBase(INDArray[] inputs, INDArray[] outputs) {
        super(null, inputs, outputs);
    }

    /**
     * Our ops are not in libnd4j: ND4J's executioners look them up by this hash. Throwing here turns
     * "unknown op reaches libnd4j" (a JVM crash in M2.1) into a clear exception.
     */
    @Override
    public long opHash() {
        throw new IllegalStateException("Op '" + opName() + "' (dl4j-phalanx) reached ND4J's native executioner "
                + org.nd4j.linalg.factory.Nd4j.getExecutioner().getClass().getName()
                + ", which cannot run it. dl4j-phalanx installs its own executioner when ND4J starts; "
                + "this one was set later or is not supported (" + PhalanxRuntime.status() + ").");
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape() {
        return outputShapes(inputArguments());
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(OpContext oc) {
        return outputShapes(oc != null ? oc.getInputArrays() : inputArguments());
    }

    /** No properties by default (ND4J's default asks libnd4j for a descriptor our ops do not have). */
    @Override
    public Map<String, Object> propertiesForFunction() {
        return new LinkedHashMap<>();
    }

    @Override
    public void setPropertiesForFunction(Map<String, Object> properties) {
    }
}
