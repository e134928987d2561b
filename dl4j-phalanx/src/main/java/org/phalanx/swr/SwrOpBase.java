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
 * Base of the SWR ops: a {@link DynamicCustomOp} whose integer arguments are {@code [blockSize, k]},
 * whose shapes are computed in Java, and which can never be handed to libnd4j (see {@link #opHash()}).
 * Its properties survive SameDiff's FlatBuffers round trip (gradient graphs, save and load).
 */
public abstract class SwrOpBase extends DynamicCustomOp implements PhalanxCustomOp {

    public static final String BLOCK_SIZE = "blockSize";
    public static final String WINDOW = "k";

    protected int blockSize = Swr.DEFAULT_BLOCK;
    protected int k = Swr.DEFAULT_WINDOW;

    static {
        SwrOps.register();
    }

    protected SwrOpBase() {
    }

    protected SwrOpBase(SameDiff sameDiff, SDVariable[] args, int blockSize, int k) {
        super(null, sameDiff, args);
        setArgs(blockSize, k);
    }

    protected SwrOpBase(INDArray[] inputs, INDArray[] outputs, int blockSize, int k) {
        super(null, inputs, outputs);
        setArgs(blockSize, k);
    }

    private void setArgs(int blockSize, int k) {
        this.blockSize = blockSize;
        this.k = k;
        iArguments.clear();
        addIArgument(blockSize, k);
    }

    public int blockSize() {
        return blockSize;
    }

    public int window() {
        return k;
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

    @Override
    public Map<String, Object> propertiesForFunction() {
        Map<String, Object> ret = new LinkedHashMap<>();
        ret.put(BLOCK_SIZE, (long) blockSize);
        ret.put(WINDOW, (long) k);
        return ret;
    }

    @Override
    public void setPropertiesForFunction(Map<String, Object> properties) {
        if (properties.get(BLOCK_SIZE) instanceof Number) blockSize = ((Number) properties.get(BLOCK_SIZE)).intValue();
        if (properties.get(WINDOW) instanceof Number) k = ((Number) properties.get(WINDOW)).intValue();
    }

    @Override
    public void configureFromArguments() {
        if (iArguments.size() >= 2) {
            blockSize = iArguments.get(0).intValue();
            k = iArguments.get(1).intValue();
        }
    }
}
