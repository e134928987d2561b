/*
 * SWR on the CPU: forward, streaming forward and backward, float32 and float64, any block >= 1,
 * any window k >= 1 including SWR_UNBOUNDED (swr.h: a block >= L is one block, a window >= the
 * number of blocks is the unbounded recurrence, in O(L)). Parallel over (batch, head, runs of blocks)
 * with OpenMP. No allocation beyond a scratch per thread (a few KiB for block 16; O(block) for the
 * backward, O(k) for windows k >= 3), sized before it is taken.
 *
 * Every entry point returns SWR_OK, SWR_EINVAL (bad sizes or pointers), SWR_ENOMEM (scratch) or
 * SWR_EINTERNAL, and lets no C++ exception out.
 */
#ifndef PHALANX_SWR_CPU_H
#define PHALANX_SWR_CPU_H

#include "swr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forward. */
int swr_cpu_forward_f32(const float* a, const float* u, float* y,
                        int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);
int swr_cpu_forward_f64(const double* a, const double* u, double* y,
                        int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);

/*
 * Streaming forward, any k >= 1 and SWR_UNBOUNDED: continues a sequence of which `pos` steps were
 * already seen (block phase = pos mod block; pos + L must fit in int64). State (docs/SWR.md,
 * "Streaming state"), updated in place to the state after the last step:
 *   h      [B, C]        local state since the current block's start
 *   P      [B, H]        prefix product of a since the current block's start
 *   v      [B, C]        the carry into the current block (k >= 2; unused, may be NULL, for k = 1):
 *                        k = 2 the previous block's terminal local state, unbounded x at the end of
 *                        the previous block
 *   ring_v [B, k-2, C]   3 <= k < SWR_UNBOUNDED only (else may be NULL): the last k - 2 finished
 *   ring_A [B, k-2, H]   blocks' terminal local states and products, block j in slot j mod (k - 2)
 * With pos = 0 the incoming state is ignored (a fresh sequence). Feeding a sequence in pieces
 * gives the same y as one call over the whole sequence, with the same block and k.
 */
int swr_cpu_forward_stream_f32(const float* a, const float* u, float* y,
                               int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                               float* h, float* P, float* v, float* ring_v, float* ring_A, int64_t pos);
int swr_cpu_forward_stream_f64(const double* a, const double* u, double* y,
                               int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                               double* h, double* P, double* v, double* ring_v, double* ring_A, int64_t pos);

/* Backward: da [B, H, L] and du [B, C, L] from a, u and the output gradient dy [B, C, L]. */
int swr_cpu_backward_f32(const float* a, const float* u, const float* dy, float* da, float* du,
                         int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);
int swr_cpu_backward_f64(const double* a, const double* u, const double* dy, double* da, double* du,
                         int64_t B, int64_t H, int64_t L, int32_t block, int32_t k);

#ifdef __cplusplus
}
#endif

#endif
