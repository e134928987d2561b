package org.phalanx.nativeops;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * Thin JavaCPP binding of the SWR CUDA kernels ({@code src/main/cpp/include/swr/swr_cuda.h}).
 *
 * <p>Arguments are raw DEVICE addresses of contiguous, row-major buffers and a {@code cudaStream_t}
 * passed as a {@code long} (0 = the legacy default stream). The calls only enqueue work, with no
 * synchronisation; windows {@code k >= 3} below the number of blocks and the unbounded window
 * ({@link #SWR_UNBOUNDED}, or any {@code k >=} the number of blocks) also take stream-ordered scratch
 * ({@code cudaMallocAsync} on the stream; {@link #SWR_ENOMEM} when it fails). Nothing here checks the
 * buffers: callers (the ND4J CUDA op in {@code dl4j-phalanx}) validate shapes, types and layout first.
 * Each call returns {@link #SWR_OK} or an error code from {@code swr.h}; the GPU kernels support
 * {@code block == 16} only ({@link #SWR_EINVAL} otherwise) and any {@code k >= 1}.
 *
 * <p>The library links the CUDA runtime statically, so it loads on machines with no GPU or driver;
 * calls then fail with {@link #SWR_ECUDA}. Built for sm_75, sm_80, sm_86, sm_90 plus compute_90 PTX
 * (docs/CUDA.md).
 *
 * <p>The {@code swr_cuda_test_*} methods are TEST SUPPORT ONLY (device memory helpers for checks that
 * have no other CUDA binding at hand, e.g. {@code bench/gpu/java/SwrCudaCheck.java}); production code
 * gets its device memory and streams from ND4J.
 */
@Platform(include = {"swr/swr.h", "swr/swr_cuda.h", "swr/phalanx_core.h", "swr/swr_cuda_testing.h", "swr_cuda.cu"})
public final class SwrCuda {
    static {
        Loader.load();
    }

    public static final int SWR_OK = 0, SWR_EINVAL = 1, SWR_EDTYPE = 2, SWR_ECUDA = 3, SWR_ENOMEM = 4;
    /** The unbounded window ({@code swr.h}): every step since t = 0. */
    public static final int SWR_UNBOUNDED = Integer.MAX_VALUE;
    /** Data types ({@code swr.h}). */
    public static final int SWR_F32 = 0, SWR_F64 = 1, SWR_F16 = 2, SWR_BF16 = 3;
    /** Channels per head (one decay per 16 channels); the only block size the GPU kernels take. */
    public static final int HEAD = 16, BLOCK = 16;

    private SwrCuda() {
    }

    private static volatile boolean loaded;

    /**
     * Loads the native library; throws {@link UnsatisfiedLinkError} where it cannot. Cheap once it has loaded
     * (JavaCPP's {@code Loader.load} rebuilds the class's properties on every call: ~50 us, as much as a decode step).
     */
    public static void load() {
        if (!loaded) {
            Loader.load(SwrCuda.class);
            loaded = true;
        }
    }

    /** y = SWR(a, u). a: [B, H, L]; u, y: [B, 16 H, L]; all device pointers of {@code dtype}. */
    public static native int swr_cuda_forward(int dtype, @Cast("const void*") long a, @Cast("const void*") long u,
            @Cast("void*") long y, long B, long H, long L, int block, int k, @Cast("void*") long stream);

    /** da: [B, H, L] and du: [B, 16 H, L] from a, u and dy: [B, 16 H, L]; device pointers. */
    public static native int swr_cuda_backward(int dtype, @Cast("const void*") long a, @Cast("const void*") long u,
            @Cast("const void*") long dy, @Cast("void*") long da, @Cast("void*") long du,
            long B, long H, long L, int block, int k, @Cast("void*") long stream);

    /**
     * The fused Phalanx core ({@code phalanx_core.h}): m = SWR(a, rep(beta) v) rep(c) + v. a [B, H, L]; v, m, y
     * [B, 16 H, L]; beta, c [B, 16 kvH, L] (kvH divides H); y may be 0 (not written); device pointers.
     */
    public static native int phalanx_core_cuda_forward(int dtype, @Cast("const void*") long a, @Cast("const void*") long beta,
            @Cast("const void*") long v, @Cast("const void*") long c, @Cast("void*") long m, @Cast("void*") long y,
            long B, long H, long kvH, long L, int block, int k, @Cast("void*") long stream);

    /** Its backward: da [B, H, L], dbeta, dc [B, 16 kvH, L], dv [B, 16 H, L] from dm; y may be 0 (recomputed). */
    public static native int phalanx_core_cuda_backward(int dtype, @Cast("const void*") long a, @Cast("const void*") long beta,
            @Cast("const void*") long v, @Cast("const void*") long c, @Cast("const void*") long y,
            @Cast("const void*") long dm, @Cast("void*") long da, @Cast("void*") long dbeta, @Cast("void*") long dv,
            @Cast("void*") long dc, long B, long H, long kvH, long L, int block, int k, @Cast("void*") long stream);

    // ---- TEST SUPPORT ONLY (swr/swr_cuda_testing.h) ----

    /** Number of CUDA devices in count[0] (0 where there is no driver or GPU). */
    public static native int swr_cuda_test_device_count(@Cast("int32_t*") int[] count);

    /** cudaMalloc: the device address goes to ptr[0]. */
    public static native int swr_cuda_test_malloc(long bytes, @Cast("void**") long[] ptr);

    public static native int swr_cuda_test_free(@Cast("void*") long ptr);

    /** Synchronous copy from a host address (e.g. a JavaCPP Pointer's address()) to the device. */
    public static native int swr_cuda_test_to_device(@Cast("void*") long dstDevice, @Cast("const void*") long srcHost,
            long bytes);

    public static native int swr_cuda_test_to_host(@Cast("void*") long dstHost, @Cast("const void*") long srcDevice,
            long bytes);

    public static native int swr_cuda_test_memset(@Cast("void*") long ptr, int value, long bytes);

    public static native int swr_cuda_test_sync();
}
