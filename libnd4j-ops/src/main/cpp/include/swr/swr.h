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
 * block >= 1, k >= 1 (CPU; the streaming entry points and the GPU take k in {1, 2}).
 * Outputs must not share memory with inputs: threads read neighbouring blocks of the inputs while
 * others write outputs. (The Java API routes an aliased output through a temporary.)
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

#define SWR_OK 0
#define SWR_EINVAL 1   /* bad shape, block or window */
#define SWR_EDTYPE 2   /* unsupported data type */
#define SWR_ECUDA 3    /* a CUDA call failed */

/* Data types (CUDA entry points take one of these). */
#define SWR_F32 0
#define SWR_F64 1
#define SWR_F16 2
#define SWR_BF16 3

#endif
