package org.phalanx.nd4j.cuda;

import org.nd4j.jita.allocator.impl.AtomicAllocator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.jcublas.buffer.BaseCudaDataBuffer;
import org.nd4j.linalg.jcublas.context.CudaContext;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * {@link CudaSwrKernels.CudaDevice} on nd4j-cuda-11.6: the data made current on the device
 * ({@code dbSyncToSpecial}, as libnd4j does before its own ops), its device pointer from
 * {@link AtomicAllocator}, the thread's CUDA context stream, and the allocator's write ticks so that
 * ND4J knows where the fresh data lives.
 */
final class Nd4jCudaDevice implements CudaSwrKernels.CudaDevice {

    private static CudaContext context() {
        return AtomicAllocator.getInstance().getDeviceContext();
    }

    @Override
    public long stream() {
        return context().getOldStream().address();
    }

    @Override
    public long deviceAddress(INDArray array) {
        NativeOpsHolder.getInstance().getDeviceNativeOps()
                .dbSyncToSpecial(((BaseCudaDataBuffer) array.data()).getOpaqueDataBuffer());
        return AtomicAllocator.getInstance().getPointer(array, context()).address();
    }

    @Override
    public long hostAddress(INDArray array) {
        return AtomicAllocator.getInstance().getHostPointer(array).address();
    }

    @Override
    public void markDeviceWrite(INDArray... arrays) {
        for (INDArray x : arrays) AtomicAllocator.getInstance().tickDeviceWrite(x);
    }

    @Override
    public void markHostWrite(INDArray... arrays) {
        for (INDArray x : arrays) AtomicAllocator.getInstance().tickHostWrite(x);
    }

    @Override
    public void synchronize() {
        context().syncOldStream();
    }
}
