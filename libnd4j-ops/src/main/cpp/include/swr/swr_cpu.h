/*
 * SWR on the CPU: forward, streaming forward and backward, float32 and float64, any block >= 1,
 * any window k >= 1 (streaming: k in {1, 2}). Parallel over (batch, head, runs of blocks) with
 * OpenMP. No allocation beyond a small scratch per thread (a few KiB for block 16).
 */
#ifndef PHALANX_SWR_CPU_H
#define PHALANX_SWR_CPU_H

#include "swr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forward. Returns SWR_OK or SWR_EINVAL. */
int swr_cpu_forward_f32(const float* a, const float* u, float* y,
                        int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);
int swr_cpu_forward_f64(const double* a, const double* u, double* y,
                        int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);

/*
 * Streaming forward: continues a sequence of which `pos` steps were already seen (block phase
 * = pos mod block). State, updated in place to the state after the last step:
 *   h [B, C]  local state since the current block's start
 *   P [B, H]  prefix product of a since the current block's start
 *   v [B, C]  previous block's terminal local state (k = 2; unused, may be NULL, for k = 1)
 * With pos = 0 the incoming state is ignored (a fresh sequence). Feeding a sequence in pieces
 * gives the same y as one call over the whole sequence.
 */
int swr_cpu_forward_stream_f32(const float* a, const float* u, float* y,
                               int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                               float* h, float* P, float* v, int64_t pos);
int swr_cpu_forward_stream_f64(const double* a, const double* u, double* y,
                               int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                               double* h, double* P, double* v, int64_t pos);

/* Backward: da [B, H, L] and du [B, C, L] from a, u and the output gradient dy [B, C, L]. */
int swr_cpu_backward_f32(const float* a, const float* u, const float* dy, float* da, float* du,
                         int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);
int swr_cpu_backward_f64(const double* a, const double* u, const double* dy, double* da, double* du,
                         int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);

#ifdef __cplusplus
}
#endif

#endif
