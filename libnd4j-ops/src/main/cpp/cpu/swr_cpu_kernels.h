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

static inline int thread_num() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/*
 * Per-thread scratch of one call, allocated before its parallel region: an exception inside an
 * OpenMP region terminates the process, so sizes are checked and memory taken here, where the entry
 * point catches std::bad_alloc (SWR_ENOMEM). Not zero-filled (malloc): only pages used are touched.
 */
template <typename T>
struct Scratch {
    T* base = nullptr;
    size_t per = 0;
    explicit Scratch(size_t per_thread) : per(per_thread) {
        size_t n = 0, bytes = 0;
        if (__builtin_mul_overflow(per_thread, (size_t) std::max(1, max_threads()), &n)
            || __builtin_mul_overflow(n, sizeof(T), &bytes) || bytes > max_scratch_bytes())
            throw std::bad_alloc();
        base = static_cast<T*>(std::malloc(std::max<size_t>(bytes, 1)));
        if (!base) throw std::bad_alloc();
    }
    ~Scratch() { std::free(base); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    /* This thread's part (inside the parallel region; a team never exceeds max_threads()). */
    T* mine() const { return base + per * (size_t) thread_num(); }

    /* Half the physical memory: larger requests fail cleanly instead of being overcommitted.
     * PHALANX_SWR_MAX_SCRATCH_BYTES lowers the cap (the native check uses it to reach SWR_ENOMEM). */
    static size_t max_scratch_bytes() {
        const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        size_t cap = pages > 0 && page > 0 ? (size_t) pages / 2 * (size_t) page : (size_t) 1 << 32;
        const char* lower = getenv("PHALANX_SWR_MAX_SCRATCH_BYTES");
        if (lower && *lower) cap = std::min(cap, (size_t) strtoull(lower, nullptr, 10));
        return cap;
    }
};

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

/* The last k - 2 finished blocks' terminal local states and products of one head (mode RUN_RING):
 * block j in slot j mod slots; v rows of a head's 16 channels (stride vstride between slots). */
template <typename T>
struct Ring {
    T* v = nullptr;
    T* A = nullptr;
    int64_t vstride = 0, Astride = 0, slots = 0;
    int32_t k = 0;
    T* V(int64_t j) const { return v + (j % slots) * vstride; }
    T& Aj(int64_t j) const { return A[(j % slots) * Astride]; }
};

/*
 * A block starts at block index c >= 1; the block c - 1 just finished with terminal local state h and
 * product P. Sets the carry v into block c (docs/SWR.md, "Streaming state").
 */
template <typename T, int MODE>
static inline void next_carry(int64_t c, const T* h, T P, T* v, const Ring<T>* ring) {
    if (MODE == RUN_PAIR) {
        for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch];
    } else if (MODE == RUN_UNBOUNDED) {
        if (c - 1 > 0) { /* block c - 1 had a carry itself */
#pragma omp simd
            for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch] + P * v[ch];
        } else {
            for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch];
        }
    } else if (MODE == RUN_RING) {
        /* Horner over blocks j0 .. c - 1, oldest first; A_{j0} (the window's start block) unused. */
        const int64_t j0 = std::max<int64_t>(0, c - (ring->k - 1));
        T acc[HEAD];
        if (j0 < c - 1) {
            const T* V0 = ring->V(j0);
            for (int ch = 0; ch < HEAD; ++ch) acc[ch] = V0[ch];
            for (int64_t j = j0 + 1; j < c - 1; ++j) {
                const T* Vj = ring->V(j);
                const T Aj = ring->Aj(j);
                for (int ch = 0; ch < HEAD; ++ch) acc[ch] = Vj[ch] + Aj * acc[ch];
            }
            for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch] + P * acc[ch];
        } else {
            for (int ch = 0; ch < HEAD; ++ch) v[ch] = h[ch];
        }
        /* Block c - 1 takes the slot of block c - k + 1, just read for the last time. */
        T* Vs = ring->V(c - 1);
        for (int ch = 0; ch < HEAD; ++ch) Vs[ch] = h[ch];
        ring->Aj(c - 1) = P;
    }
}

/*
 * The recurrence of SWR.md over steps [t0, t1) of one head, continuing from state (h, P, v) after
 * pos0 steps (block phase pos0 mod block). ap: the head's decays; up, yp: its 16 channel rows
 * (stride L). Block 0 has no carry: there y = h, so a[0] (never multiplied) never reaches an output.
 */
template <typename T, int MODE>
static inline void forward_run(const T* ap, const T* up, T* yp, int64_t L, int64_t t0, int64_t t1,
                               int32_t block, int64_t pos0, T* h, T& P, T* v, const Ring<T>* ring) {
    alignas(64) T tile[TILE][HEAD];
    int64_t phase = pos0 % block, c = pos0 / block;
    bool carry = MODE != RUN_LOCAL && c > 0;
    for (int64_t s = t0; s < t1; s += TILE) {
        const int n = (int) std::min<int64_t>(TILE, t1 - s);
        for (int ch = 0; ch < HEAD; ++ch)
            for (int i = 0; i < n; ++i) tile[i][ch] = up[ch * L + s + i];
        for (int i = 0; i < n; ++i) {
            const T at = ap[s + i];
            T* row = tile[i];
            if (phase == 0) {
                if (MODE != RUN_LOCAL && c > 0) {
                    next_carry<T, MODE>(c, h, P, v, ring);
                    carry = true;
                }
                P = at;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) h[ch] = row[ch];
            } else {
                P *= at;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) h[ch] = at * h[ch] + row[ch];
            }
            if (carry) {
                const T p = P;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) row[ch] = h[ch] + p * v[ch];
            } else {
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) row[ch] = h[ch];
            }
            if (++phase == block) {
                phase = 0;
                ++c;
            }
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
        forward_run<T, K == 2 ? RUN_PAIR : RUN_LOCAL>(ap, up, yp, L, t0, t1, block, t0, h, P, v, nullptr);
    }
}

/* The unbounded recurrence over steps [t0, t1) of one head, from x = x_{t0-1} (none at t0 = 0: x_0 = u_0,
 * a_0 is never multiplied); leaves x_{t1-1} in x. */
template <typename T>
static inline void unbounded_run(const T* ap, const T* up, T* yp, int64_t L, int64_t t0, int64_t t1, T* x) {
    alignas(64) T tile[TILE][HEAD];
    for (int64_t s = t0; s < t1; s += TILE) {
        const int n = (int) std::min<int64_t>(TILE, t1 - s);
        for (int ch = 0; ch < HEAD; ++ch)
            for (int i = 0; i < n; ++i) tile[i][ch] = up[ch * L + s + i];
        for (int i = s == 0 ? 1 : 0; i < n; ++i) {
            const T at = ap[s + i];
            const T* prev = i > 0 ? tile[i - 1] : x;
            T* row = tile[i];
#pragma omp simd
            for (int ch = 0; ch < HEAD; ++ch) row[ch] = at * prev[ch] + row[ch];
        }
        for (int ch = 0; ch < HEAD; ++ch) {
            x[ch] = tile[n - 1][ch];
            for (int i = 0; i < n; ++i) yp[ch * L + s + i] = tile[i][ch];
        }
    }
}

/*
 * The unbounded window: x_t = a_t x_{t-1} + u_t, x_0 = u_0. With at least as many heads as threads, one
 * head after another. With fewer (a long single sequence), each head is cut into runs: every run first
 * summarises itself (x_{end} = V + A x_{start-1}, with V its local terminal state and A its product of
 * a), a short sequential pass chains the summaries into each run's incoming x, then all runs compute
 * their outputs from it. That reads the inputs twice, but uses every thread.
 */
template <typename T>
static void forward_unbounded(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L) {
    const int64_t heads = B * H;
    const int threads = max_threads();
    int64_t runs = heads >= threads ? 1 : (threads + heads - 1) / heads;
    runs = std::max<int64_t>(1, std::min(runs, L / (4 * MIN_RUN_STEPS)));
    if (runs == 1 || heads * HEAD * L < MIN_PARALLEL_ELEMENTS) {
#pragma omp parallel for schedule(static) if (heads * HEAD * L >= MIN_PARALLEL_ELEMENTS)
        for (int64_t bh = 0; bh < heads; ++bh) {
            T x[HEAD] = {};
            unbounded_run(a + bh * L, u + bh * HEAD * L, y + bh * HEAD * L, L, 0, L, x);
        }
        return;
    }
    const int64_t per = (L + runs - 1) / runs;
    std::vector<T> sums((size_t) (heads * runs) * (HEAD + 1)); /* per run: V[HEAD], A; then x into the run */
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * runs; ++item) {
            const int64_t bh = item / runs, r = item % runs, t0 = r * per, t1 = std::min(L, t0 + per);
            if (r == runs - 1 || t0 >= t1) continue; /* the last run's summary is not needed */
            const T* ap = a + bh * L;
            const T* up = u + bh * HEAD * L;
            T* V = &sums[(size_t) item * (HEAD + 1)];
            T A = ap[t0];
            for (int ch = 0; ch < HEAD; ++ch) V[ch] = up[ch * L + t0];
            for (int64_t t = t0 + 1; t < t1; ++t) {
                const T at = ap[t];
                A *= at;
#pragma omp simd
                for (int ch = 0; ch < HEAD; ++ch) V[ch] = at * V[ch] + up[ch * L + t];
            }
            V[HEAD] = A;
        }
#pragma omp for schedule(static)
        for (int64_t bh = 0; bh < heads; ++bh) { /* summaries -> x into each run, in place, left to right */
            T x[HEAD] = {}; /* x into run 0 is 0 (also what a single run gets) */
            for (int64_t r = 0; r + 1 < runs; ++r) {
                T* S = &sums[(size_t) (bh * runs + r) * (HEAD + 1)];
                const T A = S[HEAD];
                for (int ch = 0; ch < HEAD; ++ch) {
                    const T xe = r == 0 ? S[ch] : S[ch] + A * x[ch]; /* run 0 has no x before it */
                    S[ch] = r == 0 ? T(0) : x[ch];                   /* x into run r (unused for r = 0) */
                    x[ch] = xe;
                }
            }
            T* last = &sums[(size_t) (bh * runs + runs - 1) * (HEAD + 1)];
            for (int ch = 0; ch < HEAD; ++ch) last[ch] = x[ch];
        }
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * runs; ++item) {
            const int64_t bh = item / runs, r = item % runs, t0 = r * per, t1 = std::min(L, t0 + per);
            if (t0 >= t1) continue;
            T x[HEAD];
            for (int ch = 0; ch < HEAD; ++ch) x[ch] = sums[(size_t) item * (HEAD + 1) + ch];
            unbounded_run(a + bh * L, u + bh * HEAD * L, y + bh * HEAD * L, L, t0, t1, x);
        }
    }
}

/* Streaming, any window: the state of docs/SWR.md "Streaming state" for each (batch, head). */
template <typename T, int MODE>
static void forward_stream(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                           T* hs, T* Ps, T* vs, T* ring_v, T* ring_A, int64_t pos) {
    const int64_t C = H * HEAD;
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t bh = 0; bh < B * H; ++bh) {
        const int64_t b = bh / H, hd = bh % H;
        T* h = hs + b * C + hd * HEAD;
        T vdummy[HEAD];
        T* v = MODE == RUN_LOCAL ? vdummy : vs + b * C + hd * HEAD;
        T& P = Ps[b * H + hd];
        Ring<T> ring;
        if (MODE == RUN_RING) {
            ring.slots = (int64_t) k - 2;
            ring.k = k;
            ring.v = ring_v + b * ring.slots * C + hd * HEAD;
            ring.vstride = C;
            ring.A = ring_A + b * ring.slots * H + hd;
            ring.Astride = H;
        }
        if (pos == 0) {
            for (int ch = 0; ch < HEAD; ++ch) { h[ch] = T(0); v[ch] = T(0); }
            P = T(1);
        }
        forward_run<T, MODE>(a + (b * H + hd) * L, u + (b * C + hd * HEAD) * L, y + (b * C + hd * HEAD) * L,
                             L, 0, L, block, pos, h, P, v, &ring);
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
    /* Per-thread scratch: local states, prefix products, gradients. */
    const Scratch<T> scratch((size_t) block * (2 * HEAD + 2) + 64);
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        T* hs = scratch.mine();                    /* [block][HEAD] */
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
                /* Only terms the formula has: no du * h_{t-1} at a block start (h_{-1} is no state),
                 * no carry term in block 0; so 0 * NaN never reaches da. */
                const bool carry = K == 2 && c > 0;
                T rev[HEAD] = {};
                T R = T(1), anext = T(0);
                for (int i = n - 1; i >= 0; --i) {
                    T* gi = gs + i * HEAD;
                    const T* hprev = hs + (i - 1) * HEAD;
                    const T Pprev = i > 0 ? Ps[i - 1] : T(1);
                    T acc = T(0);
#pragma omp simd
                    for (int ch = 0; ch < HEAD; ++ch) {
                        const T r = gi[ch] + anext * rev[ch];
                        rev[ch] = r;
                        gi[ch] = K == 2 ? r + R * q[ch] : r;
                    }
                    if (i > 0) {
#pragma omp simd reduction(+ : acc)
                        for (int ch = 0; ch < HEAD; ++ch) acc += gi[ch] * hprev[ch];
                    }
                    if (carry) {
#pragma omp simd reduction(+ : acc)
                        for (int ch = 0; ch < HEAD; ++ch) acc += rev[ch] * Pprev * v[ch];
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
    static constexpr int64_t SLOT = 2 * HEAD + 1; /* per slot: v[HEAD], Q[HEAD], A */
    int64_t K, slots;
    T* store;
    /* The ring for window K: 2K - 1 slots (backward) or K (forward), in storage of slots * SLOT. */
    BlockSummaries(int64_t K_, int64_t slots_, T* storage) : K(K_), slots(slots_), store(storage) {}
    T* v(int64_t j) { return store + (j % slots) * SLOT; }
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
        for (int64_t m = 1; m < K && c - m >= 0; ++m) {
            const T* vj = v(c - m);
            for (int ch = 0; ch < HEAD; ++ch) out[ch] += W * vj[ch];
            W *= A(c - m);
        }
    }
};

template <typename T>
static void forward_anyk(const T* a, const T* u, T* y, int64_t B, int64_t H, int64_t L, int32_t block, int K) {
    const WorkSplit split(B, H, L, block);
    const Scratch<T> scratch((size_t) K * BlockSummaries<T>::SLOT);
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        BlockSummaries<T> sums(K, K, scratch.mine());
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
                        h[ch] = i == 0 ? up[ch * L + s] : at * h[ch] + up[ch * L + s + i];
                        yp[ch * L + s + i] = c > 0 ? h[ch] + P * carry[ch] : h[ch]; /* block 0: no carry */
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
    const int64_t slots = 2 * (int64_t) K - 1;
    const size_t ring = (size_t) slots * BlockSummaries<T>::SLOT;
    const Scratch<T> scratch(ring + (size_t) block * (2 * HEAD + 1));
#pragma omp parallel if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    {
        BlockSummaries<T> sums(K, slots, scratch.mine());
        T* hs = scratch.mine() + ring;           /* [block][HEAD] local states */
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
                        /* Only the formula's terms (see backward): no h_{-1}, no carry into block 0. */
                        if (i > 0) acc += d * hs[(i - 1) * HEAD + ch];
                        if (c > 0) acc += r * Pprev * carry[ch] + dA[ch] * Pprev * R;
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

/*
 * Backward of the unbounded window: g_t = dy_t + a_{t+1} g_{t+1} (right to left), du_t = g_t,
 * da_t = sum over the head's channels of g_t x_{t-1} (t >= 1; da_0 = 0: a_0 is never multiplied).
 * Two passes per head: the forward states x go into du, then the right-to-left pass reads x_{t-1}
 * there before it overwrites du_t (O(L), no scratch beyond two tiles).
 */
template <typename T>
static void backward_unbounded(const T* a, const T* u, const T* dy, T* da, T* du, int64_t B, int64_t H, int64_t L) {
    forward_unbounded<T>(a, u, du, B, H, L);
#pragma omp parallel for schedule(static) if (B * H * HEAD * L >= MIN_PARALLEL_ELEMENTS)
    for (int64_t bh = 0; bh < B * H; ++bh) {
        const T* ap = a + bh * L;
        const T* gp = dy + bh * HEAD * L;
        T* dap = da + bh * L;
        T* dup = du + bh * HEAD * L;
        alignas(64) T g[TILE][HEAD], x[TILE + 1][HEAD]; /* x[i + 1] = x_{s+i}, x[0] = x_{s-1} */
        T next[HEAD] = {};
        const int64_t last_tile = (L - 1) / TILE * TILE;
        for (int64_t s = last_tile; s >= 0; s -= TILE) {
            const int n = (int) std::min<int64_t>(TILE, L - s);
            for (int ch = 0; ch < HEAD; ++ch) {
                for (int i = 0; i < n; ++i) {
                    g[i][ch] = gp[ch * L + s + i];
                    x[i + 1][ch] = dup[ch * L + s + i];
                }
                x[0][ch] = s > 0 ? dup[ch * L + s - 1] : T(0);
            }
            for (int i = n - 1; i >= 0; --i) {
                const int64_t t = s + i;
                T* gi = g[i];
                if (t + 1 < L) {
                    const T an = ap[t + 1];
#pragma omp simd
                    for (int ch = 0; ch < HEAD; ++ch) gi[ch] += an * next[ch];
                }
                T acc = T(0);
                if (t > 0) {
                    const T* xp = x[i];
#pragma omp simd reduction(+ : acc)
                    for (int ch = 0; ch < HEAD; ++ch) acc += gi[ch] * xp[ch];
                }
                dap[t] = acc;
                for (int ch = 0; ch < HEAD; ++ch) next[ch] = gi[ch];
            }
            for (int ch = 0; ch < HEAD; ++ch)
                for (int i = 0; i < n; ++i) dup[ch * L + s + i] = g[i][ch];
        }
    }
}

} // namespace SWR_KERNEL_NS
