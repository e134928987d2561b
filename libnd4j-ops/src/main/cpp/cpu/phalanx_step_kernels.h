/*
 * The kernel of phalanx_step.h, included once per instruction set inside namespace PHALANX_STEP_NS
 * (phalanx_step_cpu.cpp). Plain loops the compiler vectorises: every projection is a dot product of a
 * contiguous input row with a contiguous weight column.
 */
#include <cmath>
#include <cstdint>

namespace PHALANX_STEP_NS {

template <typename T>
static inline T dot(const T* __restrict x, const T* __restrict w, int64_t n) {
    T acc = T(0);
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) acc += x[i] * w[i];
    return acc;
}

/* out [B, n] = X [B, rows] W [rows, n] (+ bias), W column-major. */
template <typename T>
static void project(const T* X, const T* W, const T* bias, T* out, int64_t B, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static) if (B * rows * n >= (int64_t) 1 << 21)
    for (int64_t j = 0; j < n; ++j) {
        const T* col = W + j * rows;
        const T b0 = bias ? bias[j] : T(0);
        for (int64_t b = 0; b < B; ++b) out[b * n + j] = dot(X + b * rows, col, rows) + b0;
    }
}

template <typename T>
static inline T sigmoid(T z) {
    return T(1) / (T(1) + std::exp(-z));
}

template <typename T>
static void step(const T* x, const T* Wa, const T* ba, const T* Wb, const T* bb, const T* Wc, const T* bc,
                 const T* Wv, const T* Wo, T* z, T* scratch, int64_t B, int64_t nIn, int64_t H, int64_t kvH,
                 int64_t nOut, int32_t block, int32_t k, T* hs, T* Ps, T* vs, T* ring_v, T* ring_A, int64_t pos) {
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

    const bool ring = k >= 3 && k != SWR_UNBOUNDED;
    const int64_t slots = ring ? (int64_t) k - 2 : 0;
    const int64_t phase = pos % block, cb = pos / block;   // this step's block phase and block
    const bool carry = k >= 2 && cb > 0;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t hd = 0; hd < H; ++hd) {
            const T at = sigmoid(a[b * H + hd]);
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
                for (int ch = 0; ch < SWR_HEAD; ++ch) h[ch] = sigmoid(bt[ch]) * vb[ch];
            } else {
                P *= at;
                for (int ch = 0; ch < SWR_HEAD; ++ch) h[ch] = at * h[ch] + sigmoid(bt[ch]) * vb[ch];
            }
            for (int ch = 0; ch < SWR_HEAD; ++ch) {
                const T y = carry ? h[ch] + P * vc[ch] : h[ch];
                mb[ch] = y * ct[ch] + vb[ch];
            }
        }
    }
    project(m, Wo, (const T*) nullptr, z, B, C, nOut);
}

}  // namespace PHALANX_STEP_NS
