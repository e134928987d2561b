/*
 * TEST SUPPORT ONLY: minimal device-memory helpers so that a JVM with no CUDA bindings of its own
 * (bench/gpu/java/SwrCudaCheck.java) can exercise the SWR CUDA kernels through the same JNI library.
 * Not for production paths: ND4J owns device memory and streams there. Each call is a thin wrapper of
 * the CUDA runtime call named in its comment and returns SWR_OK or SWR_ECUDA.
 */
#ifndef PHALANX_SWR_CUDA_TESTING_H
#define PHALANX_SWR_CUDA_TESTING_H

#include "swr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cudaGetDeviceCount; *count = 0 (and SWR_ECUDA) where there is no driver or no GPU. */
int swr_cuda_test_device_count(int32_t* count);
/* cudaMalloc of `bytes`; the device address goes to *ptr (0 on failure). */
int swr_cuda_test_malloc(int64_t bytes, void** ptr);
/* cudaFree */
int swr_cuda_test_free(void* ptr);
/* cudaMemcpy host -> device and device -> host (synchronous). */
int swr_cuda_test_to_device(void* dst_device, const void* src_host, int64_t bytes);
int swr_cuda_test_to_host(void* dst_host, const void* src_device, int64_t bytes);
/* cudaMemset (bytes of value `byte`), e.g. to poison outputs. */
int swr_cuda_test_memset(void* ptr, int32_t byte, int64_t bytes);
/* cudaDeviceSynchronize, then cudaGetLastError. */
int swr_cuda_test_sync(void);

/* BENCHMARKING ONLY: swr_cuda_forward with an explicit kernel: 0 = the default, 1 = staged with
 * per-thread stores, 2 = staged with coalesced stores through shared memory, 3 = the general
 * (unstaged) kernel, 4 = for rows not 16-byte aligned, the staged kernel for any alignment with its raw
 * chunks fetched by TMA (sm_90+; measured slower, docs/CUDA.md; elsewhere the default), 5 = for rows not
 * 16-byte aligned, the staged kernel for any alignment with a realignment pass through shared memory
 * (the earlier default; elsewhere the default), 6 = for 16-bit rows not 16-byte aligned on sm_90+, read
 * in place with each row fetched by one bulk copy, y stored from its global alignment (the default there since 2026-12-03;
 * elsewhere the default), 7 = the default with every step of a row in the tiles (the row ends a few
 * blocks past a whole round not apart: the default until 2026-12-04). Variants 1 and
 * 2 take the staged kernel for any alignment where rows are not 16-byte aligned. Windows k >= 3 ignore
 * the variant. */
int swr_cuda_forward_variant(int32_t variant, int32_t dtype, const void* a, const void* u, void* y,
                             int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream);
/* BENCHMARKING ONLY: swr_cuda_backward with an explicit kernel (variants as above; 1 and 2 differ in
 * how du is stored, and take the general kernel where rows are not 16-byte aligned; 4 = staged with
 * the channel sum of da by warp shuffles, any alignment; 5 = 4 with the raw chunks of rows not 16-byte
 * aligned fetched by TMA, as forward variant 4; for rows not 16-byte aligned, 6 = 4 with the raw rows
 * realigned in rows of their own (the 16-bit default until 2026-12-02), 7 = 4 with the raw rows
 * realigned in place (the float32 / float64 default until then), 8 = 4 with the raw rows read where
 * they land, each lane shifting its own blocks (the default, but for 16-bit rows on sm_90+: 9), 9 = 8
 * with each raw row fetched by one bulk copy (16-bit rows on sm_90+; elsewhere the default); elsewhere
 * 6 to 8 are the default. 10 = the default until 2026-12-03, still float32's (variant 8 at rows not 16-byte aligned, 4 at
 * aligned ones, each thread recomputing the carries of its neighbouring blocks instead of exchanging them).
 * Windows k >= 3 ignore the variant. */
int swr_cuda_backward_variant(int32_t variant, int32_t dtype, const void* a, const void* u, const void* dy,
                              void* da, void* du, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                              void* stream);

/* BENCHMARKING ONLY: phalanx_core_cuda_forward / _backward (swr/phalanx_core.h) with an explicit path:
 * 0 = the default (fused for k <= 2), 1 = the composed, unfused steps (u = beta * v, SWR, m = y * c + v
 * as separate kernels, with u, y and dy in storage precision), the baseline the fused core replaces;
 * forward only: 2 = the fused kernel with every step of a row in the tiles (the default until 2026-12-04),
 * bitwise equal to the default; backward only: 2 / 3 = the fused kernel without / with the blocks' carries exchanged between threads
 * (bitwise equal to each other and to the default; for kvH < H 3 keeps the dbeta and dc sums in shared
 * memory, the default until 2026-12-04), 4 / 5 = 3 with those sums in registers (occupancy hints of 2 / 3
 * CTAs per SM; 16-bit and float32, the default one of them; bitwise equal too). */
int phalanx_core_cuda_forward_variant(int32_t variant, int32_t dtype, const void* a, const void* beta, const void* v,
                                      const void* c, void* m, void* y, int64_t B, int64_t H, int64_t kvH, int64_t L,
                                      int32_t block, int32_t k, void* stream);
int phalanx_core_cuda_backward_variant(int32_t variant, int32_t dtype, const void* a, const void* beta, const void* v,
                                       const void* c, const void* y, const void* dm, void* da, void* dbeta, void* dv,
                                       void* dc, int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block,
                                       int32_t k, void* stream);

#ifdef __cplusplus
}
#endif

#endif
