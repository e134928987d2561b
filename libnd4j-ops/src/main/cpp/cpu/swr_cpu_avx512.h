/*
 * SWR forward and backward for float32 with block 16 on AVX-512: one 16-step block of one channel
 * is exactly one 512-bit register, so the block-local recurrence h_i = a_i h_{i-1} + u_i becomes a
 * log-step (Hillis-Steele) scan inside the register: four shift-and-FMA steps, whose multipliers
 * depend only on the head's decays and are computed once per block for all 16 channels. The
 * backward's right-to-left recurrence is the same scan mirrored, and summing da over a head's
 * channels is a plain vector add (lanes are time steps). No transposes, no scalar loops.
 *
 * Same semantics as swr_cpu_kernels.h (docs/SWR.md section 1); rounding differs only in the order
 * of additions. Included by swr_cpu.cpp inside its AVX-512 target region.
 */
namespace phalanx_swr_avx512 {

constexpr int HEAD = SWR_HEAD;
constexpr int BLOCK = 16; /* lanes of a float32 zmm register */

/* lane i <- x[i - D] (lanes below D: zero) */
template <int D> static inline __m512 up(__m512 x) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(0), 16 - D));
}
/* lane i <- x[i - D] (lanes below D: one) */
template <int D> static inline __m512 up1(__m512 x) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(x), _mm512_castps_si512(_mm512_set1_ps(1.f)), 16 - D));
}
/* lane i <- x[i + D] (lanes from 16 - D: zero) */
template <int D> static inline __m512 down(__m512 x) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_set1_epi32(0), _mm512_castps_si512(x), D));
}
/* lane i <- x[i + D] (lanes from 16 - D: one) */
template <int D> static inline __m512 down1(__m512 x) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(1.f)), _mm512_castps_si512(x), D));
}
/* Outputs larger than the caches are written once and not read back soon: there, full and aligned
 * blocks bypass the cache (no read-for-ownership); everything else is a masked store. Callers fence
 * before returning. */
constexpr int64_t STREAM_STORE_MIN_BYTES = 16 << 20;

static inline void store(float* p, __mmask16 mask, __m512 x, bool streaming) {
    if (streaming && mask == (__mmask16) 0xFFFF && ((uintptr_t) p & 15) == 0) {
        if (((uintptr_t) p & 63) == 0) {
            _mm512_stream_ps(p, x);
        } else { /* malloc'd buffers (ND4J's) are 16-byte aligned: four 16-byte streams */
            _mm_stream_ps(p, _mm512_castps512_ps128(x));
            _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(x, 1));
            _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(x, 2));
            _mm_stream_ps(p + 12, _mm512_extractf32x4_ps(x, 3));
        }
    } else {
        _mm512_mask_storeu_ps(p, mask, x);
    }
}

static inline __m512 lane15(__m512 x) {
    return _mm512_permutexvar_ps(_mm512_set1_epi32(15), x);
}

/* The decays of one block, prepared for the scans of all its channels. */
struct BlockDecays {
    __m512 m1, m2, m4, m8; /* forward scan multipliers */
    __m512 p;              /* P_i = prod_{r <= i} a_r (inclusive, from the block start) */
    __mmask16 mask;        /* valid lanes (a partial last block has fewer) */

    inline void load(const float* ap, int64_t s, int n) {
        mask = (__mmask16) ((1u << n) - 1u);
        const __m512 a = _mm512_maskz_loadu_ps(mask, ap + s);
        m1 = _mm512_maskz_mov_ps((__mmask16) 0xFFFE, a); /* the block start resets: no a_0 term */
        m2 = _mm512_mul_ps(m1, up<1>(m1));
        m4 = _mm512_mul_ps(m2, up<2>(m2));
        m8 = _mm512_mul_ps(m4, up<4>(m4));
        p = a;
        p = _mm512_mul_ps(p, up1<1>(p));
        p = _mm512_mul_ps(p, up1<2>(p));
        p = _mm512_mul_ps(p, up1<4>(p));
        p = _mm512_mul_ps(p, up1<8>(p));
    }

    /* Local states h of one channel's block from its inputs u. */
    inline __m512 scan(__m512 u) const {
        u = _mm512_fmadd_ps(m1, up<1>(u), u);
        u = _mm512_fmadd_ps(m2, up<2>(u), u);
        u = _mm512_fmadd_ps(m4, up<4>(u), u);
        return _mm512_fmadd_ps(m8, up<8>(u), u);
    }
};

/* Terminal local state (broadcast) of each channel of the full block starting at s. */
static inline void terminals(const float* ap, const float* up_, int64_t L, int64_t s, __m512* v) {
    BlockDecays d;
    d.load(ap, s, BLOCK);
    for (int ch = 0; ch < HEAD; ++ch) v[ch] = lane15(d.scan(_mm512_loadu_ps(up_ + ch * L + s)));
}

/* The carriers a run of blocks starts from: zero at the sequence start, else the terminal local
 * states of the block before the run (one block of look-behind). */
template <int K>
static inline void start_carriers(const float* ap, const float* up_, int64_t L, int64_t c0, __m512* v) {
    for (int ch = 0; ch < HEAD; ++ch) v[ch] = _mm512_set1_ps(0.f);
    if (K == 2 && c0 > 0) terminals(ap, up_, L, (c0 - 1) * BLOCK, v);
}

template <int K>
static void forward(const float* a, const float* u, float* y, int64_t B, int64_t H, int64_t L) {
    const phalanx_swr_v4::WorkSplit split(B, H, L, BLOCK);
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= phalanx_swr_v4::MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const phalanx_swr_v4::WorkSplit::Item w = split.at(item);
        const float* ap = a + w.decay_offset;
        const float* up_ = u + w.channel_offset;
        float* yp = y + w.channel_offset;
        const int64_t c0 = w.c0, c1 = w.c1;
        __m512 v[HEAD];
        start_carriers<K>(ap, up_, L, c0, v);
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t s = c * BLOCK;
            const int n = (int) std::min<int64_t>(BLOCK, L - s);
            BlockDecays d;
            d.load(ap, s, n);
            for (int ch = 0; ch < HEAD; ++ch) {
                const __m512 h = d.scan(_mm512_maskz_loadu_ps(d.mask, up_ + ch * L + s));
                const __m512 out = K == 2 ? _mm512_fmadd_ps(d.p, v[ch], h) : h;
                store(yp + ch * L + s, d.mask, out, streaming);
                if (K == 2) v[ch] = lane15(h);
            }
        }
        _mm_sfence();
    }
}

template <int K>
static void backward(const float* a, const float* u, const float* dy, float* da, float* du,
                     int64_t B, int64_t H, int64_t L) {
    const phalanx_swr_v4::WorkSplit split(B, H, L, BLOCK);
    const int64_t nblocks = split.nblocks;
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= phalanx_swr_v4::MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const phalanx_swr_v4::WorkSplit::Item w = split.at(item);
        const float* ap = a + w.decay_offset;
        const float* up_ = u + w.channel_offset;
        const float* gp = dy + w.channel_offset;
        float* dap = da + w.decay_offset;
        float* dup = du + w.channel_offset;
        const int64_t c0 = w.c0, c1 = w.c1;
        __m512 v[HEAD];
        start_carriers<K>(ap, up_, L, c0, v);
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t s = c * BLOCK;
            const int n = (int) std::min<int64_t>(BLOCK, L - s);
            BlockDecays d;
            d.load(ap, s, n);
            const __m512 pprev = up1<1>(d.p); /* P_{t-1}, 1 at the block start */
            /* Right-to-left scan multipliers: rev_t = dy_t + a_{t+1} rev_{t+1} inside the block. */
            const __m512 r1 = down<1>(_mm512_maskz_loadu_ps(d.mask, ap + s)); /* a_{t+1}; 0 past the block */
            const __m512 r2 = _mm512_mul_ps(r1, down<1>(r1));
            const __m512 r4 = _mm512_mul_ps(r2, down<2>(r2));
            const __m512 r8 = _mm512_mul_ps(r4, down<4>(r4));
            /* R_t = prod_{r = t+1}^{end} a_r: suffix product, 1 at the block end. */
            __m512 R = _mm512_mask_mov_ps(r1, (__mmask16) ~((1u << (n - 1)) - 1u), _mm512_set1_ps(1.f));
            R = _mm512_mul_ps(R, down1<1>(R));
            R = _mm512_mul_ps(R, down1<2>(R));
            R = _mm512_mul_ps(R, down1<4>(R));
            R = _mm512_mul_ps(R, down1<8>(R));
            /* The next block's prefix products, for q = sum_{next block} P * dy. */
            const bool has_next = K == 2 && c + 1 < nblocks;
            BlockDecays next;
            if (has_next) next.load(ap, s + BLOCK, (int) std::min<int64_t>(BLOCK, L - s - BLOCK));
            __m512 dacc = _mm512_set1_ps(0.f);
            for (int ch = 0; ch < HEAD; ++ch) {
                const __m512 h = d.scan(_mm512_maskz_loadu_ps(d.mask, up_ + ch * L + s));
                const __m512 hprev = up<1>(h);
                __m512 rev = _mm512_maskz_loadu_ps(d.mask, gp + ch * L + s);
                rev = _mm512_fmadd_ps(r1, down<1>(rev), rev);
                rev = _mm512_fmadd_ps(r2, down<2>(rev), rev);
                rev = _mm512_fmadd_ps(r4, down<4>(rev), rev);
                rev = _mm512_fmadd_ps(r8, down<8>(rev), rev);
                __m512 g = rev;
                if (K == 2) {
                    if (has_next) {
                        const __m512 dyn = _mm512_maskz_loadu_ps(next.mask, gp + ch * L + s + BLOCK);
                        const float q = _mm512_reduce_add_ps(_mm512_mul_ps(next.p, dyn));
                        g = _mm512_fmadd_ps(R, _mm512_set1_ps(q), rev);
                    }
                    dacc = _mm512_fmadd_ps(g, hprev, dacc);
                    dacc = _mm512_fmadd_ps(_mm512_mul_ps(rev, pprev), v[ch], dacc);
                    v[ch] = lane15(h);
                } else {
                    dacc = _mm512_fmadd_ps(rev, hprev, dacc);
                }
                store(dup + ch * L + s, d.mask, g, streaming);
            }
            store(dap + s, d.mask, dacc, streaming);
        }
        _mm_sfence();
    }
}

} // namespace phalanx_swr_avx512
