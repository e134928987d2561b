/*
 * The Phalanx core, fused: the part of a Phalanx layer between its input projections and its output
 * projection, in one pass over memory (CPU and CUDA), instead of u = beta * v, y = SWR(a, u) and
 * m = y * c + v as three passes.
 *
 *   u = rep(beta) * v
 *   y = SWR(a, u)                 (swr.h, block and window k as there)
 *   m = y * rep(c) + v
 *
 * Layout (NCW, row-major, contiguous; all arrays share one floating type):
 *   a          [B, H, L]      one decay per head and step
 *   v, m, y    [B, C, L]      C = SWR_HEAD * H
 *   beta, c    [B, G, L]      G = SWR_HEAD * kvH, kvH >= 1 divides H (grouped heads share beta and c)
 * rep: channel j (head h = j / SWR_HEAD, lane j % SWR_HEAD) reads group channel
 *   (h / (H / kvH)) * SWR_HEAD + j % SWR_HEAD;  kvH = H is one beta and c channel per channel.
 *
 * Forward reads a, beta, v, c and writes m; y (may be NULL) receives the SWR output for a backward
 * that would rather read it than recompute it.
 *
 * Backward, from dm [B, C, L]:
 *   dy = dm * rep(c);  (da, du) = SWR backward(a, u, dy)  (swr.h);
 *   dv = dm + du * rep(beta);  dbeta = gsum(du * v);  dc = gsum(dm * y)
 * gsum: the sum over the H / kvH heads that share a group channel. Every output is written (not
 * accumulated into). y may be NULL: it is then recomputed from a, beta, v (no extra memory traffic
 * beyond reading those again). The backward therefore reads a, beta, v, c, dm (and y if given) and
 * writes da, dbeta, dv, dc.
 *
 * Outputs must not share memory with inputs or with each other. Non-finite values as in swr.h.
 * Returns SWR_OK, SWR_EINVAL (bad sizes, kvH not dividing H, NULL required pointers), SWR_EDTYPE,
 * SWR_ENOMEM, SWR_ECUDA or SWR_EINTERNAL; no C++ exception leaves an entry point.
 */
#ifndef PHALANX_CORE_H
#define PHALANX_CORE_H

#include "swr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU: float32 and float64, any block >= 1 and window k >= 1 (SWR_UNBOUNDED too). */
int phalanx_core_cpu_forward_f32(const float* a, const float* beta, const float* v, const float* c,
                                 float* m, float* y,
                                 int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k);
int phalanx_core_cpu_forward_f64(const double* a, const double* beta, const double* v, const double* c,
                                 double* m, double* y,
                                 int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k);
int phalanx_core_cpu_backward_f32(const float* a, const float* beta, const float* v, const float* c,
                                  const float* y, const float* dm,
                                  float* da, float* dbeta, float* dv, float* dc,
                                  int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k);
int phalanx_core_cpu_backward_f64(const double* a, const double* beta, const double* v, const double* c,
                                  const double* y, const double* dm,
                                  double* da, double* dbeta, double* dv, double* dc,
                                  int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k);

/* CUDA: device pointers, enqueued on `stream` (a cudaStream_t; 0 = legacy default stream), no
 * synchronisation; dtype SWR_F32, SWR_F64, SWR_F16 or SWR_BF16 (float32 accumulation); block 16,
 * any k as in swr_cuda.h. */
int phalanx_core_cuda_forward(int32_t dtype, const void* a, const void* beta, const void* v, const void* c,
                              void* m, void* y,
                              int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k,
                              void* stream);
int phalanx_core_cuda_backward(int32_t dtype, const void* a, const void* beta, const void* v, const void* c,
                               const void* y, const void* dm, void* da, void* dbeta, void* dv, void* dc,
                               int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k,
                               void* stream);

#ifdef __cplusplus
}
#endif

#endif
