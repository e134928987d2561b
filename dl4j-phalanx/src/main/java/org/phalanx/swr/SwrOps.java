package org.phalanx.swr;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nd4j.PhalanxRuntime;

import java.util.List;

/** Registration of the SWR ops with ND4J/SameDiff (see {@link PhalanxRuntime}). */
public final class SwrOps {

    private static volatile boolean registered;

    private SwrOps() {
    }

    /** Installs the Phalanx executioner and registers our ops by name ({@code swr}, {@code swr_bp}, ...); idempotent. */
    public static void register() {
        if (registered) return;
        synchronized (SwrOps.class) {
            if (registered) return;
            registered = true;
            PhalanxRuntime.install();
            PhalanxRuntime.registerOp(new SwrOp());
            PhalanxRuntime.registerOp(new SwrBp());
            PhalanxRuntime.registerOp(new SwrStateOp());
            PhalanxRuntime.registerOp(new SwrStateBp());
            PhalanxRuntime.registerOp(new RightPaddedMaskOp());
            PhalanxRuntime.registerOp(new SwrMaskedOp());
            PhalanxRuntime.registerOp(new SwrMaskedBp());
            PhalanxRuntime.registerOp(new PhalanxCoreOp());
            PhalanxRuntime.registerOp(new PhalanxCoreBp());
        }
    }

    static void checkInputCount(String op, List<INDArray> inputs, int n, String names) {
        if (inputs == null || inputs.size() != n || inputs.contains(null)) {
            throw new IllegalArgumentException(op + " expects " + n + " input arrays (" + names + "); got "
                    + (inputs == null ? "none" : inputs.size()));
        }
    }
}
