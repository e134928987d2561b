/*
 * The SWR CPU kernels (templates). Included twice by swr_cpu.cpp, once compiled for x86-64-v3
 * (AVX2 + FMA) and once for plain x86-64, each time in its own namespace SWR_KERNEL_NS; no include
 * guard on purpose. See swr_cpu.cpp for the design.
 */
namespace SWR_KERNEL_NS {

constexpr int HEAD = SWR_HEAD;
/* Steps per transposed tile in the forward pass: one 64-byte cache line of float32 per channel row. */
constexpr int TILE = 16;
/* A run of blocks handed to one thread covers at least this many steps, so the one-block
 * look-behind costs a few percent at most. */
constexpr int64_t MIN_RUN_STEPS = 1024;
/* Below this many elements of u a call runs on the calling thread: waking a team costs more. */
constexpr int64_t MIN_PARALLEL_ELEMENTS = 1 << 16;


static inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Blocks per work item: enough items to keep every thread busy, each long enough to amortise its
 * look-behind. */
static inline int64_t blocks_per_run(int64_t B, int64_t H, int64_t L, int32_t block) {
    const int64_t nblocks = (L + block - 1) / block;
    const int64_t heads = B * H;
    const int64_t want_items = 4 * (int64_t) max_threads();
    int64_t runs_per_head = heads >= want_items ? 1 : (want_items + heads - 1) / heads;
    int64_t per_run = (nblocks + runs_per_head - 1) / runs_per_head;
    const int64_t min_blocks = std::max<int64_t>(1, MIN_RUN_STEPS / block);
    per_run = std::max(per_run, min_blocks);
    return std::min(per_run, nblocks);
}

/* The work items of one call: (batch, head, run of whole blocks), and where each one's data lies. */
struct WorkSplit {
    int64_t H, L, nblocks, per_run, runs, items;

    WorkSplit(int64_t B, int64_t H_, int64_t L_, int32_t block) : H(H_), L(L_) {
        nblocks = (L + block - 1) / block;
        per_run = blocks_per_run(B, H, L, block);
        runs = (nblocks + per_run - 1) / per_run;
        items = B * H * runs;
    }

    struct Item {
        int64_t c0, c1;        /* blocks [c0, c1) */
        int64_t decay_offset;  /* of the head's row in a, da: [B, H, L] */
        int64_t channel_offset; /* of the head's first channel row in u, y, dy, du: [B, 16 H, L] */
    };

    Item at(int64_t i) const {
        const int64_t run = i % runs, bh = i / runs;
        const int64_t b = bh / H, hd = bh % H;
        const int64_t c0 = run * per_run;
        return {c0, std::min(nblocks, c0 + per_run), (b * H + hd) * L, (b * H * HEAD + hd * HEAD) * L};
    }
};

/* Terminal local state of the block [s, s + block) (a full block: it precedes another one). */
template <typename T>
static inline void block_terminal(const T* ap, const T* up, int64_t L, int64_t s, int32_t block, T* out) {
    T h[HEAD];
    for (int ch = 0; ch < HEAD; ++ch) h[ch] = up[ch * L + s];
    for (int64_t t = s + 1; t < s + block; ++t) {
        const T at = ap[t];
#pragma omp simd
        for (int ch = 0; ch < HEAD; ++ch) h[ch] = at * h[ch] + up[ch * L + t];
    }
    for (int ch = 0; ch < HEAD; ++ch) out[ch] = h[ch];
}

/*
 * The recurrence of SWR.md section 1 over steps [t0, t1) of one head, continuing from state
 * (h, P, v) at block phase `phase`. ap: the head's decays; up, yp: its 16 channel rows (stride L).
 */
template <typename T, int K>
static inline void forward_run(const T* ap, const T* up, T* yp, int64_t L, int64_t t0, int64_t t1,
                               int32_t block, int64_t phase, T* h, T& P, T* v) {
    alignas(64) T tile[TILE][HEAD];
    for (int64_t s = t0; s < t1; s += TILE) {
        const int n = (int) std::min<int64_t>(TILE, t1 - s);
        for (int ch = 0; ch < HEAD; ++ch)
            for (int i = 0; i < n; ++i) tile[i][ch] = up[ch * L + s + i];
        for (int i = 0; i < n; ++i) {
            const T at = ap[s + i];
            T* row = tile[i];
            if (phase == 0) {
                if (K == 2) {
#pragma omp simd
                    for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch];
                }
                P = at;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) h[ch] = row[ch];
            } else {
                P *= at;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) h[ch] = at * h[ch] + row[ch];
            }
            if (K == 2) {
                const T p = P;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) row[ch] = h[ch] + p * v[ch];
            } else {
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) row[ch] = h[ch];
            }
            if (++phase == block) phase = 0;
        }
        for (int ch = 0; ch < HEAD; ++ch)
            for (int i = 0; i < n; ++i) yp[ch * L + s + i] = tile[i][ch];
    }
}

template <typename T, int K>
static void forward(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block) {
    const WorkSplit split(B, H, L, block);
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t item = 0; item < split.items; ++item) {
        const WorkSplit::Item w = split.at(item);
        const T* ap = a + w.decay_offset;
        const T* up = u + w.channel_offset;
        T* yp = y + w.channel_offset;
        const int64_t t0 = w.c0 * block;
        const int64_t t1 = std::min(L, w.c1 * block);
        T h[HEAD] = {}, v[HEAD] = {};
        T P = T(1);
        /* At t0 a block starts and v becomes the previous block's terminal state: seed h with it. */
        if (K == 2 && t0 > 0) block_terminal(ap, up, L, t0 - block, block, h);
        forward_run<T, K>(ap, up, yp, L, t0, t1, block, 0, h, P, v);
    }
}

template <typename T, int K>
static void forward_stream(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block,
                           T* hs, T* Ps, T* vs, int64_t pos) {
    const int64_t C = H * HEAD;
    const int64_t phase = pos % block;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t bh = 0; bh < B * H; ++bh) {
        const int64_t b = bh / H, hd = bh % H;
        T* h = hs + b * C + hd * HEAD;
        T* v = K == 2 ? vs + b * C + hd * HEAD : nullptr;
        T vdummy[HEAD];
        if (v == nullptr) v = vdummy;
        T& P = Ps[b * H + hd];
        if (pos == 0) {
            for (int ch = 0; ch < HEAD; ++ch) { h[ch] = T(0); v[ch] = T(0); }
            P = T(1);
        }
        forward_run<T, K>(a + (b * H + hd) * L, u + (b * C + hd * HEAD) * L, y + (b * C + hd * HEAD) * L,
                          L, 0, L, block, phase, h, P, v);
    }
}

/*
 * Backward (SWR.md section 1, "Backward"), one block after another within a run. Per block:
 * recompute the local states h_t and prefix products P_t, take q (the next block's sum of P * dy)
 * from one block of look-ahead, then sweep right to left for rev, R, du and da.
 */
template <typename T, int K>
static void backward(const T* a, const T* u, const T* dy, T* da, T* du,
                     int64_t B, int64_t H, int64_t L, int32_t block) {
    const WorkSplit split(B, H, L, block);
    const int64_t nblocks = split.nblocks;
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        /* Per-thread scratch, allocated once per call: local states, prefix products, gradients. */
        std::vector<T> scratch((size_t) block * (2 * HEAD + 2) + 64);
        T* hs = scratch.data();                    /* [block][HEAD] */
        T* gs = hs + (size_t) block * HEAD;        /* [block][HEAD]: dy, then du */
        T* Ps = gs + (size_t) block * HEAD;        /* [block] */
        T* Pn = Ps + block;                        /* [block]: next block's prefix products */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < split.items; ++item) {
            const WorkSplit::Item w = split.at(item);
            const T* ap = a + w.decay_offset;
            const T* up = u + w.channel_offset;
            const T* gp = dy + w.channel_offset;
            T* dap = da + w.decay_offset;
            T* dup = du + w.channel_offset;
            const int64_t c0 = w.c0, c1 = w.c1;
            T v[HEAD] = {};
            if (K == 2 && c0 > 0) block_terminal(ap, up, L, (c0 - 1) * block, block, v);
            for (int64_t c = c0; c < c1; ++c) {
                const int64_t s = c * block;
                const int n = (int) std::min<int64_t>(block, L - s);
                /* Local forward states. */
                for (int ch = 0; ch < HEAD; ++ch)
                    for (int i = 0; i < n; ++i) hs[i * HEAD + ch] = up[ch * L + s + i];
                Ps[0] = ap[s];
                for (int i = 1; i < n; ++i) {
                    const T at = ap[s + i];
                    Ps[i] = Ps[i - 1] * at;
                    T* hi = hs + i * HEAD;
                    const T* hp = hi - HEAD;
#pragma omp simd
                    for (int ch = 0; ch < HEAD; ++ch) hi[ch] = at * hp[ch] + hi[ch];
                }
                /* q: what the next block's outputs ask of this block's terminal state. */
                T q[HEAD] = {};
                if (K == 2 && c + 1 < nblocks) {
                    const int64_t s2 = s + block;
                    const int n2 = (int) std::min<int64_t>(block, L - s2);
                    Pn[0] = ap[s2];
                    for (int i = 1; i < n2; ++i) Pn[i] = Pn[i - 1] * ap[s2 + i];
                    for (int ch = 0; ch < HEAD; ++ch) {
                        const T* g = gp + ch * L + s2;
                        T acc = T(0);
#pragma omp simd reduction(+ : acc)
                        for (int i = 0; i < n2; ++i) acc += Pn[i] * g[i];
                        q[ch] = acc;
                    }
                }
                /* Right-to-left sweep. */
                for (int ch = 0; ch < HEAD; ++ch)
                    for (int i = 0; i < n; ++i) gs[i * HEAD + ch] = gp[ch * L + s + i];
                T rev[HEAD] = {};
                T R = T(1), anext = T(0);
                for (int i = n - 1; i >= 0; --i) {
                    T* gi = gs + i * HEAD;
                    const T* hprev = i > 0 ? hs + (i - 1) * HEAD : nullptr;
                    const T Pprev = i > 0 ? Ps[i - 1] : T(1);
                    T acc = T(0);
                    if (K == 2) {
#pragma omp simd reduction(+ : acc)
                        for (int ch = 0; ch < HEAD; ++ch) {
                            const T r = gi[ch] + anext * rev[ch];
                            const T d = r + R * q[ch];
                            const T hp = hprev ? hprev[ch] : T(0);
                            acc += d * hp + r * Pprev * v[ch];
                            rev[ch] = r;
                            gi[ch] = d;
                        }
                    } else {
#pragma omp simd reduction(+ : acc)
                        for (int ch = 0; ch < HEAD; ++ch) {
                            const T r = gi[ch] + anext * rev[ch];
                            const T hp = hprev ? hprev[ch] : T(0);
                            acc += r * hp;
                            rev[ch] = r;
                            gi[ch] = r;
                        }
                    }
                    dap[s + i] = acc;
                    anext = ap[s + i];
                    R *= anext;
                }
                for (int ch = 0; ch < HEAD; ++ch)
                    for (int i = 0; i < n; ++i) dup[ch * L + s + i] = gs[i * HEAD + ch];
                if (K == 2)
                    for (int ch = 0; ch < HEAD; ++ch) v[ch] = hs[(n - 1) * HEAD + ch];
            }
        }
    }
}

/*
 * Any window k >= 3 (docs/SWR.md section 1 with k blocks): y_t = h_t + P_t * carry_c, where the carry
 * of block c sums the terminal local states v_j of the k - 1 blocks before it, each attenuated by the
 * total decays A_i of the blocks in between:
 *     carry_c = sum_{m=1}^{k-1} (prod_{i=c-m+1}^{c-1} A_i) v_{c-m}.
 * The backward adds to the k = 2 formulas (q -> qv, v -> carry) the gradient of the block products:
 *     dA_c = sum_{c2 in (c, c+k-1)} Q_c2 (prod_{i=c+1}^{c2-1} A_i) sum_{j=c2-k+1}^{c-1} (prod_{i=j+1}^{c-1} A_i) v_j,
 *     da_t += dA_c * P_{t-1} * R_t (the block product without a_t, no division).
 * Summaries (v_j, A_j, Q_j = sum_{t in j} P_t dy_t) of the blocks around c live in a ring of 2k - 1.
 * Plain per-channel loops: k >= 3 is a generality path, not a tuned one.
 */
template <typename T>
struct BlockSummaries {
    int K, slots;
    std::vector<T> store; /* per slot: v[HEAD], Q[HEAD], A */
    BlockSummaries(int K_) : K(K_), slots(2 * K_ - 1), store((size_t) (2 * K_ - 1) * (2 * HEAD + 1)) {}
    T* v(int64_t j) { return &store[(size_t) (j % slots) * (2 * HEAD + 1)]; }
    T* Q(int64_t j) { return v(j) + HEAD; }
    T& A(int64_t j) { return v(j)[2 * HEAD]; }

    /* Summarise block j: terminal local state, total decay and (if gp) sum of P * dy. */
    void compute(const T* ap, const T* up, const T* gp, int64_t L, int32_t block, int64_t j) {
        const int64_t s = j * block;
        const int n = (int) std::min<int64_t>(block, L - s);
        T h[HEAD], q[HEAD];
        T P = ap[s];
        for (int ch = 0; ch < HEAD; ++ch) {
            h[ch] = up[ch * L + s];
            q[ch] = gp ? P * gp[ch * L + s] : T(0);
        }
        for (int i = 1; i < n; ++i) {
            const T at = ap[s + i];
            P *= at;
            for (int ch = 0; ch < HEAD; ++ch) {
                h[ch] = at * h[ch] + up[ch * L + s + i];
                if (gp) q[ch] += P * gp[ch * L + s + i];
            }
        }
        T* vj = v(j);
        T* Qj = Q(j);
        for (int ch = 0; ch < HEAD; ++ch) {
            vj[ch] = h[ch];
            Qj[ch] = q[ch];
        }
        A(j) = P;
    }

    /* carry_c: what the k - 1 blocks before c hand to it. */
    void carry(int64_t c, T* out) {
        for (int ch = 0; ch < HEAD; ++ch) out[ch] = T(0);
        T W = T(1);
        for (int m = 1; m < K && c - m >= 0; ++m) {
            const T* vj = v(c - m);
            for (int ch = 0; ch < HEAD; ++ch) out[ch] += W * vj[ch];
            W *= A(c - m);
        }
    }
};

template <typename T>
static void forward_anyk(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block, int K) {
    const WorkSplit split(B, H, L, block);
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        BlockSummaries<T> sums(K);
#pragma omp for schedule(static)
        for (int64_t item = 0; item < split.items; ++item) {
            const WorkSplit::Item w = split.at(item);
            const T* ap = a + w.decay_offset;
            const T* up = u + w.channel_offset;
            T* yp = y + w.channel_offset;
            for (int64_t j = std::max<int64_t>(0, w.c0 - K + 1); j < w.c0; ++j) sums.compute(ap, up, nullptr, L, block, j);
            for (int64_t c = w.c0; c < w.c1; ++c) {
                T carry[HEAD], h[HEAD];
                sums.carry(c, carry);
                const int64_t s = c * block;
                const int n = (int) std::min<int64_t>(block, L - s);
                T P = T(1);
                for (int ch = 0; ch < HEAD; ++ch) h[ch] = T(0);
                for (int i = 0; i < n; ++i) {
                    const T at = ap[s + i];
                    P = i == 0 ? at : P * at;
                    for (int ch = 0; ch < HEAD; ++ch) {
                        h[ch] = (i == 0 ? T(0) : at * h[ch]) + up[ch * L + s + i];
                        yp[ch * L + s + i] = h[ch] + P * carry[ch];
                    }
                }
                sums.compute(ap, up, nullptr, L, block, c); /* its v and A, for the blocks after it */
            }
        }
    }
}

template <typename T>
static void backward_anyk(const T* a, const T* u, const T* dy, T* da, T* du,
                          int64_t B, int64_t H, int64_t L, int32_t block, int K) {
    const WorkSplit split(B, H, L, block);
    const int64_t nblocks = split.nblocks;
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        BlockSummaries<T> sums(K);
        std::vector<T> scratch((size_t) block * (2 * HEAD + 1));
        T* hs = scratch.data();                  /* [block][HEAD] local states */
        T* gs = hs + (size_t) block * HEAD;      /* [block][HEAD] dy */
        T* Ps = gs + (size_t) block * HEAD;      /* [block] prefix products */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < split.items; ++item) {
            const WorkSplit::Item w = split.at(item);
            const T* ap = a + w.decay_offset;
            const T* up = u + w.channel_offset;
            const T* gp = dy + w.channel_offset;
            T* dap = da + w.decay_offset;
            T* dup = du + w.channel_offset;
            /* Summaries of blocks c - k + 1 .. c + k - 1 are in the ring when block c is processed. */
            for (int64_t j = std::max<int64_t>(0, w.c0 - K + 1); j < std::min(nblocks, w.c0 + K - 1); ++j)
                sums.compute(ap, up, gp, L, block, j);
            for (int64_t c = w.c0; c < w.c1; ++c) {
                if (c + K - 1 < nblocks) sums.compute(ap, up, gp, L, block, c + K - 1);
                T carry[HEAD], qv[HEAD], dA[HEAD];
                sums.carry(c, carry);
                for (int ch = 0; ch < HEAD; ++ch) { qv[ch] = T(0); dA[ch] = T(0); }
                T Wr = T(1); /* prod_{i=c+1}^{c2-1} A_i */
                for (int64_t c2 = c + 1; c2 < c + K && c2 < nblocks; ++c2) {
                    const T* Q2 = sums.Q(c2);
                    for (int ch = 0; ch < HEAD; ++ch) qv[ch] += Wr * Q2[ch];
                    /* dA_c: the carries of c2 that pass through block c (from blocks j < c). */
                    T Wl = T(1); /* prod_{i=j+1}^{c-1} A_i */
                    for (int64_t j = c - 1; j >= 0 && j >= c2 - K + 1; --j) {
                        const T* vj = sums.v(j);
                        const T f = Wr * Wl;
                        for (int ch = 0; ch < HEAD; ++ch) dA[ch] += Q2[ch] * f * vj[ch];
                        Wl *= sums.A(j);
                    }
                    Wr *= sums.A(c2);
                }
                const int64_t s = c * block;
                const int n = (int) std::min<int64_t>(block, L - s);
                for (int ch = 0; ch < HEAD; ++ch)
                    for (int i = 0; i < n; ++i) {
                        hs[i * HEAD + ch] = up[ch * L + s + i];
                        gs[i * HEAD + ch] = gp[ch * L + s + i];
                    }
                Ps[0] = ap[s];
                for (int i = 1; i < n; ++i) {
                    const T at = ap[s + i];
                    Ps[i] = Ps[i - 1] * at;
                    for (int ch = 0; ch < HEAD; ++ch) hs[i * HEAD + ch] = at * hs[(i - 1) * HEAD + ch] + hs[i * HEAD + ch];
                }
                T rev[HEAD] = {};
                T R = T(1), anext = T(0);
                for (int i = n - 1; i >= 0; --i) {
                    const T Pprev = i > 0 ? Ps[i - 1] : T(1);
                    T acc = T(0);
                    for (int ch = 0; ch < HEAD; ++ch) {
                        const T r = gs[i * HEAD + ch] + anext * rev[ch];
                        const T d = r + R * qv[ch];
                        const T hp = i > 0 ? hs[(i - 1) * HEAD + ch] : T(0);
                        acc += d * hp + r * Pprev * carry[ch] + dA[ch] * Pprev * R;
                        rev[ch] = r;
                        dup[ch * L + s + i] = d;
                    }
                    dap[s + i] = acc;
                    anext = ap[s + i];
                    R *= anext;
                }
            }
        }
    }
}

} // namespace SWR_KERNEL_NS
