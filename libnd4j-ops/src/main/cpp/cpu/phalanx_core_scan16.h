/*
 * The fused Phalanx core (phalanx_core.h) for float32 with block 16 and k <= 2: the in-register scans
 * of swr_cpu_scan16.h with u = rep(beta) v formed as each 16-step row is loaded and m = y rep(c) + v
 * formed before it is stored, so the forward reads a, beta, v, c once and writes m (and y if asked);
 * the backward forms dy = dm rep(c) on load, recomputes h (and y) in registers, and writes da, dv,
 * dbeta, dc. Same arithmetic per element as the separate passes (mul, SWR, mul-add) up to the order
 * of additions.
 *
 * Grouped heads (kvH < H): the backward's work items are (batch, group of heads sharing beta and c,
 * run of blocks); the group's heads run one after another in an item, the first writing dbeta and dc,
 * the others adding to them, so no two threads write one element and the result does not depend on
 * the thread count.
 *
 * Included by swr_cpu.cpp right after swr_cpu_scan16.h, in the same namespace and target region;
 * no include guard on purpose.
 */
namespace SWR_SCAN_NS {

/* Where one head's rows lie: a [B, H, L]; v, m, y, dm, dv [B, C, L]; beta, c, dbeta, dc [B, G, L]. */
struct CoreRows {
    int64_t decay, channel, group;
    static inline CoreRows of(int64_t b, int64_t hd, int64_t H, int64_t kvH, int64_t L) {
        const int64_t per = H / kvH;
        return {(b * H + hd) * L, (b * H + hd) * HEAD * L, (b * kvH + hd / per) * HEAD * L};
    }
};

/* u = beta * v of one channel's rows over a block. */
static inline V16 core_input(const float* betap, const float* vp, int64_t s, int n) {
    return V16::mul(V16::load(betap + s, n), V16::load(vp + s, n));
}

/* The carriers a run of blocks starts from (start_carriers with u = beta * v). */
template <int K>
static inline void core_start_carriers(const float* ap, const float* betap, const float* vp, int64_t L, int64_t c0, V16* carry) {
    for (int ch = 0; ch < HEAD; ++ch) carry[ch] = V16::set1(0.f);
    if (K == 2 && c0 > 0) {
        BlockDecays d;
        const int64_t s = (c0 - 1) * BLOCK;
        d.load(ap, s, BLOCK);
        for (int ch = 0; ch < HEAD; ++ch) carry[ch] = V16::last(d.scan(core_input(betap + ch * L, vp + ch * L, s, BLOCK)));
    }
}

template <int K>
static void core_forward(const float* a, const float* beta, const float* v, const float* cg, float* m, float* y,
                         int64_t B, int64_t H, int64_t kvH, int64_t L) {
    const WorkSplit split(B, H, L, BLOCK);
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const WorkSplit::Item w = split.at(item);
        const int64_t bh = item / split.runs;
        const CoreRows r = CoreRows::of(bh / H, bh % H, H, kvH, L);
        const float* ap = a + r.decay;
        const float* betap = beta + r.group;
        const float* cp = cg + r.group;
        const float* vp = v + r.channel;
        float* mp = m + r.channel;
        float* yp = y ? y + r.channel : nullptr;
        V16 carry[HEAD];
        core_start_carriers<K>(ap, betap, vp, L, w.c0, carry);
        for (int64_t c = w.c0; c < w.c1; ++c) {
            const int64_t s = c * BLOCK;
            BlockDecays d;
            d.load(ap, s, (int) std::min<int64_t>(BLOCK, L - s));
            for (int ch = 0; ch < HEAD; ++ch) {
                const int64_t row = ch * L;
                const V16 vv = V16::load(vp + row + s, d.n);
                const V16 h = d.scan(V16::mul(V16::load(betap + row + s, d.n), vv));
                /* Block 0 has no carry (a[0] never multiplied), as in forward<K>. */
                const V16 out = K == 2 && c > 0 ? V16::fmadd(d.p, carry[ch], h) : h;
                if (yp) V16::store(yp + row + s, d.n, out, streaming);
                V16::store(mp + row + s, d.n, V16::fmadd(out, V16::load(cp + row + s, d.n), vv), streaming);
                if (K == 2) carry[ch] = V16::last(h);
            }
        }
        _mm_sfence();
    }
}

/*
 * Backward: per block and channel, u = beta v and h = scan(u) (the forward's local states), dy = dm c,
 * rev = the right-to-left scan of dy, g = du = rev + R q (k = 2: q from the next block's dm c), then
 *   da  = sum over channels of g h_{t-1} (+ rev P_{t-1} carry),    (as backward<K>)
 *   dv  = dm + g beta,   dbeta += g v,   dc += dm y,  y = h (+ P carry).
 */
template <int K>
static void core_backward(const float* a, const float* beta, const float* v, const float* cg, const float* dm,
                          float* da, float* dbeta, float* dv, float* dc, int64_t B, int64_t H, int64_t kvH, int64_t L) {
    const WorkSplit split(B, kvH, L, BLOCK); /* items: (batch, group, run) */
    const int64_t nblocks = split.nblocks, per = H / kvH;
    const bool streaming = (int64_t) sizeof(float) * B * H * HEAD * L >= STREAM_STORE_MIN_BYTES;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const WorkSplit::Item w = split.at(item);
        const int64_t bg = item / split.runs, b = bg / kvH, grp = bg % kvH;
        for (int64_t hr = 0; hr < per; ++hr) {
            const CoreRows r = CoreRows::of(b, grp * per + hr, H, kvH, L);
            const float* ap = a + r.decay;
            const float* betap = beta + r.group;
            const float* cp = cg + r.group;
            const float* vp = v + r.channel;
            const float* gp = dm + r.channel;
            float* dap = da + r.decay;
            float* dvp = dv + r.channel;
            float* dbp = dbeta + r.group;
            float* dcp = dc + r.group;
            V16 carry[HEAD];
            core_start_carriers<K>(ap, betap, vp, L, w.c0, carry);
            for (int64_t c = w.c0; c < w.c1; ++c) {
                const int64_t s = c * BLOCK;
                const int n = (int) std::min<int64_t>(BLOCK, L - s);
                BlockDecays d;
                d.load(ap, s, n);
                const V16 pprev = V16::up<1, 1>(d.p);
                ReverseDecays rd;
                rd.load(ap, s, n);
                const bool has_next = K == 2 && c + 1 < nblocks;
                BlockDecays next;
                if (has_next) next.load(ap, s + BLOCK, (int) std::min<int64_t>(BLOCK, L - s - BLOCK));
                const bool carried = K == 2 && c > 0;
                V16 dh = V16::set1(0.f), dcarry = V16::set1(0.f);
                for (int ch = 0; ch < HEAD; ++ch) {
                    const int64_t row = ch * L;
                    const V16 bb = V16::load(betap + row + s, n), vv = V16::load(vp + row + s, n);
                    const V16 cc = V16::load(cp + row + s, n), gm = V16::load(gp + row + s, n);
                    const V16 h = d.scan(V16::mul(bb, vv));
                    const V16 hprev = V16::up<1, 0>(h);
                    const V16 rev = rd.scan(V16::mul(gm, cc));
                    V16 g = rev;
                    V16 out = h;
                    if (K == 2) {
                        if (has_next) {
                            const int64_t s2 = s + BLOCK;
                            const V16 dy2 = V16::mul(V16::load(gp + row + s2, next.n), V16::load(cp + row + s2, next.n));
                            g = V16::fmadd(rd.R, V16::set1(V16::sum(V16::mul(next.p, dy2))), rev);
                        }
                        dh = V16::fmadd(g, hprev, dh);
                        if (carried) {
                            dcarry = V16::fmadd(V16::mul(rev, pprev), carry[ch], dcarry);
                            out = V16::fmadd(d.p, carry[ch], h);
                        }
                        carry[ch] = V16::last(h);
                    } else {
                        dh = V16::fmadd(rev, hprev, dh);
                    }
                    V16::store(dvp + row + s, n, V16::fmadd(g, bb, gm), streaming);
                    V16 gb = V16::mul(g, vv), gc = V16::mul(gm, out);
                    if (hr > 0) {
                        gb = V16::add(V16::load(dbp + row + s, n), gb);
                        gc = V16::add(V16::load(dcp + row + s, n), gc);
                    }
                    V16::store(dbp + row + s, n, gb, false);
                    V16::store(dcp + row + s, n, gc, false);
                }
                V16::store(dap + s, n, carried ? V16::add(V16::zero_first(dh), dcarry) : V16::zero_first(dh), streaming);
            }
        }
        _mm_sfence();
    }
}

} // namespace SWR_SCAN_NS
