package org.phalanx.nd4j.cuda;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nativeops.SwrCuda;
import org.phalanx.swr.Swr;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The ND4J-CUDA dispatch without a GPU: a fake {@link CudaSwrKernels.CudaDevice} hands out one made-up
 * device address per array and records the write ticks; a recording {@link CudaSwrKernels.Launcher}
 * captures what would reach the CUDA entry points.
 */
class CudaSwrKernelsTest {

    static final long STREAM = 0x5eed_0000L;

    static final class FakeDevice implements CudaSwrKernels.CudaDevice {
        final Map<INDArray, Long> addresses = new IdentityHashMap<>();
        final List<INDArray> deviceWrites = new ArrayList<>(), hostWrites = new ArrayList<>();

        @Override
        public long stream() {
            return STREAM;
        }

        @Override
        public long deviceAddress(INDArray x) {
            return addresses.computeIfAbsent(x, k -> 0x1000_0000L * (addresses.size() + 1));
        }

        @Override
        public long hostAddress(INDArray x) { // CPU arrays stand in for the host copies
            return x.data().addressPointer().address();
        }

        @Override
        public void markDeviceWrite(INDArray... xs) {
            deviceWrites.addAll(List.of(xs));
        }

        @Override
        public void markHostWrite(INDArray... xs) {
            hostWrites.addAll(List.of(xs));
        }

        int synchronizations;

        @Override
        public void synchronize() {
            synchronizations++;
        }
    }

    static final class RecordingLauncher implements CudaSwrKernels.Launcher {
        long[] last;
        int rc = SwrCuda.SWR_OK;

        @Override
        public int forward(int dtype, long a, long u, long y, long B, long H, long L, int block, int k, long stream) {
            last = new long[]{dtype, a, u, y, B, H, L, block, k, stream};
            return rc;
        }

        @Override
        public int backward(int dtype, long a, long u, long dy, long da, long du, long B, long H, long L, int block, int k, long stream) {
            last = new long[]{dtype, a, u, dy, da, du, B, H, L, block, k, stream};
            return rc;
        }

        @Override
        public int coreForward(int dtype, long a, long beta, long v, long c, long m, long y, long B, long H, long kvH, long L,
                               int block, int k, long stream) {
            last = new long[]{dtype, a, beta, v, c, m, y, B, H, kvH, L, block, k, stream};
            return rc;
        }

        @Override
        public int coreBackward(int dtype, long a, long beta, long v, long c, long y, long dm, long da, long dbeta, long dv,
                                long dc, long B, long H, long kvH, long L, int block, int k, long stream) {
            last = new long[]{dtype, a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k, stream};
            return rc;
        }
    }

    final FakeDevice device = new FakeDevice();
    final RecordingLauncher launcher = new RecordingLauncher();
    final CudaSwrKernels kernels = new CudaSwrKernels(device, launcher);

    @Test
    void forwardPassesDeviceBuffersShapeAndTheBackendStream() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 3, 2, 33), u = Nd4j.rand(DataType.FLOAT, 3, 32, 33), y = Nd4j.create(DataType.FLOAT, 3, 32, 33);
        kernels.forward(a, u, y, 16, 2);
        assertArrayEquals(new long[]{SwrCuda.SWR_F32, device.deviceAddress(a), device.deviceAddress(u), device.deviceAddress(y),
                3, 2, 33, 16, 2, STREAM}, launcher.last);
        assertEquals(List.of(y), device.deviceWrites);
    }

    @Test
    void backwardPassesAllFiveBuffersAndMarksBothOutputs() {
        INDArray a = Nd4j.rand(DataType.HALF, 1, 4, 5), u = Nd4j.rand(DataType.HALF, 1, 64, 5), dy = Nd4j.rand(DataType.HALF, 1, 64, 5);
        INDArray da = Nd4j.create(DataType.HALF, 1, 4, 5), du = Nd4j.create(DataType.HALF, 1, 64, 5);
        kernels.backward(a, u, dy, da, du, 16, 1);
        assertArrayEquals(new long[]{SwrCuda.SWR_F16, device.deviceAddress(a), device.deviceAddress(u), device.deviceAddress(dy),
                device.deviceAddress(da), device.deviceAddress(du), 1, 4, 5, 16, 1, STREAM}, launcher.last);
        assertEquals(List.of(da, du), device.deviceWrites);
    }

    @Test
    void coreForwardPassesGroupedGatesAndMarksItsOutputs() {
        INDArray a = Nd4j.rand(DataType.BFLOAT16, 2, 4, 17), g = Nd4j.rand(DataType.BFLOAT16, 2, 32, 17), c = Nd4j.rand(DataType.BFLOAT16, 2, 32, 17);
        INDArray v = Nd4j.rand(DataType.BFLOAT16, 2, 64, 17), m = Nd4j.create(DataType.BFLOAT16, 2, 64, 17), y = Nd4j.create(DataType.BFLOAT16, 2, 64, 17);
        kernels.coreForward(a, g, v, c, m, null, 16, 2);
        assertArrayEquals(new long[]{SwrCuda.SWR_BF16, device.deviceAddress(a), device.deviceAddress(g), device.deviceAddress(v),
                device.deviceAddress(c), device.deviceAddress(m), 0, 2, 4, 2, 17, 16, 2, STREAM}, launcher.last);
        assertEquals(List.of(m), device.deviceWrites);
        kernels.coreForward(a, g, v, c, m, y, 16, Integer.MAX_VALUE);
        assertEquals(device.deviceAddress(y), launcher.last[6]);
        assertEquals(Integer.MAX_VALUE, launcher.last[12]);
        assertEquals(List.of(m, m, y), device.deviceWrites);
        assertEquals(0, device.synchronizations);
    }

    @Test
    void coreBackwardPassesTenBuffersAndRecomputesWithoutY() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 1, 2, 9), g = Nd4j.rand(DataType.FLOAT, 1, 16, 9), c = Nd4j.rand(DataType.FLOAT, 1, 16, 9);
        INDArray v = Nd4j.rand(DataType.FLOAT, 1, 32, 9), dm = Nd4j.rand(DataType.FLOAT, 1, 32, 9);
        INDArray da = a.ulike(), dg = g.ulike(), dv = v.ulike(), dc = c.ulike();
        kernels.coreBackward(a, g, v, c, null, dm, da, dg, dv, dc, 16, 1);
        assertArrayEquals(new long[]{SwrCuda.SWR_F32, device.deviceAddress(a), device.deviceAddress(g), device.deviceAddress(v),
                device.deviceAddress(c), 0, device.deviceAddress(dm), device.deviceAddress(da), device.deviceAddress(dg),
                device.deviceAddress(dv), device.deviceAddress(dc), 1, 2, 1, 9, 16, 1, STREAM}, launcher.last);
        assertEquals(List.of(da, dg, dv, dc), device.deviceWrites);
        launcher.rc = SwrCuda.SWR_ECUDA;
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> kernels.coreBackward(a, g, v, c, null, dm, da, dg, dv, dc, 16, 1));
        assertTrue(e.getMessage().contains("fused core backward"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> kernels.coreForward(a, g, v, c, dv, null, 8, 1));
    }

    @Test
    void coreViewsWithAnOffsetReachTheKernelsAsCopies() {
        INDArray v2 = Nd4j.rand(DataType.FLOAT, 2, 16, 8), m2 = Nd4j.create(DataType.FLOAT, 2, 16, 8);
        INDArray v = v2.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray m = m2.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray a = Nd4j.rand(DataType.FLOAT, 1, 1, 8), g = Nd4j.rand(DataType.FLOAT, 1, 16, 8), c = Nd4j.rand(DataType.FLOAT, 1, 16, 8);
        kernels.coreForward(a, g, v, c, m, null, 16, 2);
        for (INDArray seen : device.addresses.keySet()) assertEquals(0, seen.offset(), "an array with an offset reached the device seam");
        assertFalse(device.addresses.containsKey(m));
        assertEquals(1, device.synchronizations, "the copies must outlive the asynchronous launch");
    }

    @Test
    void viewsWithAnOffsetReachTheKernelsAsCopies() {
        INDArray a2 = Nd4j.rand(DataType.FLOAT, 2, 1, 8), u2 = Nd4j.rand(DataType.FLOAT, 2, 16, 8), y2 = Nd4j.create(DataType.FLOAT, 2, 16, 8);
        INDArray a = a2.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray u = u2.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray y = y2.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        assertTrue(a.offset() > 0 && u.offset() > 0 && y.offset() > 0);
        kernels.forward(a, u, y, 16, 2);
        for (INDArray seen : device.addresses.keySet()) {
            assertEquals(0, seen.offset(), "an array with an offset reached the device seam");
        }
        assertEquals(3, device.addresses.size());
        assertFalse(device.addresses.containsKey(y));
        assertEquals(1, device.deviceWrites.size());
        assertEquals(1, device.synchronizations, "the copies must outlive the asynchronous launch");
    }

    @Test
    void arraysWithoutCopiesDoNotWaitForTheStream() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 2, 1, 8), u = Nd4j.rand(DataType.FLOAT, 2, 16, 8), y = Nd4j.create(DataType.FLOAT, 2, 16, 8);
        kernels.forward(a, u, y, 16, 2);
        kernels.backward(a, u, u, a.dup(), u.dup(), 16, 2);
        assertEquals(0, device.synchronizations);
    }

    @Test
    void overlapIsJudgedWithinTheOwningBufferNotByHostAddress() {
        INDArray big = Nd4j.create(DataType.FLOAT, 4, 16, 8);
        INDArray first = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 2), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray second = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 4), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        INDArray middle = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3), org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all());
        assertFalse(kernels.mayOverlap(first, second));
        assertTrue(kernels.mayOverlap(first, middle) && kernels.mayOverlap(middle, second));
        assertFalse(kernels.mayOverlap(big, big.dup()));
    }

    @Test
    void typesBlockSizeAndKernelErrors() {
        assertEquals(SwrCuda.SWR_F32, CudaSwrKernels.dtypeCode(DataType.FLOAT));
        assertEquals(SwrCuda.SWR_F64, CudaSwrKernels.dtypeCode(DataType.DOUBLE));
        assertEquals(SwrCuda.SWR_F16, CudaSwrKernels.dtypeCode(DataType.HALF));
        assertEquals(SwrCuda.SWR_BF16, CudaSwrKernels.dtypeCode(DataType.BFLOAT16));
        assertThrows(IllegalArgumentException.class, () -> CudaSwrKernels.dtypeCode(DataType.INT));
        assertTrue(kernels.supports(DataType.BFLOAT16) && !kernels.supports(DataType.INT));

        INDArray a = Nd4j.rand(DataType.FLOAT, 1, 1, 4), u = Nd4j.rand(DataType.FLOAT, 1, 16, 4), y = Nd4j.create(DataType.FLOAT, 1, 16, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kernels.forward(a, u, y, 8, 2));
        assertTrue(e.getMessage().contains("blockSize must be 16"), e.getMessage());
        assertNull(launcher.last, "nothing may be launched for a rejected block size");
        launcher.rc = SwrCuda.SWR_ECUDA;
        IllegalStateException f = assertThrows(IllegalStateException.class, () -> kernels.forward(a, u, y, 16, 2));
        assertTrue(f.getMessage().contains("CUDA launch error"), f.getMessage());
        assertTrue(device.deviceWrites.isEmpty(), "a failed launch must not mark outputs written");
    }

    @Test
    void streamingRunsOnTheHostCopiesAndMarksTheStateWritten() {
        INDArray a = Nd4j.rand(DataType.DOUBLE, 2, 1, 40), u = Nd4j.randn(DataType.DOUBLE, 2, 16, 40);
        INDArray h = Nd4j.zeros(DataType.DOUBLE, 2, 16), p = Nd4j.ones(DataType.DOUBLE, 2, 1), v = Nd4j.zeros(DataType.DOUBLE, 2, 16);
        INDArray y = Nd4j.create(DataType.DOUBLE, 2, 16, 40);
        kernels.forwardStream(a, u, y, 16, 2, h, p, v, null, null, 0);
        assertEquals(Swr.forward(a, u), y);
        assertEquals(List.of(y, h, p, v), device.hostWrites);
    }

    @Test
    void theCudaLibraryLoadsWithoutAGpuAndChecksItsArguments() {
        try {
            SwrCuda.load();
        } catch (UnsatisfiedLinkError e) {
            org.junit.jupiter.api.Assumptions.abort("built with -Dphalanx.cuda.skip=true: " + e.getMessage());
        }
        assertEquals(SwrCuda.SWR_EINVAL, SwrCuda.swr_cuda_forward(SwrCuda.SWR_F32, 1, 2, 3, 0, 1, 1, 16, 2, 0), "B = 0");
        assertEquals(SwrCuda.SWR_EINVAL, SwrCuda.swr_cuda_forward(SwrCuda.SWR_F32, 1, 2, 3, 1, 1, 1, 16, 0, 0), "k = 0");
        assertEquals(SwrCuda.SWR_EINVAL, SwrCuda.swr_cuda_backward(SwrCuda.SWR_F32, 1, 2, 3, 4, 5, 1, 1, 1, 8, 2, 0), "block 8");
        assertEquals(SwrCuda.SWR_EDTYPE, SwrCuda.swr_cuda_forward(7, 1, 2, 3, 1, 1, 1, 16, 2, 0), "dtype 7");
        int[] count = {-1};
        SwrCuda.swr_cuda_test_device_count(count);
        org.junit.jupiter.api.Assumptions.assumeTrue(count[0] == 0, "a GPU is present: the no-GPU error path is not testable here");
        assertEquals(SwrCuda.SWR_ECUDA, SwrCuda.swr_cuda_forward(SwrCuda.SWR_F32, 1, 2, 3, 1, 1, 16, 16, 2, 0),
                "a launch without a GPU must fail cleanly");
    }
}
