/*
 * SWR forward and backward for float32 with block 16 (k = 1, 2, unbounded) as in-register scans: one 16-step
 * block of one channel is one 16-lane vector V16 (an AVX-512 register, or two AVX2 registers), so
 * the block-local recurrence h_i = a_i h_{i-1} + u_i becomes a log-step (Hillis-Steele) scan: four
 * shift-and-FMA steps whose multipliers depend only on the head's decays and are computed once per
 * block for all 16 channels. The backward's right-to-left recurrence is the same scan mirrored, and
 * summing da over a head's channels is a plain vector add (lanes are time steps). No transposes, no
 * scalar loops.
 *
 * Same semantics as swr_cpu_kernels.h (docs/SWR.md section 1); rounding differs only in the order
 * of additions. Included by swr_cpu.cpp once per instruction set, inside that set's target region,
 * in the namespace SWR_SCAN_NS that also holds its V16 (swr_vec16_avx512.h, swr_vec16_avx2.h), and
 * after the kernels of SWR_KERNEL_NS (for WorkSplit). No include guard on purpose.
 */
namespace SWR_SCAN_NS {

constexpr int HEAD = SWR_HEAD;
constexpr int BLOCK = 16;
/* Outputs larger than the caches are written once and not read back soon: full blocks then bypass
 * the cache (no read-for-ownership). The kernels fence before returning. */
constexpr int64_t STREAM_STORE_MIN_BYTES = 16 << 20;

using SWR_KERNEL_NS::WorkSplit;
using SWR_KERNEL_NS::MIN_PARALLEL_ELEMENTS;

/* The decays of one block, prepared for the scans of all its channels. */
struct BlockDecays {
    V16 m1, m2, m4, m8; /* forward scan multipliers */
    V16 p;              /* P_i = prod_{r <= i} a_r (inclusive, from the block start) */
    int n;              /* valid lanes (a partial last block has fewer) */

    inline void load(const float* ap, int64_t s, int n_) {
        n = n_;
        const V16 a = V16::load(ap + s, n);
        m1 = V16::zero_first(a); /* the block start resets: no a_0 term */
        m2 = V16::mul(m1, V16::up<1, 0>(m1));
        m4 = V16::mul(m2, V16::up<2, 0>(m2));
        m8 = V16::mul(m4, V16::up<4, 0>(m4));
        p = a;
        p = V16::mul(p, V16::up<1, 1>(p));
        p = V16::mul(p, V16::up<2, 1>(p));
        p = V16::mul(p, V16::up<4, 1>(p));
        p = V16::mul(p, V16::up<8, 1>(p));
    }

    /* Local states h of one channel's block from its inputs u. */
    inline V16 scan(V16 u) const {
        u = V16::fmadd(m1, V16::up<1, 0>(u), u);
        u = V16::fmadd(m2, V16::up<2, 0>(u), u);
        u = V16::fmadd(m4, V16::up<4, 0>(u), u);
        return V16::fmadd(m8, V16::up<8, 0>(u), u);
    }
};

/* The decays of one block for the right-to-left pass: rev_t = dy_t + a_{t+1} rev_{t+1} inside the block. */
struct ReverseDecays {
    V16 r1, r2, r4, r8; /* right-to-left scan multipliers (r1: a_{t+1}, 0 past the block) */
    V16 R;              /* R_t = prod_{r = t+1}^{end} a_r: suffix product, 1 at the block end */

    inline void load(const float* ap, int64_t s, int n) {
        r1 = V16::down<1, 0>(V16::load(ap + s, n));
        r2 = V16::mul(r1, V16::down<1, 0>(r1));
        r4 = V16::mul(r2, V16::down<2, 0>(r2));
        r8 = V16::mul(r4, V16::down<4, 0>(r4));
        R = V16::fill_from(r1, n - 1, 1.f);
        R = V16::mul(R, V16::down<1, 1>(R));
        R = V16::mul(R, V16::down<2, 1>(R));
        R = V16::mul(R, V16::down<4, 1>(R));
        R = V16::mul(R, V16::down<8, 1>(R));
    }

    /* rev of one channel's block from its dy. */
    inline V16 scan(V16 g) const {
        g = V16::fmadd(r1, V16::down<1, 0>(g), g);
        g = V16::fmadd(r2, V16::down<2, 0>(g), g);
        g = V16::fmadd(r4, V16::down<4, 0>(g), g);
        return V16::fmadd(r8, V16::down<8, 0>(g), g);
    }
};

/*
 * Streaming a row block after block in whole lines. ND4J's large buffers start 16 bytes past a line, so
 * each block's 16 floats straddle two lines; streamed as they come, every output row leaves a line half
 * written until its next block, dozens of rows overflow the write-combining buffers and the lines go to
 * memory in pieces. Instead a block's head joins the previous block's tail (pend: the row's previous
 * block, 16 floats) into the line they share, streamed aligned. The part lines at the ends of a run
 * take regular stores (the neighbouring run, maybe another thread's, writes the rest of them).
 * first: the run's first block; after its last, stream_row_end.
 */
static inline void stream_row(float* p, int n, V16 v, bool streaming, bool first, float* pend) {
    const int o = (int) (((uintptr_t) p >> 2) & 15);
    if (!streaming || o == 0 || ((uintptr_t) p & 3) || (first && n < 16)) {
        V16::store(p, n, v, streaming);
        return;
    }
    if (first) {
        V16::store(p, 16 - o, v, false); /* up to the line end */
    } else { /* the line shared with the previous block; the sequence's partial last block regularly, to its end */
        V16::store(p - o, std::min(16, o + n), V16::splice(V16::load(pend, 16), v, o), n == 16);
        if (n < 16) {
            if (n > 16 - o) V16::store(p + 16 - o, n - 16 + o, V16::splice(v, v, o), false);
            return;
        }
    }
    V16::store(pend, 16, v, false);
}

/* The tail of a run's last block (stream_row; p, n as given there). */
static inline void stream_row_end(float* p, int n, bool streaming, const float* pend) {
    const int o = (int) (((uintptr_t) p >> 2) & 15);
    if (streaming && o != 0 && !((uintptr_t) p & 3) && n == 16)
        V16::store(p + 16 - o, o, V16::splice(V16::load(pend, 16), V16::load(pend, 16), o), false);
}

/* stream_row_end for `rows` rows (row r at p + r L, its pend at pend + 16 r) whose run ended with block c_last. */
static inline void stream_rows_end(float* p, int rows, int64_t L, int64_t c_last, bool streaming, const float* pend) {
    const int64_t s = c_last * BLOCK;
    const int n = (int) std::min<int64_t>(BLOCK, L - s);
    for (int r = 0; r < rows; ++r) stream_row_end(p + r * L + s, n, streaming, pend + 16 * r);
}

/* The carriers a run of blocks starts from: zero at the sequence start, else the terminal local
 * states (broadcast) of the block before the run (one block of look-behind). */
template <int K>
static inline void start_carriers(const float* ap, const float* up_, int64_t L, int64_t c0, V16* v) {
    for (int ch = 0; ch < HEAD; ++ch) v[ch] = V16::set1(0.f);
    if (K == 2 && c0 > 0) {
        BlockDecays d;
        d.load(ap, (c0 - 1) * BLOCK, BLOCK);
        for (int ch = 0; ch < HEAD; ++ch) v[ch] = V16::last(d.scan(V16::load(up_ + ch * L + (c0 - 1) * BLOCK, BLOCK)));
    }
}

template <int K>
static void forward(const float* a, const float* u, float* y, int64_t B, int64_t H, int64_t L) {
    const WorkSplit split(B, H, L, BLOCK);
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const WorkSplit::Item w = split.at(item);
        const float* ap = a + w.decay_offset;
        const float* up_ = u + w.channel_offset;
        float* yp = y + w.channel_offset;
        V16 v[HEAD];
        float pend[HEAD * 16]; /* stream_row's previous blocks */
        start_carriers<K>(ap, up_, L, w.c0, v);
        for (int64_t c = w.c0; c < w.c1; ++c) {
            const int64_t s = c * BLOCK;
            BlockDecays d;
            d.load(ap, s, (int) std::min<int64_t>(BLOCK, L - s));
            for (int ch = 0; ch < HEAD; ++ch) {
                const V16 h = d.scan(V16::load(up_ + ch * L + s, d.n));
                /* Block 0 has no carry: y = h there, so a[0] (in d.p, never multiplied) stays out. */
                stream_row(yp + ch * L + s, d.n, K == 2 && c > 0 ? V16::fmadd(d.p, v[ch], h) : h, streaming, c == w.c0,
                           pend + 16 * ch);
                if (K == 2) v[ch] = V16::last(h);
            }
        }
        stream_rows_end(yp, HEAD, L, w.c1 - 1, streaming, pend);
        _mm_sfence();
    }
}

/*
 * The unbounded window, one head after another (callers pick this with at least as many heads as
 * threads): y = h + P * x_{s-1} block after block, the carry being the previous block's last output.
 * Block 0 has no carry (a[0] is never multiplied).
 */
static void forward_unbounded(const float* a, const float* u, float* y, int64_t B, int64_t H, int64_t L) {
    const int64_t nblocks = (L + BLOCK - 1) / BLOCK;
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t bh = 0; bh < B * H; ++bh) {
        const float* ap = a + bh * L;
        const float* up_ = u + bh * HEAD * L;
        float* yp = y + bh * HEAD * L;
        V16 x[HEAD];
        float pend[HEAD * 16]; /* stream_row's previous blocks */
        for (int64_t c = 0; c < nblocks; ++c) {
            const int64_t s = c * BLOCK;
            BlockDecays d;
            d.load(ap, s, (int) std::min<int64_t>(BLOCK, L - s));
            for (int ch = 0; ch < HEAD; ++ch) {
                const V16 h = d.scan(V16::load(up_ + ch * L + s, d.n));
                const V16 out = c > 0 ? V16::fmadd(d.p, x[ch], h) : h;
                stream_row(yp + ch * L + s, d.n, out, streaming, c == 0, pend + 16 * ch);
                x[ch] = V16::last(out);
            }
        }
        stream_rows_end(yp, HEAD, L, nblocks - 1, streaming, pend);
        _mm_sfence();
    }
}

/*
 * Backward of the unbounded window, one head after another: the outputs x go into du first (forward
 * above), then blocks right to left: g = rev + R * (a_{next start} g_{next start}) (the in-block scan of
 * backward<K> plus the carry from the block to the right), du = g, da = sum over channels of
 * g_t x_{t-1}, x_{t-1} read from du before it is overwritten (da_0 = 0: a_0 is never multiplied).
 */
static void backward_unbounded(const float* a, const float* u, const float* dy, float* da, float* du,
                               int64_t B, int64_t H, int64_t L) {
    forward_unbounded(a, u, du, B, H, L);
    const int64_t nblocks = (L + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t bh = 0; bh < B * H; ++bh) {
        const float* ap = a + bh * L;
        const float* gp = dy + bh * HEAD * L;
        float* dap = da + bh * L;
        float* dup = du + bh * HEAD * L;
        V16 gfirst[HEAD]; /* g at the first step of the block to the right, per channel */
        for (int64_t c = nblocks - 1; c >= 0; --c) {
            const int64_t s = c * BLOCK;
            const int n = (int) std::min<int64_t>(BLOCK, L - s);
            ReverseDecays rd;
            rd.load(ap, s, n);
            const bool has_next = c + 1 < nblocks;
            const V16 anext = has_next ? V16::set1(ap[s + BLOCK]) : V16::set1(0.f);
            V16 dh = V16::set1(0.f);
            for (int ch = 0; ch < HEAD; ++ch) {
                float* row = dup + ch * L;
                /* x_{t-1} for the block's steps: one step to the left (x_{-1}: no such state, lane 0 dropped) */
                const V16 xprev = c > 0 ? V16::load(row + s - 1, n) : V16::up<1, 0>(V16::load(row, n));
                V16 g = rd.scan(V16::load(gp + ch * L + s, n));
                if (has_next) g = V16::fmadd(rd.R, V16::mul(anext, gfirst[ch]), g);
                dh = V16::fmadd(g, xprev, dh);
                V16::store(row + s, n, g, false);
                gfirst[ch] = V16::first(g);
            }
            V16::store(dap + s, n, c > 0 ? dh : V16::zero_first(dh), false);
        }
    }
}

template <int K>
static void backward(const float* a, const float* u, const float* dy, float* da, float* du,
                     int64_t B, int64_t H, int64_t L) {
    const WorkSplit split(B, H, L, BLOCK);
    const int64_t nblocks = split.nblocks;
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const WorkSplit::Item w = split.at(item);
        const float* ap = a + w.decay_offset;
        const float* up_ = u + w.channel_offset;
        const float* gp = dy + w.channel_offset;
        float* dap = da + w.decay_offset;
        float* dup = du + w.channel_offset;
        V16 v[HEAD];
        float pend[(HEAD + 1) * 16]; /* stream_row's previous blocks: du rows, then the da row */
        start_carriers<K>(ap, up_, L, w.c0, v);
        for (int64_t c = w.c0; c < w.c1; ++c) {
            const int64_t s = c * BLOCK;
            const int n = (int) std::min<int64_t>(BLOCK, L - s);
            BlockDecays d;
            d.load(ap, s, n);
            const V16 pprev = V16::up<1, 1>(d.p); /* P_{t-1}, 1 at the block start */
            ReverseDecays rd;
            rd.load(ap, s, n);
            /* The next block's prefix products, for q = sum_{next block} P * dy. */
            const bool has_next = K == 2 && c + 1 < nblocks;
            BlockDecays next;
            if (has_next) next.load(ap, s + BLOCK, (int) std::min<int64_t>(BLOCK, L - s - BLOCK));
            /* da = sum over channels of du * h_{t-1} (not at the block start: no h_{-1}) + rev * P_{t-1} * v
             * (not in block 0: no carry). Two sums, so that lane 0 of the first can be dropped whole:
             * the formula has no such term, and 0 * NaN must not reach da. */
            const bool carry = K == 2 && c > 0;
            V16 dh = V16::set1(0.f), dv = V16::set1(0.f);
            for (int ch = 0; ch < HEAD; ++ch) {
                const V16 h = d.scan(V16::load(up_ + ch * L + s, n));
                const V16 hprev = V16::up<1, 0>(h);
                const V16 rev = rd.scan(V16::load(gp + ch * L + s, n));
                V16 g = rev;
                if (K == 2) {
                    if (has_next) {
                        const float q = V16::sum(V16::mul(next.p, V16::load(gp + ch * L + s + BLOCK, next.n)));
                        g = V16::fmadd(rd.R, V16::set1(q), rev);
                    }
                    dh = V16::fmadd(g, hprev, dh);
                    if (carry) dv = V16::fmadd(V16::mul(rev, pprev), v[ch], dv);
                    v[ch] = V16::last(h);
                } else {
                    dh = V16::fmadd(rev, hprev, dh);
                }
                stream_row(dup + ch * L + s, n, g, streaming, c == w.c0, pend + 16 * ch);
            }
            stream_row(dap + s, n, carry ? V16::add(V16::zero_first(dh), dv) : V16::zero_first(dh), streaming, c == w.c0,
                       pend + 16 * HEAD);
        }
        stream_rows_end(dup, HEAD, L, w.c1 - 1, streaming, pend);
        stream_rows_end(dap, 1, L, w.c1 - 1, streaming, pend + 16 * HEAD);
        _mm_sfence();
    }
}

} // namespace SWR_SCAN_NS
