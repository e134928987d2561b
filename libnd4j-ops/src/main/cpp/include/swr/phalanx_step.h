/*
 * One streaming (decode) step of a Phalanx layer (docs/SWR.md section 2) for B sequences, in one call:
 *
 *   a = sigmoid(x Wa + ba)   beta = sigmoid(x Wb + bb)   c = x Wc + bc   v = x Wv
 *   u = rep(beta) v;  y = one SWR step from the streaming state (swr_cpu.h), which it advances
 *   m = y rep(c) + v;  with PHALANX_STEP_HEAD_NORM, m = m / sqrt(mean(m^2) + PHALANX_HEAD_NORM_EPS) over each
 *   head's SWR_HEAD channels (the layer's headNorm option)
 *   z = m Wo;  with PHALANX_STEP_TANH, z = tanh(m Wo) (the layer's tanh activation), else before any activation
 *
 * The same arithmetic as the layer's general path, without a call per operation: at B = 1..8 a decode
 * step is a few hundred thousand multiply-adds, far less than the fixed cost of a dozen ND4J calls.
 *
 * Layout (all arrays one floating type, contiguous):
 *   x  [B, nIn]  row-major;  z [B, nOut] row-major (written in full)
 *   Wa [nIn, H], Wb and Wc [nIn, G], Wv [nIn, C], Wo [C, nOut]: column-major (DL4J's 'f' order), W[i, j] at
 *   W[i + j * rows];  ba [H], bb and bc [G]
 *   C = SWR_HEAD * H, G = SWR_HEAD * kvH, kvH >= 1 divides H (grouped heads share beta and c as in
 *   phalanx_core.h)
 *   scratch: B * (H + 2 G + 2 C) elements
 *   state h [B, C], P [B, H], v [B, C], ring_v [B, k-2, C], ring_A [B, k-2, H] and pos as
 *   swr_cpu_forward_stream_* take them (the ring only for 3 <= k < SWR_UNBOUNDED); pos = 0 starts fresh.
 * Returns SWR_OK or SWR_EINVAL (bad sizes, NULL pointers); no C++ exception leaves it.
 */
#ifndef PHALANX_STEP_H
#define PHALANX_STEP_H

#include "swr.h"

/* Bits of the options argument. */
#define PHALANX_STEP_HEAD_NORM 1
#define PHALANX_STEP_TANH 2
/* Added to each head's mean square by PHALANX_STEP_HEAD_NORM; the Java layer's PhalanxLayer.HEAD_NORM_EPS is the
 * same number. */
#define PHALANX_HEAD_NORM_EPS 1e-5

#ifdef __cplusplus
extern "C" {
#endif

int phalanx_step_cpu_f32(const float* x, const float* Wa, const float* ba, const float* Wb, const float* bb,
                         const float* Wc, const float* bc, const float* Wv, const float* Wo, float* z, float* scratch,
                         int64_t B, int64_t nIn, int64_t H, int64_t kvH, int64_t nOut, int32_t options, int32_t block,
                         int32_t k, float* h, float* P, float* v, float* ring_v, float* ring_A, int64_t pos);
int phalanx_step_cpu_f64(const double* x, const double* Wa, const double* ba, const double* Wb, const double* bb,
                         const double* Wc, const double* bc, const double* Wv, const double* Wo, double* z,
                         double* scratch, int64_t B, int64_t nIn, int64_t H, int64_t kvH, int64_t nOut, int32_t options,
                         int32_t block, int32_t k, double* h, double* P, double* v, double* ring_v, double* ring_A, int64_t pos);

#ifdef __cplusplus
}
#endif

#endif
