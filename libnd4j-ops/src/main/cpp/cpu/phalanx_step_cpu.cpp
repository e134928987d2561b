/*
 * One decode step of a Phalanx layer on the CPU (phalanx_step.h). Included after swr_cpu.cpp by the
 * JavaCPP-generated JNI source (org.phalanx.nativeops.SwrCpu), whose swr_isa() and swr_guarded() it uses;
 * built for AVX2 + FMA and for plain x86-64, picked at run time.
 */
#include "swr/phalanx_step.h"

#include <cmath>   /* before the target pragmas: no std code built for the wider instruction set */
#if defined(__GLIBC__) && defined(__x86_64__)
/* glibc 2.29 gave exp() a new symbol version; bind the one every x86-64 glibc has, so that the library keeps
 * its glibc 2.27 floor (tools/glibc-compat/check-floor.sh). Same function, same results. */
__asm__(".symver exp,exp@GLIBC_2.2.5");
#endif
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#include <immintrin.h>
#define PHALANX_STEP_HAVE_V3 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "phalanx_step_avx2.h"
#define PHALANX_STEP_NS phalanx_step_v3
#define PHALANX_STEP_AVX2 1
#include "phalanx_step_kernels.h"
#undef PHALANX_STEP_AVX2
#undef PHALANX_STEP_NS
#pragma GCC pop_options
#endif
#define PHALANX_STEP_NS phalanx_step_base
#include "phalanx_step_kernels.h"
#undef PHALANX_STEP_NS

template <typename T>
static int phalanx_step(const T* x, const T* Wa, const T* ba, const T* Wb, const T* bb, const T* Wc, const T* bc,
                        const T* Wv, const T* Wo, T* z, T* scratch, int64_t B, int64_t nIn, int64_t H, int64_t kvH,
                        int64_t nOut, int32_t options, int32_t block, int32_t k, T* h, T* P, T* v, T* ring_v, T* ring_A,
                        int64_t pos) {
    const bool ring = k >= 3 && k != SWR_UNBOUNDED;
    if (!swr_valid(B, H, 1, block, k) || nIn < 1 || nOut < 1 || kvH < 1 || H % kvH != 0 || pos < 0 || !x || !Wa
        || !ba || !Wb || !bb || !Wc || !bc || !Wv || !Wo || !z || !scratch || !h || !P || (k >= 2 && !v)
        || (ring && (!ring_v || !ring_A)) || (options & ~(PHALANX_STEP_HEAD_NORM | PHALANX_STEP_TANH)) != 0)
        return SWR_EINVAL;
#ifdef PHALANX_STEP_HAVE_V3
    if (swr_isa() >= 3) {
        phalanx_step_v3::step<T>(x, Wa, ba, Wb, bb, Wc, bc, Wv, Wo, z, scratch, B, nIn, H, kvH, nOut, options,
                                 block, k, h, P, v, ring_v, ring_A, pos);
        return SWR_OK;
    }
#endif
    phalanx_step_base::step<T>(x, Wa, ba, Wb, bb, Wc, bc, Wv, Wo, z, scratch, B, nIn, H, kvH, nOut, options,
                               block, k, h, P, v, ring_v, ring_A, pos);
    return SWR_OK;
}

#define PHALANX_STEP_DEFINE(SUFFIX, T)                                                                         \
    extern "C" int phalanx_step_cpu_##SUFFIX(const T* x, const T* Wa, const T* ba, const T* Wb, const T* bb,   \
                                             const T* Wc, const T* bc, const T* Wv, const T* Wo, T* z,        \
                                             T* scratch, int64_t B, int64_t nIn, int64_t H, int64_t kvH,      \
                                             int64_t nOut, int32_t options, int32_t block, int32_t k, T* h,   \
                                             T* P, T* v, T* ring_v, T* ring_A, int64_t pos) {                \
        return swr_guarded([&] {                                                                              \
            return phalanx_step<T>(x, Wa, ba, Wb, bb, Wc, bc, Wv, Wo, z, scratch, B, nIn, H, kvH, nOut,        \
                                   options, block, k, h, P, v, ring_v, ring_A, pos);                          \
        });                                                                                                   \
    }

PHALANX_STEP_DEFINE(f32, float)
PHALANX_STEP_DEFINE(f64, double)
