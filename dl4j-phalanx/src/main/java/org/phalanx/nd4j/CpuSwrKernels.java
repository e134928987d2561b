package org.phalanx.nd4j;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.phalanx.nativeops.SwrCpu;


/**
 * SWR on nd4j-native: host buffers handed to the C++ kernels ({@code libnd4j-ops}) by address.
 * A view's {@code data().addressPointer()} already includes its offset, so no offset is added.
 */
public final class CpuSwrKernels implements SwrKernels {

    public static final CpuSwrKernels INSTANCE = new CpuSwrKernels();

    private CpuSwrKernels() {
        SwrCpu.load();
    }

    @Override
    public boolean supports(DataType dataType) {
        return dataType == DataType.FLOAT || dataType == DataType.DOUBLE;
    }

    // Every method fences its arrays after the native call: the kernels get raw addresses, and an array
    // the JIT sees no further use of (a temporary copy) may otherwise be freed while a kernel reads it.

    @Override
    public void forward(INDArray a, INDArray u, INDArray y, int blockSize, int k) {
        try {
            long[] s = dims(a, u);
            int rc = a.dataType() == DataType.DOUBLE
                    ? SwrCpu.swr_cpu_forward_f64(addr(a), addr(u), addr(y), s[0], s[1], s[2], blockSize, k)
                    : SwrCpu.swr_cpu_forward_f32(addr(a), addr(u), addr(y), s[0], s[1], s[2], blockSize, k);
            check(rc, "forward");
        } finally {
            ArrayMemory.keepReachable(a, u, y);
        }
    }

    @Override
    public void forwardStream(INDArray a, INDArray u, INDArray y, int blockSize, int k,
                              INDArray h, INDArray p, INDArray v, INDArray vRing, INDArray aRing, long position) {
        try {
            forwardStreamAt(a.dataType(), addr(a), addr(u), addr(y), a.size(0), a.size(1), a.size(2), blockSize, k,
                    addr(h), addr(p), addr(v), addr(vRing), addr(aRing), position);
        } finally {
            ArrayMemory.keepReachable(a, u, y, h, p, v, vRing, aRing);
        }
    }

    @Override
    public void backward(INDArray a, INDArray u, INDArray dy, INDArray da, INDArray du, int blockSize, int k) {
        try {
            long[] s = dims(a, u);
            int rc = a.dataType() == DataType.DOUBLE
                    ? SwrCpu.swr_cpu_backward_f64(addr(a), addr(u), addr(dy), addr(da), addr(du), s[0], s[1], s[2], blockSize, k)
                    : SwrCpu.swr_cpu_backward_f32(addr(a), addr(u), addr(dy), addr(da), addr(du), s[0], s[1], s[2], blockSize, k);
            check(rc, "backward");
        } finally {
            ArrayMemory.keepReachable(a, u, dy, da, du);
        }
    }

    @Override
    public void coreForward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray m, INDArray y, int blockSize, int k) {
        try {
            long B = a.size(0), H = a.size(1), kvH = beta.size(1) / SwrCpu.HEAD, L = a.size(2);
            int rc = a.dataType() == DataType.DOUBLE
                    ? SwrCpu.phalanx_core_cpu_forward_f64(addr(a), addr(beta), addr(v), addr(c), addr(m), addr(y), B, H, kvH, L, blockSize, k)
                    : SwrCpu.phalanx_core_cpu_forward_f32(addr(a), addr(beta), addr(v), addr(c), addr(m), addr(y), B, H, kvH, L, blockSize, k);
            check(rc, "fused core forward");
        } finally {
            ArrayMemory.keepReachable(a, beta, v, c, m, y);
        }
    }

    @Override
    public void coreBackward(INDArray a, INDArray beta, INDArray v, INDArray c, INDArray y, INDArray dm,
                             INDArray da, INDArray dbeta, INDArray dv, INDArray dc, int blockSize, int k) {
        try {
            long B = a.size(0), H = a.size(1), kvH = beta.size(1) / SwrCpu.HEAD, L = a.size(2);
            int rc = a.dataType() == DataType.DOUBLE
                    ? SwrCpu.phalanx_core_cpu_backward_f64(addr(a), addr(beta), addr(v), addr(c), addr(y), addr(dm),
                            addr(da), addr(dbeta), addr(dv), addr(dc), B, H, kvH, L, blockSize, k)
                    : SwrCpu.phalanx_core_cpu_backward_f32(addr(a), addr(beta), addr(v), addr(c), addr(y), addr(dm),
                            addr(da), addr(dbeta), addr(dv), addr(dc), B, H, kvH, L, blockSize, k);
            check(rc, "fused core backward");
        } finally {
            ArrayMemory.keepReachable(a, beta, v, c, y, dm, da, dbeta, dv, dc);
        }
    }

    /**
     * The streaming kernel on raw host addresses (also used by the CUDA backend for decode steps); the
     * ring addresses are 0 except for a finite window k >= 3 (see {@link SwrKernels#forwardStream}); the
     * caller keeps the arrays behind them reachable until this returns.
     */
    public static void forwardStreamAt(DataType t, long a, long u, long y, long B, long H, long L, int blockSize, int k,
                                       long h, long p, long v, long vRing, long aRing, long position) {
        SwrCpu.load();
        int rc = t == DataType.DOUBLE
                ? SwrCpu.swr_cpu_forward_stream_f64(a, u, y, B, H, L, blockSize, k, h, p, v, vRing, aRing, position)
                : SwrCpu.swr_cpu_forward_stream_f32(a, u, y, B, H, L, blockSize, k, h, p, v, vRing, aRing, position);
        check(rc, "forward (streaming)");
    }

    /**
     * One decode step of a Phalanx layer ({@code phalanx_step.h}) on host arrays the caller has checked (shapes,
     * layouts: x, z, scratch dense 'c'; weights dense column-major; biases dense) and keeps reachable; the ring
     * arrays are null except for a finite window k >= 3.
     */
    public static void phalanxStep(INDArray x, INDArray wa, INDArray ba, INDArray wb, INDArray bb, INDArray wc,
                                   INDArray bc, INDArray wv, INDArray wo, INDArray z, INDArray scratch, long kvH,
                                   boolean headNorm, boolean tanh, int blockSize, int k, INDArray h, INDArray p, INDArray v,
                                   INDArray vRing, INDArray aRing, long position) {
        SwrCpu.load();
        try {
            long B = x.size(0), nIn = x.size(1), H = wa.size(1), nOut = wo.size(1);
            int options = (headNorm ? SwrCpu.PHALANX_STEP_HEAD_NORM : 0) | (tanh ? SwrCpu.PHALANX_STEP_TANH : 0);
            int rc = x.dataType() == DataType.DOUBLE
                    ? SwrCpu.phalanx_step_cpu_f64(addr(x), addr(wa), addr(ba), addr(wb), addr(bb), addr(wc), addr(bc),
                            addr(wv), addr(wo), addr(z), addr(scratch), B, nIn, H, kvH, nOut, options, blockSize, k,
                            addr(h), addr(p), addr(v), addr(vRing), addr(aRing), position)
                    : SwrCpu.phalanx_step_cpu_f32(addr(x), addr(wa), addr(ba), addr(wb), addr(bb), addr(wc), addr(bc),
                            addr(wv), addr(wo), addr(z), addr(scratch), B, nIn, H, kvH, nOut, options, blockSize, k,
                            addr(h), addr(p), addr(v), addr(vRing), addr(aRing), position);
            check(rc, "Phalanx step");
        } finally {
            ArrayMemory.keepReachable(x, wa, ba, wb, bb, wc, bc, wv, wo, z, scratch, h, p, v, vRing, aRing);
        }
    }

    private static long[] dims(INDArray a, INDArray u) {
        return new long[]{a.size(0), a.size(1), a.size(2)};
    }

    private static long addr(INDArray x) {
        return x == null ? 0L : x.data().addressPointer().address();
    }

    static void check(int rc, String what) {
        if (rc == SwrCpu.SWR_ENOMEM) {
            throw new IllegalStateException("SWR " + what + " kernel could not allocate its scratch memory (it needs "
                    + "O(blockSize) per thread for the backward and O(k) for windows k >= 3, and takes at most half the "
                    + "physical memory); use a smaller block size or window, or Swr.UNBOUNDED for the full recurrence; the fused core's general "
                    + "path also takes a few [C, L] rows of one batch entry)");
        }
        if (rc == SwrCpu.SWR_EINTERNAL) {
            throw new IllegalStateException("SWR " + what + " kernel failed unexpectedly (code " + rc
                    + "); this is a bug in dl4j-phalanx's native kernels: please report it");
        }
        if (rc != SwrCpu.SWR_OK) {
            throw new IllegalStateException("SWR " + what + " kernel rejected its arguments (code " + rc
                    + "); this is a bug in the argument checks of org.phalanx.swr.Swr or PhalanxCore");
        }
    }
}
