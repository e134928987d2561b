/*
 * SWR on NVIDIA GPUs. All pointers are device pointers; `stream` is a cudaStream_t (0 = legacy
 * default stream). The calls only enqueue work, with no synchronisation. block must be 16; any
 * k >= 1 (SWR_UNBOUNDED, or any k >= ceil(L / 16): the unbounded recurrence). For k <= 2 a call is
 * one kernel and allocates nothing; a wider window takes scratch from the stream's memory pool
 * (cudaMallocAsync / cudaFreeAsync on `stream`; 16 bytes per channel and 16-step block forward, 40
 * backward, twice that for float64) and returns SWR_ENOMEM if it cannot.
 * dtype: SWR_F32, SWR_F64, SWR_F16 or SWR_BF16 (float32 accumulation for the 16-bit types);
 * a, u, y, dy, da and du all share it. Shapes as in swr.h.
 * Returns SWR_OK, SWR_EINVAL, SWR_EDTYPE, SWR_ENOMEM or SWR_ECUDA (launch error).
 * Non-finite values as in swr.h: a value the formula never multiplies reaches no output.
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
