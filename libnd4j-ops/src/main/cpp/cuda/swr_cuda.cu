/*
 * SWR on NVIDIA GPUs (docs/SWR.md section 1): forward and backward, block l = 16, any window k >= 1,
 * storage float32, float64, float16, bfloat16 (float32 accumulation for the 16-bit types).
 *
 * Design (see docs/CUDA.md). Blocks talk only to their neighbours, one value per channel: forward,
 * the left neighbour's terminal LOCAL state (it depends only on that block's own u and a); backward,
 * in addition, the right neighbour's q = sum P * dy. Whoever needs such a value at a tile edge
 * recomputes it from one block of look-behind (look-ahead): there is no carry between thread blocks
 * at all, so every length and every tile boundary is exact by construction, and each output is a
 * fixed sequence of operations (bitwise reproducible; no atomics: da, the sum over the head's 16
 * channels, is reduced in shared memory in channel order). One thread owns one block of 16 steps of
 * one channel at a time. Two kernel families:
 *
 *   - "general" (any length and alignment): a CTA is one head (16 warps = 16 channels) x 32 blocks
 *     (lane = block); each thread loads its 16 contiguous elements into registers (16-byte vector loads
 *     where the row is aligned), the decays are staged in shared memory, neighbours by shuffle, and
 *     lane 0 / lane 31 reload the halo block at the tile edges.
 *   - "staged" (rows 16-byte aligned: L * sizeof(T) % 16 == 0 and aligned pointers): the CTA copies
 *     its whole tile plus halos into shared memory with cp.async 16-byte copies, all issued at once;
 *     threads work from shared memory and recompute the neighbour values there; outputs leave through
 *     shared memory in fully coalesced 16-byte stores. Small CTAs (forward: 4 channels x 32 KiB of u;
 *     backward: 16 channels x 256 steps), many resident per multiprocessor. The backward's default
 *     (swr_backward_shfl) puts 2 blocks x 16 channels in a warp and sums da over the channels by a
 *     15-shuffle reduce-scatter in a fixed butterfly order.
 *
 * Rows that are not 16-byte aligned take the same staged kernels through aligned chunks of the
 * whole buffer ("any" kernels, below): the forward shifts a block into place in registers as it reads
 * it, the backward realigns the rows in shared memory (in place in float32 and float64); a
 * benchmark-only sm_90 variant fetches those chunks by TMA instead, measured slower. Windows k >= 3
 * (and unbounded) take three kernels and stream-ordered scratch ("Any window", below).
 *
 * Defaults (measured on the H200, docs/BENCHMARKS.md): staged forward, staged backward with the
 * shuffle reduction, for every type and alignment. The other kernels stay reachable through the
 * benchmark-only *_variant entry points. For k <= 2 the entry points only validate and enqueue one
 * kernel: no allocation, no synchronisation (cudaFuncSetAttribute, a host-side attribute, is set
 * for kernels over 48 KiB of shared memory).
 *
 * Included by the JavaCPP-generated JNI source (org.phalanx.nativeops.SwrCuda, compiled by nvcc),
 * and by the GPU harness in bench/gpu/. It #includes phalanx_core_cuda.cu (the fused Phalanx core,
 * swr/phalanx_core.h), which builds on the kernels here: one translation unit, one library.
 */
#include "swr/swr_cuda.h"

#include <cuda.h> /* CUtensorMap and its enums only: the encoder comes through the runtime (no libcuda link) */
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <type_traits>

namespace phalanx_swr_cuda {

constexpr int HEAD = SWR_HEAD;               /* channels per head = warps per CTA */
constexpr int BLK = 16;                      /* steps per block (the only block size on the GPU) */
constexpr int WARP = 32;
constexpr int TILE_BLOCKS = WARP;            /* blocks per CTA along time: one per lane */
constexpr int TILE_STEPS = TILE_BLOCKS * BLK;  /* 512 */
constexpr int THREADS = HEAD * WARP;         /* 512 */
constexpr int HALO = BLK;                    /* decays staged before and after the tile */
constexpr int DA_STRIDE = TILE_BLOCKS * (BLK + 1);  /* padded row of the da reduction buffer */

static_assert(BLK == 16 && SWR_DEFAULT_BLOCK == 16, "the GPU kernels are written for l = 16");

/* ---- element access: storage type T, accumulation type Acc ---- */
template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };

__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

/* Unpack one 16-byte word of T into Acc values. The word is taken by value: through a reference into
 * shared memory the 16-bit overloads were compiled to eight 32-bit loads per word instead of one 128-bit
 * load (the same values). */
__device__ __forceinline__ void unpack(const uint4 w, float* out, float) {
    out[0] = __uint_as_float(w.x); out[1] = __uint_as_float(w.y);
    out[2] = __uint_as_float(w.z); out[3] = __uint_as_float(w.w);
}
__device__ __forceinline__ void unpack(const uint4 w, double* out, double) {
    out[0] = __hiloint2double((int) w.y, (int) w.x);
    out[1] = __hiloint2double((int) w.w, (int) w.z);
}
__device__ __forceinline__ void unpack(const uint4 w, float* out, __half) {
    const unsigned u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        __half2 h;
        memcpy(&h, &u[i], 4);
        const float2 f = __half22float2(h);
        out[2 * i] = f.x; out[2 * i + 1] = f.y;
    }
}
__device__ __forceinline__ void unpack(const uint4 w, float* out, __nv_bfloat16) {
    const unsigned u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) { /* bf16 -> float is exact: the 16 bits become the high half */
        out[2 * i] = __uint_as_float(u[i] << 16);
        out[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
}
__device__ __forceinline__ uint4 pack(const float* in, float) {
    uint4 w; float* f = reinterpret_cast<float*>(&w);
    f[0] = in[0]; f[1] = in[1]; f[2] = in[2]; f[3] = in[3];
    return w;
}
__device__ __forceinline__ uint4 pack(const double* in, double) {
    uint4 w; double* f = reinterpret_cast<double*>(&w);
    f[0] = in[0]; f[1] = in[1];
    return w;
}
__device__ __forceinline__ uint4 pack(const float* in, __half) {
    uint4 w; __half2* h = reinterpret_cast<__half2*>(&w);
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(in[2 * i], in[2 * i + 1]);
    return w;
}
__device__ __forceinline__ uint4 pack(const float* in, __nv_bfloat16) {
    uint4 w; __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&w);
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
    return w;
}
__device__ __forceinline__ float store_cast(float x, float) { return x; }
__device__ __forceinline__ double store_cast(double x, double) { return x; }
__device__ __forceinline__ __half store_cast(float x, __half) { return __float2half_rn(x); }
__device__ __forceinline__ __nv_bfloat16 store_cast(float x, __nv_bfloat16) { return __float2bfloat16_rn(x); }

/*
 * Loads the n (0..16) valid elements of one block starting at p into out[16]; the rest get `fill`.
 * Full blocks whose start is 16-byte aligned use vector loads (a block of 16 elements is a whole
 * number of 16-byte words for every T, so alignment depends only on the row's start).
 */
template <typename T, typename A>
__device__ __forceinline__ void load_block(const T* __restrict__ p, int n, A* out, A fill) {
    constexpr int PER = 16 / sizeof(T);
    if (n == BLK && (reinterpret_cast<uintptr_t>(p) & 15) == 0) {
        const uint4* q = reinterpret_cast<const uint4*>(p);
        uint4 w[BLK / PER];
#pragma unroll
        for (int v = 0; v < BLK / PER; ++v) w[v] = __ldg(q + v);
#pragma unroll
        for (int v = 0; v < BLK / PER; ++v) unpack(w[v], out + v * PER, T());
    } else {
#pragma unroll
        for (int i = 0; i < BLK; ++i) out[i] = i < n ? to_acc(p[i]) : fill;
    }
}

template <typename T, typename A>
__device__ __forceinline__ void store_block(T* __restrict__ p, int n, const A* in) {
    constexpr int PER = 16 / sizeof(T);
    if (n == BLK && (reinterpret_cast<uintptr_t>(p) & 15) == 0) {
        uint4* q = reinterpret_cast<uint4*>(p);
#pragma unroll
        for (int v = 0; v < BLK / PER; ++v) q[v] = pack(in + v * PER, T());
    } else {
#pragma unroll
        for (int i = 0; i < BLK; ++i)
            if (i < n) p[i] = store_cast(in[i], T());
    }
}

/* Terminal local state of a block from its inputs x[0..15] and decays am[0..15] (am[0] never enters). */
template <typename A>
__device__ __forceinline__ A terminal_state(const A* x, const A* am) {
    A h = x[0];
#pragma unroll
    for (int i = 1; i < BLK; ++i) h = fma(am[i], h, x[i]);
    return h;
}

/* Terminal local state of the full block whose decays are as[0..15] and inputs up[0..15]. */
template <typename T, typename A>
__device__ __forceinline__ A block_terminal(const T* __restrict__ up, const A* as) {
    A x[BLK];
    load_block<T, A>(up, BLK, x, A(0));
    return terminal_state<A>(x, as);
}

/* q of the block (n valid steps) whose decays are as[0..15] and output gradients gp[0..15]. */
template <typename T, typename A>
__device__ __forceinline__ A block_q(const T* __restrict__ gp, int n, const A* as) {
    A g[BLK];
    load_block<T, A>(gp, n, g, A(0));
    A P = as[0], q = P * g[0];
#pragma unroll
    for (int i = 1; i < BLK; ++i) { P *= as[i]; q = fma(P, g[i], q); }
    return q;
}

/* CTA -> (batch*head row, tile). */
struct TileIndex {
    int64_t bh, tile;
};
__device__ __forceinline__ TileIndex tile_index(int64_t tiles) {
    const int64_t id = (int64_t) blockIdx.x;
    return TileIndex{id / tiles, id % tiles};
}

/*
 * Stages the decays of steps [t0 - HALO, t0 + TILE_STEPS + HALO) in shared memory; steps outside
 * [0, L) get 1 (a neutral decay: every product stays finite, and the inputs and gradients there are 0).
 */
template <typename T, typename A>
__device__ __forceinline__ void stage_decays(const T* __restrict__ ap, int64_t L, int64_t t0, A* as) {
    for (int i = threadIdx.y * WARP + threadIdx.x; i < TILE_STEPS + 2 * HALO; i += THREADS) {
        const int64_t t = t0 - HALO + i;
        as[i] = (t >= 0 && t < L) ? to_acc(ap[t]) : A(1);
    }
}

/* Two CTAs (1024 threads) per multiprocessor: at most 64 registers. float64 gets 128 (one CTA). */
template <typename T> struct MinCtas { static constexpr int value = sizeof(typename Acc<T>::type) == 8 ? 1 : 2; };

template <typename T, int K>
__global__ void __launch_bounds__(THREADS, MinCtas<T>::value)
swr_forward_kernel(const T* __restrict__ a, const T* __restrict__ u, T* __restrict__ y,
                   int64_t H, int64_t L, int64_t tiles) {
    typedef typename Acc<T>::type A;
    __shared__ A as_[TILE_STEPS + 2 * HALO];
    const TileIndex ti = tile_index(tiles);
    const int lane = threadIdx.x, ch = threadIdx.y;
    const int64_t b = ti.bh / H, hd = ti.bh % H;
    const int64_t t0 = ti.tile * TILE_STEPS;
    const int64_t s = t0 + (int64_t) lane * BLK;          /* first step of this thread's block */
    const int n = (int) (s >= L ? 0 : (L - s < BLK ? L - s : BLK));
    const int64_t row = ((b * H + hd) * HEAD + ch) * L;   /* this channel's row in u and y */

    A x[BLK];
    load_block<T, A>(u + row + s, n, x, A(0));            /* issue the big loads first */
    stage_decays<T, A>(a + ti.bh * L, L, t0, as_);
    __syncthreads();
    const A* am = as_ + HALO + lane * BLK;                /* this block's decays */

    /* Local states h (in x). */
#pragma unroll
    for (int i = 1; i < BLK; ++i) x[i] = fma(am[i], x[i - 1], x[i]);

    if (K == 2) {
        /* v: the left neighbour's terminal local state; block 0 has none (and a_0 must not enter). */
        A v = __shfl_up_sync(0xffffffffu, x[BLK - 1], 1);
        if (lane == 0 && s > 0) v = block_terminal<T, A>(u + row + s - BLK, as_);
        /* y = h + P v, P the prefix product of the block's decays. */
        A P = am[0];
        if (s > 0) {
        x[0] = fma(P, v, x[0]);
#pragma unroll
        for (int i = 1; i < BLK; ++i) { P *= am[i]; x[i] = fma(P, v, x[i]); }
        }
    }
    store_block<T, A>(y + row + s, n, x);
}

template <typename T, int K>
__global__ void __launch_bounds__(THREADS, MinCtas<T>::value)
swr_backward_kernel(const T* __restrict__ a, const T* __restrict__ u, const T* __restrict__ dy,
                    T* __restrict__ da, T* __restrict__ du, int64_t H, int64_t L, int64_t tiles) {
    typedef typename Acc<T>::type A;
    __shared__ A as_[TILE_STEPS + 2 * HALO];
    extern __shared__ unsigned char dyn_smem[];
    A* dpart = reinterpret_cast<A*>(dyn_smem);           /* [HEAD][DA_STRIDE] per-channel da */
    const TileIndex ti = tile_index(tiles);
    const int lane = threadIdx.x, ch = threadIdx.y;
    const int64_t b = ti.bh / H, hd = ti.bh % H;
    const int64_t t0 = ti.tile * TILE_STEPS;
    const int64_t s = t0 + (int64_t) lane * BLK;
    const int n = (int) (s >= L ? 0 : (L - s < BLK ? L - s : BLK));
    const int64_t row = ((b * H + hd) * HEAD + ch) * L;

    A h[BLK], g[BLK];
    load_block<T, A>(u + row + s, n, h, A(0));
    load_block<T, A>(dy + row + s, n, g, A(0));
    stage_decays<T, A>(a + ti.bh * L, L, t0, as_);
    __syncthreads();
    const A* am = as_ + HALO + lane * BLK;

    /* Forward local states h of this block. */
#pragma unroll
    for (int i = 1; i < BLK; ++i) h[i] = fma(am[i], h[i - 1], h[i]);

    /* This thread's private slice of the da buffer first holds y = h + P v, the forward output
     * inside the block (P the prefix product of the block's decays), then this channel's da. */
    A* dp = dpart + ch * DA_STRIDE + lane * (BLK + 1);
    A q = A(0), v = A(0);
    if (K == 2) {
        /* This block's own sum P * dy goes to the left neighbour; ours comes from the right. */
        A P = am[0], own = P * g[0];
#pragma unroll
        for (int i = 1; i < BLK; ++i) { P *= am[i]; own = fma(P, g[i], own); }
        q = __shfl_down_sync(0xffffffffu, own, 1);
        v = __shfl_up_sync(0xffffffffu, h[BLK - 1], 1);
        if (lane == WARP - 1) {
            const int64_t s2 = s + BLK;
            const int n2 = (int) (s2 >= L ? 0 : (L - s2 < BLK ? L - s2 : BLK));
            q = n2 > 0 ? block_q<T, A>(dy + row + s2, n2, as_ + HALO + TILE_STEPS) : A(0);
        }
        if (lane == 0) v = s > 0 ? block_terminal<T, A>(u + row + s - BLK, as_) : A(0);
        if (s > 0) {
            P = am[0];
            dp[0] = fma(P, v, h[0]);
#pragma unroll
            for (int i = 1; i < BLK - 1; ++i) { P *= am[i]; dp[i] = fma(P, v, h[i]); }
        } else { /* block 0: y = h (no P v: a_0 must not enter) */
#pragma unroll
            for (int i = 0; i < BLK - 1; ++i) dp[i] = h[i];
        }
    }

    /* Right-to-left sweep: rev, R, du (into g) and this channel's da (into dp).
     * da_t = du_t h_{t-1} + rev_t P_{t-1} v = rev_t y_{t-1} + R_t q h_{t-1} (no cancellation),
     * with y_{-1} = v and h_{-1} = 0. */
    A rev = A(0), R = A(1), anext = A(0);
#pragma unroll
    for (int i = BLK - 1; i >= 1; --i) {
        const A r = fma(anext, rev, g[i]);
        if (K == 2) {
            const A Rq = R * q;
            g[i] = fma(R, q, r);
            dp[i] = fma(r, dp[i - 1], Rq * h[i - 1]);
        } else {
            g[i] = r;
            dp[i] = r * h[i - 1];
        }
        rev = r;
        anext = am[i];
        R *= anext;
    }
    {   /* i = 0: h_{-1} = 0, P_{-1} = 1 */
        const A r = fma(anext, rev, g[0]);
        g[0] = K == 2 ? fma(R, q, r) : r;
        dp[0] = K == 2 && s > 0 ? r * v : A(0);
    }
    store_block<T, A>(du + row + s, n, g);
    __syncthreads();

    /* da: sum over the 16 channels, in channel order. */
    const int tid = threadIdx.y * WARP + threadIdx.x;     /* step within the tile */
    const int64_t t = t0 + tid;
    if (t < L) {
        const A* col = dpart + (tid / BLK) * (BLK + 1) + tid % BLK;
        A acc = col[0];
#pragma unroll
        for (int c = 1; c < HEAD; ++c) acc += col[c * DA_STRIDE];
        da[ti.bh * L + t] = store_cast(acc, T());
    }
}

/* ======================================================================================
 * Staged kernels (the fast path): rows 16-byte aligned (every pointer 16-byte aligned and
 * L * sizeof(T) a multiple of 16). A CTA first copies everything it reads (its tile of u [and dy],
 * one block of halo, and the decays) into shared memory with asynchronous 16-byte copies, all
 * issued at once, so that its only trip to memory is that one; then each thread works from shared
 * memory, recomputing its left neighbour's terminal state (and, backward, its right neighbour's q)
 * from the staged data: no shuffles, no serial look-behind loads. CTAs are small (many resident per
 * multiprocessor, so that one's loads overlap another's arithmetic).
 *
 * Forward tile: FCH channels (one warp each) x FNB<T> blocks, the same number of bytes for every T;
 * the 16 / FCH channel groups of a head are separate CTAs (the forward needs no sum over channels).
 * Backward tile: all 16 channels x BNB blocks (da sums the head's channels inside the CTA).
 * Outputs (y, du) go through shared memory and leave in fully coalesced 16-byte stores (COAL; the
 * per-thread stores of a block's 32-64 contiguous bytes measured 25-30% slower on the H200).
 * ====================================================================================== */
constexpr int FCH = 4;                  /* forward: channels per CTA */
/* forward: blocks per CTA: 1024 steps of 16-bit types, 512 of float32 and float64 (float64 at 256 steps
 * left half of each warp idle: 1.29x -> 1.07x its floor at 512 on the H200) */
template <typename T> struct Fnb { static constexpr int value = sizeof(T) == 2 ? 64 : 32; };
constexpr int FTHREADS = FCH * WARP;    /* 128: each thread does FNB / WARP blocks (or fewer) */
constexpr int BNB = 16;                 /* backward: blocks per CTA (256 steps) */
constexpr int BTHREADS = HEAD * BNB;    /* 256: one (channel, block) per thread */

static_assert(HEAD % FCH == 0, "forward tile");

/* Registers per thread capped at 64 (32-bit accumulation) or 128 (float64) by the occupancy hint. */
template <typename T, int THR> struct MinBlocks {
    static constexpr int value = (sizeof(typename Acc<T>::type) == 8 ? 512 : 1024) / THR;
};

__device__ __forceinline__ void cp16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned s = (unsigned) __cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
#else
    *reinterpret_cast<uint4*>(smem) = __ldg(reinterpret_cast<const uint4*>(gmem));
#endif
}
__device__ __forceinline__ void cp_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}
/* Groups of copies: commit the ones issued so far; wait until at most N groups are in flight. */
__device__ __forceinline__ void cp_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_wait_group() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

/* Chunk c (16 bytes) of a row in a layout with one 16-byte pad after every CPB chunks (CPB = 0: none).
 * The forward pads each 16-step block so that threads reading neighbouring blocks hit different
 * shared-memory banks (blocks of 32, 64, 128 bytes otherwise collide 2-, 4-, 8-way). */
template <int CPB>
__host__ __device__ constexpr int padded_chunk(int c) { return CPB ? c + c / CPB : c; }

/* ---- Rows of any alignment (the "any" staged kernels): a row's tile is fetched as the 16-byte
 * chunks of the whole buffer that cover it (a chunk may hold a neighbouring row's elements: reading
 * them is harmless), with cp.async wherever the chunk lies inside the buffer and element by element
 * only at the buffer's two ends. In shared memory the row then starts `sh` elements into its raw
 * copy (sh = the row's offset from 16-byte alignment); one pass moves it to the aligned tile the
 * kernels compute on (steps outside [0, L) become 0), and outputs go back the same way: moved to
 * their global alignment, then stored as whole 16-byte chunks, element by element only at the
 * tile's two ends. ---- */
/* Elements from the 16-byte boundary before element f of base: only the low 4 bits of the byte
 * address matter, so 32-bit arithmetic (truncation is modulo 2^32) gives them exactly. */
template <typename T>
__device__ __forceinline__ int shift_of(const T* base, int64_t f) {
    return (int) (((unsigned) reinterpret_cast<uintptr_t>(base) + (unsigned) f * (unsigned) sizeof(T)) & 15u) /
           (int) sizeof(T);
}
template <typename T>
__device__ __forceinline__ T zero_of() { return store_cast(typename Acc<T>::type(0), T()); }

/* The any-alignment passes below visit (row, 16-byte chunk) pairs through for_row_chunks: with at most
 * as many rows as warps (the forward: 4 channel rows, 1 decay row per CTA) each row gets a team of
 * whole warps and its shift, pointers and whole-chunk range are computed once per row, so that a chunk
 * costs a few instructions (these kernels are issue-bound on the H200: recomputing all that per chunk
 * in 64-bit made the forward 8-12% slower); with more rows than warps (the backward: 16 short rows)
 * one flat loop over all pairs keeps every thread busy, and the row's values are recomputed per chunk
 * (teams of a warp per row measured 8% slower there: most lanes idle on a row's last chunks). */
template <int NT, typename Setup, typename Body>
__device__ __forceinline__ void for_row_chunks(int rows, int nper, int tid, Setup setup, Body body) {
    if (rows > NT / WARP) {
        for (int i = tid; i < rows * nper; i += NT) {
            const int r = i / nper;
            body(setup(r), i - r * nper);
        }
    } else {
        const int TS = NT / WARP / rows * WARP, lane = tid % TS;
        for (int r = tid / TS; r < rows; r += NT / TS) {
            const auto rs = setup(r);
            for (int c = lane; c < nper; c += TS) body(rs, c);
        }
    }
}

/*
 * Copies `rows` rows of `cols` elements (a multiple of 16 / sizeof(T)), row r from src + r * L,
 * steps [c0, c0 + cols), into dst (row pitch `pitch`; chunks padded as padded_chunk<CPB>). Steps
 * outside [0, L) become 0 (L and c0 are multiples of the 16-byte chunk, so a chunk is wholly inside or
 * outside, and the inside ones are one range [clo, chi) of every row). With at most as many rows as
 * warps (the forward's) each row gets a team of warps and 32-bit arithmetic per chunk: the flat loop
 * recomputing row, step and bounds in 64-bit per chunk issued more instructions than the forward's
 * recurrence (H200, bf16 (8, 4096) forward 1.09x -> 1.07x its floor). With more rows (the backward's 16)
 * the flat loop stays: the per-row form measured 3% slower there (1.50x -> 1.54x).
 */
template <typename T, int NT, int CPB = 0>
__device__ __forceinline__ void stage_rows(T* dst, const T* __restrict__ src, int rows, int cols, int pitch, int64_t L,
                                           int64_t c0, int tid) {
    constexpr int PER = 16 / sizeof(T);
    const int cpr = cols / PER;
    if (rows > NT / WARP) {
        for (int i = tid; i < rows * cpr; i += NT) {
            const int r = i / cpr, c = i - r * cpr;
            const int64_t t = c0 + (int64_t) c * PER;
            T* d = dst + r * pitch + padded_chunk<CPB>(c) * PER;
            if (t >= 0 && t < L) cp16(d, src + r * L + t);
            else *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
        }
        return;
    }
    const int clo = c0 < 0 ? (int) (-c0 / PER) : 0, chi = L - c0 < cols ? (int) ((L - c0) / PER) : cpr;
    const T* s0 = src + c0;
    struct Row {
        const T* s;
        T* d;
    };
    for_row_chunks<NT>(rows, cpr, tid, [&](int r) { return Row{s0 + r * L, dst + r * pitch}; }, [&](const Row& w, int c) {
        T* d = w.d + padded_chunk<CPB>(c) * PER;
        if (c >= clo && c < chi) cp16(d, w.s + c * PER);
        else *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
    });
}

/* Stores chunks c < cpr of rows r < rows from src (row pitch spitch, chunks padded as CPB) to the
 * 16-byte aligned rows dst + f0 + r * L, the steps t0 + c * PER < L (L a multiple of the chunk):
 * coalesced 16-byte stores, row teams or the flat loop as stage_rows. */
template <typename T, int NT, int CPB = 0>
__device__ __forceinline__ void store_rows(T* __restrict__ dst, const T* src, int spitch, int64_t f0, int64_t L,
                                           int rows, int cpr, int64_t t0, int tid) {
    constexpr int PER = 16 / sizeof(T);
    if (rows > NT / WARP) {
        for (int i = tid; i < rows * cpr; i += NT) {
            const int r = i / cpr, c = i - r * cpr;
            const int64_t t = t0 + (int64_t) c * PER;
            if (t < L)
                *reinterpret_cast<uint4*>(dst + f0 + r * L + t) = reinterpret_cast<const uint4*>(src + r * spitch)[padded_chunk<CPB>(c)];
        }
        return;
    }
    const int chi = L - t0 < (int64_t) cpr * PER ? (int) ((L - t0) / PER) : cpr;
    T* d0 = dst + f0 + t0;
    struct Row {
        uint4* d;
        const uint4* s;
    };
    for_row_chunks<NT>(rows, cpr, tid,
                       [&](int r) { return Row{reinterpret_cast<uint4*>(d0 + r * L), reinterpret_cast<const uint4*>(src + r * spitch)}; },
                       [&](const Row& w, int c) {
                           if (c < chi) w.d[c] = w.s[padded_chunk<CPB>(c)];
                       });
}

/* Issues the copies of rows r < rows, flat elements [f0 + r * stride, + cols) of base[0, total), into
 * raw + r * rpitch (+ roff[r] where given: a multiple of 16 / sizeof(T); rpitch >= cols + 16 / sizeof(T),
 * a multiple of it). Element 0 of the columns is
 * step c0 of its row; only the chunks that hold steps in [0, L) are fetched (the others stay unwritten:
 * the realignment zero-fills those steps), so a row's last, short tile reads no more than it needs. */
template <typename T, int NT, int CPB = 0>
__device__ __forceinline__ void any_issue(T* raw, int rpitch, const T* __restrict__ base, int64_t total, int64_t f0,
                                          int64_t stride, int rows, int cols, int64_t L, int64_t c0, int tid,
                                          const int* roff = nullptr) {
    constexpr int PER = 16 / sizeof(T);
    const int lo = c0 < 0 ? (int) -c0 : 0, hi = L - c0 < cols ? (int) (L - c0) : cols; /* steps [0, L) */
    struct Row {
        int64_t f; /* the row's first chunk (16-byte aligned) */
        int sh;
        T* d;
    };
    auto setup = [&](int r) {
        const int64_t fr = f0 + r * stride;
        Row w;
        w.sh = shift_of(base, fr);
        w.f = fr - w.sh;
        w.d = raw + r * rpitch + (roff ? roff[r] : 0);
        return w;
    };
    for_row_chunks<NT>(rows, (cols + 2 * PER - 1) / PER, tid, setup, [&](const Row& w, int c) {
        if (c * PER >= w.sh + hi || (c + 1) * PER <= w.sh + lo) return;
        const int64_t fc = w.f + c * PER;
        T* d = w.d + padded_chunk<CPB>(c) * PER;
        if (fc >= 0 && fc + PER <= total) {
            cp16(d, base + fc);
        } else {
#pragma unroll
            for (int e = 0; e < PER; ++e)
                if (fc + e >= 0 && fc + e < total) d[e] = base[fc + e];
        }
    });
}

/* Block bc (-1: the halo block) of a raw row as any_issue<T, NT, CPB> left it, whose step 0 lies `sh`
 * elements into the row (sh uniform across the warp: one row per warp), as Acc values: the block's
 * chunks and the next one (16-byte loads), shifted into place in registers. This is how the forward
 * reads rows of any alignment: no realignment pass through shared memory (a pass and a barrier that cost
 * about as much as the recurrence). Steps outside [0, L) hold whatever the buffer holds (never an
 * output, and never multiplied into one: see fwd_tile_loop). */
template <typename T, typename A, int CPB>
__device__ __forceinline__ void raw_block(const T* row, int sh, int bc, A* out) {
    constexpr int PER = 16 / sizeof(T), NCH = BLK / PER, NW = 4 * NCH;
    const uint4* p = reinterpret_cast<const uint4*>(row);
    const int c0 = (bc + 1) * NCH;
    unsigned w[NW + 4];
#pragma unroll
    for (int q = 0; q <= NCH; ++q) {
        const uint4 x = p[padded_chunk<CPB>(c0 + q)];
        w[4 * q] = x.x; w[4 * q + 1] = x.y; w[4 * q + 2] = x.z; w[4 * q + 3] = x.w;
    }
    const int bsh = sh * (int) sizeof(T);
    const unsigned bs = sizeof(T) >= 4 ? 0u : (unsigned) (bsh & 3) * 8; /* 4- and 8-byte types: whole words */
    unsigned o[NW];
    switch (bsh >> 2) {
#define SWR_RAW_CASE(W)                                                         \
        case W:                                                                 \
            _Pragma("unroll") for (int i = 0; i < NW; ++i) o[i] = __funnelshift_r(w[i + W], w[i + W + 1], bs); \
            break;
        SWR_RAW_CASE(0) SWR_RAW_CASE(1) SWR_RAW_CASE(2) default: SWR_RAW_CASE(3)
#undef SWR_RAW_CASE
    }
#pragma unroll
    for (int v = 0; v < NCH; ++v) unpack(make_uint4(o[4 * v], o[4 * v + 1], o[4 * v + 2], o[4 * v + 3]), out + v * PER, T());
}

/* The 16 bytes at byte offset `sh` (0..15) into the 32 bytes *p0, *p1 (16-byte aligned shared
 * memory); `sh` is uniform across the warp (one row's shift), so the switch does not diverge. */
__device__ __forceinline__ uint4 extract16(const uint4* p0, const uint4* p1, int sh) {
    const uint4 x = *p0, y = *p1;
    const unsigned w[8] = {x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w};
    const unsigned bs = (unsigned) (sh & 3) * 8;
    uint4 o;
    switch (sh >> 2) {
#define SWR_EXTRACT_CASE(W)                                                                   \
        case W:                                                                               \
            o.x = __funnelshift_r(w[W], w[W + 1], bs); o.y = __funnelshift_r(w[W + 1], w[W + 2], bs); \
            o.z = __funnelshift_r(w[W + 2], w[W + 3], bs); o.w = __funnelshift_r(w[W + 3], w[W + 4], bs); \
            break;
        SWR_EXTRACT_CASE(0) SWR_EXTRACT_CASE(1) SWR_EXTRACT_CASE(2) default: SWR_EXTRACT_CASE(3)
#undef SWR_EXTRACT_CASE
    }
    return o;
}

/* Chunk j (16 bytes; chunk 0 starts at the raw row's step 0) of a raw row as raw_block reads it: one
 * chunk at a time, for where a whole block in registers is too many (two loads instead of 1 + 1 / NCH). */
template <typename T, int CPB>
__device__ __forceinline__ uint4 raw_chunk(const T* row, int sh, int j) {
    const uint4* p = reinterpret_cast<const uint4*>(row);
    return extract16(p + padded_chunk<CPB>(j), p + padded_chunk<CPB>(j + 1), sh * (int) sizeof(T));
}

/* Chunks [jlo, jhi) of cpr (16 bytes each; chunk 0 holds steps c0..) whose steps lie wholly in [0, L):
 * the realignment passes move those whole, and the others element by element, zero outside [0, L). */
template <typename T>
__device__ __forceinline__ void whole_chunks(int cpr, int64_t L, int64_t c0, int& jlo, int& jhi) {
    constexpr int PER = 16 / sizeof(T);
    jlo = c0 < 0 ? (int) ((-c0 + PER - 1) / PER) : 0;
    const int64_t jh = (L - c0) / PER;
    jhi = jh < cpr ? (int) jh : cpr;
}

/* raw (as issued above, after cp_wait_all and a barrier) -> dst[r * pitch + c] (pitch and cols
 * multiples of 16 / sizeof(T)), 16 bytes per thread; steps c0 + c outside [0, L) become 0. The
 * row's byte shift splits into a word offset and a bit shift, both fixed per row: whole chunks take
 * 4 or 5 word loads and 4 funnel shifts (teams of warps per row; the flat loop measured faster with
 * two 16-byte loads and extract16). */
template <typename T, int NT, int CPB = 0>
__device__ __forceinline__ void any_realign(T* dst, int pitch, const T* raw, int rpitch, const T* base, int64_t f0,
                                            int64_t stride, int rows, int cols, int64_t L, int64_t c0, int tid) {
    constexpr int PER = 16 / sizeof(T);
    const int cpr = cols / PER;
    int jlo, jhi;
    whole_chunks<T>(cpr, L, c0, jlo, jhi);
    struct Row {
        int sh;
        unsigned bs;
        const T* qr;
        T* drow;
    };
    auto setup = [&](int r) {
        Row w;
        w.sh = shift_of(base, f0 + r * stride);
        w.bs = (unsigned) (w.sh * (int) sizeof(T) & 3) * 8;
        w.qr = raw + r * rpitch;
        w.drow = dst + r * pitch;
        return w;
    };
    const bool teams = rows <= NT / WARP;
    for_row_chunks<NT>(rows, cpr, tid, setup, [&](const Row& w, int j) {
        T* d = w.drow + padded_chunk<CPB>(j) * PER;
        if (j >= jlo && j < jhi && !teams) { /* measured faster in the flat loop (the backward) */
            const uint4* p = reinterpret_cast<const uint4*>(w.qr + j * PER);
            *reinterpret_cast<uint4*>(d) = extract16(p, p + 1, w.sh * (int) sizeof(T));
        } else if (j >= jlo && j < jhi) {
            const unsigned* p = reinterpret_cast<const unsigned*>(w.qr) + ((w.sh * (int) sizeof(T)) >> 2) + 4 * j;
            uint4 o;
            if (w.bs == 0) {
                o = make_uint4(p[0], p[1], p[2], p[3]);
            } else {
                const unsigned w0 = p[0], w1 = p[1], w2 = p[2], w3 = p[3], w4 = p[4];
                o = make_uint4(__funnelshift_r(w0, w1, w.bs), __funnelshift_r(w1, w2, w.bs),
                               __funnelshift_r(w2, w3, w.bs), __funnelshift_r(w3, w4, w.bs));
            }
            *reinterpret_cast<uint4*>(d) = o;
        } else {
            const int64_t t = c0 + (int64_t) j * PER;
#pragma unroll
            for (int e = 0; e < PER; ++e) d[e] = (t + e >= 0 && t + e < L) ? w.qr[w.sh + j * PER + e] : zero_of<T>();
        }
    });
}

/* Rows r < rows of buf (pitch >= cols + 16 / sizeof(T)), each as any_issue<T, NT> left it (row r from
 * its first 16-byte boundary: flat elements f0 + r * stride, steps c0.. of base), moved in place to
 * the aligned tile any_realign would write (steps outside [0, L) become 0): no second copy of the
 * rows in shared memory, which halved the backward's occupancy in float32 and float64. A warp owns a
 * row, so its shift is uniform (extract16's switch does not diverge), and shifts it left in passes
 * of 32 chunks: every lane reads the raw chunks of its output chunk, the warp syncs, then each writes
 * its own; a pass writes only chunks that no later pass reads. */
template <typename T, int NT>
__device__ __forceinline__ void realign_in_place(T* buf, int pitch, const T* base, int64_t f0, int64_t stride,
                                                 int rows, int cols, int64_t L, int64_t c0, int tid) {
    constexpr int PER = 16 / sizeof(T);
    const int cpr = cols / PER;
    int jlo, jhi;
    whole_chunks<T>(cpr, L, c0, jlo, jhi);
    const int lane = tid % WARP;
    /* a single row (the decays) goes to the last warp: every warp has the same share of the head rows */
    for (int r = (rows == 1 ? NT / WARP - 1 - tid / WARP : tid / WARP); r < rows; r += NT / WARP) {
        const int sh = shift_of(base, f0 + r * stride);
        T* row = buf + r * pitch;
        uint4* rc = reinterpret_cast<uint4*>(row);
        for (int j0 = 0; j0 < cpr; j0 += WARP) {
            const int j = j0 + lane;
            const bool whole = j >= jlo && j < jhi;
            uint4 o = make_uint4(0, 0, 0, 0);
            T e[PER];
            if (j < cpr) {
                if (whole) {
                    o = sh ? extract16(rc + j, rc + j + 1, sh * (int) sizeof(T)) : rc[j];
                } else {
                    const int64_t t = c0 + (int64_t) j * PER;
#pragma unroll
                    for (int k = 0; k < PER; ++k) e[k] = (t + k >= 0 && t + k < L) ? row[sh + j * PER + k] : zero_of<T>();
                }
            }
            __syncwarp();
            if (j < cpr) {
                if (whole) {
                    rc[j] = o;
                } else {
#pragma unroll
                    for (int k = 0; k < PER; ++k) row[j * PER + k] = e[k];
                }
            }
        }
    }
}

/* Stores src[r * spitch + c], c < n (src rows 16-byte aligned, spitch a multiple of 16 / sizeof(T)),
 * to base[f0 + r * stride + c]: the whole 16-byte chunks of base inside the row, each shifted into
 * place from two chunks of src, then the at most 2 (16 / sizeof(T) - 1) elements at the row's two ends
 * (their chunks are shared with the neighbouring tile or row) one per thread in a second pass. Storing
 * those element by element inside the chunk loop made every warp of it wait on a lane's edge chunk. */
template <typename T, int NT, int CPB = 0>
__device__ __forceinline__ void any_store(T* __restrict__ base, const T* src, int spitch, int64_t f0, int64_t stride,
                                          int rows, int n, int tid) {
    constexpr int PER = 16 / sizeof(T), EDGE = PER - 1;
    struct Row {
        int sh;
        T* drow; /* chunk c holds src elements [c PER - sh, + PER) */
        const T* q;
    };
    auto setup = [&](int r) {
        const int64_t fr = f0 + r * stride;
        Row w;
        w.sh = shift_of(base, fr);
        w.drow = base + (fr - w.sh);
        w.q = src + r * spitch;
        return w;
    };
    for_row_chunks<NT>(rows, (n + 2 * PER - 1) / PER, tid, setup, [&](const Row& w, int c) {
        const int lo = c * PER - w.sh;
        if (lo < 0 || lo + PER > n) return;
        const uint4* p = reinterpret_cast<const uint4*>(w.q);
        *reinterpret_cast<uint4*>(w.drow + c * PER) =
            w.sh ? extract16(p + padded_chunk<CPB>(c - 1), p + padded_chunk<CPB>(c), (PER - w.sh) * (int) sizeof(T))
                 : p[padded_chunk<CPB>(c)];
    });
    /* the ends: elements [0, hd) before the first whole chunk and [tl, n) after the last one */
    for (int i = tid; i < rows * 2 * EDGE; i += NT) {
        const int r = i / (2 * EDGE), k = i - r * (2 * EDGE);
        const int64_t fr = f0 + r * stride;
        const int sh = shift_of(base, fr), hd0 = (PER - sh) % PER, hd = hd0 < n ? hd0 : n;
        const int tl = hd + (n - hd) / PER * PER;
        const int x = k < EDGE ? k : tl + k - EDGE;
        if (k < EDGE ? x < hd : x < n) base[fr + x] = src[r * spitch + padded_chunk<CPB>(x / PER) * PER + x % PER];
    }
}

/* ---- Rows of any alignment with their raw chunks fetched by the tensor memory accelerator (sm_90 and
 * newer; the "tma" staged kernels). The chunk staging above issues a cp.async (and its bounds checks)
 * per 16-byte chunk; here one lane issues a cp.async.bulk.tensor per 256 (or 32) elements of a 1-D
 * tensor map over the whole buffer, into the same raw rows, so that any_realign and any_store work
 * unchanged. TMA cannot do the realignment itself: the innermost box coordinate must be 16-byte
 * aligned (an unaligned one is an illegal instruction on the H200, measured), so the boxes start at a
 * row's first 16-byte boundary, like the chunks. Boxes past the buffer's end are zero-filled (no
 * element-by-element edge code); a map's address must be 16-byte aligned, so it starts at the buffer's
 * first boundary, `head` (0..7) elements in, and those few elements are read by tma_patch_raw. Only
 * the boxes that hold steps in [0, L) are fetched. ---- */
constexpr int TMA_BOX = 256; /* elements per box (the most a box may hold) */
/* Elements per tail box: 128 bytes, so that every box lands 128-byte aligned in shared memory (a
 * misaligned destination is a fault). */
template <typename T> __host__ __device__ constexpr int tma_tail() { return 128 / (int) sizeof(T); }

/* Raw row capacity for `cols` columns (a row spans up to cols + 16 / size - 1 raw elements): whole boxes
 * of TMA_BOX, then tail boxes; the row pitch a multiple of 128 bytes. */
template <typename T>
__host__ __device__ constexpr int tma_raw_nb(int cols) { return (cols + 16 / (int) sizeof(T)) / TMA_BOX; }
template <typename T>
__host__ __device__ constexpr int tma_raw_nt(int cols) {
    return (cols + 16 / (int) sizeof(T) - tma_raw_nb<T>(cols) * TMA_BOX + tma_tail<T>() - 1) / tma_tail<T>();
}
template <typename T>
__host__ __device__ constexpr int tma_raw_pitch(int cols) {
    return ((tma_raw_nb<T>(cols) * TMA_BOX + tma_raw_nt<T>(cols) * tma_tail<T>()) * (int) sizeof(T) + 127) / 128 * 128 /
           (int) sizeof(T);
}
__host__ __device__ constexpr size_t round128(size_t b) { return (b + 127) / 128 * 128; }

/* The two maps of one buffer: boxes of TMA_BOX and of tma_tail<T>() elements. */
struct TmaBuf {
    CUtensorMap box, tail;
};
struct TmaFwdMaps { TmaBuf u, a; };
struct TmaBwdMaps { TmaBuf u, dy, a; };

template <typename T>
__host__ __device__ __forceinline__ int tma_head(const T* p) {
    return (int) (((16 - (reinterpret_cast<uintptr_t>(p) & 15)) & 15) / sizeof(T));
}
/* 128-byte aligned start of the dynamic shared memory (the kernels ask for 128 bytes more). */
__device__ __forceinline__ unsigned char* smem_base128(unsigned char* raw) {
    const unsigned s = (unsigned) __cvta_generic_to_shared(raw);
    return raw + ((128u - (s & 127u)) & 127u);
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count = 1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const unsigned b = (unsigned) __cvta_generic_to_shared(bar);
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(b), "r"(count) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void mbar_expect(uint64_t* bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const unsigned b = (unsigned) __cvta_generic_to_shared(bar);
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(b), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const unsigned b = (unsigned) __cvta_generic_to_shared(bar);
    asm volatile("{\n .reg .b64 st;\n mbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(b) : "memory");
#endif
}
/* Waits for phase 0 of the barrier (each kernel uses it once). */
__device__ __forceinline__ void mbar_wait0(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const unsigned b = (unsigned) __cvta_generic_to_shared(bar);
    unsigned done = 0;
    do {
        asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done) : "r"(b) : "memory");
    } while (!done);
#endif
}
__device__ __forceinline__ void tma_load(void* smem, const CUtensorMap* m, int coord, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.tensor.1d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2}], [%3];\n"
                 ::"r"((unsigned) __cvta_generic_to_shared(smem)), "l"(m), "r"(coord),
                 "r"((unsigned) __cvta_generic_to_shared(bar)) : "memory");
#endif
}

/* One arrival that also announces `bytes` more to come (by complete_tx). */
__device__ __forceinline__ void mbar_arrive_expect(uint64_t* bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const unsigned b = (unsigned) __cvta_generic_to_shared(bar);
    asm volatile("{\n .reg .b64 st;\n mbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(b), "r"(bytes)
                 : "memory");
#endif
}
/* A bulk copy (sm_90+; not the tensor form): `bytes` (a multiple of 16, both addresses 16-byte aligned) in one
 * instruction, global -> shared, completing on `bar`. */
__device__ __forceinline__ void bulk_load(void* smem, const void* gmem, unsigned bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
                 ::"r"((unsigned) __cvta_generic_to_shared(smem)), "l"(gmem), "r"(bytes),
                 "r"((unsigned) __cvta_generic_to_shared(bar)) : "memory");
#endif
}
/* ---- Rows of any alignment by bulk copies (sm_90+, 16-bit types: the "bulk" forward). 16-bit raw rows are
 * unpadded, so a row's raw chunks are one contiguous range in shared memory as in global memory: one
 * cp.async.bulk per row instead of a cp.async (and its bounds checks) per 16-byte chunk, the issue cost the
 * chunk loops had in these issue-bound kernels. Outputs likewise: y is written to shared memory in its
 * global alignment (shifted_pair), so that a row leaves as plain 16-byte copies and its end elements. ---- */

/* Issues (one thread) the raw row of flat elements [fr, + cols) of base[0, total) into d, laid out as
 * any_issue does (from the row's first 16-byte boundary; element 0 of the columns is step c0 of its row),
 * only the chunks that hold steps in [0, L): the chunks inside the buffer by one bulk copy on `bar` (one
 * arrival, whatever the bytes), a chunk crossing the buffer's start or end element by element. */
template <typename T>
__device__ __forceinline__ void bulk_issue_row(T* d, const T* __restrict__ base, int64_t total, int64_t fr, int cols,
                                               int64_t L, int64_t c0, uint64_t* bar) {
    constexpr int PER = 16 / sizeof(T);
    const int lo = c0 < 0 ? (int) -c0 : 0, hi = L - c0 < cols ? (int) (L - c0) : cols; /* steps [0, L) */
    const int sh = shift_of(base, fr);
    const int64_t f = fr - sh; /* raw chunk 0 */
    int ca = (sh + lo) / PER, cb = hi > lo ? (sh + hi + PER - 1) / PER : ca;
    auto by_element = [&](int c) {
        for (int e = 0; e < PER; ++e) {
            const int64_t g = f + (int64_t) c * PER + e;
            if (g >= 0 && g < total) d[c * PER + e] = base[g];
        }
    };
    if (cb > ca && f + (int64_t) ca * PER < 0) by_element(ca++);
    if (cb > ca && f + (int64_t) cb * PER > total) by_element(--cb);
    const unsigned bytes = (unsigned) (cb - ca) * 16u;
    mbar_arrive_expect(bar, bytes);
    if (bytes) bulk_load(d + ca * PER, base + f + (int64_t) ca * PER, bytes, bar);
}

/* Chunks 2 bi and 2 bi + 1 (16-bit types; the 32 bytes of block bi's place in an aligned tile) of a row
 * stored `o` bytes (0..14, uniform across the warp) off its alignment: the last `o` bytes of block bi - 1
 * (prev: its words 4..7) then the first 32 - o of block bi (own: its 8 words). */
__device__ __forceinline__ void shifted_pair(const unsigned* prev, const unsigned* own, int o, uint4* dst) {
    const unsigned S[13] = {prev[0], prev[1], prev[2], prev[3], own[0], own[1], own[2], own[3],
                            own[4], own[5], own[6], own[7], 0u};
    const unsigned bs = (unsigned) ((16 - o) & 3) * 8;
    unsigned w[8];
    switch ((16 - o) >> 2) {
#define SWR_PAIR_CASE(W)                                                                            \
        case W:                                                                                     \
            _Pragma("unroll") for (int k = 0; k < 8; ++k) w[k] = __funnelshift_r(S[W + k], S[W + k + 1], bs); \
            break;
        SWR_PAIR_CASE(0) SWR_PAIR_CASE(1) SWR_PAIR_CASE(2) SWR_PAIR_CASE(3) default: SWR_PAIR_CASE(4)
#undef SWR_PAIR_CASE
    }
    dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
    dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
}

/* Stores rows r < rows of n elements from src (row r at src + r * spitch, element e at its position
 * shift_of(base, f0 + r * stride) + e: as shifted_pair wrote it) to base[f0 + r * stride + e]: the whole
 * 16-byte chunks copied as they are (no shifts: src has base's alignment), the at most
 * 2 (16 / sizeof(T) - 1) end elements one per thread. After a barrier. */
template <typename T, int NT>
__device__ __forceinline__ void aligned_store_rows(T* __restrict__ base, const T* src, int spitch, int64_t f0,
                                                int64_t stride, int rows, int n, int tid) {
    constexpr int PER = 16 / sizeof(T), EDGE = PER - 1;
    auto span = [&](int r, int64_t& fr, int& sh, int& hd, int& tl) {
        fr = f0 + r * stride;
        sh = shift_of(base, fr);
        const int h = (PER - sh) % PER;
        hd = h < n ? h : n;
        tl = hd + (n - hd) / PER * PER;
    };
    /* The whole chunks by plain 16-byte copies: a bulk store per row (1.28x the floor in bf16 at
     * (8, 4095)) is not seen by compute-sanitizer's initcheck, which then reported the next kernel's
     * reads of y as uninitialised. Teams of a warp per row, the row's span computed once. */
    struct Row {
        const uint4* s;
        uint4* d;
        int nc;
    };
    for_row_chunks<NT>(rows, (n + PER - 1) / PER, tid, [&](int r) {
        int64_t fr;
        int sh, hd, tl;
        span(r, fr, sh, hd, tl);
        Row w;
        w.s = reinterpret_cast<const uint4*>(src + r * spitch + sh + hd);
        w.d = reinterpret_cast<uint4*>(base + fr + hd);
        w.nc = (tl - hd) / PER;
        return w;
    }, [&](const Row& w, int c) {
        if (c < w.nc) w.d[c] = w.s[c];
    });
    for (int i = tid; i < rows * 2 * EDGE; i += NT) {
        const int r = i / (2 * EDGE), k = i - r * (2 * EDGE);
        int64_t fr;
        int sh, hd, tl;
        span(r, fr, sh, hd, tl);
        const int x = k < EDGE ? k : tl + k - EDGE;
        if (k < EDGE ? x < hd : x < n) base[fr + x] = src[r * spitch + sh + x];
    }
}

/* Issues (one warp, lane `lane`) the raw rows r < rows of flat elements [f0 + r * stride, + cols) of base
 * (map m) into raw + r * rpitch, laid out as any_issue does (row r from its first 16-byte boundary);
 * element 0 of the columns is step c0 of its row. Each lane announces its bytes to `bar` before its
 * copies; the caller arrives once the warp is done (so the phase cannot complete early). */
template <typename T>
__device__ __forceinline__ void tma_issue_raw(T* raw, int rpitch, const TmaBuf& m, const T* base, int64_t f0,
                                              int64_t stride, int rows, int cols, int64_t L, int64_t c0,
                                              uint64_t* bar, int lane) {
    const int nb = tma_raw_nb<T>(cols), per = nb + tma_raw_nt<T>(cols), head = tma_head(base);
    for (int b = lane; b < rows * per; b += WARP) {
        const int r = b / per, j = b - r * per;
        const int col = j < nb ? j * TMA_BOX : nb * TMA_BOX + (j - nb) * tma_tail<T>(), w = j < nb ? TMA_BOX : tma_tail<T>();
        const int64_t fr = f0 + r * stride;
        const int sh = shift_of(base, fr);
        const int64_t t = c0 + col - sh; /* the step of raw column col */
        if (t >= L || t + w <= 0) continue;
        mbar_expect(bar, (unsigned) (w * sizeof(T)));
        tma_load(raw + r * rpitch + col, j < nb ? &m.box : &m.tail, (int) (fr - sh + col - head), bar);
    }
}

/* The buffer's first `head` elements (before the map's start: zero-filled by TMA) into the raw rows
 * that hold them (only the buffer's first row or rows). After the barrier's wait. */
template <typename T, int NT>
__device__ __forceinline__ void tma_patch_raw(T* raw, int rpitch, const T* __restrict__ base, int64_t f0,
                                              int64_t stride, int rows, int tid) {
    const int head = tma_head(base);
    if (f0 >= head + 16) return;
    for (int i = tid; i < rows * 8; i += NT) {
        const int r = i / 8;
        const int64_t fr = f0 + r * stride, fa = fr - shift_of(base, fr), f = (fa < 0 ? 0 : fa) + i % 8;
        if (f < head) raw[r * rpitch + (int) (f - fa)] = base[f];
    }
}

/* Reads 16 staged elements (16-byte aligned in shared memory) as Acc values. */
template <typename T, typename A>
__device__ __forceinline__ void smem_block(const T* p, A* out) {
    constexpr int PER = 16 / sizeof(T);
#pragma unroll
    for (int v = 0; v < BLK / PER; ++v) unpack(reinterpret_cast<const uint4*>(p)[v], out + v * PER, T());
}

/* The same for 16 elements at any element address p (rows read where they landed, unaligned):
 * 16-bit types as 9 aligned words shifted into place by this lane's own funnel shift (no divergence:
 * the shift is an operand), 4- and 8-byte types element by element. */
template <typename T, typename A>
__device__ __forceinline__ void smem_block_any(const T* p, A* out) {
    if (sizeof(T) == 2) {
        const uintptr_t ad = reinterpret_cast<uintptr_t>(p);
        const unsigned* w = reinterpret_cast<const unsigned*>(ad & ~(uintptr_t) 3);
        const unsigned bs = (unsigned) (ad & 2) * 8;
        unsigned x[BLK / 2 + 1], o[BLK / 2];
#pragma unroll
        for (int k = 0; k <= BLK / 2; ++k) x[k] = w[k];
#pragma unroll
        for (int k = 0; k < BLK / 2; ++k) o[k] = __funnelshift_r(x[k], x[k + 1], bs);
        unpack(make_uint4(o[0], o[1], o[2], o[3]), out, T());
        unpack(make_uint4(o[4], o[5], o[6], o[7]), out + BLK / 2, T());
    } else {
#pragma unroll
        for (int i = 0; i < BLK; ++i) out[i] = to_acc(p[i]);
    }
}
template <typename T, typename A, bool RAW>
__device__ __forceinline__ void staged_block(const T* p, A* out) {
    if (RAW) smem_block_any<T, A>(p, out);
    else smem_block<T, A>(p, out);
}

/* Terminal local state of a staged block (u at up, decays at ap). */
template <typename T, typename A, bool RAW = false, bool RAWA = RAW>
__device__ __forceinline__ A smem_terminal(const T* up, const T* ap) {
    A x[BLK], am[BLK];
    staged_block<T, A, RAW>(up, x);
    staged_block<T, A, RAWA>(ap, am);
    return terminal_state<A>(x, am);
}

/* COAL: outputs go through shared memory and leave in fully coalesced 16-byte stores; otherwise each
 * thread stores its own block's 16 contiguous elements. */
/* Forward staged rows of 4- and 8-byte types: blocks padded to BP = 16 + 16 / sizeof(T) elements
 * (padded_chunk; measured on the H200: float32 forward 1.76x -> 1.18x its floor, float64 3.26x ->
 * 1.50x). 16-bit blocks (32 bytes) collide only 2-way, and there the larger tile cost more in
 * occupancy (7 instead of 8 CTAs per SM: bf16 1.24x -> 1.30x), so they stay unpadded. */
template <typename T> __host__ __device__ constexpr int fwd_cpb() { return sizeof(T) == 2 ? 0 : BLK * (int) sizeof(T) / 16; }
template <typename T> __host__ __device__ constexpr int fwd_bp() { return BLK + (fwd_cpb<T>() ? 16 / (int) sizeof(T) : 0); }
template <typename T>
constexpr size_t fwd_staged_smem(bool coal, bool any = false) {
    constexpr size_t cols = Fnb<T>::value * BLK + BLK, pitch = (Fnb<T>::value + 1) * fwd_bp<T>();
    constexpr size_t ys = FCH * Fnb<T>::value * fwd_bp<T>();
    constexpr size_t raw = (FCH + 1) * (cols + 16 / sizeof(T));  /* any: the raw rows, later y */
    return sizeof(T) * ((FCH + 1) * pitch + (any ? (raw > ys ? raw : ys) : coal ? ys : 0));
}

/* Rows of any alignment read in place (raw_block): the raw rows [FCH + 1][fwd_raw_pitch] (chunks padded
 * as the aligned tile's blocks, so that lanes reading neighbouring blocks hit different banks), then y. */
template <typename T>
__host__ __device__ constexpr int fwd_raw_pitch() {
    return (padded_chunk<fwd_cpb<T>()>((Fnb<T>::value * BLK + BLK) * (int) sizeof(T) / 16) + 1) * 16 / (int) sizeof(T);
}
template <typename T>
constexpr size_t fwd_direct_smem() {
    return sizeof(T) * ((FCH + 1) * (size_t) fwd_raw_pitch<T>() + FCH * Fnb<T>::value * fwd_bp<T>());
}
/* The bulk forward: the raw rows, ys with one more chunk per row, the barrier. */
template <typename T>
constexpr size_t fwd_bulk_smem() {
    return sizeof(T) * ((FCH + 1) * (size_t) fwd_raw_pitch<T>() + FCH * (Fnb<T>::value * BLK + 16 / sizeof(T))) + 8;
}

/* Stages a forward tile: the FCH rows of x (u; the fused core's v) from flat row0 and the decay row
 * arow, steps [t0 - BLK, t0 - BLK + COLS), into xs [FCH][PITCH] and as [PITCH] (blocks padded as CPB);
 * rows of any alignment go through raw ([FCH + 1][RP], free again afterwards). Ends with a barrier. */
template <typename T, bool ANY, int CPB, int PITCH, int COLS, int RP>
__device__ __forceinline__ void stage_fwd_tile(T* xs, T* as, T* raw, const T* __restrict__ x, int64_t nx,
                                               const T* __restrict__ a, int64_t na, int64_t row0, int64_t arow,
                                               int64_t L, int64_t t0, int tid) {
    if (ANY) {
        any_issue<T, FTHREADS>(raw, RP, x, nx, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
        any_issue<T, FTHREADS>(raw + FCH * RP, RP, a, na, arow + t0 - BLK, 0, 1, COLS, L, t0 - BLK, tid);
        cp_wait_all();
        __syncthreads();
        any_realign<T, FTHREADS, CPB>(xs, PITCH, raw, RP, x, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
        any_realign<T, FTHREADS, CPB>(as, PITCH, raw + FCH * RP, RP, a, arow + t0 - BLK, 0, 1, COLS, L, t0 - BLK, tid);
    } else {
        stage_rows<T, FTHREADS, CPB>(xs, x + row0, FCH, COLS, PITCH, L, t0 - BLK, tid);
        stage_rows<T, FTHREADS, CPB>(as, a + arow, 1, COLS, PITCH, L, t0 - BLK, tid);
        cp_wait_all();
    }
    __syncthreads();
}

/* For k = 2, block-parallel over a warp (lane = block, every lane calling): x holds this block's local states
 * and am its decays. The carry is the previous block's terminal local state x[15], taken by shuffle from
 * lane - 1 (lane 0 takes `carry`, which then becomes lane 31's for the next round); unless this is a
 * sequence's first block (no carry: a_0 must not enter), y = h + P carry is written over x. */
template <typename A>
__device__ __forceinline__ void add_shuffled_carry(A* x, const A* am, int lane, A& carry, bool has_carry) {
    const A up = __shfl_up_sync(0xffffffffu, x[BLK - 1], 1);
    const A last = __shfl_sync(0xffffffffu, x[BLK - 1], WARP - 1);
    const A v = lane == 0 ? carry : up;
    carry = last;
    if (has_carry) {
        A P = am[0];
        x[0] = fma(P, v, x[0]);
#pragma unroll
        for (int i = 1; i < BLK; ++i) { P *= am[i]; x[i] = fma(P, v, x[i]); }
    }
}

/* The forward recurrence over a tile: thread (channel tid / 32, lane) does blocks lane, lane + 32, ... of
 * its row, loading block bc (-1: the halo block before the tile) by ldu(channel, bc, x) and its decays by
 * lda(bc, am), and hands each block inside [0, L) to out(ch, bi, s, n, x) (n of its 16 outputs inside
 * [0, L); with ALL every lane's block, n = 0 where it is no output, so that out may shuffle). For k = 2 a block's carry is the terminal local state of the block before it, which is the
 * local state x[15] that lane - 1 has just computed for its own block (the same operations in the same
 * order as recomputing it, so bitwise the same): a shuffle, and only lane 0 takes it from lane 31 of the
 * previous round, or for the first round recomputes it from the halo block. Rounds run whole (only rounds
 * wholly past L are skipped, a warp-uniform test) so that the shuffles see every lane; lanes past the
 * tile (a tile of FNB blocks not a multiple of 32) repeat its last block. Values at steps outside [0, L)
 * never reach an output: a sequence's first block takes no carry, and the scan runs forwards, so a
 * block's steps past L only feed later steps and blocks. */
template <typename T, int K, int FNB, bool ALL = false, typename LoadU, typename LoadA, typename Out>
__device__ __forceinline__ void fwd_tile_loop(LoadU ldu, LoadA lda, int64_t L, int64_t t0, int tid, Out out) {
    typedef typename Acc<T>::type A;
    const int ch = tid / WARP, lane = tid % WARP;
    A carry = A(0); /* lane 0: the terminal local state of the block before its block */
    if (K == 2 && lane == 0) {
        A x[BLK], am[BLK];
        ldu(ch, -1, x);
        lda(-1, am);
        carry = terminal_state<A>(x, am);
    }
#pragma unroll 1
    for (int j = 0; j < (FNB + WARP - 1) / WARP; ++j) {
        if (t0 + (int64_t) j * WARP * BLK >= L) break; /* a row's short last tile: rounds wholly past L */
        const int bi = j * WARP + lane, bc = bi < FNB ? bi : FNB - 1;
        const int64_t s = t0 + (int64_t) bi * BLK;
        A x[BLK], am[BLK];
        ldu(ch, bc, x);
        lda(bc, am);
#pragma unroll
        for (int i = 1; i < BLK; ++i) x[i] = fma(am[i], x[i - 1], x[i]);
        if (K == 2) add_shuffled_carry<A>(x, am, lane, carry, s > 0);
        const int n = bi < FNB && s < L ? (int) (L - s < BLK ? L - s : BLK) : 0;
        if (ALL) out(ch, bi, s, n, x); /* every lane (out may shuffle); n = 0: not an output */
        else if (n > 0) out(ch, bi, s, n, x);
    }
}

/* fwd_tile_loop over a staged aligned tile (rows of pitch XP, blocks BP elements apart, the halo block first). */
template <typename T, int K, int FNB, int XP, int BP, typename Out>
__device__ __forceinline__ void fwd_tile_blocks(const T* us, const T* as, int64_t L, int64_t t0, int tid, Out out) {
    typedef typename Acc<T>::type A;
    fwd_tile_loop<T, K, FNB>([&](int ch, int bc, A* x) { smem_block<T, A>(us + ch * XP + BP + bc * BP, x); },
                             [&](int bc, A* am) { smem_block<T, A>(as + BP + bc * BP, am); }, L, t0, tid, out);
}

/* Row ends. A tile's rounds take 32 blocks of a row at once, so steps a few blocks past a whole round
 * (L = 4097: one step) took a round, and a CTA, of their own: bf16 (8, 4097) forward 1.42x its floor against
 * 1.08x at 4096, 1.28x with the row ends apart (H200, 2026-12-04). Where a row ends at most ROW_END_BLOCKS
 * blocks past a whole round, the tiles stop at that round (Le) and the rest [Le, L) goes to row-end CTAs
 * placed before the tiles' in the grid, one channel row per thread: its blocks in turn, the carry from the
 * block before Le. The same
 * operations in the same order as fwd_tile_loop (the carry is the previous block's local terminal state;
 * a sequence's first block takes none): bitwise equal. */
constexpr int ROUND_STEPS = WARP * BLK;
constexpr int ROW_END_BLOCKS = 4;
/* Where the tiles of a row of L steps end (a multiple of ROUND_STEPS, or L itself). */
static inline int64_t tiled_end(int64_t L) {
    const int64_t r = L % ROUND_STEPS;
    return r > 0 && r <= ROW_END_BLOCKS * BLK ? L - r : L;
}
/* One row's steps [Le, L): ldu(t) and lda(t) the input and the decay at step t, out(s, n, y) a block's
 * outputs (n of them valid). The scan and the carry in one pass (the same operations as the two passes of
 * fwd_tile_loop: h = a h + u the local state, y = h + P carry): no block of decays kept (registers). */
template <typename T, int K, typename LoadU, typename LoadA, typename Out>
__device__ __forceinline__ void fwd_row_end(LoadU ldu, LoadA lda, int64_t L, int64_t Le, Out out) {
    typedef typename Acc<T>::type A;
    A carry = A(0);
    if (K == 2 && Le > 0) { /* terminal_state of the block before Le */
        carry = ldu(Le - BLK);
#pragma unroll 1
        for (int i = 1; i < BLK; ++i) carry = fma(lda(Le - BLK + i), carry, ldu(Le - BLK + i));
    }
#pragma unroll 1
    for (int64_t s = Le; s < L; s += BLK) {
        const int n = (int) (L - s < BLK ? L - s : BLK);
        A y[BLK], h = A(0), P = A(1);
#pragma unroll
        for (int i = 0; i < BLK; ++i) {
            const A u = i < n ? ldu(s + i) : A(0), ai = i < n ? lda(s + i) : A(0);
            h = i == 0 ? u : fma(ai, h, u);
            if (K == 2 && s > 0) {
                P = i == 0 ? ai : P * ai;
                y[i] = fma(P, carry, h);
            } else {
                y[i] = h;
            }
        }
        carry = h;
        out(s, n, y);
    }
}

/* grid: row-end CTAs (`ends` of them), then ((b * H + head) * tiles + tile) * (HEAD / FCH) + channel group;
 * the tiles cover steps [0, Le) */
/* ANY: rows of any alignment, read in place from their raw chunks (raw_block), or with REALIGN through a
 * realignment pass into the aligned tile (the earlier default: benchmarks only). */
/* BULK (16-bit, sm_90+): rows of any alignment read in place, each row fetched by one bulk copy, y stored from its global alignment. */
template <typename T, int K, bool COAL, bool ANY = false, bool REALIGN = false, bool BULK = false>
__global__ void __launch_bounds__(FTHREADS, MinBlocks<T, FTHREADS>::value)
swr_forward_staged(const T* __restrict__ a, const T* __restrict__ u, T* __restrict__ y,
                   int64_t H, int64_t L, int64_t tiles, int64_t BH, int64_t Le, int64_t ends) {
    static_assert(!ANY || COAL, "rows of any alignment store through shared memory");
    static_assert(!BULK || (ANY && !REALIGN && sizeof(T) == 2), "bulk copies: 16-bit rows of any alignment");
    typedef typename Acc<T>::type A;
    constexpr int FNB = Fnb<T>::value;
    constexpr int COLS = FNB * BLK + BLK;                 /* halo block + tile */
    constexpr int PER = 16 / sizeof(T), CPB = fwd_cpb<T>(); /* chunks per padded block (0: none) */
    constexpr int BP = fwd_bp<T>(), PITCH = (FNB + 1) * BP, YP = FNB * BP; /* padded blocks */
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* us = reinterpret_cast<T*>(smem_raw);               /* [FCH][PITCH] */
    T* as = us + FCH * PITCH;                             /* [PITCH] */
    T* ys = as + PITCH;                                   /* [FCH][YP] (COAL) */
    if ((int64_t) blockIdx.x < ends) {
        const int64_t row = (int64_t) blockIdx.x * FTHREADS + threadIdx.x;
        if (row < BH * HEAD) {
            const T* ur = u + row * L;
            const T* ar = a + row / HEAD * L;
            T* yr = y + row * L;
            fwd_row_end<T, K>([&](int64_t t) { return to_acc(ur[t]); }, [&](int64_t t) { return to_acc(ar[t]); }, L, Le,
                              [&](int64_t s, int n, const A* x) {
#pragma unroll
                                  for (int i = 0; i < BLK; ++i)
                                      if (i < n) yr[s + i] = store_cast(x[i], T());
                              });
        }
        return;
    }
    const int64_t id = blockIdx.x - ends;
    const int grp = (int) (id % (HEAD / FCH));
    const int64_t bt = id / (HEAD / FCH), bh = bt / tiles, tile = bt % tiles;
    const int64_t t0 = tile * (FNB * BLK);
    const int64_t row0 = (bh * HEAD + grp * FCH) * L;     /* the group's first channel row */
    const int tid = threadIdx.x;
    constexpr int RP = COLS + 16 / sizeof(T);             /* ANY && REALIGN: raw row pitch */
    auto out = [&](int ch, int bi, int64_t s, int n, const A* x) {
        if (COAL) {
            T* yb = ys + ch * YP + bi * BP;
#pragma unroll
            for (int v = 0; v < BLK / PER; ++v) reinterpret_cast<uint4*>(yb)[v] = pack(x + v * PER, T());
        } else {
            store_block<T, A>(y + row0 + ch * L + s, n, x);
        }
    };
    if (BULK) { /* raw rows [FCH + 1][RD], then ys [FCH][FNB * BLK + PER] in y's alignment, then the barrier */
        constexpr int RD = fwd_raw_pitch<T>(), YB = FNB * BLK + PER;
        T* raw = us;
        ys = raw + (FCH + 1) * RD;
        uint64_t* bar = reinterpret_cast<uint64_t*>(ys + FCH * YB);
        if (tid == 0) mbar_init(bar, FCH + 1);
        __syncthreads();
        if (tid <= FCH) { /* rows 0..FCH - 1 of u, then the decays */
            const bool dec = tid == FCH;
            bulk_issue_row<T>(raw + tid * RD, dec ? a : u, dec ? BH * L : BH * HEAD * L,
                              (dec ? bh * L : row0 + tid * L) + t0 - BLK, COLS, L, t0 - BLK, bar);
        }
        mbar_wait0(bar);
        __syncthreads(); /* the chunks copied element by element */
        const int ch = tid / WARP, lane = tid % WARP;
        const int ush = shift_of(u, row0 + ch * L + t0 - BLK), ash = shift_of(a, bh * L + t0 - BLK);
        const int o = shift_of(y, row0 + ch * L + t0) * (int) sizeof(T);
        const T* ur = raw + ch * RD;
        uint4* yr = reinterpret_cast<uint4*>(ys + ch * YB);
        unsigned tail[4] = {0u, 0u, 0u, 0u}; /* lane 0: the last words of the previous round's last block */
        int blocks = 0;                      /* blocks done (whole rounds) */
        fwd_tile_loop<T, K, FNB, true>(
            [&](int, int bc, A* x) { raw_block<T, A, CPB>(ur, ush, bc, x); },
            [&](int bc, A* am) { raw_block<T, A, CPB>(raw + FCH * RD, ash, bc, am); }, Le, t0, tid,
            [&](int, int bi, int64_t, int, const A* x) {
                const uint4 p0 = pack(x, T()), p1 = pack(x + PER, T());
                const unsigned own[8] = {p0.x, p0.y, p0.z, p0.w, p1.x, p1.y, p1.z, p1.w};
                unsigned prev[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const unsigned r = __shfl_sync(0xffffffffu, own[4 + i], (lane + WARP - 1) % WARP);
                    prev[i] = lane == 0 ? tail[i] : r;
                    tail[i] = r;
                }
                shifted_pair(prev, own, o, yr + 2 * bi);
                blocks = bi - lane + WARP;
            });
        if (lane == 0) { /* the chunk after the last block: its last o bytes */
            const unsigned none[8] = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
            uint4 pair[2];
            shifted_pair(tail, none, o, pair);
            yr[2 * blocks] = pair[0];
        }
        __syncthreads();
        const int n = (int) (Le - t0 < FNB * BLK ? Le - t0 : FNB * BLK);
        aligned_store_rows<T, FTHREADS>(y, ys, YB, row0 + t0, L, FCH, n, tid);
        return;
    } else if (ANY && !REALIGN) { /* raw rows [FCH + 1][RD] where the aligned tile would be, then ys */
        constexpr int RD = fwd_raw_pitch<T>();
        T* raw = us;
        ys = raw + (FCH + 1) * RD;
        any_issue<T, FTHREADS, CPB>(raw, RD, u, BH * HEAD * L, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
        any_issue<T, FTHREADS, CPB>(raw + FCH * RD, RD, a, BH * L, bh * L + t0 - BLK, 0, 1, COLS, L, t0 - BLK, tid);
        cp_wait_all();
        __syncthreads();
        const int ch = tid / WARP;
        const int ush = shift_of(u, row0 + ch * L + t0 - BLK), ash = shift_of(a, bh * L + t0 - BLK);
        const T* ur = raw + ch * RD;
        fwd_tile_loop<T, K, FNB>([&](int, int bc, A* x) { raw_block<T, A, CPB>(ur, ush, bc, x); },
                                 [&](int bc, A* am) { raw_block<T, A, CPB>(raw + FCH * RD, ash, bc, am); }, Le, t0, tid, out);
    } else {
        /* ANY: the raw rows go where ys will be written */
        stage_fwd_tile<T, ANY, CPB, PITCH, COLS, RP>(us, as, ys, u, BH * HEAD * L, a, BH * L, row0, bh * L, L, t0, tid);
        fwd_tile_blocks<T, K, FNB, PITCH, BP>(us, as, Le, t0, tid, out);
    }
    const int n = (int) (Le - t0 < FNB * BLK ? Le - t0 : FNB * BLK); /* this tile's steps */
    if (ANY) {
        __syncthreads();
        any_store<T, FTHREADS, CPB>(y, ys, YP, row0 + t0, L, FCH, n, tid);
    } else if (COAL) {
        __syncthreads();
        store_rows<T, FTHREADS, CPB>(y, ys, YP, row0, L, FCH, n / PER, t0, tid);
    }
}

/* Forward, rows of any alignment with the raw chunks fetched by TMA (sm_90+; grid, tile and the rest as
 * swr_forward_staged<T, K, true, true>). */
template <typename T>
__host__ __device__ constexpr size_t fwd_tma_region1() {
    constexpr size_t land = (FCH + 1) * (size_t) tma_raw_pitch<T>(Fnb<T>::value * BLK + BLK);
    constexpr size_t ys = FCH * Fnb<T>::value * fwd_bp<T>();
    return round128(sizeof(T) * (ys > land ? ys : land));
}
template <typename T>
constexpr size_t fwd_tma_smem() {
    return 128 + round128(sizeof(T) * (FCH + 1) * (Fnb<T>::value + 1) * fwd_bp<T>()) + fwd_tma_region1<T>() + 16;
}

template <typename T, int K>
__global__ void __launch_bounds__(FTHREADS, MinBlocks<T, FTHREADS>::value)
swr_forward_tma(const __grid_constant__ TmaFwdMaps maps, const T* __restrict__ a, const T* __restrict__ u,
                T* __restrict__ y, int64_t L, int64_t tiles) {
    typedef typename Acc<T>::type A;
    constexpr int FNB = Fnb<T>::value, STEPS = FNB * BLK, COLS = STEPS + BLK;
    constexpr int PER = 16 / sizeof(T), CPB = fwd_cpb<T>();
    constexpr int BP = fwd_bp<T>(), PITCH = (FNB + 1) * BP, YP = FNB * BP;
    constexpr int RP = tma_raw_pitch<T>(COLS);
    extern __shared__ __align__(16) unsigned char smem_raw[];
    unsigned char* sm = smem_base128(smem_raw);
    T* us = reinterpret_cast<T*>(sm);                     /* [FCH][PITCH] */
    T* as = us + FCH * PITCH;                             /* [PITCH] */
    unsigned char* r1 = sm + round128(sizeof(T) * (FCH + 1) * PITCH);
    T* ys = reinterpret_cast<T*>(r1);                     /* [FCH][YP] */
    T* raw = ys;                                          /* [FCH + 1][RP], free again before ys is written */
    uint64_t* bar = reinterpret_cast<uint64_t*>(r1 + fwd_tma_region1<T>());
    const int64_t id = blockIdx.x;
    const int grp = (int) (id % (HEAD / FCH));
    const int64_t bt = id / (HEAD / FCH), bh = bt / tiles, tile = bt % tiles;
    const int64_t t0 = tile * STEPS;
    const int64_t row0 = (bh * HEAD + grp * FCH) * L;
    const int tid = threadIdx.x;
    if (tid == 0) mbar_init(bar);
    __syncthreads();
    if (tid < WARP) {
        tma_issue_raw<T>(raw, RP, maps.u, u, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, bar, tid);
        tma_issue_raw<T>(raw + FCH * RP, RP, maps.a, a, bh * L + t0 - BLK, 0, 1, COLS, L, t0 - BLK, bar, tid);
        __syncwarp();
        if (tid == 0) mbar_arrive(bar);
    }
    mbar_wait0(bar);
    tma_patch_raw<T, FTHREADS>(raw, RP, u, row0 + t0 - BLK, L, FCH, tid);
    tma_patch_raw<T, FTHREADS>(raw + FCH * RP, RP, a, bh * L + t0 - BLK, 0, 1, tid);
    __syncthreads();
    any_realign<T, FTHREADS, CPB>(us, PITCH, raw, RP, u, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
    any_realign<T, FTHREADS, CPB>(as, PITCH, raw + FCH * RP, RP, a, bh * L + t0 - BLK, 0, 1, COLS, L, t0 - BLK, tid);
    __syncthreads();
    fwd_tile_blocks<T, K, FNB, PITCH, BP>(us, as, L, t0, tid, [&](int ch, int bi, int64_t, int, const A* x) {
        T* yb = ys + ch * YP + bi * BP;
#pragma unroll
        for (int v = 0; v < BLK / PER; ++v) reinterpret_cast<uint4*>(yb)[v] = pack(x + v * PER, T());
    });
    __syncthreads();
    const int n = (int) (L - t0 < STEPS ? L - t0 : STEPS);
    any_store<T, FTHREADS, CPB>(y, ys, YP, row0 + t0, L, FCH, n, tid);
}

/* q of the block before a block: sum_i P_i dy_i over this block (P the prefix product of its decays am). */
template <typename A>
__device__ __forceinline__ A prefix_dot(const A* am, const A* g) {
    A P = am[0], q = P * g[0];
#pragma unroll
    for (int i = 1; i < BLK; ++i) { P *= am[i]; q = fma(P, g[i], q); }
    return q;
}
template <typename T, typename A, bool RAW, bool RAWA>
__device__ __forceinline__ A smem_prefix_dot(const T* gb, const T* ab) {
    A g[BLK], am[BLK];
    staged_block<T, A, RAW>(gb, g);
    staged_block<T, A, RAWA>(ab, am);
    return prefix_dot<A>(am, g);
}

/* A thread's block of the backward: local states h (u at ub, decays at ab; RAW / RAWA: read at any
 * address), dy into g, and for k = 2 the carrier v (the terminal local state of the block before) and
 * q (prefix_dot of the block after), read from the neighbouring staged blocks (zeros past the end);
 * with `own` (non-null) q is left to the caller and *own gets this block's prefix_dot, which is the q of
 * the block before it. */
template <typename T, typename A, int K, bool RAW = false, bool RAWA = RAW>
__device__ __forceinline__ void staged_block_states(const T* ub, const T* gb, const T* ab, int64_t s,
                                                    A* h, A* g, A& q, A& v, A* own = nullptr) {
    staged_block<T, A, RAW>(ub, h);
    staged_block<T, A, RAW>(gb, g);
    {
        A am[BLK];
        staged_block<T, A, RAWA>(ab, am);
#pragma unroll
        for (int i = 1; i < BLK; ++i) h[i] = fma(am[i], h[i - 1], h[i]);
        if (K == 2 && own) *own = prefix_dot<A>(am, g);
    }
    q = A(0);
    v = A(0);
    if (K == 2 && !own) {
        v = s > 0 ? smem_terminal<T, A, RAW, RAWA>(ub - BLK, ab - BLK) : A(0);
        q = smem_prefix_dot<T, A, RAW, RAWA>(gb + BLK, ab + BLK);
    }
}

/* y = h + P v inside one thread's block (P the prefix product of the block's decays), steps 0 .. N - 1,
 * into ybuf: for k = 2 (block 0: y = h, no P v: a_0 must not enter); for k = 1 (y = h) only where
 * N = BLK (the fused core needs all of y; the sweep below uses h there). */
template <typename T, typename A, int K, int N>
__device__ __forceinline__ void staged_block_y(const T* ab, const A* h, A v, bool first, A* ybuf) {
    if (K == 2 && !first) {
        A P = to_acc(ab[0]);
        ybuf[0] = fma(P, v, h[0]);
#pragma unroll
        for (int i = 1; i < N; ++i) { P *= to_acc(ab[i]); ybuf[i] = fma(P, v, h[i]); }
    } else if (K == 2 || N == BLK) {
#pragma unroll
        for (int i = 0; i < N; ++i) ybuf[i] = h[i];
    }
}

/* The right-to-left sweep of one thread's block: rev, R, du (into g) and da (into dout), from the
 * local states h and, for k = 2, the carrier v, q and y inside the block (ybuf, steps 0 .. BLK - 2,
 * from staged_block_y; dout may be ybuf itself: step i reads y_{i-1} before dout[i-1] is written).
 * The decays are read from shared memory where used (fewer registers).
 * da_t = du_t h_{t-1} + rev_t P_{t-1} v = rev_t y_{t-1} + R_t q h_{t-1} (no cancellation). */
template <typename T, typename A, int K>
__device__ __forceinline__ void staged_sweep(const T* ab, const A* h, A q, A v, bool first, A* g, const A* ybuf,
                                             A* dout) {
    A rev = A(0), R = A(1), anext = A(0);
#pragma unroll
    for (int i = BLK - 1; i >= 1; --i) {
        const A r = fma(anext, rev, g[i]);
        if (K == 2) {
            const A Rq = R * q;
            g[i] = fma(R, q, r);
            dout[i] = fma(r, ybuf[i - 1], Rq * h[i - 1]);
        } else {
            g[i] = r;
            dout[i] = r * h[i - 1];
        }
        rev = r;
        anext = to_acc(ab[i]);
        R *= anext;
    }
    {   /* i = 0: h_{-1} = 0, P_{-1} = 1 */
        const A r = fma(anext, rev, g[0]);
        g[0] = K == 2 ? fma(R, q, r) : r;
        dout[0] = K == 2 && !first ? r * v : A(0);
    }
}

/* Both of the above for the SWR backward (y needed at steps 0 .. BLK - 2 only). */
template <typename T, typename A, int K>
__device__ __forceinline__ void staged_block_sweep(const T* ab, const A* h, A q, A v, bool first, A* g, A* ybuf,
                                                   A* dout) {
    staged_block_y<T, A, K, BLK - 1>(ab, h, v, first, ybuf);
    staged_sweep<T, A, K>(ab, h, q, v, first, g, ybuf, dout);
}

template <typename T>
__host__ __device__ constexpr size_t bwd_staged_region() {
    typedef typename Acc<T>::type A;
    constexpr size_t stage = sizeof(T) * HEAD * 2 * (BNB * BLK + BLK);
    constexpr size_t dpart = sizeof(A) * HEAD * BNB * (BLK + 1);
    return ((stage > dpart ? stage : dpart) + 15) / 16 * 16;
}
template <typename T>
constexpr size_t bwd_staged_smem(bool coal) {
    return bwd_staged_region<T>() + sizeof(T) * (BNB * BLK + 2 * BLK) + (coal ? sizeof(T) * HEAD * BNB * BLK : 0);
}

/* grid: (b * H + head) * tiles + tile; thread = (channel, block) = (tid / BNB, tid % BNB) */
template <typename T, int K, bool COAL>
__global__ void __launch_bounds__(BTHREADS, MinBlocks<T, BTHREADS>::value)
swr_backward_staged(const T* __restrict__ a, const T* __restrict__ u, const T* __restrict__ dy,
                    T* __restrict__ da, T* __restrict__ du, int64_t H, int64_t L, int64_t tiles) {
    typedef typename Acc<T>::type A;
    constexpr int STEPS = BNB * BLK;
    constexpr int UCOLS = STEPS + BLK;                    /* u: halo block before the tile */
    constexpr int GCOLS = K == 2 ? STEPS + BLK : STEPS;   /* dy: halo block after the tile (k = 2) */
    constexpr int ACOLS = STEPS + 2 * BLK;                /* a: halo on both sides */
    constexpr int DSTRIDE = BNB * (BLK + 1);              /* padded dpart row */
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* us = reinterpret_cast<T*>(smem_raw);               /* [HEAD][UCOLS] */
    T* gs = us + HEAD * UCOLS;                            /* [HEAD][GCOLS] */
    A* dpart = reinterpret_cast<A*>(smem_raw);            /* [HEAD][DSTRIDE], reuses us/gs later */
    T* as = reinterpret_cast<T*>(smem_raw + bwd_staged_region<T>()); /* [ACOLS] */
    T* dus = as + ACOLS;                                  /* [HEAD][STEPS] du (COAL) */
    const int64_t bh = blockIdx.x / tiles, tile = blockIdx.x % tiles;
    const int64_t t0 = tile * STEPS;
    const int64_t row0 = bh * HEAD * L;
    const int tid = threadIdx.x;
    stage_rows<T, BTHREADS>(us, u + row0, HEAD, UCOLS, UCOLS, L, t0 - BLK, tid);
    stage_rows<T, BTHREADS>(gs, dy + row0, HEAD, GCOLS, GCOLS, L, t0, tid);
    stage_rows<T, BTHREADS>(as, a + bh * L, 1, ACOLS, ACOLS, L, t0 - BLK, tid);
    cp_wait_all();
    __syncthreads();

    const int ch = tid / BNB, bi = tid % BNB;
    const int64_t s = t0 + (int64_t) bi * BLK;
    const int n = (int) (s >= L ? 0 : (L - s < BLK ? L - s : BLK));
    const T* ub = us + ch * UCOLS + BLK + bi * BLK;
    const T* gb = gs + ch * GCOLS + bi * BLK;
    const T* ab = as + BLK + bi * BLK;
    A h[BLK], g[BLK], q, v;
    staged_block_states<T, A, K>(ub, gb, ab, s, h, g, q, v);
    __syncthreads(); /* the staged u and dy are consumed: dpart may overwrite them */

    /* This thread's slice of dpart first holds y = h + P v (the forward output inside the block),
     * then this channel's da. */
    A* dp = dpart + ch * DSTRIDE + bi * (BLK + 1);
    staged_block_sweep<T, A, K>(ab, h, q, v, s == 0, g, dp, dp);
    if (COAL) {
        T* db = dus + ch * STEPS + bi * BLK;
        constexpr int PER = 16 / sizeof(T);
#pragma unroll
        for (int v = 0; v < BLK / PER; ++v) reinterpret_cast<uint4*>(db)[v] = pack(g + v * PER, T());
    } else if (n > 0) {
        store_block<T, A>(du + row0 + ch * L + s, n, g);
    }
    __syncthreads();
    if (COAL) {
        store_rows<T, BTHREADS>(du, dus, STEPS, row0, L, HEAD, STEPS * (int) sizeof(T) / 16, t0, tid);
    }

    /* da: sum over the 16 channels in channel order (fixed: bitwise reproducible). */
    const int64_t t = t0 + tid;
    if (tid < STEPS && t < L) {
        const A* col = dpart + (tid / BLK) * (BLK + 1) + tid % BLK;
        A acc = col[0];
#pragma unroll
        for (int c = 1; c < HEAD; ++c) acc += col[c * DSTRIDE];
        da[bh * L + t] = store_cast(acc, T());
    }
}

/*
 * Backward, staged, with the channel sum by warp shuffles (variant 4). Thread block: 16 channels x
 * BNB blocks as above, 256 threads, but a warp holds 2 blocks x all 16 channels (lane = channel +
 * 16 x block parity), so da (the sum over the head's channels) is a reduce-scatter across the 16
 * lanes of a half-warp: 15 shuffles and adds per thread, in a fixed butterfly order (bitwise
 * reproducible), after which lane c holds da of step c of its block. Staged rows are padded by 16
 * bytes so that the 16 channel rows fall in different shared-memory banks.
 */
template <typename T>
__host__ __device__ constexpr int pad_elems() { return 16 / (int) sizeof(T); }
/* SK: extra pitch of the u and dy rows (MODE 4: room for each row's skew, up to 7 chunks), then a
 * table of the 2 HEAD skews at the end. */
template <typename T, int SK = 0>
__host__ __device__ constexpr size_t bwd4_region() {
    typedef typename Acc<T>::type A;
    constexpr size_t stage = sizeof(T) * HEAD * ((BNB * BLK + BLK + pad_elems<T>() + SK) * 2);
    constexpr size_t ybuf = sizeof(A) * BTHREADS * (BLK + 1);
    return ((stage > ybuf ? stage : ybuf) + 15) / 16 * 16;
}
template <typename T, int SK = 0>
__host__ __device__ constexpr size_t bwd4_smem() {
    return bwd4_region<T, SK>() + sizeof(T) * (BNB * BLK + 2 * BLK + pad_elems<T>()) /* decays, room for a raw row */
           + sizeof(T) * HEAD * (BNB * BLK + pad_elems<T>())                         /* du staging */
           + (SK ? sizeof(int) * 2 * HEAD : 0);                                      /* MODE 4: the skews */
}
template <typename T> __host__ __device__ constexpr int bwd_skew() { return 7 * pad_elems<T>(); }
/* After that layout: MODE 5's mbarrier, then (XCH) the exchange of the blocks' carries [2][BTHREADS]. */
template <typename T, int SK = 0>
__host__ __device__ constexpr size_t bwd_bar_off() { return (bwd4_smem<T, SK>() + 15) / 16 * 16; }
template <typename T, int SK = 0>
__host__ __device__ constexpr size_t bwd_xch_off() { return bwd_bar_off<T, SK>() + 16; }
template <typename T, int SK = 0>
constexpr size_t bwd_xch_smem() { return bwd_xch_off<T, SK>() + 2 * sizeof(typename Acc<T>::type) * BTHREADS; }
/* MODES 0, 4 (SK = bwd_skew) and 5: the layout with the exchange or without it */
template <typename T, int SK, bool XCH>
constexpr size_t bwd_shfl_smem() { return XCH ? bwd_xch_smem<T, SK>() : bwd4_smem<T, SK>(); }
/* ANY: raw rows of u and dy ([HEAD][BWD_RP] each) and of a, after the aligned layout */
template <typename T>
__host__ __device__ constexpr int bwd_any_rp() { return BNB * BLK + BLK + 16 / (int) sizeof(T); }
template <typename T>
constexpr size_t bwd4_any_smem() {
    return (bwd4_smem<T>() + 15) / 16 * 16 + sizeof(T) * (2 * HEAD + 1) * (bwd_any_rp<T>() + BLK);
}

/* One butterfly round: lanes whose bit `m` is clear keep the lower half of x[0..2n), the others
 * the upper half; each adds its partner's copy of the half it keeps. */
template <typename A, int N>
__device__ __forceinline__ void reduce_half(A* x, int lane, int m) {
    const bool upper = (lane & m) != 0;
#pragma unroll
    for (int j = 0; j < N; ++j) {
        const A send = upper ? x[j] : x[j + N];
        const A keep = upper ? x[j + N] : x[j];
        x[j] = keep + __shfl_xor_sync(0xffffffffu, send, m);
    }
}

/* TMA: raw rows landed at [2 HEAD + 1][tma_raw_pitch] after the aligned layout, then the mbarrier. */
template <typename T>
__host__ __device__ constexpr int bwd_tma_rp() { return tma_raw_pitch<T>(BNB * BLK + 2 * BLK); }
template <typename T>
constexpr size_t bwd4_tma_smem() {
    return 128 + round128(bwd4_smem<T>()) + round128(sizeof(T) * (2 * HEAD + 1) * bwd_tma_rp<T>()) + 16;
}

/* MODE 4 reads each lane's blocks from its own raw row, whose shift differs from row to row: 16 lanes
 * (channels) x 2 blocks read word i of their blocks at once. So that those 32 words fall in distinct
 * shared-memory banks, row r starts `skew` elements (whole 16-byte chunks) into its pitch, chosen from
 * the row's word offset `d` within a chunk (its shift): the rows of one offset go to distinct 16-byte
 * bank groups, which the second block (16 steps on) keeps distinct. Conflict-free wherever the shifts
 * of 16 rows spread over all offsets (L not a multiple of 4; else 2-way); one warp's lane `lane` (<32,
 * rows of u then dy) computes row r's. */
template <typename T>
__device__ __forceinline__ int raw_skew(int sh, int r, int pitch, int lane) {
    constexpr int PER = 16 / sizeof(T);
    const int d = (sh * (int) sizeof(T) >> 2) & 3;
    const unsigned same = __match_any_sync(0xffffffffu, d + 4 * (lane / HEAD)); /* same tensor, same offset */
    const int rank = __popc(same & ((1u << lane) - 1));
    /* 16-bit: the second block is 8 words on, 2 groups: groups {0, 1, 4, 5} + 2 (rank / 4) per offset;
     * 4- and 8-byte types: 16 or 32 words on (a group shift of 4, or the other half-warp): rank. */
    const int g = sizeof(T) == 2 ? ((0x5410 >> 4 * (rank & 3)) & 15) + 2 * (rank >> 2) : rank;
    return ((g - r * (pitch / PER)) & 7) * PER;
}

/* The shuffle backward's tile: MODE 0 rows 16-byte aligned; rows of any alignment by their raw chunks,
 * realigned in shared memory: 1 the raw rows copied by cp.async into rows of their own, 2 the same
 * fetched by TMA (maps; smem_raw 128-byte aligned), 3 copied by cp.async into the tile's own rows and
 * realigned there (realign_in_place: float32 53 KB of shared memory per CTA against 92 KB, so twice the
 * occupancy in float32 and float64; in 16-bit types, where registers bound the occupancy, its passes of
 * whole warps measured 13% slower than 1's flat loop, docs/CUDA.md); 4 raw rows copied into skewed rows
 * (raw_skew) and read there, each lane shifting its own blocks as it loads them (smem_block_any), the
 * dy and decays past L zeroed in a row's last tile; 5 (16-bit, sm_90+) that with each of the 32 raw rows
 * of u and dy fetched by one bulk copy (bulk_issue_row: 16-bit rows are unpadded, so a row's chunks are
 * contiguous there too) instead of a cp.async and its bounds checks per chunk, and the decays (one row,
 * read by every lane) loaded element by element into their aligned place, so that lanes read them
 * without shifts.
 * XCH (MODES 0, 4, 5; k = 2): a block's carrier v (the terminal local state of the block before it) and
 * q (prefix_dot of the block after it) are the h[15] and the prefix_dot of the threads next to it,
 * exchanged through shared memory instead of each thread recomputing them from its neighbours' staged
 * blocks (4 of its 7 block reads, which at unaligned rows are shifted word by word: the kernel is
 * issue-bound); the same operations in the same order, so bitwise the same. */
template <typename T, int K, int MODE, bool XCH = false>
__device__ __forceinline__ void bwd_shfl_tile(unsigned char* smem_raw, const T* __restrict__ a, const T* __restrict__ u,
                                              const T* __restrict__ dy, T* __restrict__ da, T* __restrict__ du,
                                              int64_t L, int64_t tiles, int64_t BH, const TmaBwdMaps* maps) {
    typedef typename Acc<T>::type A;
    constexpr int STEPS = BNB * BLK, PADE = pad_elems<T>();
    constexpr int UCOLS = STEPS + BLK, UP = UCOLS + PADE;            /* u: halo block before */
    constexpr int GCOLS = K == 2 ? STEPS + BLK : STEPS, GP = STEPS + BLK + PADE; /* dy: halo after */
    constexpr int ACOLS = STEPS + 2 * BLK;
    constexpr int DP = STEPS + PADE;                                  /* du staging pitch */
    constexpr bool BULK = MODE == 5;                                  /* MODE 4 with bulk copies */
    static_assert(!BULK || sizeof(T) == 2, "bulk copies: 16-bit rows");
    static_assert(!XCH || MODE == 0 || MODE == 4 || MODE == 5, "the exchange: after these layouts");
    constexpr bool SKEWED = MODE == 4 || BULK;
    constexpr int SK = SKEWED ? bwd_skew<T>() : 0, UPS = UP + SK, GPS = GP + SK; /* MODE 4: skewed rows */
    T* us = reinterpret_cast<T*>(smem_raw);                           /* [HEAD][UPS] */
    T* gs = us + HEAD * UPS;                                          /* [HEAD][GPS] */
    A* ybuf = reinterpret_cast<A*>(smem_raw);                         /* [BTHREADS][BLK + 1], later */
    T* as = reinterpret_cast<T*>(smem_raw + bwd4_region<T, SK>());    /* [ACOLS + PADE]: room for a raw row */
    T* dus = as + ACOLS + PADE;                                       /* [HEAD][DP] */
    int* skew = reinterpret_cast<int*>(dus + HEAD * DP);              /* MODE 4: [2 HEAD] */
    const int64_t bh = blockIdx.x / tiles, tile = blockIdx.x % tiles;
    const int64_t t0 = tile * STEPS;
    const int64_t row0 = bh * HEAD * L;
    const int tid = threadIdx.x;
    constexpr int RP = bwd_any_rp<T>() + BLK;                         /* ANY: raw row pitch */
    T* raw = reinterpret_cast<T*>(smem_raw + (bwd4_smem<T>() + 15) / 16 * 16); /* ANY: [2 HEAD + 1][RP] */
    if (MODE == 2) { /* raw rows by TMA, then as ANY */
        constexpr int RT = bwd_tma_rp<T>();
        T* land = reinterpret_cast<T*>(smem_raw + round128(bwd4_smem<T>()));   /* [2 HEAD + 1][RT] */
        uint64_t* bar = reinterpret_cast<uint64_t*>(smem_raw + round128(bwd4_smem<T>()) +
                                                    round128(sizeof(T) * (2 * HEAD + 1) * RT));
        if (tid == 0) mbar_init(bar);
        __syncthreads();
        if (tid < WARP) {
            tma_issue_raw<T>(land, RT, maps->u, u, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, bar, tid);
            tma_issue_raw<T>(land + HEAD * RT, RT, maps->dy, dy, row0 + t0, L, HEAD, GCOLS, L, t0, bar, tid);
            tma_issue_raw<T>(land + 2 * HEAD * RT, RT, maps->a, a, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, bar, tid);
            __syncwarp();
            if (tid == 0) mbar_arrive(bar);
        }
        mbar_wait0(bar);
        tma_patch_raw<T, BTHREADS>(land, RT, u, row0 + t0 - BLK, L, HEAD, tid);
        tma_patch_raw<T, BTHREADS>(land + HEAD * RT, RT, dy, row0 + t0, L, HEAD, tid);
        tma_patch_raw<T, BTHREADS>(land + 2 * HEAD * RT, RT, a, bh * L + t0 - BLK, 0, 1, tid);
        __syncthreads();
        any_realign<T, BTHREADS>(us, UP, land, RT, u, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid);
        any_realign<T, BTHREADS>(gs, GP, land + HEAD * RT, RT, dy, row0 + t0, L, HEAD, GCOLS, L, t0, tid);
        any_realign<T, BTHREADS>(as, ACOLS, land + 2 * HEAD * RT, RT, a, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
        __syncthreads();
    } else if (SKEWED) { /* raw rows read where they land: no realignment */
        uint64_t* bar = reinterpret_cast<uint64_t*>(smem_raw + bwd_bar_off<T, SK>()); /* BULK */
        if (tid < WARP) { /* lane r < 16: u row r; 16 + r: dy row r (raw_skew) */
            const int r = tid % HEAD;
            const int sh = tid < HEAD ? shift_of(u, row0 + t0 - BLK + r * L) : shift_of(dy, row0 + t0 + r * L);
            skew[tid] = raw_skew<T>(sh, r, tid < HEAD ? UPS : GPS, tid);
        }
        if (BULK && tid == 0) mbar_init(bar, 2 * HEAD); /* the rows of u and dy */
        __syncthreads();
        if (BULK) { /* thread r < 16: u row r; 16 + r: dy row r; the decays by every thread meanwhile */
            const int r = tid % HEAD;
            if (tid < HEAD)
                bulk_issue_row<T>(us + r * UPS + skew[r], u, BH * HEAD * L, row0 + t0 - BLK + r * L, UCOLS, L, t0 - BLK, bar);
            else if (tid < 2 * HEAD)
                bulk_issue_row<T>(gs + r * GPS + skew[HEAD + r], dy, BH * HEAD * L, row0 + t0 + r * L, GCOLS, L, t0, bar);
            for (int i = tid; i < ACOLS; i += BTHREADS) { /* steps outside [0, L): 0, as staged aligned */
                const int64_t t = t0 - BLK + i;
                as[i] = t >= 0 && t < L ? a[bh * L + t] : zero_of<T>();
            }
            mbar_wait0(bar);
        } else {
            any_issue<T, BTHREADS>(us, UPS, u, BH * HEAD * L, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid, skew);
            any_issue<T, BTHREADS>(gs, GPS, dy, BH * HEAD * L, row0 + t0, L, HEAD, GCOLS, L, t0, tid, skew + HEAD);
            any_issue<T, BTHREADS>(as, ACOLS + PADE, a, BH * L, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
            cp_wait_all();
        }
        __syncthreads(); /* BULK: and the chunks copied element by element */
        if (t0 + GCOLS > L) { /* the row's last tile: dy and decays past L become 0, as staged aligned */
            const int lo = (int) (L - t0), nd = GCOLS - lo, na = ACOLS - BLK - lo;
            for (int i = tid; i < HEAD * nd; i += BTHREADS) {
                const int r = i / nd, c = lo + i % nd;
                gs[r * GPS + skew[HEAD + r] + shift_of(dy, row0 + t0 + r * L) + c] = zero_of<T>();
            }
            if (!BULK)
                for (int i = tid; i < na; i += BTHREADS) as[shift_of(a, bh * L + t0 - BLK) + BLK + lo + i] = zero_of<T>();
            __syncthreads();
        }
    } else if (MODE == 3) { /* raw rows into the tile's own rows, realigned there */
        any_issue<T, BTHREADS>(us, UP, u, BH * HEAD * L, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid);
        any_issue<T, BTHREADS>(gs, GP, dy, BH * HEAD * L, row0 + t0, L, HEAD, GCOLS, L, t0, tid);
        any_issue<T, BTHREADS>(as, ACOLS + PADE, a, BH * L, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
        cp_wait_all();
        __syncthreads();
        realign_in_place<T, BTHREADS>(us, UP, u, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid);
        realign_in_place<T, BTHREADS>(gs, GP, dy, row0 + t0, L, HEAD, GCOLS, L, t0, tid);
        realign_in_place<T, BTHREADS>(as, ACOLS + PADE, a, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
        __syncthreads();
    } else if (MODE == 1) {
        any_issue<T, BTHREADS>(raw, RP, u, BH * HEAD * L, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid);
        any_issue<T, BTHREADS>(raw + HEAD * RP, RP, dy, BH * HEAD * L, row0 + t0, L, HEAD, GCOLS, L, t0, tid);
        any_issue<T, BTHREADS>(raw + 2 * HEAD * RP, RP, a, BH * L, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
        cp_wait_all();
        __syncthreads();
        any_realign<T, BTHREADS>(us, UP, raw, RP, u, row0 + t0 - BLK, L, HEAD, UCOLS, L, t0 - BLK, tid);
        any_realign<T, BTHREADS>(gs, GP, raw + HEAD * RP, RP, dy, row0 + t0, L, HEAD, GCOLS, L, t0, tid);
        any_realign<T, BTHREADS>(as, ACOLS, raw + 2 * HEAD * RP, RP, a, bh * L + t0 - BLK, 0, 1, ACOLS, L, t0 - BLK, tid);
        __syncthreads();
    } else {
        stage_rows<T, BTHREADS>(us, u + row0, HEAD, UCOLS, UP, L, t0 - BLK, tid);
        stage_rows<T, BTHREADS>(gs, dy + row0, HEAD, GCOLS, GP, L, t0, tid);
        stage_rows<T, BTHREADS>(as, a + bh * L, 1, ACOLS, ACOLS, L, t0 - BLK, tid);
        cp_wait_all();
        __syncthreads();
    }

    const int lane = tid % WARP, ch = lane % HEAD, bi = 2 * (tid / WARP) + lane / HEAD;
    const int64_t s = t0 + (int64_t) bi * BLK;
    const T* ub = us + ch * UPS + BLK + bi * BLK;
    const T* gb = gs + ch * GPS + bi * BLK;
    const T* ab = as + BLK + bi * BLK;
    if (SKEWED) { /* this lane's rows where they landed */
        ub += skew[ch] + shift_of(u, row0 + t0 - BLK + ch * L);
        gb += skew[HEAD + ch] + shift_of(dy, row0 + t0 + ch * L);
        if (!BULK) ab += shift_of(a, bh * L + t0 - BLK);
    }
    A h[BLK], g[BLK], q, v;
    if (XCH && K == 2) { /* v and q from the neighbouring threads; the tile's first and last from the halo */
        A* xv = reinterpret_cast<A*>(smem_raw + bwd_xch_off<T, SK>()); /* [BNB][HEAD]: h[15] of block bi */
        A* xq = xv + BTHREADS;                                         /* [BNB][HEAD]: its prefix_dot */
        A own;
        staged_block_states<T, A, K, SKEWED, MODE == 4>(ub, gb, ab, s, h, g, q, v, &own);
        A vh = A(0), qh = A(0);
        if (bi == 0 && s > 0) vh = smem_terminal<T, A, SKEWED, MODE == 4>(ub - BLK, ab - BLK);
        if (bi == BNB - 1) qh = smem_prefix_dot<T, A, SKEWED, MODE == 4>(gb + BLK, ab + BLK);
        xv[bi * HEAD + ch] = h[BLK - 1];
        xq[bi * HEAD + ch] = own;
        __syncthreads(); /* and the staged u and dy are consumed: ybuf may overwrite them */
        v = s > 0 ? (bi > 0 ? xv[(bi - 1) * HEAD + ch] : vh) : A(0);
        q = bi < BNB - 1 ? xq[(bi + 1) * HEAD + ch] : qh;
    } else {
        staged_block_states<T, A, K, SKEWED, MODE == 4>(ub, gb, ab, s, h, g, q, v);
        __syncthreads(); /* the staged u and dy are consumed: ybuf may overwrite them */
    }

    A* yp = ybuf + tid * (BLK + 1);                                   /* this thread's y = h + P v */
    A dav[BLK];
    staged_block_sweep<T, A, K>(ab, h, q, v, s == 0, g, yp, dav);
    {   /* du -> shared memory (16-byte words), for coalesced stores below */
        T* db = dus + ch * DP + bi * BLK;
        constexpr int PER = 16 / sizeof(T);
#pragma unroll
        for (int w = 0; w < BLK / PER; ++w) reinterpret_cast<uint4*>(db)[w] = pack(g + w * PER, T());
    }
    /* da: reduce-scatter over the half-warp's 16 channels; lane c ends with step c of the block. */
    reduce_half<A, 8>(dav, lane, 8);
    reduce_half<A, 4>(dav, lane, 4);
    reduce_half<A, 2>(dav, lane, 2);
    reduce_half<A, 1>(dav, lane, 1);
    if (s + ch < L) da[bh * L + s + ch] = store_cast(dav[0], T());
    __syncthreads();
    if (MODE != 0) {
        const int n = (int) (L - t0 < STEPS ? L - t0 : STEPS);
        any_store<T, BTHREADS>(du, dus, DP, row0 + t0, L, HEAD, n, tid);
        return;
    }
    store_rows<T, BTHREADS>(du, dus, DP, row0, L, HEAD, STEPS * (int) sizeof(T) / 16, t0, tid);
}

template <typename T, int K, int MODE = 0, bool XCH = false>
__global__ void __launch_bounds__(BTHREADS, MinBlocks<T, BTHREADS>::value)
swr_backward_shfl(const T* __restrict__ a, const T* __restrict__ u, const T* __restrict__ dy,
                  T* __restrict__ da, T* __restrict__ du, int64_t H, int64_t L, int64_t tiles, int64_t BH) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bwd_shfl_tile<T, K, MODE, XCH>(smem_raw, a, u, dy, da, du, L, tiles, BH, nullptr);
}

/* Backward, rows of any alignment with the raw chunks fetched by TMA (sm_90+; tile as swr_backward_shfl). */
template <typename T, int K>
__global__ void __launch_bounds__(BTHREADS, MinBlocks<T, BTHREADS>::value)
swr_backward_tma(const __grid_constant__ TmaBwdMaps maps, const T* __restrict__ a, const T* __restrict__ u,
                 const T* __restrict__ dy, T* __restrict__ da, T* __restrict__ du, int64_t L, int64_t tiles) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bwd_shfl_tile<T, K, 2>(smem_base128(smem_raw), a, u, dy, da, du, L, tiles, 0, &maps);
}

/* ======================================================================================
 * Any window (k >= 3, and the unbounded window k >= number of blocks), in O(L): three kernels and
 * stream-ordered scratch (docs/CUDA.md, "Any window").
 *
 * Block c's output is y_t = h_t + P_t E_{c-1} (docs/SWR.md, "Any window"), where E_j, the carry at the
 * end of block j, is the composition of the block summaries (D_i = prod of block i's decays, T_i =
 * its terminal local state) over the window of m = k - 1 blocks ending at j. The window is split
 * at multiples of m ("chunks"): a window either is a prefix of one chunk (E = TP_j, the within-chunk
 * prefix composition) or joins a suffix of the previous chunk to a prefix of its own (E = DP_j TS_i +
 * TP_j, DP the prefix product of D, TS the within-chunk suffix composition from i = j - m + 1):
 * O(1) per block, no division, and nothing from outside the window enters (a composition starts
 * from its first block's T, never from D * 0). Unbounded: m = number of blocks, one chunk.
 * The backward is the reverse mode of exactly this computation (gE_j = q_{j+1}; the chunk scans run
 * backwards), and per step: du_t = rev_t + R_t gT_c, da_t = du_t h_{t-1} + P_{t-1} (E_{c-1} rev_t +
 * R_t gD_c), gT, gD the gradients of block c's summaries. Adjoints that are structurally zero are
 * tracked as such ("live" flags), so no 0 * NaN arises from a value the formula never multiplies.
 *   1. swr_any_summaries: per (channel, block): T, D (and, backward, q = sum P dy).
 *   2. swr_any_carry:     per channel, serial over its blocks (O(L / 16)): E (and gT, gD).
 *   3. swr_any_apply:     per (channel, block): y (or du, da with the head sum by shuffles).
 * Scratch arrays are [block][channel row] so that 2. reads them coalesced.
 * ====================================================================================== */
constexpr int ANY_THREADS = 256;            /* kernels 1 and 3: 8 warps, each 2 blocks x 16 channels */
constexpr int CARRY_THREADS = 128;          /* kernel 2: one channel row per thread */

/* Scratch layout: NARR arrays of nb * R accumulators (R = B * C channel rows). */
enum AnyArr { AT, AD, AE, ATS, AQ, ADS, ATP, ADP, AGT, AGD, ANY_FWD_ARRS = 4, ANY_BWD_ARRS = 10 };

struct AnyShape {
    int64_t H, L, nb, R, m; /* heads, length, blocks, channel rows, window of the carry in blocks */
};

/* This thread's (channel row, block) in kernels 1 and 3; false past the last block. */
__device__ __forceinline__ bool any_index(const AnyShape& s, int64_t& bh, int& ch, int64_t& blk) {
    const int64_t warp = ((int64_t) blockIdx.x * ANY_THREADS + threadIdx.x) / WARP;
    const int lane = threadIdx.x % WARP;
    const int64_t pairs = (s.nb + 1) / 2;
    bh = warp / pairs;
    ch = lane % HEAD;
    blk = 2 * (warp % pairs) + lane / HEAD;
    return bh < s.R / HEAD && blk < s.nb;
}

/* Loads block blk of row `row` (u, dy) and its decays: n valid steps, the rest u = 0, a = 0. */
template <typename T, typename A>
__device__ __forceinline__ int any_load(const T* __restrict__ p, const T* __restrict__ ap, const AnyShape& s,
                                        int64_t row, int64_t bh, int64_t blk, A* x, A* am) {
    const int64_t t0 = blk * BLK;
    const int n = (int) (s.L - t0 < BLK ? s.L - t0 : BLK);
    load_block<T, A>(p + row * s.L + t0, n, x, A(0));
    load_block<T, A>(ap + bh * s.L + t0, n, am, A(0));
    return n;
}

template <typename T>
__global__ void __launch_bounds__(ANY_THREADS)
swr_any_summaries(const T* __restrict__ a, const T* __restrict__ u, const T* __restrict__ dy,
                  typename Acc<T>::type* __restrict__ scr, AnyShape s) {
    typedef typename Acc<T>::type A;
    int64_t bh, blk;
    int ch;
    if (!any_index(s, bh, ch, blk)) return;
    const int64_t row = bh * HEAD + ch, at = blk * s.R + row, arr = s.nb * s.R;
    A x[BLK], am[BLK];
    any_load<T, A>(u, a, s, row, bh, blk, x, am);
    A h = x[0], P = am[0];
#pragma unroll
    for (int i = 1; i < BLK; ++i) { h = fma(am[i], h, x[i]); P *= am[i]; }
    scr[AT * arr + at] = h;
    scr[AD * arr + at] = P;
    if (dy) {
        load_block<T, A>(dy + row * s.L + blk * BLK, (int) (s.L - blk * BLK < BLK ? s.L - blk * BLK : BLK), x, A(0));
        A Pi = am[0], q = Pi * x[0];
#pragma unroll
        for (int i = 1; i < BLK; ++i) { Pi *= am[i]; q = fma(Pi, x[i], q); }
        scr[AQ * arr + at] = q;
    }
}

/* acc = coef * acc + add, where either term may be structurally zero (not live): then it is left out
 * rather than multiplied, so a non-finite coefficient cannot turn an exact zero into NaN. */
template <typename A>
__device__ __forceinline__ void chain(A& acc, bool& live, A coef, A add, bool add_live) {
    acc = live ? (add_live ? fma(coef, acc, add) : coef * acc) : (add_live ? add : A(0));
    live = live || add_live;
}

/* Kernel 2: one thread per channel row, serial over its blocks; backward when `bwd`. */
template <typename A>
__global__ void __launch_bounds__(CARRY_THREADS)
swr_any_carry(A* __restrict__ scr, AnyShape s, bool bwd) {
    const int64_t row = (int64_t) blockIdx.x * CARRY_THREADS + threadIdx.x;
    if (row >= s.R) return;
    const int64_t R = s.R, arr = s.nb * R, m = s.m, nb = s.nb;
    A *T = scr + AT * arr + row, *D = scr + AD * arr + row, *E = scr + AE * arr + row, *TS = scr + ATS * arr + row;
    A *Q = scr + AQ * arr + row, *DS = scr + ADS * arr + row, *TP = scr + ATP * arr + row, *DP = scr + ADP * arr + row;
    A *GT = scr + AGT * arr + row, *GD = scr + AGD * arr + row;
    /* Forward chunk scans: TS (and DS) of every chunk but the last, then TP, DP and E. */
    for (int64_t cs = 0; cs < nb; cs += m) {
        const int64_t ce = (cs + m < nb ? cs + m : nb) - 1;
        if (ce + 1 < nb) {
            A ts = T[ce * R], ds = D[ce * R];
            TS[ce * R] = ts;
            if (bwd) DS[ce * R] = ds;
            for (int64_t i = ce - 1; i >= cs; --i) {
                ts = fma(T[i * R], ds, ts);
                ds *= D[i * R];
                TS[i * R] = ts;
                if (bwd) DS[i * R] = ds;
            }
        }
        A tp = T[cs * R], dp = D[cs * R];
        for (int64_t j = cs; j <= ce; ++j) {
            if (j > cs) { const A d = D[j * R]; tp = fma(d, tp, T[j * R]); dp *= d; }
            const int64_t i = j - m + 1;
            E[j * R] = (i > 0 && i != cs) ? fma(dp, TS[i * R], tp) : tp;
            if (bwd) { TP[j * R] = tp; DP[j * R] = dp; }
        }
    }
    if (!bwd) return;
    /* Reverse mode, chunk by chunk (each reads only forward values): gE_j = q_{j+1} (none past the
     * last block). Prefix scans: gT, gD of the chunk; suffix scans: the adjoints of TS that the next
     * chunk's windows produced (gTS_i = gE_j DP_j, j = i + m - 1). */
    for (int64_t cs = 0; cs < nb; cs += m) {
        const int64_t ce = (cs + m < nb ? cs + m : nb) - 1;
        A atp = A(0), adp = A(0);
        bool ltp = false, ldp = false;
        for (int64_t j = ce; j >= cs; --j) {
            const bool ge_live = j + 1 < nb;
            const A ge = ge_live ? Q[(j + 1) * R] : A(0);
            const int64_t i = j - m + 1;
            const bool two = ge_live && i > 0 && i != cs;
            const A dnext = j < ce ? D[(j + 1) * R] : A(1);
            chain(atp, ltp, dnext, ge, ge_live);
            chain(adp, ldp, dnext, two ? ge * TS[i * R] : A(0), two);
            A gd = A(0);
            if (j > cs) {
                if (ltp) gd = atp * TP[(j - 1) * R];
                if (ldp) gd = ltp ? fma(adp, DP[(j - 1) * R], gd) : adp * DP[(j - 1) * R];
            } else if (ldp) {
                gd = adp;
            }
            GT[j * R] = ltp ? atp : A(0);
            GD[j * R] = gd;
        }
        if (ce + 1 >= nb) continue; /* the last chunk's TS feed nothing */
        A ats = A(0), ads = A(0);
        bool lts = false, lds = false;
        for (int64_t i = cs; i <= ce; ++i) {
            if (i > cs) {
                /* TS_{i-1} = T_{i-1} DS_i + TS_i and DS_{i-1} = D_{i-1} DS_i */
                const bool nl = lts || lds;
                A nds = A(0);
                if (lts) nds = ats * T[(i - 1) * R];
                if (lds) nds = lts ? fma(ads, D[(i - 1) * R], nds) : ads * D[(i - 1) * R];
                ads = nds;
                lds = nl;
            }
            const int64_t j = i + m - 1;
            const bool g_live = i > cs && j + 1 < nb;
            const A gts = g_live ? Q[(j + 1) * R] * DP[j * R] : A(0);
            chain(ats, lts, A(1), gts, g_live);
            const A dsn = i < ce ? DS[(i + 1) * R] : A(1);
            if (lts) GT[i * R] = fma(ats, dsn, GT[i * R]);
            if (lds) GD[i * R] = fma(ads, dsn, GD[i * R]);
        }
    }
}

/* Kernel 3, forward: y = h + P E_{c-1} (block 0: y = h). */
template <typename T>
__global__ void __launch_bounds__(ANY_THREADS)
swr_any_forward_apply(const T* __restrict__ a, const T* __restrict__ u, T* __restrict__ y,
                      const typename Acc<T>::type* __restrict__ scr, AnyShape s) {
    typedef typename Acc<T>::type A;
    int64_t bh, blk;
    int ch;
    if (!any_index(s, bh, ch, blk)) return;
    const int64_t row = bh * HEAD + ch;
    A x[BLK], am[BLK];
    const int n = any_load<T, A>(u, a, s, row, bh, blk, x, am);
#pragma unroll
    for (int i = 1; i < BLK; ++i) x[i] = fma(am[i], x[i - 1], x[i]);
    if (blk > 0) {
        const A v = scr[AE * s.nb * s.R + (blk - 1) * s.R + row];
        A P = am[0];
        x[0] = fma(P, v, x[0]);
#pragma unroll
        for (int i = 1; i < BLK; ++i) { P *= am[i]; x[i] = fma(P, v, x[i]); }
    }
    store_block<T, A>(y + row * s.L + blk * BLK, n, x);
}

/* Kernel 3, backward: du and da (the head's 16 channels summed by shuffles, fixed order). */
template <typename T>
__global__ void __launch_bounds__(ANY_THREADS)
swr_any_backward_apply(const T* __restrict__ a, const T* __restrict__ u, const T* __restrict__ dy,
                       T* __restrict__ da, T* __restrict__ du, const typename Acc<T>::type* __restrict__ scr,
                       AnyShape s) {
    typedef typename Acc<T>::type A;
    int64_t bh, blk;
    int ch;
    const bool valid = any_index(s, bh, ch, blk);
    const int lane = threadIdx.x % WARP;
    if (bh >= s.R / HEAD) return;           /* whole warps only: the pair of blocks shares bh */
    A h[BLK], am[BLK], g[BLK], dav[BLK];
    const int64_t row = bh * HEAD + ch, arr = s.nb * s.R, at = blk * s.R + row;
    int n = 0;
    if (valid) {
        n = any_load<T, A>(u, a, s, row, bh, blk, h, am);
        load_block<T, A>(dy + row * s.L + blk * BLK, n, g, A(0));
    } else {
#pragma unroll
        for (int i = 0; i < BLK; ++i) { h[i] = A(0); am[i] = A(0); g[i] = A(0); }
    }
#pragma unroll
    for (int i = 1; i < BLK; ++i) h[i] = fma(am[i], h[i - 1], h[i]);
    const bool carry = valid && blk > 0;
    const A e = carry ? scr[AE * arr + at - s.R] : A(0);
    /* gT, gD: structurally zero for the last block (no window reaches past it) */
    const bool next = valid && blk + 1 < s.nb;
    const A gt = next ? scr[AGT * arr + at] : A(0), gd = next ? scr[AGD * arr + at] : A(0);
    /* P_{i-1} for every i (P_{-1} = 1), from the left */
    A Pm[BLK];
    Pm[0] = A(1);
#pragma unroll
    for (int i = 1; i < BLK; ++i) Pm[i] = Pm[i - 1] * am[i - 1];
    A rev = A(0), R = A(1), anext = A(0);
#pragma unroll
    for (int i = BLK - 1; i >= 0; --i) {
        const A r = fma(anext, rev, g[i]);
        const A d = next ? fma(R, gt, r) : r;
        A x = i > 0 ? d * h[i - 1] : A(0);
        if (carry) x = fma(Pm[i], next ? fma(e, r, R * gd) : e * r, x);
        g[i] = d;
        dav[i] = x;
        rev = r;
        anext = am[i];
        R *= anext;
    }
    if (valid) store_block<T, A>(du + row * s.L + blk * BLK, n, g);
    reduce_half<A, 8>(dav, lane, 8);
    reduce_half<A, 4>(dav, lane, 4);
    reduce_half<A, 2>(dav, lane, 2);
    reduce_half<A, 1>(dav, lane, 1);
    if (valid && ch < n) da[bh * s.L + blk * BLK + ch] = store_cast(dav[0], T());
}

static bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

/* Launches kern with `smem` bytes of dynamic shared memory (opting in above 48 KiB: a host-side
 * function attribute, no synchronisation). */
template <typename Kern, typename... Args>
static int launch(Kern kern, unsigned grid, dim3 block, size_t smem, cudaStream_t stream, Args... args) {
    if (smem > 48 * 1024 &&
        cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) != cudaSuccess)
        return SWR_ECUDA;
    kern<<<grid, block, smem, stream>>>(args...);
    return cudaGetLastError() == cudaSuccess ? SWR_OK : SWR_ECUDA;
}

static bool valid(int64_t B, int64_t H, int64_t L, int32_t k) {
    return B >= 1 && H >= 1 && L >= 1 && k >= 1 && H <= INT64_MAX / HEAD / B / L;
}

/* The carry's window in blocks, m = k - 1, bounded by the number of blocks (a larger window is the
 * unbounded one). m <= 1 (k <= 2, or at most 2 blocks) takes the single-pass kernels with K = m + 1. */
static int64_t carry_blocks(int64_t L, int32_t k) {
    const int64_t nb = (L + BLK - 1) / BLK, m = (int64_t) k - 1;
    return nb <= 2 ? (m < 1 ? 0 : 1) : (m < nb ? m : nb);
}

/* Any window (m >= 2): scratch from the stream's memory pool (cudaMallocAsync: stream-ordered, no
 * synchronisation), then the three kernels, then cudaFreeAsync. dy == nullptr: forward. */
template <typename T>
static int any_window(const T* a, const T* u, const T* dy, T* y, T* da, T* du, int64_t B, int64_t H, int64_t L,
                      int64_t m, cudaStream_t stream) {
    typedef typename Acc<T>::type A;
    AnyShape s{H, L, (L + BLK - 1) / BLK, B * H * HEAD, m};
    const int64_t arrs = dy ? ANY_BWD_ARRS : ANY_FWD_ARRS;
    const int64_t warps = s.R / HEAD * ((s.nb + 1) / 2), ctas = (warps * WARP + ANY_THREADS - 1) / ANY_THREADS;
    const int64_t carry_ctas = (s.R + CARRY_THREADS - 1) / CARRY_THREADS;
    if (ctas > 0x7fffffffLL || s.nb > INT64_MAX / s.R / arrs / (int64_t) sizeof(A)) return SWR_EINVAL;
    A* scr = nullptr;
    if (cudaMallocAsync((void**) &scr, (size_t) (s.nb * s.R * arrs) * sizeof(A), stream) != cudaSuccess) {
        (void) cudaGetLastError();
        return SWR_ENOMEM;
    }
    int rc = launch(swr_any_summaries<T>, (unsigned) ctas, dim3(ANY_THREADS), 0, stream, a, u, dy, scr, s);
    if (rc == SWR_OK) rc = launch(swr_any_carry<A>, (unsigned) carry_ctas, dim3(CARRY_THREADS), 0, stream, scr, s, dy != nullptr);
    if (rc == SWR_OK)
        rc = dy ? launch(swr_any_backward_apply<T>, (unsigned) ctas, dim3(ANY_THREADS), 0, stream, a, u, dy, da, du,
                         (const A*) scr, s)
                : launch(swr_any_forward_apply<T>, (unsigned) ctas, dim3(ANY_THREADS), 0, stream, a, u, y,
                         (const A*) scr, s);
    if (cudaFreeAsync(scr, stream) != cudaSuccess && rc == SWR_OK) rc = SWR_ECUDA;
    return rc;
}

/* Number of CTAs: rows * tiles * groups; the grid is one-dimensional (up to 2^31 - 1 CTAs). */
static bool grid_of(int64_t B, int64_t H, int64_t L, int64_t steps, int64_t groups, int64_t& tiles, unsigned& grid) {
    tiles = (L + steps - 1) / steps;
    const int64_t n = B * H * tiles * groups;
    if (n > 0x7fffffffLL) return false;
    grid = (unsigned) n;
    return true;
}

/* The forward's grid with the row ends apart (fwd_row_end; apart = false: every step in the tiles): the
 * tiles of grid_of over steps [0, Le), after `ends` row-end CTAs of FTHREADS of the `rows` channel rows. */
static bool row_end_grid(int64_t B, int64_t H, int64_t L, int64_t steps, int64_t groups, int64_t rows, bool apart,
                         int64_t& Le, int64_t& ends, int64_t& tiles, unsigned& grid) {
    Le = apart ? tiled_end(L) : L;
    ends = Le < L ? (rows + FTHREADS - 1) / FTHREADS : 0;
    if (!grid_of(B, H, Le, steps, groups, tiles, grid) || grid + ends > 0x7fffffffLL) return false;
    grid += (unsigned) ends;
    return true;
}

/* ---- TMA on the host: the driver's cuTensorMapEncodeTiled through the runtime's entry-point query
 * (found once; no link-time dependency on libcuda), and the device's compute capability. ---- */
typedef CUresult (*EncodeTiledFn)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                  const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                  CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
static EncodeTiledFn tma_encoder() {
    static const EncodeTiledFn fn = [] {
        void* p = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess) {
            (void) cudaGetLastError();
            p = nullptr;
        }
        return reinterpret_cast<EncodeTiledFn>(p);
    }();
    return fn;
}
/* Bulk copies and TMA need sm_90; the current device's capability is a host-side attribute query (no
 * synchronisation). */
static bool sm90_device() {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        (void) cudaGetLastError();
        return false;
    }
    return major >= 9;
}
static bool tma_device() { return sm90_device() && tma_encoder() != nullptr; }
/* The two 1-D maps (boxes of TMA_BOX and tma_tail<T>() elements) of a buffer of n elements, from its first
 * 16-byte boundary (tma_head elements in). False where TMA cannot serve it: an element-misaligned
 * pointer, a buffer shorter than a box, or coordinates past 32 bits (the staged chunk path then). */
template <typename T>
static bool tma_buf(TmaBuf& m, const void* p, int64_t n) {
    const EncodeTiledFn enc = tma_encoder();
    if (!enc || reinterpret_cast<uintptr_t>(p) % sizeof(T)) return false;
    const int head = tma_head(static_cast<const T*>(p));
    const int64_t dim = n - head;
    if (dim < TMA_BOX || n > 0x7fffffffLL - 4 * TMA_BOX) return false;
    const CUtensorMapDataType dt = sizeof(T) == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16
                                 : sizeof(T) == 4 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_FLOAT64;
    const cuuint64_t gdim[1] = {(cuuint64_t) dim}, gstride[1] = {0}; /* rank 1: no strides */
    const cuuint32_t ebox[1] = {1}, box[1] = {(cuuint32_t) TMA_BOX}, tail[1] = {(cuuint32_t) tma_tail<T>()};
    void* g = const_cast<char*>(static_cast<const char*>(p)) + head * sizeof(T);
    return enc(&m.box, dt, 1, g, gdim, gstride, box, ebox, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS &&
           enc(&m.tail, dt, 1, g, gdim, gstride, tail, ebox, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/* variant: 0 = default, 1 = per-thread stores, 2 = coalesced stores through shared memory, 3 = the
 * general (unstaged) kernel, 4 = for rows not 16-byte aligned, their raw chunks fetched by TMA on sm_90+
 * (swr_forward_tma: measured slower than the cp.async chunks, docs/CUDA.md; otherwise the default),
 * 5 = for rows not 16-byte aligned, the realignment pass before the recurrence (the earlier default;
 * otherwise the default), 6 = for 16-bit rows not 16-byte aligned on sm_90+, read in place, fetched by bulk
 * copies, y stored from its global alignment (otherwise the default). The default is 2, except that 16-bit rows not
 * 16-byte aligned take 6 on sm_90+ (H200, 2026-12-03: bf16 (8, 4095) 1.42x -> 1.26x its floor).
 * 7 = the default with every step in the tiles (no row ends apart: the default until 2026-12-04).
 * Only benchmarks pick a variant (swr_cuda_forward_variant). */
constexpr int FWD_DEFAULT_VARIANT = 2;

template <typename T>
static int forward(const void* a, const void* u, void* y, int64_t B, int64_t H, int64_t L, int32_t k,
                   cudaStream_t stream, int variant = 0) {
    const T *ap = (const T*) a, *up = (const T*) u;
    T* yp = (T*) y;
    int64_t tiles;
    unsigned grid;
    const int64_t m = carry_blocks(L, k);
    if (m >= 2) return any_window<T>(ap, up, nullptr, yp, nullptr, nullptr, B, H, L, m, stream);
    k = (int32_t) m + 1;
    const bool ends_apart = variant != 7; /* 7: the default with every step in the tiles (benchmarks) */
    if (variant == 7) variant = 0;
    const bool dflt = variant == 0;
    if (variant == 0) variant = FWD_DEFAULT_VARIANT;
    const int64_t BH = B * H;
    const bool rows_aligned = (L * (int64_t) sizeof(T)) % 16 == 0 && aligned16(a) && aligned16(u) && aligned16(y);
    if (variant != 3) {
        const dim3 blk(FTHREADS);
        TmaFwdMaps maps;
        if (!rows_aligned && variant == 4 && tma_device() && tma_buf<T>(maps.u, u, BH * HEAD * L) &&
            tma_buf<T>(maps.a, a, BH * L)) { /* any alignment, the raw chunks by TMA (benchmarks only: slower) */
            if (!grid_of(B, H, L, Fnb<T>::value * BLK, HEAD / FCH, tiles, grid)) return SWR_EINVAL;
            const size_t smem = fwd_tma_smem<T>();
            return k == 2 ? launch(swr_forward_tma<T, 2>, grid, blk, smem, stream, maps, ap, up, yp, L, tiles)
                          : launch(swr_forward_tma<T, 1>, grid, blk, smem, stream, maps, ap, up, yp, L, tiles);
        }
        if (variant == 4) variant = 2; /* where TMA cannot serve: the default */
        int64_t Le, ends; /* the staged kernels: row ends apart */
        if (!row_end_grid(B, H, L, Fnb<T>::value * BLK, HEAD / FCH, BH * HEAD, ends_apart, Le, ends, tiles, grid))
            return SWR_EINVAL;
        if (!rows_aligned && variant == 5) { /* any alignment through a realignment pass (the earlier default) */
            const size_t smem = fwd_staged_smem<T>(true, true);
            return k == 2 ? launch(swr_forward_staged<T, 2, true, true, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends)
                          : launch(swr_forward_staged<T, 1, true, true, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends);
        }
        if (!rows_aligned && (dflt || variant == 6) && sizeof(T) == 2 && sm90_device()) { /* bulk copies */
            const size_t smem = fwd_bulk_smem<T>();
            return k == 2 ? launch(swr_forward_staged<T, 2, true, true, false, sizeof(T) == 2>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends)
                          : launch(swr_forward_staged<T, 1, true, true, false, sizeof(T) == 2>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends);
        }
        if (!rows_aligned) { /* any alignment: aligned chunks, read in place */
            const size_t smem = fwd_direct_smem<T>();
            return k == 2 ? launch(swr_forward_staged<T, 2, true, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends)
                          : launch(swr_forward_staged<T, 1, true, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends);
        }
        if (variant >= 5) variant = 2;
        if (variant == 2) {
            const size_t smem = fwd_staged_smem<T>(true);
            return k == 2 ? launch(swr_forward_staged<T, 2, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends)
                          : launch(swr_forward_staged<T, 1, true>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends);
        }
        const size_t smem = fwd_staged_smem<T>(false);
        return k == 2 ? launch(swr_forward_staged<T, 2, false>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends)
                      : launch(swr_forward_staged<T, 1, false>, grid, blk, smem, stream, ap, up, yp, H, L, tiles, BH, Le, ends);
    }
    if (!grid_of(B, H, L, TILE_STEPS, 1, tiles, grid)) return SWR_EINVAL;
    const dim3 blk(WARP, HEAD);
    return k == 2 ? launch(swr_forward_kernel<T, 2>, grid, blk, 0, stream, ap, up, yp, H, L, tiles)
                  : launch(swr_forward_kernel<T, 1>, grid, blk, 0, stream, ap, up, yp, H, L, tiles);
}

/* Backward default: the staged kernel with the channel sum by shuffles (variant 4), for every type:
 * on the H200 it took 0.163 ms in bf16 and 0.232 ms in float32 at 32768 tokens x 2048 channels,
 * against 0.216 / 0.478 for the staged kernel with the sum in shared memory and 0.219 / 0.357 for
 * the general one (docs/BENCHMARKS.md). */
template <typename T> struct BwdDefault { static constexpr int value = 4; };
/* The carries exchanged between neighbouring threads (bwd_shfl_tile's XCH) by default in 16-bit types and
 * float64: on the H200 (2026-12-03, docs/BENCHMARKS.md) bf16 backward at (8, 4096) 1.63x -> 1.53x its
 * floor, at (8, 4095) 2.35x -> 2.11x; float64 1.09x -> 1.05x. Not in float32, where the exchange made it
 * spill (64 registers) and the unaligned backward went 1.53x -> 1.63x. */
template <typename T> struct BwdXch { static constexpr bool value = sizeof(T) != 4; };
/* Rows not 16-byte aligned: read where they land (variant 8, every type), as measured on the H200 at
 * (8, 4095), backward alone: bf16 0.231 ms against 0.242 through rows of their own and 0.285 realigned in
 * place; float32 0.286 against 0.329 in place, float64 0.620 against 0.713 (docs/BENCHMARKS.md). */

template <typename T>
static int backward(const void* a, const void* u, const void* dy, void* da, void* du,
                    int64_t B, int64_t H, int64_t L, int32_t k, cudaStream_t stream, int variant = 0) {
    typedef typename Acc<T>::type A;
    const T *ap = (const T*) a, *up = (const T*) u, *gp = (const T*) dy;
    T *dap = (T*) da, *dup = (T*) du;
    int64_t tiles;
    unsigned grid;
    const int64_t m = carry_blocks(L, k);
    if (m >= 2) return any_window<T>(ap, up, gp, nullptr, dap, dup, B, H, L, m, stream);
    k = (int32_t) m + 1;
    if (variant == 0) variant = BwdDefault<T>::value;
    const int64_t BH = B * H;
    const bool rows_aligned = (L * (int64_t) sizeof(T)) % 16 == 0 && aligned16(a) && aligned16(u) && aligned16(dy) &&
                              aligned16(du);
    TmaBwdMaps maps;
    if (variant == 5 && !rows_aligned && tma_device() && tma_buf<T>(maps.u, u, BH * HEAD * L) &&
        tma_buf<T>(maps.dy, dy, BH * HEAD * L) && tma_buf<T>(maps.a, a, BH * L)) { /* the raw chunks by TMA (benchmarks only) */
        if (!grid_of(B, H, L, BNB * BLK, 1, tiles, grid)) return SWR_EINVAL;
        const size_t smem = bwd4_tma_smem<T>();
        return k == 2 ? launch(swr_backward_tma<T, 2>, grid, dim3(BTHREADS), smem, stream, maps, ap, up, gp, dap, dup, L, tiles)
                      : launch(swr_backward_tma<T, 1>, grid, dim3(BTHREADS), smem, stream, maps, ap, up, gp, dap, dup, L, tiles);
    }
    if (variant == 5) variant = 4; /* where TMA cannot serve: the default */
    const auto shfl = [&](auto mode, auto xch, size_t smem) {
        constexpr int M = decltype(mode)::value;
        constexpr bool X = decltype(xch)::value;
        if (!grid_of(B, H, L, BNB * BLK, 1, tiles, grid)) return SWR_EINVAL;
        return k == 2 ? launch(swr_backward_shfl<T, 2, M, X>, grid, dim3(BTHREADS), smem, stream, ap, up, gp, dap, dup, H, L, tiles, BH)
                      : launch(swr_backward_shfl<T, 1, M, X>, grid, dim3(BTHREADS), smem, stream, ap, up, gp, dap, dup, H, L, tiles, BH);
    };
    using NoXch = std::false_type;
    constexpr bool DX = BwdXch<T>::value;
    using DefaultXch = std::integral_constant<bool, DX>;
    constexpr int SK = bwd_skew<T>();
    if (variant == 10) /* the default before the exchange (benchmarks: the "prev" columns) */
        return rows_aligned ? shfl(std::integral_constant<int, 0>(), NoXch(), bwd_shfl_smem<T, 0, false>())
                            : shfl(std::integral_constant<int, 4>(), NoXch(), bwd_shfl_smem<T, SK, false>());
    if (!rows_aligned && (variant == 4 || variant == 9) && sizeof(T) == 2 && sm90_device()) /* bulk copies */
        return shfl(std::integral_constant<int, sizeof(T) == 2 ? 5 : 4>(), DefaultXch(), bwd_shfl_smem<T, SK, DX>());
    if (variant == 9) variant = 4; /* where bulk copies do not apply: the default */
    if (!rows_aligned && (variant == 4 || variant >= 6)) { /* raw rows read where they land, or realigned */
        if (variant == 4 || variant == 8)
            return shfl(std::integral_constant<int, 4>(), DefaultXch(), bwd_shfl_smem<T, SK, DX>());
        if (variant == 6) return shfl(std::integral_constant<int, 1>(), NoXch(), bwd4_any_smem<T>());
        return shfl(std::integral_constant<int, 3>(), NoXch(), bwd4_smem<T>());
    }
    if (variant >= 6) variant = 4; /* aligned rows: the default */
    if (variant == 4 && rows_aligned)
        return shfl(std::integral_constant<int, 0>(), DefaultXch(), bwd_shfl_smem<T, 0, DX>());
    if (variant != 3 && rows_aligned) {
        if (!grid_of(B, H, L, BNB * BLK, 1, tiles, grid)) return SWR_EINVAL;
        const dim3 blk(BTHREADS);
        if (variant == 2) {
            const size_t smem = bwd_staged_smem<T>(true);
            return k == 2 ? launch(swr_backward_staged<T, 2, true>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles)
                          : launch(swr_backward_staged<T, 1, true>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles);
        }
        const size_t smem = bwd_staged_smem<T>(false);
        return k == 2 ? launch(swr_backward_staged<T, 2, false>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles)
                      : launch(swr_backward_staged<T, 1, false>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles);
    }
    if (!grid_of(B, H, L, TILE_STEPS, 1, tiles, grid)) return SWR_EINVAL;
    const size_t smem = sizeof(A) * HEAD * DA_STRIDE;
    const dim3 blk(WARP, HEAD);
    return k == 2 ? launch(swr_backward_kernel<T, 2>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles)
                  : launch(swr_backward_kernel<T, 1>, grid, blk, smem, stream, ap, up, gp, dap, dup, H, L, tiles);
}

} // namespace phalanx_swr_cuda

extern "C" int swr_cuda_forward(int32_t dtype, const void* a, const void* u, void* y,
                                int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream) {
    using namespace phalanx_swr_cuda;
    if (!valid(B, H, L, k) || block != BLK || !a || !u || !y) return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    switch (dtype) {
        case SWR_F32: return forward<float>(a, u, y, B, H, L, k, st);
        case SWR_F64: return forward<double>(a, u, y, B, H, L, k, st);
        case SWR_F16: return forward<__half>(a, u, y, B, H, L, k, st);
        case SWR_BF16: return forward<__nv_bfloat16>(a, u, y, B, H, L, k, st);
        default: return SWR_EDTYPE;
    }
}

/* Benchmarking only (swr/swr_cuda_testing.h): the forward with an explicit kernel variant. */
extern "C" int swr_cuda_forward_variant(int32_t variant, int32_t dtype, const void* a, const void* u, void* y,
                                        int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream) {
    using namespace phalanx_swr_cuda;
    if (!valid(B, H, L, k) || block != BLK || !a || !u || !y || variant < 0 || variant > 7) return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    switch (dtype) {
        case SWR_F32: return forward<float>(a, u, y, B, H, L, k, st, variant);
        case SWR_F64: return forward<double>(a, u, y, B, H, L, k, st, variant);
        case SWR_F16: return forward<__half>(a, u, y, B, H, L, k, st, variant);
        case SWR_BF16: return forward<__nv_bfloat16>(a, u, y, B, H, L, k, st, variant);
        default: return SWR_EDTYPE;
    }
}

/* Benchmarking only (swr/swr_cuda_testing.h): the backward with an explicit kernel variant. */
extern "C" int swr_cuda_backward_variant(int32_t variant, int32_t dtype, const void* a, const void* u, const void* dy,
                                         void* da, void* du, int64_t B, int64_t H, int64_t L, int32_t block,
                                         int32_t k, void* stream) {
    using namespace phalanx_swr_cuda;
    if (!valid(B, H, L, k) || block != BLK || !a || !u || !dy || !da || !du || variant < 0 || variant > 10)
        return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    switch (dtype) {
        case SWR_F32: return backward<float>(a, u, dy, da, du, B, H, L, k, st, variant);
        case SWR_F64: return backward<double>(a, u, dy, da, du, B, H, L, k, st, variant);
        case SWR_F16: return backward<__half>(a, u, dy, da, du, B, H, L, k, st, variant);
        case SWR_BF16: return backward<__nv_bfloat16>(a, u, dy, da, du, B, H, L, k, st, variant);
        default: return SWR_EDTYPE;
    }
}

extern "C" int swr_cuda_backward(int32_t dtype, const void* a, const void* u, const void* dy, void* da, void* du,
                                 int64_t B, int64_t H, int64_t L, int32_t block, int32_t k, void* stream) {
    using namespace phalanx_swr_cuda;
    if (!valid(B, H, L, k) || block != BLK || !a || !u || !dy || !da || !du) return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    switch (dtype) {
        case SWR_F32: return backward<float>(a, u, dy, da, du, B, H, L, k, st);
        case SWR_F64: return backward<double>(a, u, dy, da, du, B, H, L, k, st);
        case SWR_F16: return backward<__half>(a, u, dy, da, du, B, H, L, k, st);
        case SWR_BF16: return backward<__nv_bfloat16>(a, u, dy, da, du, B, H, L, k, st);
        default: return SWR_EDTYPE;
    }
}

/* The fused Phalanx core (swr/phalanx_core.h): in this translation unit, for the tile code above. */
#include "phalanx_core_cuda.cu"

/* ---- TEST SUPPORT ONLY (swr/swr_cuda_testing.h): thin CUDA runtime wrappers for the Java check. ---- */
#include "swr/swr_cuda_testing.h"

static int swr_rc(cudaError_t e) { return e == cudaSuccess ? SWR_OK : SWR_ECUDA; }

extern "C" int swr_cuda_test_device_count(int32_t* count) {
    int c = 0;
    const cudaError_t e = cudaGetDeviceCount(&c);
    if (e != cudaSuccess) { (void) cudaGetLastError(); c = 0; }
    if (count) *count = c;
    return swr_rc(e);
}
extern "C" int swr_cuda_test_malloc(int64_t bytes, void** ptr) {
    if (!ptr || bytes < 0) return SWR_EINVAL;
    *ptr = nullptr;
    return swr_rc(cudaMalloc(ptr, (size_t) bytes));
}
extern "C" int swr_cuda_test_free(void* ptr) { return swr_rc(cudaFree(ptr)); }
extern "C" int swr_cuda_test_to_device(void* dst, const void* src, int64_t bytes) {
    return swr_rc(cudaMemcpy(dst, src, (size_t) bytes, cudaMemcpyHostToDevice));
}
extern "C" int swr_cuda_test_to_host(void* dst, const void* src, int64_t bytes) {
    return swr_rc(cudaMemcpy(dst, src, (size_t) bytes, cudaMemcpyDeviceToHost));
}
extern "C" int swr_cuda_test_memset(void* ptr, int32_t byte, int64_t bytes) {
    return swr_rc(cudaMemset(ptr, byte, (size_t) bytes));
}
extern "C" int swr_cuda_test_sync(void) {
    const cudaError_t e = cudaDeviceSynchronize();
    return e != cudaSuccess ? SWR_ECUDA : swr_rc(cudaGetLastError());
}
