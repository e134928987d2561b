package org.phalanx.nd4j.cuda;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nativeops.SwrCuda;
import org.phalanx.nd4j.ArrayMemory;
import org.phalanx.nd4j.CpuSwrKernels;
import org.phalanx.nd4j.SwrKernels;

import java.util.Arrays;

/**
 * SWR on nd4j-cuda: our CUDA kernels ({@code libjniSwrCuda}) on the arrays' device buffers, enqueued
 * on the backend's stream. Where ND4J keeps the data ({@link CudaDevice}) and how the kernels are
 * launched ({@link Launcher}) are seams, so the marshalling is unit-tested without a GPU.
 *
 * <p>Which GPUs: nd4j-cuda-11.6 (the only ND4J CUDA backend on Maven Central) carries machine code
 * for sm_37..sm_86 and no PTX, so this path runs where ND4J itself runs: Turing (sm_75), Ampere
 * (sm_80, sm_86) and Ada-class GPUs via sm_86 compatibility; not Hopper. Our kernels are built for
 * sm_75, 80, 86 and 90 plus PTX.
 */
public final class CudaSwrKernels implements SwrKernels {

    /** Where ND4J's CUDA backend keeps an array's data. */
    public interface CudaDevice {
        /** The stream ND4J's ops run on (as a raw cudaStream_t). */
        long stream();

        /** Device address of the array's first element, with its data current on the device. */
        long deviceAddress(INDArray array);

        /** Host address, with the data current on the host (for the streaming path). */
        long hostAddress(INDArray array);

        /** The kernel wrote these arrays on the device. */
        void markDeviceWrite(INDArray... arrays);

        /** These arrays were written on the host. */
        void markHostWrite(INDArray... arrays);

        /** Waits until everything enqueued on {@link #stream()} has run. */
        void synchronize();
    }

    /** The CUDA entry points (swr_cuda.h). */
    public interface Launcher {
        int forward(int dtype, long a, long u, long y, long B, long H, long L, int block, int k, long stream);

        int backward(int dtype, long a, long u, long dy, long da, long du, long B, long H, long L, int block, int k,
                     long stream);

        /** phalanx_core_cuda_forward (phalanx_core.h); y may be 0. */
        int coreForward(int dtype, long a, long beta, long v, long c, long m, long y, long B, long H, long kvH, long L,
                        int block, int k, long stream);

        /** phalanx_core_cuda_backward; y may be 0. */
        int coreBackward(int dtype, long a, long beta, long v, long c, long y, long dm, long da, long dbeta, long dv,
                         long dc, long B, long H, long kvH, long L, int block, int k, long stream);
    }

    /** The real launcher: {@link SwrCuda}. */
    public static final Launcher NATIVE = new Launcher() {
        @Override
        public int forward(int dtype, long a, long u, long y, long B, long H, long L, int block, int k, long stream) {
            return SwrCuda.swr_cuda_forward(dtype, a, u, y, B, H, L, block, k, stream);
        }

        @Override
        public int backward(int dtype, long a, long u, long dy, long da, long du, long B, long H, long L, int block,
                            int k, long stream) {
            return SwrCuda.swr_cuda_backward(dtype, a, u, dy, da, du, B, H, L, block, k, stream);
        }

        @Override
        public int coreForward(int dtype, long a, long beta, long v, long c, long m, long y, long B, long H, long kvH,
                               long L, int block, int k, long stream) {
            return SwrCuda.phalanx_core_cuda_forward(dtype, a, beta, v, c, m, y, B, H, kvH, L, block, k, stream);
        }

        @Override
        public int coreBackward(int dtype, long a, long beta, long v, long c, long y, long dm, long da, long dbeta,
                                long dv, long dc, long B, long H, long kvH, long L, int block, int k, long stream) {
            return SwrCuda.phalanx_core_cuda_backward(dtype, a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L,
                    block, k, stream);
        }
    };

    /** Used by {@code PhalanxRuntime} when ND4J's backend is CUDA. */
    public static final CudaSwrKernels INSTANCE = new CudaSwrKernels(new Nd4jCudaDevice(), NATIVE);

    private final CudaDevice device;
    private final Launcher launcher;

    public CudaSwrKernels(CudaDevice device, Launcher launcher) {
        this.device = device;
        this.launcher = launcher;
    }

    @Override
    public boolean supports(DataType t) {
        return t == DataType.FLOAT || t == DataType.DOUBLE || t == DataType.HALF || t == DataType.BFLOAT16;
    }

    /** swr.h's code for an ND4J type. */
    public static int dtypeCode(DataType t) {
        switch (t) {
            case FLOAT: return SwrCuda.SWR_F32;
            case DOUBLE: return SwrCuda.SWR_F64;
            case HALF: return SwrCuda.SWR_F16;
            case BFLOAT16: return SwrCuda.SWR_BF16;
            default: throw new IllegalArgumentException("SWR on CUDA takes FLOAT, DOUBLE, HALF or BFLOAT16; got " + t);
        }
    }

    /** Host pointers say nothing about device memory: arrays overlap when they share a root buffer's range. */
    @Override
    public boolean mayOverlap(INDArray x, INDArray y) {
        return ArrayMemory.overlapInBuffer(x, y);
    }

    // The launches are asynchronous: a temporary copy made here must stay reachable (and unfreed) until
    // the kernel that reads it has run, so when there is one the stream is drained before it is let go.

    @Override
    public void forward(INDArray a, INDArray u, INDArray y, int blockSize, int k) {
        checkBlock(blockSize);
        INDArray ad = unshifted(a), ud = unshifted(u), yd = unshifted(y);
        try {
            long stream = device.stream();
            int rc = launcher.forward(dtypeCode(a.dataType()), device.deviceAddress(ad), device.deviceAddress(ud),
                    device.deviceAddress(yd), a.size(0), a.size(1), a.size(2), blockSize, k, stream);
            check(rc, "forward", a);
            device.markDeviceWrite(yd);
            if (yd != y) y.assign(yd);
        } finally {
            if (ad != a || ud != u || yd != y) device.synchronize();
            ArrayMemory.keepReachable(ad, ud, yd);
        }
    }

    @Override
    public void backward(INDArray a, INDArray u, INDArray dy, INDArray da, INDArray du, int blockSize, int k) {
        checkBlock(blockSize);
        INDArray ad = unshifted(a), ud = unshifted(u), dyd = unshifted(dy), dad = unshifted(da), dud = unshifted(du);
        try {
            long stream = device.stream();
            int rc = launcher.backward(dtypeCode(a.dataType()), device.deviceAddress(ad), device.deviceAddress(ud),
                    device.deviceAddress(dyd), device.deviceAddress(dad), device.deviceAddress(dud),
                    a.size(0), a.size(1), a.size(2), blockSize, k, stream);
            check(rc, "backward", a);
            device.markDeviceWrite(dad, dud);
            if (dad != da) da.assign(dad);
            if (dud != du) du.assign(dud);
        } finally {
            if (ad != a || ud != u || dyd != dy || dad != da || dud != du) device.synchronize();
            ArrayMemory.keepReachable(ad, ud, dyd, dad, dud);
        }
    }

    @Override
    public void coreForward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray m, INDArray y, int blockSize, int k) {
        checkBlock(blockSize);
        INDArray ad = unshifted(a), bd = unshifted(beta), vd = unshifted(v), cd = unshifted(c), md = unshifted(m),
                yd = y == null ? null : unshifted(y);
        try {
            int rc = launcher.coreForward(dtypeCode(a.dataType()), device.deviceAddress(ad), device.deviceAddress(bd),
                    device.deviceAddress(vd), device.deviceAddress(cd), device.deviceAddress(md),
                    yd == null ? 0 : device.deviceAddress(yd), a.size(0), a.size(1), beta.size(1) / SwrCuda.HEAD, a.size(2),
                    blockSize, k, device.stream());
            check(rc, "fused core forward", a);
            device.markDeviceWrite(yd == null ? new INDArray[]{md} : new INDArray[]{md, yd});
            if (md != m) m.assign(md);
            if (yd != y) y.assign(yd);
        } finally {
            if (ad != a || bd != beta || vd != v || cd != c || md != m || yd != y) device.synchronize();
            ArrayMemory.keepReachable(ad, bd, vd, cd, md, yd);
        }
    }

    @Override
    public void coreBackward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray y, INDArray dm,
                             INDArray da, INDArray dbeta, INDArray dv, INDArray dc, int blockSize, int k) {
        checkBlock(blockSize);
        INDArray ad = unshifted(a), bd = unshifted(beta), vd = unshifted(v), cd = unshifted(c), yd = y == null ? null : unshifted(y),
                dmd = unshifted(dm), dad = unshifted(da), dbd = unshifted(dbeta), dvd = unshifted(dv), dcd = unshifted(dc);
        try {
            int rc = launcher.coreBackward(dtypeCode(a.dataType()), device.deviceAddress(ad), device.deviceAddress(bd),
                    device.deviceAddress(vd), device.deviceAddress(cd), yd == null ? 0 : device.deviceAddress(yd),
                    device.deviceAddress(dmd), device.deviceAddress(dad), device.deviceAddress(dbd), device.deviceAddress(dvd),
                    device.deviceAddress(dcd), a.size(0), a.size(1), beta.size(1) / SwrCuda.HEAD, a.size(2), blockSize, k,
                    device.stream());
            check(rc, "fused core backward", a);
            device.markDeviceWrite(dad, dbd, dvd, dcd);
            if (dad != da) da.assign(dad);
            if (dbd != dbeta) dbeta.assign(dbd);
            if (dvd != dv) dv.assign(dvd);
            if (dcd != dc) dc.assign(dcd);
        } finally {
            if (ad != a || bd != beta || vd != v || cd != c || yd != y || dmd != dm || dad != da || dbd != dbeta
                    || dvd != dv || dcd != dc) device.synchronize();
            ArrayMemory.keepReachable(ad, bd, vd, cd, yd, dmd, dad, dbd, dvd, dcd);
        }
    }

    /**
     * The array itself if it starts at its buffer's start, else a copy. (Whether nd4j-cuda's device
     * pointer of a view already includes the view's offset could not be checked without a GPU here;
     * with offset 0 the answer does not matter. Such views are rare: slices along the batch axis.)
     */
    static INDArray unshifted(INDArray x) {
        return x.offset() == 0 ? x : x.dup('c');
    }

    /**
     * Streaming decode steps are a few values per channel: they run on the host copy (our CPU kernel)
     * rather than launch a kernel per token. FLOAT and DOUBLE only.
     */
    @Override
    public void forwardStream(INDArray a, INDArray u, INDArray y, int blockSize, int k,
                              INDArray h, INDArray p, INDArray v, INDArray vRing, INDArray aRing, long position) {
        DataType t = a.dataType();
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            throw new IllegalArgumentException("Swr.forward (streaming) on CUDA takes FLOAT or DOUBLE; got " + t);
        }
        INDArray ah = unshifted(a), uh = unshifted(u), yh = unshifted(y);
        try {
            CpuSwrKernels.forwardStreamAt(t, device.hostAddress(ah), device.hostAddress(uh),
                    device.hostAddress(yh), a.size(0), a.size(1), a.size(2), blockSize, k,
                    device.hostAddress(h), device.hostAddress(p), v == null ? 0 : device.hostAddress(v),
                    vRing == null ? 0 : device.hostAddress(vRing), aRing == null ? 0 : device.hostAddress(aRing),
                    position);
            device.markHostWrite(java.util.stream.Stream.of(yh, h, p, v, vRing, aRing).filter(java.util.Objects::nonNull)
                    .toArray(INDArray[]::new));
            if (yh != y) y.assign(yh);
        } finally { // a synchronous host call: reachability is all it needs
            ArrayMemory.keepReachable(ah, uh, yh, h, p, v, vRing, aRing);
        }
    }

    private static void checkBlock(int blockSize) {
        if (blockSize != SwrCuda.BLOCK) {
            throw new IllegalArgumentException("Swr on CUDA: blockSize must be " + SwrCuda.BLOCK + " on the GPU; got " + blockSize);
        }
    }

    private static void check(int rc, String what, INDArray a) {
        if (rc != SwrCuda.SWR_OK) {
            throw new IllegalStateException("SWR " + what + " CUDA kernel failed with code " + rc + " ("
                    + (rc == SwrCuda.SWR_ECUDA ? "CUDA launch error" : rc == SwrCuda.SWR_EDTYPE ? "data type"
                       : rc == SwrCuda.SWR_ENOMEM ? "no device memory for the window's scratch" : "arguments")
                    + ") for a " + Arrays.toString(a.shape()) + " " + a.dataType());
        }
    }
}
