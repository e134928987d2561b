/*
 * SWR on NVIDIA GPUs. All pointers are device pointers; `stream` is a cudaStream_t (0 = legacy
 * default stream). The calls only enqueue work: no allocation, no synchronisation.
 * dtype: SWR_F32, SWR_F64, SWR_F16 or SWR_BF16 (float32 accumulation for the 16-bit types);
 * a, u, y, dy, da and du all share it. Shapes as in swr.h.
 * Returns SWR_OK, SWR_EINVAL, SWR_EDTYPE or SWR_ECUDA (launch error).
 */
#ifndef PHALANX_SWR_CUDA_H
#define PHALANX_SWR_CUDA_H

#include "swr.h"

#ifdef __cplusplus
extern "C" {
#endif

int swr_cuda_forward(int32_t dtype, const void* a, const void* u, void* y,
                     int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream);

int swr_cuda_backward(int32_t dtype, const void* a, const void* u, const void* dy, void* da, void* du,
                      int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream);

#ifdef __cplusplus
}
#endif

#endif
