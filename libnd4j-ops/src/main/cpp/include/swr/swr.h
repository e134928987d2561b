/*
 * Sliding Window Recurrence (SWR): C entry points shared by the CPU and CUDA kernels.
 *
 * Semantics: docs/SWR.md section 1.
 *   y_t = sum_{s = s0(t)}^{t} (prod_{r = s+1}^{t} a_r) u_s,   s0(t) = l * max(0, floor(t/l) - k + 1)
 *
 * Layout (NCW, row-major, contiguous):
 *   a      [B, H, L]       one decay per head and step
 *   u, y   [B, C, L]       C = SWR_HEAD * H; channel j uses a[:, j / SWR_HEAD, :]
 *   da     [B, H, L]       summed over the head's SWR_HEAD channels
 *   du     [B, C, L]
 *
 * Shape rules (checked by every entry point; SWR_EINVAL otherwise): B >= 1, H >= 1, L >= 1,
 * block >= 1, k >= 1. Any int32 block and k are valid, and bounded by the semantics, not refused:
 *  - a block >= L is one block (the whole array): block and L give the same result;
 *  - a window k >= the number of blocks ceil(L / block) keeps every step since t = 0: the result is
 *    the unbounded linear recurrence x_t = a_t x_{t-1} + u_t (x_0 = u_0), computed in O(L).
 *    SWR_UNBOUNDED (INT32_MAX) names that window explicitly; it is the only k for which a streaming
 *    state does not grow with k.
 * (The GPU: block 16, any k; see swr_cuda.h.)
 * Outputs must not share memory with inputs: threads read neighbouring blocks of the inputs while
 * others write outputs. (The Java API routes an aliased output through a temporary.)
 *
 * Non-finite values follow the formula literally: a value the formula never multiplies for an
 * output does not reach it, not even as 0 * NaN. So a[0] never matters, nor a at the first step of
 * an output's window-start block; the backward adds nothing non-finite to da, du where the exact
 * gradient (term by term) has none. Where the formula does multiply a NaN or an Inf, the result is
 * non-finite (an Inf may come out as NaN: 0 * Inf inside a scan).
 *
 * Errors: no C++ exception leaves an entry point. Scratch memory is sized (overflow-checked) before
 * it is allocated; a failed or oversized allocation returns SWR_ENOMEM, anything unexpected
 * SWR_EINTERNAL.
 *
 * Dtype rules: inputs and outputs share one floating type. CPU: float32, float64.
 * CUDA: float32, float64, float16, bfloat16 (float32 accumulation).
 */
#ifndef PHALANX_SWR_H
#define PHALANX_SWR_H

#include <stdint.h>

#define SWR_HEAD 16          /* channels per head: one decay per 16 channels (fixed by the paper) */
#define SWR_DEFAULT_BLOCK 16 /* l: steps per block (one warp tile on a GPU) */
#define SWR_DEFAULT_WINDOW 2 /* k: blocks per window */
#define SWR_UNBOUNDED 2147483647 /* k = INT32_MAX: every step since t = 0 (the full linear recurrence) */

#define SWR_OK 0
#define SWR_EINVAL 1   /* bad shape, block or window */
#define SWR_EDTYPE 2   /* unsupported data type */
#define SWR_ECUDA 3    /* a CUDA call failed */
#define SWR_ENOMEM 4   /* scratch memory could not be allocated (or its size overflows) */
#define SWR_EINTERNAL 5 /* an unexpected failure inside the kernels (a bug: please report it) */

/* Data types (CUDA entry points take one of these). */
#define SWR_F32 0
#define SWR_F64 1
#define SWR_F16 2
#define SWR_BF16 3

#endif
