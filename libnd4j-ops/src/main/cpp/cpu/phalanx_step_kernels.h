/*
 * The kernel of phalanx_step.h, included once per instruction set inside namespace PHALANX_STEP_NS
 * (phalanx_step_cpu.cpp). Plain loops the compiler vectorises: every projection is made of dot products of
 * contiguous input rows with contiguous weight columns.
 */
#include <cmath>
#include <cstdint>

namespace PHALANX_STEP_NS {

/*
 * out [B, n] = X [B, rows] W [rows, n] (+ bias), W column-major. Tiles of 4 rows by 2 columns: each weight
 * element loaded is used 4 times and each input element twice, with 8 vector accumulators.
 */
template <typename T>
static void project(const T* X, const T* W, const T* bias, T* out, int64_t B, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static) if (B >= 4 && B * rows * n >= (int64_t) 1 << 21)
    for (int64_t j = 0; j < (B >= 4 ? n : 0); j += 2) {
        const bool two = j + 1 < n;
        const T* w0 = W + j * rows;
        const T* w1 = two ? w0 + rows : w0;
        const T c0 = bias ? bias[j] : T(0), c1 = bias && two ? bias[j + 1] : T(0);
        int64_t b = 0;
        for (; b + 4 <= B; b += 4) {
            const T* x0 = X + b * rows;
            const T* x1 = x0 + rows;
            const T* x2 = x1 + rows;
            const T* x3 = x2 + rows;
            T s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
#pragma omp simd reduction(+ : s00, s01, s10, s11, s20, s21, s30, s31)
            for (int64_t i = 0; i < rows; ++i) {
                const T a0 = w0[i], a1 = w1[i];
                s00 += x0[i] * a0;
                s01 += x0[i] * a1;
                s10 += x1[i] * a0;
                s11 += x1[i] * a1;
                s20 += x2[i] * a0;
                s21 += x2[i] * a1;
                s30 += x3[i] * a0;
                s31 += x3[i] * a1;
            }
            T* o = out + b * n + j;
            o[0] = s00 + c0;
            o[n] = s10 + c0;
            o[2 * n] = s20 + c0;
            o[3 * n] = s30 + c0;
            if (two) {
                o[1] = s01 + c1;
                o[n + 1] = s11 + c1;
                o[2 * n + 1] = s21 + c1;
                o[3 * n + 1] = s31 + c1;
            }
        }
    }
    /* Rows left over (all of them at B < 4, a decode step's usual case): 8 columns at a time, so that 8
     * independent accumulators hide the FMA latency that a pair of columns (2 chains) exposes. */
    const int64_t b0 = B - B % 4;
    for (int64_t b = b0; b < B; ++b) {
        const T* x0 = X + b * rows;
        T* o = out + b * n;
#pragma omp parallel for schedule(static) if (rows * n >= (int64_t) 1 << 21)
        for (int64_t j = 0; j < n; j += 8) {
            if (j + 8 <= n) {
                const T* w = W + j * rows;
                T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
                for (int64_t i = 0; i < rows; ++i) {
                    const T xi = x0[i];
                    s0 += xi * w[i];
                    s1 += xi * w[i + rows];
                    s2 += xi * w[i + 2 * rows];
                    s3 += xi * w[i + 3 * rows];
                    s4 += xi * w[i + 4 * rows];
                    s5 += xi * w[i + 5 * rows];
                    s6 += xi * w[i + 6 * rows];
                    s7 += xi * w[i + 7 * rows];
                }
                const T s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
                for (int q = 0; q < 8; ++q) o[j + q] = s[q] + (bias ? bias[j + q] : T(0));
            } else {
                for (int64_t jj = j; jj < n; ++jj) {
                    const T* w = W + jj * rows;
                    T s0 = 0;
#pragma omp simd reduction(+ : s0)
                    for (int64_t i = 0; i < rows; ++i) s0 += x0[i] * w[i];
                    o[jj] = s0 + (bias ? bias[jj] : T(0));
                }
            }
        }
    }
}

#ifdef PHALANX_STEP_AVX2
/* float32 under AVX2 + FMA: the hand-vectorised projections of phalanx_step_avx2.h. */
static inline void project(const float* X, const float* W, const float* bias, float* out, int64_t B, int64_t rows,
                           int64_t n) {
    phalanx_step_avx2::project(X, W, bias, out, B, rows, n);
}
#endif

template <typename T>
static inline T sigmoid(T z) {
    return T(1) / (T(1) + std::exp(-z));
}

template <typename T>
static void sigmoid_inplace(T* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) p[i] = sigmoid(p[i]);
}

template <typename T>
static void tanh_inplace(T* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
}

#ifdef PHALANX_STEP_AVX2
static inline void sigmoid_inplace(float* p, int64_t n) {
    phalanx_step_avx2::sigmoid_inplace(p, n);
}

static inline void tanh_inplace(float* p, int64_t n) {
    phalanx_step_avx2::tanh_inplace(p, n);
}
#endif

template <typename T>
static void step(const T* x, const T* Wa, const T* ba, const T* Wb, const T* bb, const T* Wc, const T* bc,
                 const T* Wv, const T* Wo, T* z, T* scratch, int64_t B, int64_t nIn, int64_t H, int64_t kvH,
                 int64_t nOut, int32_t options, int32_t block, int32_t k, T* hs, T* Ps, T* vs, T* ring_v, T* ring_A,
                 int64_t pos) {
    const int64_t C = H * SWR_HEAD, G = kvH * SWR_HEAD, rep = H / kvH;
    T* a = scratch;               // [B, H]
    T* beta = a + B * H;          // [B, G]
    T* c = beta + B * G;          // [B, G]
    T* v = c + B * G;             // [B, C]
    T* m = v + B * C;             // [B, C]
    project(x, Wa, ba, a, B, nIn, H);
    project(x, Wb, bb, beta, B, nIn, G);
    project(x, Wc, bc, c, B, nIn, G);
    project(x, Wv, (const T*) nullptr, v, B, nIn, C);
    sigmoid_inplace(a, B * H);      /* the decays */
    sigmoid_inplace(beta, B * G);   /* the input gates, once per kv channel */

    const bool ring = k >= 3 && k != SWR_UNBOUNDED;
    const int64_t slots = ring ? (int64_t) k - 2 : 0;
    const int64_t phase = pos % block, cb = pos / block;   // this step's block phase and block
    const bool carry = k >= 2 && cb > 0;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t hd = 0; hd < H; ++hd) {
            const T at = a[b * H + hd];
            T* h = hs + b * C + hd * SWR_HEAD;
            T* vc = k >= 2 ? vs + b * C + hd * SWR_HEAD : nullptr;
            T& P = Ps[b * H + hd];
            if (pos == 0) {
                for (int ch = 0; ch < SWR_HEAD; ++ch) {
                    h[ch] = T(0);
                    if (vc) vc[ch] = T(0);
                }
                P = T(1);
            }
            if (phase == 0 && cb > 0 && k >= 2) {
                /* Block cb - 1 just finished with terminal local state h and product P: the carry into cb. */
                if (k == 2) {
                    for (int ch = 0; ch < SWR_HEAD; ++ch) vc[ch] = h[ch];
                } else if (!ring) {   /* unbounded: x at the end of block cb - 1 */
                    for (int ch = 0; ch < SWR_HEAD; ++ch) vc[ch] = cb - 1 > 0 ? h[ch] + P * vc[ch] : h[ch];
                } else {
                    /* Horner over blocks j0 .. cb - 1, oldest first (the ring holds cb - 2 .. cb - k + 1). */
                    T* rv = ring_v + b * slots * C + hd * SWR_HEAD;
                    T* rA = ring_A + b * slots * H + hd;
                    const int64_t j0 = cb - (k - 1) > 0 ? cb - (k - 1) : 0;
                    T acc[SWR_HEAD];
                    if (j0 < cb - 1) {
                        const T* V0 = rv + (j0 % slots) * C;
                        for (int ch = 0; ch < SWR_HEAD; ++ch) acc[ch] = V0[ch];
                        for (int64_t j = j0 + 1; j < cb - 1; ++j) {
                            const T* Vj = rv + (j % slots) * C;
                            const T Aj = rA[(j % slots) * H];
                            for (int ch = 0; ch < SWR_HEAD; ++ch) acc[ch] = Vj[ch] + Aj * acc[ch];
                        }
                        for (int ch = 0; ch < SWR_HEAD; ++ch) vc[ch] = h[ch] + P * acc[ch];
                    } else {
                        for (int ch = 0; ch < SWR_HEAD; ++ch) vc[ch] = h[ch];
                    }
                    /* Block cb - 1 takes the slot of block cb - k + 1, just read for the last time. */
                    T* Vs = rv + ((cb - 1) % slots) * C;
                    for (int ch = 0; ch < SWR_HEAD; ++ch) Vs[ch] = h[ch];
                    rA[((cb - 1) % slots) * H] = P;
                }
            }
            const int64_t g = (hd / rep) * SWR_HEAD;   // this head's group channels in beta and c
            const T* vb = v + b * C + hd * SWR_HEAD;
            const T* bt = beta + b * G + g;
            const T* ct = c + b * G + g;
            T* mb = m + b * C + hd * SWR_HEAD;
            if (phase == 0) {
                P = at;
                for (int ch = 0; ch < SWR_HEAD; ++ch) h[ch] = bt[ch] * vb[ch];
            } else {
                P *= at;
                for (int ch = 0; ch < SWR_HEAD; ++ch) h[ch] = at * h[ch] + bt[ch] * vb[ch];
            }
            for (int ch = 0; ch < SWR_HEAD; ++ch) {
                const T y = carry ? h[ch] + P * vc[ch] : h[ch];
                mb[ch] = y * ct[ch] + vb[ch];
            }
            if (options & PHALANX_STEP_HEAD_NORM) {
                T ms = 0;
                for (int ch = 0; ch < SWR_HEAD; ++ch) ms += mb[ch] * mb[ch];
                const T r = T(1) / std::sqrt(ms / T(SWR_HEAD) + T(PHALANX_HEAD_NORM_EPS));
                for (int ch = 0; ch < SWR_HEAD; ++ch) mb[ch] *= r;
            }
        }
    }
    project(m, Wo, (const T*) nullptr, z, B, C, nOut);
    if (options & PHALANX_STEP_TANH) tanh_inplace(z, B * nOut);
}

}  // namespace PHALANX_STEP_NS
