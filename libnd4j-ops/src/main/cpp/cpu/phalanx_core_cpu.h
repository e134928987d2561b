/*
 * The fused Phalanx core on the CPU (phalanx_core.h): entry points, argument rules, and the staged
 * path for what the in-register kernels (phalanx_core_scan16.h: float32, block 16, k <= 2 on AVX2 or
 * AVX-512) do not cover: float64, other blocks, windows k >= 3 and unbounded, processors without AVX2.
 * The staged path runs one batch row at a time through the SWR kernels of this file's includer
 * (mul into a row-sized temporary, SWR, mul-add), so its extra memory is a few [C, L] rows, sized and
 * capped (SWR_ENOMEM) before it is taken; it is exact, not fast.
 *
 * Included at the end of swr_cpu.cpp (one translation unit, for the JavaCPP-generated JNI source).
 */
#include "swr/phalanx_core.h"

namespace phalanx_core_cpu {

using phalanx_swr_base::HEAD;

/* Shapes the kernels can index (swr_valid) and kvH dividing H. */
static bool valid(int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    return swr_valid(B, H, L, block, k) && kvH >= 1 && kvH <= H && H % kvH == 0;
}

static bool fused_kernels(int32_t block, int32_t k, int64_t L) {
#ifdef SWR_HAVE_V3
    return swr_isa() >= 3 && (block == 16 || (block >= L && L <= 16)) && k <= 2; /* block >= L: one block */
#else
    (void) block; (void) k; (void) L;
    return false;
#endif
}

/* Row temporaries of the staged path: n rows of C * L elements, capped like the kernels' scratch. */
template <typename T>
struct Rows {
    std::vector<T*> row;
    Rows(int n, int64_t elems) : row(n, nullptr) {
        size_t bytes = 0;
        if (__builtin_mul_overflow((size_t) elems, sizeof(T), &bytes) || bytes > phalanx_swr_base::Scratch<T>::max_scratch_bytes() / n)
            throw std::bad_alloc();
        for (auto& r : row)
            if (!(r = static_cast<T*>(std::malloc(std::max<size_t>(bytes, 1))))) throw std::bad_alloc();
    }
    ~Rows() { for (auto* r : row) std::free(r); }
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;
};

/* out[j, t] = x[j, t] * rep(g)[j, t] (+ z[j, t] if z) over one batch row: x, z, out [C, L], g [G, L]. */
template <typename T>
static void rep_mul(const T* x, const T* g, const T* z, T* out, int64_t H, int64_t kvH, int64_t L) {
    const int64_t C = H * HEAD, per = H / kvH;
#pragma omp parallel for schedule(static) if (C * L >= phalanx_swr_base::MIN_PARALLEL_ELEMENTS)
    for (int64_t j = 0; j < C; ++j) {
        const T* gp = g + ((j / HEAD) / per * HEAD + j % HEAD) * L;
        const T* xp = x + j * L;
        T* op = out + j * L;
        if (z) {
            const T* zp = z + j * L;
#pragma omp simd
            for (int64_t t = 0; t < L; ++t) op[t] = xp[t] * gp[t] + zp[t];
        } else {
#pragma omp simd
            for (int64_t t = 0; t < L; ++t) op[t] = xp[t] * gp[t];
        }
    }
}

/* out[i, t] = gsum(x * w)[i, t] over one batch row: x, w [C, L], out [G, L]; heads of a group in order. */
template <typename T>
static void group_sum(const T* x, const T* w, T* out, int64_t H, int64_t kvH, int64_t L) {
    const int64_t G = kvH * HEAD, per = H / kvH;
#pragma omp parallel for schedule(static) if (H * HEAD * L >= phalanx_swr_base::MIN_PARALLEL_ELEMENTS)
    for (int64_t i = 0; i < G; ++i) {
        T* op = out + i * L;
        for (int64_t r = 0; r < per; ++r) {
            const int64_t j = ((i / HEAD) * per + r) * HEAD + i % HEAD;
            const T* xp = x + j * L;
            const T* wp = w + j * L;
            if (r == 0) {
#pragma omp simd
                for (int64_t t = 0; t < L; ++t) op[t] = xp[t] * wp[t];
            } else {
#pragma omp simd
                for (int64_t t = 0; t < L; ++t) op[t] += xp[t] * wp[t];
            }
        }
    }
}

template <typename T>
static int staged_forward(const T* a, const T* beta, const T* v, const T* c, T* m, T* y,
                          int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    const int64_t C = H * HEAD, G = kvH * HEAD;
    Rows<T> tmp(y ? 1 : 2, C * L);
    for (int64_t b = 0; b < B; ++b) {
        const T* vb = v + b * C * L;
        T* yb = y ? y + b * C * L : tmp.row[1];
        rep_mul<T>(vb, beta + b * G * L, nullptr, tmp.row[0], H, kvH, L);
        const int rc = swr_forward<T>(a + b * H * L, tmp.row[0], yb, 1, H, L, block, k);
        if (rc != SWR_OK) return rc;
        rep_mul<T>(yb, c + b * G * L, vb, m + b * C * L, H, kvH, L);
    }
    return SWR_OK;
}

template <typename T>
static int staged_backward(const T* a, const T* beta, const T* v, const T* c, const T* y, const T* dm,
                           T* da, T* dbeta, T* dv, T* dc, int64_t B, int64_t H, int64_t kvH, int64_t L,
                           int32_t block, int32_t k) {
    const int64_t C = H * HEAD, G = kvH * HEAD;
    Rows<T> tmp(y ? 3 : 4, C * L); /* u, dy, du (, y) */
    T *u = tmp.row[0], *dy = tmp.row[1], *du = tmp.row[2];
    for (int64_t b = 0; b < B; ++b) {
        const T *ab = a + b * H * L, *betab = beta + b * G * L, *cb = c + b * G * L, *vb = v + b * C * L, *dmb = dm + b * C * L;
        rep_mul<T>(vb, betab, nullptr, u, H, kvH, L);
        rep_mul<T>(dmb, cb, nullptr, dy, H, kvH, L);
        const T* yb = y ? y + b * C * L : tmp.row[3];
        int rc = y ? SWR_OK : swr_forward<T>(ab, u, tmp.row[3], 1, H, L, block, k);
        if (rc == SWR_OK) rc = swr_backward<T>(ab, u, dy, da + b * H * L, du, 1, H, L, block, k);
        if (rc != SWR_OK) return rc;
        rep_mul<T>(du, betab, dmb, dv + b * C * L, H, kvH, L);
        group_sum<T>(du, vb, dbeta + b * G * L, H, kvH, L);
        group_sum<T>(dmb, yb, dc + b * G * L, H, kvH, L);
    }
    return SWR_OK;
}

template <typename T>
static int forward(const T* a, const T* beta, const T* v, const T* c, T* m, T* y,
                   int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    if (!valid(B, H, kvH, L, block, k) || !a || !beta || !v || !c || !m) return SWR_EINVAL;
    return staged_forward<T>(a, beta, v, c, m, y, B, H, kvH, L, block, k);
}

template <typename T>
static int backward(const T* a, const T* beta, const T* v, const T* c, const T* y, const T* dm,
                    T* da, T* dbeta, T* dv, T* dc, int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    if (!valid(B, H, kvH, L, block, k) || !a || !beta || !v || !c || !dm || !da || !dbeta || !dv || !dc) return SWR_EINVAL;
    return staged_backward<T>(a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k);
}

#ifdef SWR_HAVE_V3
/* float32: the in-register kernels where they apply. */
template <>
int forward<float>(const float* a, const float* beta, const float* v, const float* c, float* m, float* y,
                   int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    if (!valid(B, H, kvH, L, block, k) || !a || !beta || !v || !c || !m) return SWR_EINVAL;
    if (!fused_kernels(block, k, L)) return staged_forward<float>(a, beta, v, c, m, y, B, H, kvH, L, block, k);
    if (swr_isa() >= 4) {
        if (k == 2) phalanx_swr_scan512::core_forward<2>(a, beta, v, c, m, y, B, H, kvH, L);
        else phalanx_swr_scan512::core_forward<1>(a, beta, v, c, m, y, B, H, kvH, L);
    } else {
        if (k == 2) phalanx_swr_scan256::core_forward<2>(a, beta, v, c, m, y, B, H, kvH, L);
        else phalanx_swr_scan256::core_forward<1>(a, beta, v, c, m, y, B, H, kvH, L);
    }
    return SWR_OK;
}

/* The in-register backward recomputes y in registers (cheaper than reading it), so it ignores y. */
template <>
int backward<float>(const float* a, const float* beta, const float* v, const float* c, const float* y, const float* dm,
                    float* da, float* dbeta, float* dv, float* dc, int64_t B, int64_t H, int64_t kvH, int64_t L,
                    int32_t block, int32_t k) {
    if (!valid(B, H, kvH, L, block, k) || !a || !beta || !v || !c || !dm || !da || !dbeta || !dv || !dc) return SWR_EINVAL;
    if (!fused_kernels(block, k, L))
        return staged_backward<float>(a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k);
    if (swr_isa() >= 4) {
        if (k == 2) phalanx_swr_scan512::core_backward<2>(a, beta, v, c, dm, da, dbeta, dv, dc, B, H, kvH, L);
        else phalanx_swr_scan512::core_backward<1>(a, beta, v, c, dm, da, dbeta, dv, dc, B, H, kvH, L);
    } else {
        if (k == 2) phalanx_swr_scan256::core_backward<2>(a, beta, v, c, dm, da, dbeta, dv, dc, B, H, kvH, L);
        else phalanx_swr_scan256::core_backward<1>(a, beta, v, c, dm, da, dbeta, dv, dc, B, H, kvH, L);
    }
    return SWR_OK;
}
#endif

} // namespace phalanx_core_cpu

#define PHALANX_CORE_DEFINE(SUFFIX, T)                                                                       \
    extern "C" int phalanx_core_cpu_forward_##SUFFIX(const T* a, const T* beta, const T* v, const T* c,     \
                                                     T* m, T* y, int64_t B, int64_t H, int64_t kvH,          \
                                                     int64_t L, int32_t block, int32_t k) {                  \
        return swr_guarded([&] { return phalanx_core_cpu::forward<T>(a, beta, v, c, m, y, B, H, kvH, L, block, k); }); \
    }                                                                                                        \
    extern "C" int phalanx_core_cpu_backward_##SUFFIX(const T* a, const T* beta, const T* v, const T* c,    \
                                                      const T* y, const T* dm, T* da, T* dbeta, T* dv,       \
                                                      T* dc, int64_t B, int64_t H, int64_t kvH, int64_t L,   \
                                                      int32_t block, int32_t k) {                            \
        return swr_guarded([&] {                                                                             \
            return phalanx_core_cpu::backward<T>(a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k); \
        });                                                                                                  \
    }

PHALANX_CORE_DEFINE(f32, float)
PHALANX_CORE_DEFINE(f64, double)
#undef PHALANX_CORE_DEFINE
