package org.phalanx.swr;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Base of the SWR ops: a {@link PhalanxOpBase} whose integer arguments are {@code [blockSize, k]}.
 * Its properties survive SameDiff's FlatBuffers round trip (gradient graphs, save and load).
 */
public abstract class SwrOpBase extends PhalanxOpBase {

    public static final String BLOCK_SIZE = "blockSize";
    public static final String WINDOW = "k";

    protected int blockSize = Swr.DEFAULT_BLOCK;
    protected int k = Swr.DEFAULT_WINDOW;

    protected SwrOpBase() {
    }

    protected SwrOpBase(SameDiff sameDiff, SDVariable[] args, int blockSize, int k) {
        super(sameDiff, args);
        setArgs(blockSize, k);
    }

    protected SwrOpBase(INDArray[] inputs, INDArray[] outputs, int blockSize, int k) {
        super(inputs, outputs);
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
