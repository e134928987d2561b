package org.phalanx.nd4j;

import org.nd4j.linalg.env.EnvironmentalAction;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J loads every {@link EnvironmentalAction} service while it initialises, right after creating its
 * executioner (Nd4j.initWithBackend in M2.1). Being one is how dl4j-phalanx plugs in with nothing
 * for the user to set: the constructor installs {@link PhalanxRuntime} and registers the swr ops
 * ({@code org.phalanx.swr.SwrOps}, named by string to keep this package free of the op classes).
 *
 * <p>{@link #targetVariable()} names a variable nobody sets, so {@link #process} is never called.
 */
public class PhalanxEnvironmentHook implements EnvironmentalAction {

    public PhalanxEnvironmentHook() {
        PhalanxRuntime.installOver(Nd4j.getExecutioner());
        try {
            Class.forName("org.phalanx.swr.SwrOps", true, PhalanxEnvironmentHook.class.getClassLoader())
                    .getMethod("register").invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("dl4j-phalanx: could not register the swr ops", e);
        }
    }

    @Override
    public String targetVariable() {
        return "DL4J_PHALANX_HOOK";
    }

    @Override
    public void process(String value) {
        // nothing: the work is done on construction
    }
}
