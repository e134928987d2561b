/*
 * SWR on the CPU (docs/SWR.md section 1): the O(L) recurrence per channel, exact for any length and
 * block phase. Three kinds of kernels, one semantics:
 *  - swr_cpu_scan16.h: float32, block 16, k <= 2 (the layer's setting), and the unbounded window
 *    where every thread has a head. A 16-step block of one channel is one 16-lane vector (AVX-512,
 *    or two AVX2 registers) and the recurrence a log-step scan inside it.
 *  - swr_cpu_kernels.h: everything else (float64, any block, streaming). The 16 channels of a head
 *    share one decay, so they are the SIMD lanes: a tile of steps x 16 channels is transposed into a
 *    small stack buffer, run through the recurrence, and transposed back; windows k >= 3 carry the
 *    k - 1 previous blocks' terminal states; a window reaching t = 0 (k >= blocks, SWR_UNBOUNDED)
 *    is the plain recurrence x_t = a_t x_{t-1} + u_t, its runs chained across threads.
 *  - entry points (below): bound block and k by the semantics (swr.h), take scratch before any
 *    parallel region, and turn every C++ exception into an error code.
 *  - each built for AVX-512, AVX2 + FMA and plain x86-64, picked once at run time.
 *
 * Parallelism: work items are (batch, head, run of whole blocks). Blocks only talk to their
 * neighbours through one value per channel (a terminal local state; k - 1 of them for k >= 3), so a
 * run that does not start at t = 0 recomputes those from look-behind blocks instead of waiting for
 * the run before it. The arithmetic per output is the same either way, so results do not depend on
 * the thread count or on the split.
 *
 * The fused Phalanx core (phalanx_core.h) reuses all of this: phalanx_core_scan16.h (in-register,
 * beside swr_cpu_scan16.h) and phalanx_core_cpu.h (entry points, staged path), included below.
 *
 * Included by the JavaCPP-generated JNI source (org.phalanx.nativeops.SwrCpu), which compiles only
 * itself and what it includes.
 */
#include "swr/swr_cpu.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

/* How a run carries the window across block starts (docs/SWR.md, "Streaming state"): k = 1, k = 2,
 * 3 <= k < SWR_UNBOUNDED (a ring of the last k - 2 blocks), unbounded. */
enum SwrRunMode { RUN_LOCAL = 1, RUN_PAIR = 2, RUN_RING = 3, RUN_UNBOUNDED = 4 };

/* The kernels three times: for AVX-512, for AVX2 + FMA, and for any x86-64; picked once at run
 * time. The first two also get the in-register scans for float32 with block 16 (swr_cpu_scan16.h)
 * over their own 16-lane vector. (The std headers come first so that none of their code is compiled
 * for the wider instruction sets.) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#define SWR_HAVE_V3 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
#define SWR_KERNEL_NS phalanx_swr_v4
#include "swr_cpu_kernels.h"
#define SWR_SCAN_NS phalanx_swr_scan512
/* GCC 12's _mm512_alignr_epi32 starts from an "undefined" register: a false -Wmaybe-uninitialized. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "swr_vec16_avx512.h"
#include "swr_cpu_scan16.h"
#include "phalanx_core_scan16.h"
#pragma GCC diagnostic pop
#undef SWR_SCAN_NS
#undef SWR_KERNEL_NS
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define SWR_KERNEL_NS phalanx_swr_v3
#include "swr_cpu_kernels.h"
#define SWR_SCAN_NS phalanx_swr_scan256
#include "swr_vec16_avx2.h"
#include "swr_cpu_scan16.h"
#include "phalanx_core_scan16.h"
#undef SWR_SCAN_NS
#undef SWR_KERNEL_NS
#pragma GCC pop_options
#endif
#define SWR_KERNEL_NS phalanx_swr_base
#include "swr_cpu_kernels.h"
#undef SWR_KERNEL_NS

/* 4: AVX-512, 3: AVX2 + FMA, 0: baseline. PHALANX_SWR_ISA=0/3/4 caps it (for comparisons). */
static int swr_isa() {
#ifdef SWR_HAVE_V3
    static const int isa = [] {
        int best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
                       ? 4 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 3 : 0;
        const char* cap = getenv("PHALANX_SWR_ISA");
        if (cap && *cap) best = std::min(best, atoi(cap));
        return best;
    }();
    return isa;
#else
    return 0;
#endif
}

#ifdef SWR_HAVE_V3
#define SWR_DISPATCH(...) (swr_isa() >= 4 ? phalanx_swr_v4::__VA_ARGS__ : swr_isa() >= 3 ? phalanx_swr_v3::__VA_ARGS__ : phalanx_swr_base::__VA_ARGS__)
#else
#define SWR_DISPATCH(...) (phalanx_swr_base::__VA_ARGS__)
#endif

/* float32 with block 16 and k <= 2 on AVX-512 or AVX2: the in-register scans of swr_cpu_scan16.h; also
 * the unbounded window where every thread gets a head of its own. */
static bool swr_fast_forward(const float* a, const float* u, float* y, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k) {
#ifdef SWR_HAVE_V3
    if (swr_isa() < 3 || block != 16) return false;
    if (k > 2) {
        if (k < (L + 15) / 16 || B * H < phalanx_swr_base::max_threads()) return false;
        if (swr_isa() >= 4) phalanx_swr_scan512::forward_unbounded(a, u, y, B, H, L);
        else phalanx_swr_scan256::forward_unbounded(a, u, y, B, H, L);
        return true;
    }
    if (swr_isa() >= 4) {
        if (k == 2) phalanx_swr_scan512::forward<2>(a, u, y, B, H, L);
        else phalanx_swr_scan512::forward<1>(a, u, y, B, H, L);
    } else {
        if (k == 2) phalanx_swr_scan256::forward<2>(a, u, y, B, H, L);
        else phalanx_swr_scan256::forward<1>(a, u, y, B, H, L);
    }
    return true;
#else
    return false;
#endif
}
static bool swr_fast_forward(const double*, const double*, double*, int64_t, int64_t, int64_t, int32_t, int32_t) { return false; }

static bool swr_fast_backward(const float* a, const float* u, const float* dy, float* da, float* du, int64_t B, int64_t H,
                              int64_t L, int32_t block, int32_t k) {
#ifdef SWR_HAVE_V3
    if (swr_isa() < 3 || block != 16) return false;
    if (k > 2) {
        if (k < (L + 15) / 16 || B * H < phalanx_swr_base::max_threads()) return false;
        if (swr_isa() >= 4) phalanx_swr_scan512::backward_unbounded(a, u, dy, da, du, B, H, L);
        else phalanx_swr_scan256::backward_unbounded(a, u, dy, da, du, B, H, L);
        return true;
    }
    if (swr_isa() >= 4) {
        if (k == 2) phalanx_swr_scan512::backward<2>(a, u, dy, da, du, B, H, L);
        else phalanx_swr_scan512::backward<1>(a, u, dy, da, du, B, H, L);
    } else {
        if (k == 2) phalanx_swr_scan256::backward<2>(a, u, dy, da, du, B, H, L);
        else phalanx_swr_scan256::backward<1>(a, u, dy, da, du, B, H, L);
    }
    return true;
#else
    return false;
#endif
}
static bool swr_fast_backward(const double*, const double*, const double*, double*, double*, int64_t, int64_t, int64_t,
                              int32_t, int32_t) { return false; }

/* Shapes the kernels can index: every size >= 1 and B * C * L (elements of u) within int64. */
static bool swr_valid(int64_t B, int64_t H, int64_t L, int32_t block, int32_t k) {
    int64_t n;
    return B >= 1 && H >= 1 && L >= 1 && block >= 1 && k >= 1 && !__builtin_mul_overflow(B, H, &n)
           && !__builtin_mul_overflow(n, (int64_t) SWR_HEAD, &n) && !__builtin_mul_overflow(n, L, &n);
}

/* No C++ exception may leave an entry point (they are called from JNI). */
template <class F>
static int swr_guarded(F body) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return SWR_ENOMEM;
    } catch (...) {
        return SWR_EINTERNAL;
    }
}

/* A window that reaches t = 0 from every step: the unbounded recurrence (k <= 2 keep their own,
 * equally exact kernels, except for one block, which needs no block-sized scratch that way). */
static bool swr_is_unbounded(int64_t nblocks, int32_t k) {
    return nblocks == 1 || (k > 2 && k >= nblocks);
}

template <typename T>
static int swr_forward(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k) {
    if (!swr_valid(B, H, L, block, k) || !a || !u || !y) return SWR_EINVAL;
    if (block > L) block = (int32_t) L; /* one block either way */
    const int64_t nblocks = (L + block - 1) / block;
    if (swr_fast_forward(a, u, y, B, H, L, block, k)) return SWR_OK;
    if (swr_is_unbounded(nblocks, k)) SWR_DISPATCH(forward_unbounded<T>(a, u, y, B, H, L));
    else if (k > 2) SWR_DISPATCH(forward_anyk<T>(a, u, y, B, H, L, block, k));
    else if (k == 2) SWR_DISPATCH(forward<T, 2>(a, u, y, B, H, L, block));
    else SWR_DISPATCH(forward<T, 1>(a, u, y, B, H, L, block));
    return SWR_OK;
}

template <typename T>
static int swr_backward(const T* a, const T* u, const T* dy, T* da, T* du, int64_t B, int64_t H, int64_t L,
                        int32_t block, int32_t k) {
    if (!swr_valid(B, H, L, block, k) || !a || !u || !dy || !da || !du) return SWR_EINVAL;
    if (block > L) block = (int32_t) L;
    const int64_t nblocks = (L + block - 1) / block;
    if (swr_fast_backward(a, u, dy, da, du, B, H, L, block, k)) return SWR_OK;
    if (swr_is_unbounded(nblocks, k)) SWR_DISPATCH(backward_unbounded<T>(a, u, dy, da, du, B, H, L));
    else if (k > 2) SWR_DISPATCH(backward_anyk<T>(a, u, dy, da, du, B, H, L, block, k));
    else if (k == 2) SWR_DISPATCH(backward<T, 2>(a, u, dy, da, du, B, H, L, block));
    else SWR_DISPATCH(backward<T, 1>(a, u, dy, da, du, B, H, L, block));
    return SWR_OK;
}

/* Streaming: the block is not bounded by this piece's L (the phase runs on across calls). */
template <typename T>
static int swr_forward_stream(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                              T* h, T* P, T* v, T* ring_v, T* ring_A, int64_t pos) {
    const bool ring = k >= 3 && k != SWR_UNBOUNDED;
    if (!swr_valid(B, H, L, block, k) || pos < 0 || pos > INT64_MAX - L || !a || !u || !y || !h || !P
        || (k >= 2 && !v) || (ring && (!ring_v || !ring_A)))
        return SWR_EINVAL;
    if (k == SWR_UNBOUNDED) SWR_DISPATCH(forward_stream<T, RUN_UNBOUNDED>(a, u, y, B, H, L, block, k, h, P, v, ring_v, ring_A, pos));
    else if (ring) SWR_DISPATCH(forward_stream<T, RUN_RING>(a, u, y, B, H, L, block, k, h, P, v, ring_v, ring_A, pos));
    else if (k == 2) SWR_DISPATCH(forward_stream<T, RUN_PAIR>(a, u, y, B, H, L, block, k, h, P, v, ring_v, ring_A, pos));
    else SWR_DISPATCH(forward_stream<T, RUN_LOCAL>(a, u, y, B, H, L, block, k, h, P, v, ring_v, ring_A, pos));
    return SWR_OK;
}

#define SWR_DEFINE(SUFFIX, T)                                                                                 \
    extern "C" int swr_cpu_forward_##SUFFIX(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L,   \
                                            int32_t block, int32_t k) {                                      \
        return swr_guarded([&] { return swr_forward<T>(a, u, y, B, H, L, block, k); });                     \
    }                                                                                                        \
    extern "C" int swr_cpu_forward_stream_##SUFFIX(const T* a, const T* u, T* y, int64_t B, int64_t H,       \
                                                   int64_t L, int32_t block, int32_t k, T* h, T* P, T* v,    \
                                                   T* ring_v, T* ring_A, int64_t pos) {                      \
        return swr_guarded([&] {                                                                             \
            return swr_forward_stream<T>(a, u, y, B, H, L, block, k, h, P, v, ring_v, ring_A, pos);          \
        });                                                                                                  \
    }                                                                                                        \
    extern "C" int swr_cpu_backward_##SUFFIX(const T* a, const T* u, const T* dy, T* da, T* du, int64_t B,  \
                                             int64_t H, int64_t L, int32_t block, int32_t k) {               \
        return swr_guarded([&] { return swr_backward<T>(a, u, dy, da, du, B, H, L, block, k); });           \
    }

SWR_DEFINE(f32, float)
SWR_DEFINE(f64, double)

#include "phalanx_core_cpu.h"
