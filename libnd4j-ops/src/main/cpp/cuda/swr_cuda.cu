/*
 * SWR on NVIDIA GPUs (docs/SWR.md section 1): forward and backward, block l = 16, window k = 1, 2,
 * storage float32, float64, float16, bfloat16 (float32 accumulation for the 16-bit types).
 *
 * Design (see docs/CUDA.md):
 *   - One thread owns one block of SWR_BLOCK = 16 steps of one channel. A thread block (CTA) owns one
 *     head of one batch row over TILE_BLOCKS = 32 consecutive blocks: warp w = channel w of the head
 *     (16 warps, 512 threads), lane = block within the tile. Each thread reads its 16 contiguous
 *     elements with 16-byte vector loads where the row is aligned (scalar loads otherwise).
 *   - The decays of the tile (plus one block of halo on each side) are staged once in shared memory
 *     and shared by the 16 channel warps.
 *   - Blocks talk only to their neighbours, one value per channel: forward, the left neighbour's
 *     terminal LOCAL state (it depends only on that block's own u and a); backward, in addition, the
 *     right neighbour's q = sum P * dy. Inside a warp the value comes by shuffle; at the tile's edges
 *     lane 0 (lane 31) recomputes it from one block of look-behind (look-ahead). There is no carry
 *     between thread blocks at all, so every length and every tile boundary is exact by construction,
 *     and each output is a fixed sequence of operations: results are bitwise reproducible.
 *   - da, the sum over the head's 16 channels, is reduced in shared memory in a fixed order (no
 *     atomics).
 *   - The entry points only validate and enqueue one kernel: no allocation, no synchronisation.
 *
 * Included by the JavaCPP-generated JNI source (org.phalanx.nativeops.SwrCuda, compiled by nvcc),
 * and by the GPU harness in bench/gpu/.
 */
#include "swr/swr_cuda.h"

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

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

/* Unpack one 16-byte word of T into Acc values. */
__device__ __forceinline__ void unpack(const uint4& w, float* out, float) {
    const float* f = reinterpret_cast<const float*>(&w);
    out[0] = f[0]; out[1] = f[1]; out[2] = f[2]; out[3] = f[3];
}
__device__ __forceinline__ void unpack(const uint4& w, double* out, double) {
    const double* f = reinterpret_cast<const double*>(&w);
    out[0] = f[0]; out[1] = f[1];
}
__device__ __forceinline__ void unpack(const uint4& w, float* out, __half) {
    const __half2* h = reinterpret_cast<const __half2*>(&w);
#pragma unroll
    for (int i = 0; i < 4; ++i) { const float2 f = __half22float2(h[i]); out[2 * i] = f.x; out[2 * i + 1] = f.y; }
}
__device__ __forceinline__ void unpack(const uint4& w, float* out, __nv_bfloat16) {
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&w);
#pragma unroll
    for (int i = 0; i < 4; ++i) { const float2 f = __bfloat1622float2(h[i]); out[2 * i] = f.x; out[2 * i + 1] = f.y; }
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

/* Terminal local state of the full block whose decays are as[0..15] and inputs up[0..15]. */
template <typename T, typename A>
__device__ __forceinline__ A block_terminal(const T* __restrict__ up, const A* as) {
    A x[BLK];
    load_block<T, A>(up, BLK, x, A(0));
    A h = x[0];
#pragma unroll
    for (int i = 1; i < BLK; ++i) h = fma(as[i], h, x[i]);
    return h;
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
        /* v: the left neighbour's terminal local state (0 in the first block of the sequence). */
        A v = __shfl_up_sync(0xffffffffu, x[BLK - 1], 1);
        if (lane == 0) v = s > 0 ? block_terminal<T, A>(u + row + s - BLK, as_) : A(0);
        /* y = h + P v, P the prefix product of the block's decays. */
        A P = am[0];
        x[0] = fma(P, v, x[0]);
#pragma unroll
        for (int i = 1; i < BLK; ++i) { P *= am[i]; x[i] = fma(P, v, x[i]); }
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
        P = am[0];
        dp[0] = fma(P, v, h[0]);
#pragma unroll
        for (int i = 1; i < BLK - 1; ++i) { P *= am[i]; dp[i] = fma(P, v, h[i]); }
    }

    /* Right-to-left sweep: rev, R, du (into g) and this channel's da (into dp).
     * da_t = du_t h_{t-1} + rev_t P_{t-1} v = rev_t y_{t-1} + R_t q h_{t-1} (no cancellation),
     * with y_{-1} = v and h_{-1} = 0. */
    A rev = A(0), R = A(1), anext = A(0);
#pragma unroll
    for (int i = BLK - 1; i >= 0; --i) {
        const A r = fma(anext, rev, g[i]);
        A d, dai;
        if (K == 2) {
            d = fma(R, q, r);
            dai = i > 0 ? fma(r, dp[i - 1], (R * q) * h[i - 1]) : r * v;
        } else {
            d = r;
            dai = i > 0 ? r * h[i - 1] : A(0);
        }
        dp[i] = dai;
        g[i] = d;
        rev = r;
        anext = am[i];
        R *= anext;
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

static bool valid(int64_t B, int64_t H, int64_t L, int32_t k) {
    return B >= 1 && H >= 1 && L >= 1 && (k == 1 || k == 2) && H <= INT64_MAX / HEAD / B / L;
}

/* Number of CTAs: (B * H) rows of tiles; the grid is one-dimensional (up to 2^31 - 1 CTAs). */
static bool grid_of(int64_t B, int64_t H, int64_t L, int64_t& tiles, unsigned& grid) {
    tiles = (L + TILE_STEPS - 1) / TILE_STEPS;
    const int64_t n = B * H * tiles;
    if (n > 0x7fffffffLL) return false;
    grid = (unsigned) n;
    return true;
}

template <typename T>
static int forward(const void* a, const void* u, void* y, int64_t B, int64_t H, int64_t L, int32_t k,
                   cudaStream_t stream) {
    int64_t tiles;
    unsigned grid;
    if (!grid_of(B, H, L, tiles, grid)) return SWR_EINVAL;
    const dim3 block(WARP, HEAD);
    if (k == 2)
        swr_forward_kernel<T, 2><<<grid, block, 0, stream>>>((const T*) a, (const T*) u, (T*) y, H, L, tiles);
    else
        swr_forward_kernel<T, 1><<<grid, block, 0, stream>>>((const T*) a, (const T*) u, (T*) y, H, L, tiles);
    return cudaGetLastError() == cudaSuccess ? SWR_OK : SWR_ECUDA;
}

template <typename T>
static int backward(const void* a, const void* u, const void* dy, void* da, void* du,
                    int64_t B, int64_t H, int64_t L, int32_t k, cudaStream_t stream) {
    typedef typename Acc<T>::type A;
    int64_t tiles;
    unsigned grid;
    if (!grid_of(B, H, L, tiles, grid)) return SWR_EINVAL;
    const dim3 block(WARP, HEAD);
    const size_t smem = sizeof(A) * HEAD * DA_STRIDE;
    if (k == 2) {
        auto kern = swr_backward_kernel<T, 2>;
        /* Above 48 KiB (float64) the dynamic shared memory must be allowed explicitly: a host-side
         * attribute, no synchronisation. */
        if (smem > 48 * 1024 && cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) != cudaSuccess)
            return SWR_ECUDA;
        kern<<<grid, block, smem, stream>>>((const T*) a, (const T*) u, (const T*) dy, (T*) da, (T*) du, H, L, tiles);
    } else {
        auto kern = swr_backward_kernel<T, 1>;
        if (smem > 48 * 1024 && cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) != cudaSuccess)
            return SWR_ECUDA;
        kern<<<grid, block, smem, stream>>>((const T*) a, (const T*) u, (const T*) dy, (T*) da, (T*) du, H, L, tiles);
    }
    return cudaGetLastError() == cudaSuccess ? SWR_OK : SWR_ECUDA;
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
