package org.phalanx.nativeops;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * Thin JavaCPP binding of the SWR CPU kernels ({@code src/main/cpp/include/swr/swr_cpu.h}) and of the
 * fused Phalanx core on the CPU ({@code swr/phalanx_core.h}).
 *
 * <p>Arguments are raw host addresses of contiguous, row-major buffers. Nothing here checks them:
 * callers (the ND4J op in {@code dl4j-phalanx}) validate shapes, types and layout first. Each call
 * returns {@link #SWR_OK} or an error code from {@code swr.h}.
 */
// preload: the OpenMP runtime that nd4j-native ships (its jar, else the system's libgomp.so.1), so this
// library loads before ND4J too, on systems without libgomp, and shares ND4J's runtime either way.
@Platform(include = {"swr/swr.h", "swr/swr_cpu.h", "swr/phalanx_core.h", "swr_cpu.cpp", "swr/phalanx_step.h",
        "phalanx_step_cpu.cpp"},
        preload = "gomp@.1",
        preloadresource = "/org/nd4j/linalg/cpu/nativecpu/bindings/")
public final class SwrCpu {
    static {
        Loader.load();
    }

    public static final int SWR_OK = 0, SWR_EINVAL = 1, SWR_EDTYPE = 2, SWR_ECUDA = 3, SWR_ENOMEM = 4, SWR_EINTERNAL = 5;
    /** k = Integer.MAX_VALUE: the unbounded window (swr.h). */
    public static final int UNBOUNDED = Integer.MAX_VALUE;
    /** Channels per head (one decay per 16 channels). */
    public static final int HEAD = 16;
    public static final int DEFAULT_BLOCK = 16, DEFAULT_WINDOW = 2;
    /** Bits of phalanx_step's options (swr/phalanx_step.h). */
    public static final int PHALANX_STEP_HEAD_NORM = 1, PHALANX_STEP_TANH = 2;

    private SwrCpu() {
    }

    private static volatile boolean loaded;

    /**
     * Loads the native library; throws {@link UnsatisfiedLinkError} where it cannot. Cheap once it has loaded
     * (JavaCPP's {@code Loader.load} rebuilds the class's properties on every call: ~50 us, as much as a decode step).
     */
    public static void load() {
        if (!loaded) {
            Loader.load(SwrCpu.class);
            loaded = true;
        }
    }

    public static native int swr_cpu_forward_f32(@Cast("const float*") long a, @Cast("const float*") long u,
            @Cast("float*") long y, long B, long H, long L, int block, int k);

    public static native int swr_cpu_forward_f64(@Cast("const double*") long a, @Cast("const double*") long u,
            @Cast("double*") long y, long B, long H, long L, int block, int k);

    public static native int swr_cpu_forward_stream_f32(@Cast("const float*") long a, @Cast("const float*") long u,
            @Cast("float*") long y, long B, long H, long L, int block, int k,
            @Cast("float*") long h, @Cast("float*") long P, @Cast("float*") long v,
            @Cast("float*") long ringV, @Cast("float*") long ringA, long pos);

    public static native int swr_cpu_forward_stream_f64(@Cast("const double*") long a, @Cast("const double*") long u,
            @Cast("double*") long y, long B, long H, long L, int block, int k,
            @Cast("double*") long h, @Cast("double*") long P, @Cast("double*") long v,
            @Cast("double*") long ringV, @Cast("double*") long ringA, long pos);

    public static native int swr_cpu_backward_f32(@Cast("const float*") long a, @Cast("const float*") long u,
            @Cast("const float*") long dy, @Cast("float*") long da, @Cast("float*") long du,
            long B, long H, long L, int block, int k);

    /** One decode step of a Phalanx layer ({@code swr/phalanx_step.h}): projections, gates, SWR step, readout. */
    public static native int phalanx_step_cpu_f32(@Cast("const float*") long x, @Cast("const float*") long Wa,
            @Cast("const float*") long ba, @Cast("const float*") long Wb, @Cast("const float*") long bb,
            @Cast("const float*") long Wc, @Cast("const float*") long bc, @Cast("const float*") long Wv,
            @Cast("const float*") long Wo, @Cast("float*") long z, @Cast("float*") long scratch,
            long B, long nIn, long H, long kvH, long nOut, int options, int block, int k,
            @Cast("float*") long h, @Cast("float*") long P, @Cast("float*") long v,
            @Cast("float*") long ringV, @Cast("float*") long ringA, long pos);

    public static native int phalanx_step_cpu_f64(@Cast("const double*") long x, @Cast("const double*") long Wa,
            @Cast("const double*") long ba, @Cast("const double*") long Wb, @Cast("const double*") long bb,
            @Cast("const double*") long Wc, @Cast("const double*") long bc, @Cast("const double*") long Wv,
            @Cast("const double*") long Wo, @Cast("double*") long z, @Cast("double*") long scratch,
            long B, long nIn, long H, long kvH, long nOut, int options, int block, int k,
            @Cast("double*") long h, @Cast("double*") long P, @Cast("double*") long v,
            @Cast("double*") long ringV, @Cast("double*") long ringA, long pos);

    public static native int swr_cpu_backward_f64(@Cast("const double*") long a, @Cast("const double*") long u,
            @Cast("const double*") long dy, @Cast("double*") long da, @Cast("double*") long du,
            long B, long H, long L, int block, int k);

    /**
     * Fused core forward ({@code phalanx_core.h}): m = SWR(a, rep(beta) v) rep(c) + v. a [B, H, L]; v, m, y
     * [B, 16 H, L]; beta, c [B, 16 kvH, L]; y may be 0 (not written).
     */
    public static native int phalanx_core_cpu_forward_f32(@Cast("const float*") long a, @Cast("const float*") long beta,
            @Cast("const float*") long v, @Cast("const float*") long c, @Cast("float*") long m, @Cast("float*") long y,
            long B, long H, long kvH, long L, int block, int k);

    public static native int phalanx_core_cpu_forward_f64(@Cast("const double*") long a, @Cast("const double*") long beta,
            @Cast("const double*") long v, @Cast("const double*") long c, @Cast("double*") long m, @Cast("double*") long y,
            long B, long H, long kvH, long L, int block, int k);

    /** Fused core backward: da, dbeta, dv, dc from dm; y may be 0 (recomputed). */
    public static native int phalanx_core_cpu_backward_f32(@Cast("const float*") long a, @Cast("const float*") long beta,
            @Cast("const float*") long v, @Cast("const float*") long c, @Cast("const float*") long y,
            @Cast("const float*") long dm, @Cast("float*") long da, @Cast("float*") long dbeta, @Cast("float*") long dv,
            @Cast("float*") long dc, long B, long H, long kvH, long L, int block, int k);

    public static native int phalanx_core_cpu_backward_f64(@Cast("const double*") long a, @Cast("const double*") long beta,
            @Cast("const double*") long v, @Cast("const double*") long c, @Cast("const double*") long y,
            @Cast("const double*") long dm, @Cast("double*") long da, @Cast("double*") long dbeta, @Cast("double*") long dv,
            @Cast("double*") long dc, long B, long H, long kvH, long L, int block, int k);
}
