/*
 * The decode step's projections for float32 with AVX2 + FMA (phalanx_step_kernels.h includes it inside
 * the AVX2 target region of phalanx_step_cpu.cpp): out [B, n] = X [B, rows] W [rows, n] (+ bias), X
 * row-major, W column-major as DL4J keeps it. Each output is a dot product of two contiguous rows. GCC's
 * vectorised reduction of the generic loop reloads the input for every product and sums its eight
 * accumulators lane by lane through the stack; here the inputs stay in registers and the accumulators are
 * summed eight at a time by one transpose-and-add tree.
 */
namespace phalanx_step_avx2 {

/* The 8 horizontal sums of a0..a7, in order, as one vector. */
static inline __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                           __m256 a7) {
    const __m256 s01 = _mm256_hadd_ps(a0, a1), s23 = _mm256_hadd_ps(a2, a3);
    const __m256 s45 = _mm256_hadd_ps(a4, a5), s67 = _mm256_hadd_ps(a6, a7);
    const __m256 t0 = _mm256_hadd_ps(s01, s23), t1 = _mm256_hadd_ps(s45, s67);  /* per 128-bit half */
    return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
}

static void project(const float* X, const float* W, const float* bias, float* out, int64_t B, int64_t rows,
                    int64_t n) {
    const int64_t rv = rows - rows % 8;   /* rows done 8 at a time; the rest one by one */
    const int64_t b4 = B - B % 4;
    /* Tiles of 4 input rows x 3 weight columns: 12 independent accumulators (enough to hide the FMA latency),
     * 3 weight and 1 input register, 7 loads per 12 FMAs. */
#pragma omp parallel for schedule(static) if (b4 > 0 && b4 * rows * n >= (int64_t) 1 << 21)
    for (int64_t j = 0; j < (b4 > 0 ? n : 0); j += 3) {
        const int64_t cols = n - j < 3 ? n - j : 3;
        const float* w0 = W + j * rows;
        const float* w1 = cols > 1 ? w0 + rows : w0;
        const float* w2 = cols > 2 ? w0 + 2 * rows : w0;
        for (int64_t b = 0; b < b4; b += 4) {
            const float* x0 = X + b * rows;
            __m256 a[12];
#pragma GCC unroll 12
            for (int q = 0; q < 12; ++q) a[q] = _mm256_setzero_ps();
            for (int64_t i = 0; i < rv; i += 8) {
                const __m256 u0 = _mm256_loadu_ps(w0 + i), u1 = _mm256_loadu_ps(w1 + i), u2 = _mm256_loadu_ps(w2 + i);
#pragma GCC unroll 4
                for (int r = 0; r < 4; ++r) {
                    const __m256 xr = _mm256_loadu_ps(x0 + r * rows + i);
                    a[3 * r] = _mm256_fmadd_ps(xr, u0, a[3 * r]);
                    a[3 * r + 1] = _mm256_fmadd_ps(xr, u1, a[3 * r + 1]);
                    a[3 * r + 2] = _mm256_fmadd_ps(xr, u2, a[3 * r + 2]);
                }
            }
            float s[16];
            _mm256_storeu_ps(s, hsum8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
            _mm256_storeu_ps(s + 8, hsum8(a[8], a[9], a[10], a[11], a[11], a[11], a[11], a[11]));
            for (int64_t i = rv; i < rows; ++i)
                for (int r = 0; r < 4; ++r) {
                    const float xi = x0[r * rows + i];
                    s[3 * r] += xi * w0[i];
                    s[3 * r + 1] += xi * w1[i];
                    s[3 * r + 2] += xi * w2[i];
                }
            for (int r = 0; r < 4; ++r) {
                float* o = out + (b + r) * n + j;
                for (int q = 0; q < cols; ++q) o[q] = s[3 * r + q] + (bias ? bias[j + q] : 0.0f);
            }
        }
    }
    /* Rows left over (all of them at B < 4, a decode step's usual case): 8 columns at a time. */
    for (int64_t b = b4; b < B; ++b) {
        const float* x0 = X + b * rows;
        float* o = out + b * n;
#pragma omp parallel for schedule(static) if (rows * n >= (int64_t) 1 << 21)
        for (int64_t j = 0; j < n; j += 8) {
            const int64_t cols = n - j < 8 ? n - j : 8;
            const float* w[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) w[q] = W + (j + (q < cols ? q : 0)) * rows;
            __m256 a[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) a[q] = _mm256_setzero_ps();
            for (int64_t i = 0; i < rv; i += 8) {
                const __m256 xi = _mm256_loadu_ps(x0 + i);
#pragma GCC unroll 8
                for (int q = 0; q < 8; ++q) a[q] = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w[q] + i), a[q]);
            }
            float s[8];
            _mm256_storeu_ps(s, hsum8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
            for (int64_t i = rv; i < rows; ++i)
                for (int q = 0; q < 8; ++q) s[q] += x0[i] * w[q][i];
            for (int q = 0; q < cols; ++q) o[j + q] = s[q] + (bias ? bias[j + q] : 0.0f);
        }
    }
}

/*
 * exp(x) for float32, 8 at a time: range reduction to [-ln2/2, ln2/2] and a degree-5 polynomial (Cephes' expf,
 * within 2 ulp), x clamped to +-88.38 (beyond, the callers' results are 0 or 1 to float precision).
 */
static inline __m256 exp8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
    const __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500E-4f), x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, one));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* z where z is NaN, else r: the vector functions below propagate NaN as the scalar ones do. */
static inline __m256 keep_nan(__m256 r, __m256 z) {
    return _mm256_blendv_ps(r, z, _mm256_cmp_ps(z, z, _CMP_UNORD_Q));
}

/* p[i] = 1 / (1 + exp(-p[i])), 8 at a time. */
static void sigmoid_inplace(float* p, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 z = _mm256_loadu_ps(p + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), z));
        _mm256_storeu_ps(p + i, keep_nan(_mm256_div_ps(one, _mm256_add_ps(one, e)), z));
    }
    for (; i < n; ++i) p[i] = 1.0f / (1.0f + std::exp(-p[i]));
}

/* p[i] = tanh(p[i]), 8 at a time: Cephes' tanhf (an odd polynomial for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1)
 * with the sign restored), within a few ulp. */
static void tanh_inplace(float* p, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 z = _mm256_loadu_ps(p + i);
        const __m256 ax = _mm256_andnot_ps(sign, z);
        const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp8(_mm256_add_ps(ax, ax)), one)));
        const __m256 x2 = _mm256_mul_ps(z, z);
        __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(-5.70498872745E-3f), x2, _mm256_set1_ps(2.06390887954E-2f));
        y = _mm256_fmadd_ps(y, x2, _mm256_set1_ps(-5.37397155531E-2f));
        y = _mm256_fmadd_ps(y, x2, _mm256_set1_ps(1.33314422036E-1f));
        y = _mm256_fmadd_ps(y, x2, _mm256_set1_ps(-3.33332819422E-1f));
        const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(y, x2), z, z);
        const __m256 r = _mm256_blendv_ps(_mm256_or_ps(big, _mm256_and_ps(sign, z)), small,
                                          _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
        _mm256_storeu_ps(p + i, keep_nan(r, z));
    }
    for (; i < n; ++i) p[i] = std::tanh(p[i]);
}

}  // namespace phalanx_step_avx2
