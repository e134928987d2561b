package org.phalanx.nd4j;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.util.Map;

/**
 * Plugs dl4j-phalanx into ND4J M2.1 without any JVM flag or system property.
 *
 * <p>M2.1 hands every custom op to libnd4j by name hash, and an op libnd4j does not know crashes the
 * JVM. So, as ND4J starts (through the {@code EnvironmentalAction} service that ND4J loads during its
 * initialisation, {@link PhalanxEnvironmentHook}; or on first use of our classes, whichever comes
 * first), this class:
 * <ol>
 *   <li>replaces ND4J's executioner by a subclass that runs {@link PhalanxCustomOp}s itself and
 *       defers every other op to ND4J ({@link PhalanxNativeOpExecutioner}, or its CUDA twin);</li>
 *   <li>registers our op classes by name in {@link ImportClassMapping}, where SameDiff finds them
 *       when it clones a graph for gradients and when it loads a saved one.</li>
 * </ol>
 * Where this cannot be done (an executioner we do not know), our ops throw a clear exception
 * instead of reaching libnd4j.
 */
public final class PhalanxRuntime {

    private static final Logger log = LoggerFactory.getLogger(PhalanxRuntime.class);

    static final String CPU_EXECUTIONER = "org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner";
    static final String CUDA_EXECUTIONER = "org.nd4j.linalg.jcublas.ops.executioner.CudaExecutioner";
    static final String PHALANX_CUDA_EXECUTIONER = "org.phalanx.nd4j.cuda.PhalanxCudaOpExecutioner";
    static final String CUDA_KERNELS = "org.phalanx.nd4j.cuda.CudaSwrKernels";

    private static volatile boolean installed;
    private static volatile String status = "not installed yet";
    private static volatile SwrKernels kernels;

    private PhalanxRuntime() {
    }

    /** Installs the executioner (idempotent, thread-safe). Starts ND4J if it has not started. */
    public static void install() {
        if (installed) return;
        synchronized (PhalanxRuntime.class) {
            if (installed) return;
            // May start ND4J, which calls back into install() on this thread through the hook.
            OpExecutioner current = Nd4j.getExecutioner();
            if (installed) return;
            installOver(current);
        }
    }

    /** Called with ND4J's freshly created executioner (from the hook, or from {@link #install()}). */
    static synchronized void installOver(OpExecutioner current) {
        if (installed) return;
        if (current == null) {
            return; // ND4J not started yet; install() will come back once it has
        }
        if (current instanceof PhalanxExecutioner) {
            installed = true;
            status = "installed (" + current.getClass().getName() + ")";
            return;
        }
        String name = current.getClass().getName();
        try {
            OpExecutioner replacement;
            if (name.equals(CPU_EXECUTIONER)) {
                replacement = new PhalanxNativeOpExecutioner();
            } else if (name.equals(CUDA_EXECUTIONER)) {
                replacement = (OpExecutioner) Class.forName(PHALANX_CUDA_EXECUTIONER).getDeclaredConstructor().newInstance();
            } else {
                status = "ND4J's executioner " + name + " is not one dl4j-phalanx extends (it supports "
                        + CPU_EXECUTIONER + " and " + CUDA_EXECUTIONER + ")";
                log.warn("dl4j-phalanx: {}; the swr ops will refuse to run", status);
                installed = true;
                return;
            }
            Field f = Nd4j.class.getDeclaredField("OP_EXECUTIONER_INSTANCE");
            f.setAccessible(true);
            f.set(null, replacement);
            status = "installed (" + replacement.getClass().getName() + ")";
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            status = "installing over " + name + " failed: " + e;
            log.error("dl4j-phalanx: {}", status, e);
        }
        installed = true;
    }

    /** Registers an op class by its name for SameDiff (gradient graphs, save and load). */
    public static void registerOp(DifferentialFunction prototype) {
        Map<String, DifferentialFunction> byName = ImportClassMapping.getOpNameMapping();
        synchronized (byName) {
            byName.putIfAbsent(prototype.opName(), prototype);
        }
    }

    /** One line on the state of the installation, for messages. */
    public static String status() {
        return status;
    }

    /** The SWR kernels of ND4J's backend. */
    public static SwrKernels kernels() {
        SwrKernels k = kernels;
        if (k != null) return k;
        synchronized (PhalanxRuntime.class) {
            if (kernels == null) {
                install();
                kernels = isCuda() ? loadCudaKernels() : CpuSwrKernels.INSTANCE;
            }
            return kernels;
        }
    }

    /** "CPU" or "CUDA". */
    public static String backendName() {
        return isCuda() ? "CUDA" : "CPU";
    }

    static boolean isCuda() {
        OpExecutioner ex = Nd4j.getExecutioner();
        for (Class<?> c = ex.getClass(); c != null; c = c.getSuperclass()) {
            if (c.getName().equals(CUDA_EXECUTIONER)) return true;
        }
        return false;
    }

    private static SwrKernels loadCudaKernels() {
        try {
            return (SwrKernels) Class.forName(CUDA_KERNELS).getField("INSTANCE").get(null);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalStateException("dl4j-phalanx: ND4J runs on CUDA but the CUDA SWR kernels could not be loaded ("
                    + e + "); the CUDA library libjniSwrCuda needs a CUDA driver and an sm_75 or newer GPU", e);
        }
    }
}
