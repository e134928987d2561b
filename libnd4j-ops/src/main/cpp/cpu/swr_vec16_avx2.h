/*
 * Sixteen float32 lanes as two AVX2 registers (lanes 0-7, 8-15), for swr_cpu_scan16.h: the lane
 * shifts of a 16-lane register become a rotation of each half plus blends across the halves.
 * Included inside the AVX2 + FMA target region of swr_cpu.cpp, in the namespace SWR_SCAN_NS.
 */
namespace SWR_SCAN_NS {

struct V16 {
    __m256 lo, hi;

    static inline __m256i lanes_below(int n) { /* all-ones in lanes i < n of 8 */
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static inline V16 set1(float f) { return {_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
    static inline V16 load(const float* p, int n) {
        if (n == 16) return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
        return {_mm256_maskload_ps(p, lanes_below(n)), _mm256_maskload_ps(p + 8, lanes_below(n - 8))};
    }
    static inline void store(float* p, int n, V16 v, bool streaming) {
        if (streaming && n == 16 && ((uintptr_t) p & 15) == 0) {
            if (((uintptr_t) p & 31) == 0) {
                _mm256_stream_ps(p, v.lo);
                _mm256_stream_ps(p + 8, v.hi);
            } else {
                _mm_stream_ps(p, _mm256_castps256_ps128(v.lo));
                _mm_stream_ps(p + 4, _mm256_extractf128_ps(v.lo, 1));
                _mm_stream_ps(p + 8, _mm256_castps256_ps128(v.hi));
                _mm_stream_ps(p + 12, _mm256_extractf128_ps(v.hi, 1));
            }
        } else if (n == 16) {
            _mm256_storeu_ps(p, v.lo);
            _mm256_storeu_ps(p + 8, v.hi);
        } else {
            _mm256_maskstore_ps(p, lanes_below(n), v.lo);
            _mm256_maskstore_ps(p + 8, lanes_below(n - 8), v.hi);
        }
    }
    /* Lanes i < o: prev's last o lanes, then v's first 16 - o (0 <= o < 16): the 16 floats starting o before v's.
     * Each half is 8 lanes of the quarters [prev.lo, prev.hi, v.lo, v.hi] from lane k: two rotations and a blend. */
    static inline V16 splice(V16 prev, V16 v, int o) {
        const __m256 q[5] = {prev.lo, prev.hi, v.lo, v.hi, v.hi};
        const int k = 16 - o, r = k & 7;
        const __m256i rot = _mm256_and_si256(_mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(r)), _mm256_set1_epi32(7));
        const __m256 second = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(7 - r)));
        auto take8 = [&](int j) { /* lanes [8 j + r, 8 j + r + 8) */
            return _mm256_blendv_ps(_mm256_permutevar8x32_ps(q[j], rot), _mm256_permutevar8x32_ps(q[j + 1], rot), second);
        };
        return {take8(k >> 3), take8((k >> 3) + 1)};
    }
    static inline V16 mul(V16 a, V16 b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
    static inline V16 add(V16 a, V16 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
    static inline V16 fmadd(V16 a, V16 b, V16 c) {
        return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    }

    /* lane i <- x[i - D], lanes below D: FILL */
    template <int D, int FILL> static inline V16 up(V16 v) {
        const __m256 fill = _mm256_set1_ps((float) FILL);
        if (D == 8) return {fill, v.lo};
        const __m256i rot = _mm256_setr_epi32((8 - D) % 8, (9 - D) % 8, (10 - D) % 8, (11 - D) % 8,
                                              (12 - D) % 8, (13 - D) % 8, (14 - D) % 8, (15 - D) % 8);
        const __m256 rl = _mm256_permutevar8x32_ps(v.lo, rot), rh = _mm256_permutevar8x32_ps(v.hi, rot);
        constexpr int below = (1 << (D % 8)) - 1; /* lanes [0, D) */
        return {_mm256_blend_ps(rl, fill, below), _mm256_blend_ps(rh, rl, below)};
    }
    /* lane i <- x[i + D], lanes from 16 - D: FILL */
    template <int D, int FILL> static inline V16 down(V16 v) {
        const __m256 fill = _mm256_set1_ps((float) FILL);
        if (D == 8) return {v.hi, fill};
        const __m256i rot = _mm256_setr_epi32(D % 8, (1 + D) % 8, (2 + D) % 8, (3 + D) % 8,
                                              (4 + D) % 8, (5 + D) % 8, (6 + D) % 8, (7 + D) % 8);
        const __m256 rl = _mm256_permutevar8x32_ps(v.lo, rot), rh = _mm256_permutevar8x32_ps(v.hi, rot);
        constexpr int above = 0xFF & ~((1 << (8 - D % 8)) - 1); /* lanes [8 - D, 8) */
        return {_mm256_blend_ps(rl, rh, above), _mm256_blend_ps(rh, fill, above)};
    }
    static inline V16 first(V16 v) {
        const __m256 b = _mm256_permutevar8x32_ps(v.lo, _mm256_set1_epi32(0));
        return {b, b};
    }
    static inline V16 last(V16 v) {
        const __m256 b = _mm256_permutevar8x32_ps(v.hi, _mm256_set1_epi32(7));
        return {b, b};
    }
    static inline V16 zero_first(V16 v) { return {_mm256_blend_ps(v.lo, _mm256_setzero_ps(), 1), v.hi}; }
    static inline V16 fill_from(V16 v, int i, float f) {
        const __m256 ff = _mm256_set1_ps(f);
        return {_mm256_blendv_ps(ff, v.lo, _mm256_castsi256_ps(lanes_below(i))),
                _mm256_blendv_ps(ff, v.hi, _mm256_castsi256_ps(lanes_below(i - 8)))};
    }
    static inline float sum(V16 v) {
        __m256 s = _mm256_add_ps(v.lo, v.hi);
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        q = _mm_add_ss(q, _mm_movehdup_ps(q));
        return _mm_cvtss_f32(q);
    }
};

} // namespace SWR_SCAN_NS
