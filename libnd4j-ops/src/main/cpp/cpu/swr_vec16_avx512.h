/*
 * Sixteen float32 lanes as one AVX-512 register, for swr_cpu_scan16.h. Included inside the AVX-512
 * target region of swr_cpu.cpp, in the namespace SWR_SCAN_NS.
 */
namespace SWR_SCAN_NS {

struct V16 {
    __m512 x;

    static inline V16 set1(float f) { return {_mm512_set1_ps(f)}; }
    /* Lanes [0, n) from p, zeros after. */
    static inline V16 load(const float* p, int n) {
        return {n == 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16) ((1u << n) - 1u), p)};
    }
    /* Lanes [0, n) to p. Streaming: full blocks at 16-byte aligned addresses bypass the cache. */
    static inline void store(float* p, int n, V16 v, bool streaming) {
        if (streaming && n == 16 && ((uintptr_t) p & 15) == 0) {
            if (((uintptr_t) p & 63) == 0) {
                _mm512_stream_ps(p, v.x);
            } else { /* malloc'd buffers (ND4J's) are 16-byte aligned: four 16-byte streams */
                _mm_stream_ps(p, _mm512_castps512_ps128(v.x));
                _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(v.x, 1));
                _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(v.x, 2));
                _mm_stream_ps(p + 12, _mm512_extractf32x4_ps(v.x, 3));
            }
        } else if (n == 16) {
            _mm512_storeu_ps(p, v.x);
        } else {
            _mm512_mask_storeu_ps(p, (__mmask16) ((1u << n) - 1u), v.x);
        }
    }
    /* Lanes i < o: prev's last o lanes, then v's first 16 - o (0 <= o < 16): the 16 floats starting o before v's. */
    static inline V16 splice(V16 prev, V16 v, int o) {
        const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16 - o));
        return {_mm512_permutex2var_ps(prev.x, idx, v.x)};
    }
    static inline V16 mul(V16 a, V16 b) { return {_mm512_mul_ps(a.x, b.x)}; }
    static inline V16 add(V16 a, V16 b) { return {_mm512_add_ps(a.x, b.x)}; }
    static inline V16 fmadd(V16 a, V16 b, V16 c) { return {_mm512_fmadd_ps(a.x, b.x, c.x)}; }

    /* lane i <- x[i - D], lanes below D: FILL (0 or 1) */
    template <int D, int FILL> static inline V16 up(V16 v) {
        return {_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v.x),
                                                        _mm512_castps_si512(_mm512_set1_ps((float) FILL)), 16 - D))};
    }
    /* lane i <- x[i + D], lanes from 16 - D: FILL (0 or 1) */
    template <int D, int FILL> static inline V16 down(V16 v) {
        return {_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps((float) FILL)),
                                                        _mm512_castps_si512(v.x), D))};
    }
    /* Lane 0 in every lane. */
    static inline V16 first(V16 v) { return {_mm512_permutexvar_ps(_mm512_set1_epi32(0), v.x)}; }
    /* Lane 15 in every lane. */
    static inline V16 last(V16 v) { return {_mm512_permutexvar_ps(_mm512_set1_epi32(15), v.x)}; }
    /* Lane 0 set to zero. */
    static inline V16 zero_first(V16 v) { return {_mm512_maskz_mov_ps((__mmask16) 0xFFFE, v.x)}; }
    /* Lanes from i on set to f. */
    static inline V16 fill_from(V16 v, int i, float f) {
        return {_mm512_mask_mov_ps(v.x, (__mmask16) ~((1u << i) - 1u), _mm512_set1_ps(f))};
    }
    static inline float sum(V16 v) { return _mm512_reduce_add_ps(v.x); }
};

} // namespace SWR_SCAN_NS
