/*
 * The Phalanx core on NVIDIA GPUs, fused (swr/phalanx_core.h):
 *
 *   u = rep(beta) * v,   y = SWR(a, u),   m = y * rep(c) + v
 *   backward from dm:    dy = dm * rep(c);  (da, du) = SWR backward(a, u, dy);
 *                        dv = dm + du * rep(beta);  dbeta = gsum(du * v);  dc = gsum(dm * y)
 *
 * One pass over memory for windows k <= 2: the kernels are the staged SWR kernels of swr_cuda.cu (this
 * file is #included at its end and reuses its tile code: staging, realignment of rows of any
 * alignment, coalesced stores, the backward's warp layout and channel sum) with the products folded
 * in where the values are already in registers: u = beta * v as the tile is read (float32 for the
 * 16-bit types, never rounded to storage), m = y * c + v before the store; backward, dy = dm * c as
 * the tile is read and dv, beta's and c's gradients from the same registers and shared memory.
 *
 *   - forward: a CTA is 4 channels x 1024 steps (16-bit; 512 float32, 256 float64), as the SWR
 *     forward, of each of the H / kvH heads that share a beta and c channel group in turn (beta and c
 *     staged once: with them re-read per head the kernel was bound by L2 traffic, 1.8x its floor at
 *     kvH = H / 8).
 *   - backward: a CTA is one group of heads (kvH = H: one head) x 256 steps, 16 channels x 16 blocks
 *     as the SWR backward. For kvH < H it visits the H / kvH heads of its group in order, staging
 *     beta and c once and prefetching the next head's v, dm and decays while it computes one (rows
 *     16-byte aligned), and sums dbeta and dc over them in shared memory in float32 (float64 for
 *     float64), in head order: no atomics, bitwise reproducible; every output written once.
 *     The backward recomputes y (it needs the local states for da anyway, so recomputing costs no
 *     memory traffic); a y passed to it is not read.
 *
 * Windows k >= 3 (and unbounded) compose the steps instead (elementwise kernels around the multi-pass
 * SWR of swr_cuda.cu, scratch from the stream's pool): exact, not fused; u, dy and y pass through
 * storage precision there. The same composition, forced for any k, is the benchmark-only variant 1
 * (phalanx_core_cuda_*_variant in swr_cuda_testing.h): the unfused baseline.
 */
#include "swr/phalanx_core.h"

namespace phalanx_swr_cuda {

/* Terminal local state of the staged block whose v, beta and decays start at vp, bp, ap (u = beta v):
 * the carry into the next block for k = 2. */
template <typename T, typename A>
__device__ __forceinline__ A core_terminal(const T* vp, const T* bp, const T* ap) {
    A x[BLK], w[BLK];
    smem_block<T, A>(vp, x);
    smem_block<T, A>(bp, w);
#pragma unroll
    for (int i = 0; i < BLK; ++i) x[i] *= w[i];
    smem_block<T, A>(ap, w);
    return terminal_state<A>(x, w);
}

/* Shape of a core call. G = HEAD * kvH group channels; r = H / kvH heads per group. */
struct CoreShape {
    int64_t B, H, kvH, L, r, tiles;
    int64_t Le, ends; /* forward: where the tiles end, row-end CTAs before them (swr_cuda.cu: row_end_grid) */
};

/* ---------------------------------------------------------------------------------------------
 * Forward: tile as swr_forward_staged (FCH channels x Fnb<T> blocks, blocks padded for 4- and 8-byte
 * types), the recurrence by fwd_tile_loop with u = beta * v formed as a block is loaded. Shared memory:
 * v and beta rows with one halo block before the tile, the decays, c rows (tile only), m (and y when
 * asked for) staged for coalesced stores. Rows of any alignment stay raw (the chunks that cover them,
 * read in place by raw_block, as the SWR forward), aligned ones are staged as the aligned tile.
 * A CTA visits the r = H / kvH heads of its group in order (beta and c staged once: through L2 once
 * per group, not once per head). grid: row-end CTAs (s.ends: swr_cuda.cu's fwd_row_end, one channel row
 * per thread), then ((b * kvH + gh) * tiles + tile) * (HEAD / FCH) + channel group over steps [0, s.Le).
 * Spreading a group tile's heads over as many CTAs as the GPU holds at once (no part-empty last wave)
 * measured no faster (H200, 2026-12-04: bf16 kvH = H / 8 1.48x -> 1.49x its floor, float32 1.30x -> 1.39x):
 * with fewer bytes per head than kvH = H the kernel is bound by its instructions per head.
 * --------------------------------------------------------------------------------------------- */
/* Row pitches (elements) of the staged v, beta and decay rows and of the c rows: aligned, or raw (ANY). */
template <typename T>
__host__ __device__ constexpr int core_fwd_pitch(bool any) { return any ? fwd_raw_pitch<T>() : (Fnb<T>::value + 1) * fwd_bp<T>(); }
template <typename T>
__host__ __device__ constexpr int core_fwd_yp() { return Fnb<T>::value * fwd_bp<T>(); }
template <typename T>
__host__ __device__ constexpr int core_fwd_cp(bool any) { return any ? fwd_raw_pitch<T>() : core_fwd_yp<T>(); }
/* elements: vs, bs [FCH][pitch], as [pitch], cs [FCH][cp], ms [FCH][YP] (and ys [FCH][YP]) */
template <typename T>
constexpr size_t core_fwd_smem(bool any, bool with_y) {
    return sizeof(T) * ((size_t) (2 * FCH + 1) * core_fwd_pitch<T>(any) + (size_t) FCH * core_fwd_cp<T>(any) +
                        (size_t) (with_y ? 2 : 1) * FCH * core_fwd_yp<T>());
}

/* The occupancy hint: as many CTAs as shared memory admits (228 KiB per SM, 1 KiB reserved per CTA), so
 * that registers are capped no lower than that occupancy needs (at 64 the float32 kernels spilled). */
template <typename T>
struct CoreFwdMinBlocks {
    static constexpr int by_smem = (int) (228 * 1024 / (core_fwd_smem<T>(false, false) + 1024));
    static constexpr int value = by_smem < MinBlocks<T, FTHREADS>::value ? (by_smem > 0 ? by_smem : 1) : MinBlocks<T, FTHREADS>::value;
};

template <typename T, int K, bool ANY>
__global__ void __launch_bounds__(FTHREADS, CoreFwdMinBlocks<T>::value)
core_forward_staged(const T* __restrict__ a, const T* __restrict__ beta, const T* __restrict__ v,
                    const T* __restrict__ c, T* __restrict__ m, T* __restrict__ y, CoreShape s) {
    typedef typename Acc<T>::type A;
    constexpr int FNB = Fnb<T>::value, STEPS = FNB * BLK, COLS = STEPS + BLK;
    constexpr int PER = 16 / sizeof(T), CPB = fwd_cpb<T>(), BP = fwd_bp<T>();
    constexpr int PITCH = core_fwd_pitch<T>(ANY), CP = core_fwd_cp<T>(ANY), YP = core_fwd_yp<T>();
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* vs = reinterpret_cast<T*>(smem_raw);               /* [FCH][PITCH] */
    T* bs = vs + FCH * PITCH;                             /* [FCH][PITCH] */
    T* as = bs + FCH * PITCH;                             /* [PITCH] */
    T* cs = as + PITCH;                                   /* [FCH][CP] */
    T* ms = cs + FCH * CP;                                /* [FCH][YP], then y [FCH][YP] */
    T* ys = ms + FCH * YP;
    const int64_t L = s.L, Le = s.Le;
    const int64_t nv = s.B * s.H * HEAD * L, ng = s.B * s.kvH * HEAD * L;
    const int tid = threadIdx.x, ch = tid / WARP;
    if ((int64_t) blockIdx.x < s.ends) { /* row ends: one channel row per thread */
        const int64_t row = (int64_t) blockIdx.x * FTHREADS + tid;
        if (row >= s.B * s.H * HEAD) return;
        const int64_t bh = row / HEAD, b = bh / s.H, h = bh % s.H;
        const int64_t grow = ((b * s.kvH + h / s.r) * HEAD + row % HEAD) * L;
        const T *vr = v + row * L, *br = beta + grow, *cr = c + grow, *ar = a + bh * L;
        T* mr = m + row * L;
        fwd_row_end<T, K>([&](int64_t t) { return to_acc(vr[t]) * to_acc(br[t]); }, /* u = v * beta */
                          [&](int64_t t) { return to_acc(ar[t]); }, L, Le, [&](int64_t t, int n, const A* x) {
#pragma unroll
                              for (int i = 0; i < BLK; ++i) {
                                  if (i >= n) continue;
                                  if (y) y[row * L + t + i] = store_cast(x[i], T());
                                  mr[t + i] = store_cast(fma(x[i], to_acc(cr[t + i]), to_acc(vr[t + i])), T());
                              }
                          });
        return;
    }
    const int64_t id = (int64_t) blockIdx.x - s.ends;
    const int grp = (int) (id % (HEAD / FCH));
    int64_t q = id / (HEAD / FCH);
    const int64_t tile = q % s.tiles;
    q /= s.tiles; /* q = b * kvH + gh */
    const int64_t b = q / s.kvH, gh = q % s.kvH;
    const int64_t t0 = tile * STEPS;
    const int64_t grow0 = (q * HEAD + grp * FCH) * L;     /* beta, c: the group's first channel row */
    const int n = (int) (Le - t0 < STEPS ? Le - t0 : STEPS); /* this tile's steps */
    /* beta and c, once for the r heads of the group (issued here, waited for with the first head's rows) */
    if (ANY) {
        any_issue<T, FTHREADS, CPB>(bs, PITCH, beta, ng, grow0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
        any_issue<T, FTHREADS, CPB>(cs, CP, c, ng, grow0 + t0, L, FCH, STEPS, L, t0, tid);
    } else {
        stage_rows<T, FTHREADS, CPB>(bs, beta + grow0, FCH, COLS, PITCH, L, t0 - BLK, tid);
        stage_rows<T, FTHREADS, CPB>(cs, c + grow0, FCH, STEPS, CP, L, t0, tid);
    }
    /* Block bc (-1: the halo block) of a staged row whose step t0 - BLK has shift sh (raw rows). */
    auto ld = [&](const T* row, int sh, int bc, A* x) {
        if (ANY && sizeof(T) == 4) { /* float32: a chunk at a time (a whole raw block's 20 words spilled) */
#pragma unroll
            for (int e = 0; e < BLK / PER; ++e) unpack(raw_chunk<T, CPB>(row, sh, (bc + 1) * (BLK / PER) + e), x + e * PER, T());
        } else if (ANY) {
            raw_block<T, A, CPB>(row, sh, bc, x);
        } else {
            smem_block<T, A>(row + BP + bc * BP, x);
        }
    };
    const int bsh = ANY ? shift_of(beta, grow0 + ch * L + t0 - BLK) : 0;
    const int csh = ANY ? shift_of(c, grow0 + ch * L + t0) : 0; /* c rows start at t0 (no halo) */
    const T* br = bs + ch * PITCH;
    const T* cr = cs + ch * CP;

#pragma unroll 1
    for (int64_t hs = 0; hs < s.r; ++hs) {
        const int64_t bh = b * s.H + gh * s.r + hs;
        const int64_t row0 = (bh * HEAD + grp * FCH) * L; /* v, m, y: the group's first channel row */
        /* v and the decays; the previous head's blocks are done (barrier before its stores) */
        if (ANY) {
            any_issue<T, FTHREADS, CPB>(vs, PITCH, v, nv, row0 + t0 - BLK, L, FCH, COLS, L, t0 - BLK, tid);
            any_issue<T, FTHREADS, CPB>(as, PITCH, a, s.B * s.H * L, bh * L + t0 - BLK, 0, 1, COLS, L, t0 - BLK, tid);
        } else {
            stage_rows<T, FTHREADS, CPB>(vs, v + row0, FCH, COLS, PITCH, L, t0 - BLK, tid);
            stage_rows<T, FTHREADS, CPB>(as, a + bh * L, 1, COLS, PITCH, L, t0 - BLK, tid);
        }
        cp_wait_all();
        __syncthreads(); /* also: the previous head's stores have read ms and ys */
        const int vsh = ANY ? shift_of(v, row0 + ch * L + t0 - BLK) : 0;
        const int ash = ANY ? shift_of(a, bh * L + t0 - BLK) : 0;
        const T* vr = vs + ch * PITCH;
        fwd_tile_loop<T, K, FNB>(
            [&](int, int bc, A* x) { /* u = beta * v, beta a 16-byte chunk at a time */
                ld(vr, vsh, bc, x);
#pragma unroll
                for (int e = 0; e < BLK / PER; ++e) {
                    A w[PER];
                    unpack(ANY ? raw_chunk<T, CPB>(br, bsh, (bc + 1) * (BLK / PER) + e)
                               : reinterpret_cast<const uint4*>(br + BP + bc * BP)[e], w, T());
#pragma unroll
                    for (int i = 0; i < PER; ++i) x[e * PER + i] *= w[i];
                }
            },
            [&](int bc, A* am) { ld(as, ash, bc, am); }, Le, t0, tid,
            [&](int, int bi, int64_t, int, const A* x) {
                if (y) {
                    T* yb = ys + ch * YP + bi * BP;
#pragma unroll
                    for (int e = 0; e < BLK / PER; ++e) reinterpret_cast<uint4*>(yb)[e] = pack(x + e * PER, T());
                }
                A w[BLK]; /* m = y * c + v, c a 16-byte chunk at a time (fewer live registers) */
                ld(vr, vsh, bi, w);
                T* mb = ms + ch * YP + bi * BP;
#pragma unroll
                for (int e = 0; e < BLK / PER; ++e) {
                    A cv[PER], mv[PER];
                    unpack(ANY ? raw_chunk<T, CPB>(cr, csh, bi * (BLK / PER) + e)
                               : reinterpret_cast<const uint4*>(cr + bi * BP)[e], cv, T());
#pragma unroll
                    for (int i = 0; i < PER; ++i) mv[i] = fma(x[e * PER + i], cv[i], w[e * PER + i]);
                    reinterpret_cast<uint4*>(mb)[e] = pack(mv, T());
                }
            });
        __syncthreads();
        if (ANY) {
            any_store<T, FTHREADS, CPB>(m, ms, YP, row0 + t0, L, FCH, n, tid);
            if (y) any_store<T, FTHREADS, CPB>(y, ys, YP, row0 + t0, L, FCH, n, tid);
        } else {
            store_rows<T, FTHREADS, CPB>(m, ms, YP, row0, L, FCH, n / PER, t0, tid);
            if (y) store_rows<T, FTHREADS, CPB>(y, ys, YP, row0, L, FCH, n / PER, t0, tid);
        }
    } /* heads of the group */
}

/* ---------------------------------------------------------------------------------------------
 * Backward: thread layout of swr_backward_shfl (warp = 2 blocks x 16 channels, 256 threads, 256
 * steps). Shared memory (T unless said): v and beta rows with a halo block before the tile, dm and c
 * rows with one after, the decays, y per thread (A), and for kvH < H the dbeta and dc sums (A).
 * dv, and for kvH = H dbeta and dc, are written in place into the staged v, beta and c slots of the
 * thread's own block once every thread has read its neighbours (a barrier), then stored coalesced.
 * grid: (b * kvH + gh) * tiles + tile.
 * --------------------------------------------------------------------------------------------- */
constexpr int CB_STEPS = BNB * BLK;
template <typename T>
__host__ __device__ constexpr int core_bwd_pitch() { return CB_STEPS + BLK + pad_elems<T>(); }
template <typename T>
__host__ __device__ constexpr int core_bwd_acc_pitch() { return CB_STEPS + 16 / (int) sizeof(typename Acc<T>::type); }
template <typename T>
__host__ __device__ constexpr int core_bwd_rp() { return CB_STEPS + 2 * BLK + 16 / (int) sizeof(T); }
/* byte offsets of the regions */
/* pf: a second set of v, dm and decay buffers, into which the next head of the group is prefetched */
template <typename T>
__host__ __device__ constexpr size_t core_bwd_stage_bytes(bool pf) {
    return (sizeof(T) * ((pf ? 6 : 4) * HEAD * core_bwd_pitch<T>() + (pf ? 2 : 1) * (CB_STEPS + 2 * BLK)) + 15) / 16 * 16;
}
template <typename T>
__host__ __device__ constexpr size_t core_bwd_ybuf_bytes(bool any) {
    typedef typename Acc<T>::type A;
    const size_t ybuf = sizeof(A) * BTHREADS * (BLK + 1);
    const size_t raw = sizeof(T) * (2 * HEAD + 1) * core_bwd_rp<T>();
    return ((any && raw > ybuf ? raw : ybuf) + 15) / 16 * 16;
}
/* xch: after those regions, the blocks' carries exchanged between threads ([2][BTHREADS], A) */
/* racc: the group sums in registers (no shared memory for them) */
template <typename T>
__host__ __device__ constexpr size_t core_bwd_xch_off(bool any, bool grouped, bool racc = false) {
    return core_bwd_stage_bytes<T>(grouped && !any) + core_bwd_ybuf_bytes<T>(any) +
           (grouped && !racc ? sizeof(typename Acc<T>::type) * 2 * HEAD * core_bwd_acc_pitch<T>() : 0);
}
template <typename T>
constexpr size_t core_bwd_smem(bool any, bool grouped, bool xch, bool racc = false) {
    return core_bwd_xch_off<T>(any, grouped, racc) + (xch ? sizeof(typename Acc<T>::type) * 2 * BTHREADS : 0);
}

/* Stores rows r < HEAD of src (pitch sp, T) to dst rows f0 + r * L, steps [t0, t0 + n): coalesced
 * 16-byte chunks (aligned rows) or any_store (rows of any alignment). */
template <typename T, bool ANY>
__device__ __forceinline__ void core_store_rows(T* __restrict__ dst, const T* src, int sp, int64_t f0, int64_t L,
                                                int64_t t0, int n, int tid) {
    if (ANY) {
        any_store<T, BTHREADS>(dst, src, sp, f0 + t0, L, HEAD, n, tid);
        return;
    }
    store_rows<T, BTHREADS>(dst, src, sp, f0, L, HEAD, CB_STEPS * (int) sizeof(T) / 16, t0, tid);
}

/* Copies rows r < HEAD (cols elements from step c0) of base into dst (pitch dp): cp.async for aligned
 * rows, through raw (already free) and any_realign otherwise. Issues only; ANY waits and realigns in
 * core_stage_finish. */
template <typename T, bool ANY>
__device__ __forceinline__ void core_stage_issue(T* dst, int dp, T* raw, const T* __restrict__ base, int64_t total,
                                                 int64_t f0, int64_t L, int rows, int cols, int64_t c0, int tid) {
    constexpr int RP = core_bwd_rp<T>();
    if (ANY) any_issue<T, BTHREADS>(raw, RP, base, total, f0 + c0, rows > 1 ? L : 0, rows, cols, L, c0, tid);
    else stage_rows<T, BTHREADS>(dst, base + f0, rows, cols, dp, L, c0, tid);
}
template <typename T, bool ANY>
__device__ __forceinline__ void core_stage_finish(T* dst, int dp, const T* raw, const T* base, int64_t f0, int64_t L,
                                                  int rows, int cols, int64_t c0, int tid) {
    constexpr int RP = core_bwd_rp<T>();
    if (ANY) any_realign<T, BTHREADS>(dst, dp, raw, RP, base, f0 + c0, rows > 1 ? L : 0, rows, cols, L, c0, tid);
}

/* XCH (k = 2): a block's carrier (the terminal local state of the block before it) and q (the prefix_dot
 * of dy over the block after it) are the last local state and the prefix_dot of the threads next to it,
 * exchanged through shared memory instead of each thread recomputing them from its neighbours' staged
 * v, beta, dm, c and decays (6 of its 11 block reads); only the tile's first and last block read the
 * halo. The same operations in the same order: bitwise equal. */
/* RACC > 0 (kvH < H, k = 2 with XCH; the default: core_bwd_racc): each thread's dbeta and dc sums in
 * registers instead of shared memory (33 KB less in 16-bit), with an occupancy hint of RACC CTAs per SM. */
template <typename T, int K, bool ANY, bool GROUPED, bool XCH, int RACC = 0>
__global__ void __launch_bounds__(BTHREADS, RACC > 0 ? RACC : MinBlocks<T, BTHREADS>::value)
core_backward_staged(const T* __restrict__ a, const T* __restrict__ beta, const T* __restrict__ v,
                     const T* __restrict__ c, const T* __restrict__ dm, T* __restrict__ da, T* __restrict__ dbeta,
                     T* __restrict__ dv, T* __restrict__ dc, CoreShape s) {
    typedef typename Acc<T>::type A;
    constexpr int STEPS = CB_STEPS, UP = core_bwd_pitch<T>(), RP = core_bwd_rp<T>(), AP = core_bwd_acc_pitch<T>();
    constexpr int UCOLS = STEPS + BLK, GCOLS = K == 2 ? STEPS + BLK : STEPS, ACOLS = STEPS + 2 * BLK;
    constexpr int PER = 16 / sizeof(T);
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* vs = reinterpret_cast<T*>(smem_raw);               /* [HEAD][UP]: halo block, tile */
    T* bs = vs + HEAD * UP;                               /* [HEAD][UP]: halo block, tile */
    T* gs = bs + HEAD * UP;                               /* [HEAD][UP]: tile, halo block (dm) */
    T* cs = gs + HEAD * UP;                               /* [HEAD][UP]: tile, halo block */
    T* as = cs + HEAD * UP;                               /* [ACOLS] */
    constexpr bool PF = GROUPED && !ANY;                 /* prefetch the group's next head */
    T* vs1 = as + ACOLS;                                  /* PF: the second v, dm, decay buffers */
    T* gs1 = vs1 + HEAD * UP;
    T* as1 = gs1 + HEAD * UP;
    A* ybuf = reinterpret_cast<A*>(smem_raw + core_bwd_stage_bytes<T>(PF)); /* [BTHREADS][BLK + 1] */
    T* raw = reinterpret_cast<T*>(ybuf);                  /* ANY: [2 HEAD + 1][RP] while staging */
    A* acc = reinterpret_cast<A*>(smem_raw + core_bwd_stage_bytes<T>(PF) + core_bwd_ybuf_bytes<T>(ANY)); /* [2][HEAD][AP] */
    const int64_t L = s.L, q = blockIdx.x / s.tiles, tile = blockIdx.x % s.tiles; /* q = b * kvH + gh */
    const int64_t t0 = tile * STEPS, b = q / s.kvH, gh = q % s.kvH;
    const int64_t nv = s.B * s.H * HEAD * L, ng = s.B * s.kvH * HEAD * L, na = s.B * s.H * L;
    const int64_t grow0 = q * HEAD * L;
    const int tid = threadIdx.x;
    const int n = (int) (L - t0 < STEPS ? L - t0 : STEPS);

    /* beta and c: once per CTA */
    core_stage_issue<T, ANY>(bs, UP, raw, beta, ng, grow0, L, HEAD, UCOLS, t0 - BLK, tid);
    core_stage_issue<T, ANY>(cs, UP, raw + HEAD * RP, c, ng, grow0, L, HEAD, GCOLS, t0, tid);
    if (ANY) {
        cp_wait_all();
        __syncthreads();
        core_stage_finish<T, ANY>(bs, UP, raw, beta, grow0, L, HEAD, UCOLS, t0 - BLK, tid);
        core_stage_finish<T, ANY>(cs, UP, raw + HEAD * RP, c, grow0, L, HEAD, GCOLS, t0, tid);
        __syncthreads(); /* raw is free again */
    }

    const int lane = tid % WARP, ch = lane % HEAD, bi = 2 * (tid / WARP) + lane / HEAD;
    const int64_t st = t0 + (int64_t) bi * BLK;
    T* bb = bs + ch * UP + BLK + bi * BLK;
    T* cb = cs + ch * UP + bi * BLK;
    A* yp = ybuf + tid * (BLK + 1);
    A rb[RACC > 0 ? BLK : 1], rc[RACC > 0 ? BLK : 1]; /* RACC: the sums */
    /* Issues head hs's v, dm and decays into buffer set `buf` (1: the PF set). */
    auto issue_head = [&](int64_t hs, int buf, int stid) {
        const int64_t bh = b * s.H + gh * s.r + hs, row0 = bh * HEAD * L;
        core_stage_issue<T, ANY>(buf ? vs1 : vs, UP, raw, v, nv, row0, L, HEAD, UCOLS, t0 - BLK, stid);
        core_stage_issue<T, ANY>(buf ? gs1 : gs, UP, raw + HEAD * RP, dm, nv, row0, L, HEAD, GCOLS, t0, stid);
        core_stage_issue<T, ANY>(buf ? as1 : as, ACOLS, raw + 2 * HEAD * RP, a, na, bh * L, L, 1, ACOLS, t0 - BLK, stid);
    };
    if (PF) {
        issue_head(0, 0, tid);
        cp_commit();
    }

#pragma unroll 1
    for (int64_t hs = 0; hs < s.r; ++hs) {
        const int64_t bh = b * s.H + gh * s.r + hs, row0 = bh * HEAD * L;
        if (hs > 0) __syncthreads(); /* the previous head's stores have read its buffers and ybuf */
        /* An opaque copy of tid: keeps the compiler from hoisting the staging loops' addresses out of
         * the head loop (they would stay live across it, and spill). */
        int stid = tid;
        asm volatile("" : "+r"(stid));
        const int cur = PF ? (int) (hs & 1) : 0;
        if (PF) {
            if (hs + 1 < s.r) {
                issue_head(hs + 1, cur ^ 1, stid);
                cp_commit();
                cp_wait_group<1>(); /* this head's copies (and beta, c) have landed */
            } else {
                cp_wait_group<0>();
            }
        } else {
            issue_head(hs, 0, stid);
            cp_wait_all();
        }
        __syncthreads();
        T* vb = (cur ? vs1 : vs) + ch * UP + BLK + bi * BLK;
        const T* gb = (cur ? gs1 : gs) + ch * UP + bi * BLK;
        const T* ab = (cur ? as1 : as) + BLK + bi * BLK;
        if (ANY) {
            core_stage_finish<T, ANY>(vs, UP, raw, v, row0, L, HEAD, UCOLS, t0 - BLK, stid);
            core_stage_finish<T, ANY>(gs, UP, raw + HEAD * RP, dm, row0, L, HEAD, GCOLS, t0, stid);
            core_stage_finish<T, ANY>(as, ACOLS, raw + 2 * HEAD * RP, a, bh * L, L, 1, ACOLS, t0 - BLK, stid);
            __syncthreads();
        }

        /* Local states h of u = beta * v, g = dy = dm * c, and for k = 2 the carrier vc (terminal local
         * state of the block before) and q (the next block's sum of P * dy). */
        A h[BLK], g[BLK], qn = A(0), vc = A(0);
        if (K == 2 && XCH && bi == 0 && st > 0) vc = core_terminal<T, A>(vb - BLK, bb - BLK, ab - BLK);
        if (K == 2 && (!XCH || bi == BNB - 1)) { /* XCH: the tile's first and last block from the halo only */
            A x[BLK], w[BLK];
            if (!XCH && st > 0) vc = core_terminal<T, A>(vb - BLK, bb - BLK, ab - BLK);
            smem_block<T, A>(gb + BLK, x);
            smem_block<T, A>(cb + BLK, w);
#pragma unroll
            for (int i = 0; i < BLK; ++i) x[i] *= w[i];
            smem_block<T, A>(ab + BLK, w);
            qn = prefix_dot<A>(w, x);
        }
        {
            A w[BLK];
            smem_block<T, A>(vb, h);
            smem_block<T, A>(bb, w);
#pragma unroll
            for (int i = 0; i < BLK; ++i) h[i] *= w[i];
            smem_block<T, A>(gb, g);
            smem_block<T, A>(cb, w);
#pragma unroll
            for (int i = 0; i < BLK; ++i) g[i] *= w[i];
            smem_block<T, A>(ab, w);
            A P = w[0], own = P * g[0]; /* XCH: prefix_dot(w, g), in the scan's loop (fewer registers live) */
#pragma unroll
            for (int i = 1; i < BLK; ++i) {
                h[i] = fma(w[i], h[i - 1], h[i]);
                if (K == 2 && XCH) { P *= w[i]; own = fma(P, g[i], own); }
            }
            if (K == 2 && XCH) {
                A* xv = reinterpret_cast<A*>(smem_raw + core_bwd_xch_off<T>(ANY, GROUPED, RACC > 0)); /* [BNB][HEAD] */
                A* xq = xv + BTHREADS;
                xv[bi * HEAD + ch] = h[BLK - 1];
                xq[bi * HEAD + ch] = own;
                __syncthreads(); /* and every read of a neighbour's staged block is done */
                if (bi > 0) vc = xv[(bi - 1) * HEAD + ch];
                if (bi < BNB - 1) qn = xq[(bi + 1) * HEAD + ch];
            }
        }
        staged_block_y<T, A, K, BLK>(ab, h, vc, st == 0, yp); /* all 16 steps of y: dc needs them */
        if (!(K == 2 && XCH)) __syncthreads(); /* every neighbour read is done: the staged slots may be overwritten */
        A dav[BLK];
        staged_sweep<T, A, K>(ab, h, qn, vc, st == 0, g, yp, dav); /* du into g, da terms into dav */
        reduce_half<A, 8>(dav, lane, 8);
        reduce_half<A, 4>(dav, lane, 4);
        reduce_half<A, 2>(dav, lane, 2);
        reduce_half<A, 1>(dav, lane, 1);
        if (st + ch < L) da[bh * L + st + ch] = store_cast(dav[0], T());

        /* dv = dm + du * beta (into the v slot); beta's and c's gradient terms du * v and dm * y: one
         * 16-byte word of the block at a time (few registers live). */
#pragma unroll
        for (int e = 0; e < BLK / PER; ++e) {
            A vv[PER], dmv[PER], bt[PER];
            unpack(reinterpret_cast<const uint4*>(vb)[e], vv, T());
            unpack(reinterpret_cast<const uint4*>(gb)[e], dmv, T());
            unpack(reinterpret_cast<const uint4*>(bb)[e], bt, T());
#pragma unroll
            for (int j = 0; j < PER; ++j) {
                const int i = e * PER + j;
                bt[j] = fma(g[i], bt[j], dmv[j]);         /* dv */
                vv[j] *= g[i];                            /* du * v */
                dmv[j] *= yp[i];                          /* dm * y */
            }
            reinterpret_cast<uint4*>(vb)[e] = pack(bt, T());
            if (GROUPED && RACC > 0) {
#pragma unroll
                for (int j = 0; j < PER; ++j) {
                    const int i = e * PER + j;
                    rb[i] = hs == 0 ? vv[j] : rb[i] + vv[j];
                    rc[i] = hs == 0 ? dmv[j] : rc[i] + dmv[j];
                }
            } else if (GROUPED) {
                A* sb = acc + ch * AP + bi * BLK + e * PER;
                A* sc = acc + (HEAD + ch) * AP + bi * BLK + e * PER;
#pragma unroll
                for (int j = 0; j < PER; ++j) {
                    sb[j] = hs == 0 ? vv[j] : sb[j] + vv[j];
                    sc[j] = hs == 0 ? dmv[j] : sc[j] + dmv[j];
                }
            } else {
                reinterpret_cast<uint4*>(bb)[e] = pack(vv, T());
                reinterpret_cast<uint4*>(cb)[e] = pack(dmv, T());
            }
        }
        __syncthreads();
        core_store_rows<T, ANY>(dv, (cur ? vs1 : vs) + BLK, UP, row0, L, t0, n, stid);
    }
    if (GROUPED) { /* the sums over the group's heads -> storage type, into the (now free) beta and c slots */
        __syncthreads();
        A x[BLK];
#pragma unroll
        for (int i = 0; i < BLK; ++i) x[i] = RACC > 0 ? rb[i] : acc[ch * AP + bi * BLK + i];
#pragma unroll
        for (int e = 0; e < BLK / PER; ++e) reinterpret_cast<uint4*>(bb)[e] = pack(x + e * PER, T());
#pragma unroll
        for (int i = 0; i < BLK; ++i) x[i] = RACC > 0 ? rc[i] : acc[(HEAD + ch) * AP + bi * BLK + i];
#pragma unroll
        for (int e = 0; e < BLK / PER; ++e) reinterpret_cast<uint4*>(cb)[e] = pack(x + e * PER, T());
    }
    __syncthreads();
    core_store_rows<T, ANY>(dbeta, bs + BLK, UP, grow0, L, t0, n, tid);
    core_store_rows<T, ANY>(dc, cs, UP, grow0, L, t0, n, tid);
}

/* ---------------------------------------------------------------------------------------------
 * The composed (unfused) path: windows k >= 3, and the benchmark-only baseline.
 * --------------------------------------------------------------------------------------------- */
constexpr int EW_THREADS = 256;

/* Group channel row of channel row `row` (= (b * H + h) * HEAD + lane). */
__device__ __forceinline__ int64_t group_row(int64_t row, const CoreShape& s) {
    const int64_t lane = row % HEAD, bh = row / HEAD, b = bh / s.H, h = bh % s.H;
    return (b * s.kvH + h / s.r) * HEAD + lane;
}

/* out = rep(x) * w (elementwise over [B, C, L]) */
template <typename T>
__global__ void __launch_bounds__(EW_THREADS)
core_ew_mul(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out, CoreShape s, int64_t n) {
    typedef typename Acc<T>::type A;
    for (int64_t i = (int64_t) blockIdx.x * EW_THREADS + threadIdx.x; i < n; i += (int64_t) gridDim.x * EW_THREADS) {
        const int64_t row = i / s.L, t = i % s.L;
        out[i] = store_cast(to_acc(x[group_row(row, s) * s.L + t]) * to_acc(w[i]), T());
    }
}

/* m = y * rep(c) + v */
template <typename T>
__global__ void __launch_bounds__(EW_THREADS)
core_ew_out(const T* __restrict__ y, const T* __restrict__ c, const T* __restrict__ v, T* __restrict__ m, CoreShape s,
            int64_t n) {
    typedef typename Acc<T>::type A;
    for (int64_t i = (int64_t) blockIdx.x * EW_THREADS + threadIdx.x; i < n; i += (int64_t) gridDim.x * EW_THREADS) {
        const int64_t row = i / s.L, t = i % s.L;
        m[i] = store_cast(fma(to_acc(y[i]), to_acc(c[group_row(row, s) * s.L + t]), to_acc(v[i])), T());
    }
}

/* Per group element (b, group channel, t): dv of the r heads, dbeta = sum du * v, dc = sum dm * y. */
template <typename T>
__global__ void __launch_bounds__(EW_THREADS)
core_ew_grads(const T* __restrict__ beta, const T* __restrict__ v, const T* __restrict__ y, const T* __restrict__ dm,
              const T* __restrict__ du, T* __restrict__ dbeta, T* __restrict__ dv, T* __restrict__ dc, CoreShape s,
              int64_t n) {
    typedef typename Acc<T>::type A;
    for (int64_t i = (int64_t) blockIdx.x * EW_THREADS + threadIdx.x; i < n; i += (int64_t) gridDim.x * EW_THREADS) {
        const int64_t grow = i / s.L, t = i % s.L, lane = grow % HEAD, q = grow / HEAD, b = q / s.kvH, gh = q % s.kvH;
        const A bt = to_acc(beta[i]);
        A sb = A(0), sc = A(0);
        for (int64_t hs = 0; hs < s.r; ++hs) {
            const int64_t j = ((b * s.H + gh * s.r + hs) * HEAD + lane) * s.L + t;
            const A d = to_acc(du[j]), g = to_acc(dm[j]);
            dv[j] = store_cast(fma(d, bt, g), T());
            sb = hs ? fma(d, to_acc(v[j]), sb) : d * to_acc(v[j]);
            sc = hs ? fma(g, to_acc(y[j]), sc) : g * to_acc(y[j]);
        }
        dbeta[i] = store_cast(sb, T());
        dc[i] = store_cast(sc, T());
    }
}

static unsigned ew_grid(int64_t n) {
    const int64_t g = (n + EW_THREADS - 1) / EW_THREADS;
    return (unsigned) (g < 65535 * 8 ? g : 65535 * 8);
}

template <typename T>
static int core_composed_forward(const T* a, const T* beta, const T* v, const T* c, T* m, T* y, const CoreShape& s,
                                 int32_t k, cudaStream_t st) {
    const int64_t n = s.B * s.H * HEAD * s.L;
    T* u = nullptr; /* u, and y where the caller passes none */
    if (cudaMallocAsync((void**) &u, (size_t) n * sizeof(T) * (y ? 1 : 2), st) != cudaSuccess) {
        (void) cudaGetLastError();
        return SWR_ENOMEM;
    }
    T* yy = y ? y : u + n;
    int rc = launch(core_ew_mul<T>, ew_grid(n), dim3(EW_THREADS), 0, st, beta, v, u, s, n);
    if (rc == SWR_OK) rc = forward<T>(a, u, yy, s.B, s.H, s.L, k, st);
    if (rc == SWR_OK) rc = launch(core_ew_out<T>, ew_grid(n), dim3(EW_THREADS), 0, st, (const T*) yy, c, v, m, s, n);
    if (cudaFreeAsync(u, st) != cudaSuccess && rc == SWR_OK) rc = SWR_ECUDA;
    return rc;
}

template <typename T>
static int core_composed_backward(const T* a, const T* beta, const T* v, const T* c, const T* dm, T* da, T* dbeta,
                                  T* dv, T* dc, const CoreShape& s, int32_t k, cudaStream_t st) {
    const int64_t n = s.B * s.H * HEAD * s.L, ng = s.B * s.kvH * HEAD * s.L;
    T* scr = nullptr; /* u, y, dy, du */
    if (n > INT64_MAX / 4 / (int64_t) sizeof(T) ||
        cudaMallocAsync((void**) &scr, (size_t) (4 * n) * sizeof(T), st) != cudaSuccess) {
        (void) cudaGetLastError();
        return SWR_ENOMEM;
    }
    T *u = scr, *y = scr + n, *dy = scr + 2 * n, *du = scr + 3 * n;
    int rc = launch(core_ew_mul<T>, ew_grid(n), dim3(EW_THREADS), 0, st, beta, v, u, s, n);
    if (rc == SWR_OK) rc = launch(core_ew_mul<T>, ew_grid(n), dim3(EW_THREADS), 0, st, c, dm, dy, s, n);
    if (rc == SWR_OK) rc = forward<T>(a, u, y, s.B, s.H, s.L, k, st);
    if (rc == SWR_OK) rc = backward<T>(a, u, dy, da, du, s.B, s.H, s.L, k, st);
    if (rc == SWR_OK)
        rc = launch(core_ew_grads<T>, ew_grid(ng), dim3(EW_THREADS), 0, st, beta, v, (const T*) y, dm, (const T*) du,
                    dbeta, dv, dc, s, ng);
    if (cudaFreeAsync(scr, st) != cudaSuccess && rc == SWR_OK) rc = SWR_ECUDA;
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Launchers. variant: 0 = default (fused for k <= 2), 1 = composed (benchmark baseline).
 * --------------------------------------------------------------------------------------------- */
/* The opt-in shared memory per CTA of the current device (48 KiB where it cannot be read). A fused
 * kernel that needs more (float64 with kvH < H; some types on GPUs before sm_80) takes the composed
 * path instead. */
static size_t max_smem_per_cta() {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        (void) cudaGetLastError();
        return 48 * 1024;
    }
    return (size_t) v;
}

template <typename T>
static int core_forward(const void* a_, const void* beta_, const void* v_, const void* c_, void* m_, void* y_,
                        CoreShape s, int32_t k, cudaStream_t st, int variant) {
    const T *a = (const T*) a_, *beta = (const T*) beta_, *v = (const T*) v_, *c = (const T*) c_;
    T *m = (T*) m_, *y = (T*) y_;
    const int64_t mb = carry_blocks(s.L, k);
    if (mb >= 2 || variant == 1) return core_composed_forward<T>(a, beta, v, c, m, y, s, k, st);
    int64_t tiles;
    unsigned grid;
    if (!row_end_grid(s.B, s.kvH, s.L, Fnb<T>::value * BLK, HEAD / FCH, s.B * s.H * HEAD, variant != 2, s.Le, s.ends,
                      tiles, grid))
        return SWR_EINVAL;
    s.tiles = tiles;
    const bool aligned = (s.L * (int64_t) sizeof(T)) % 16 == 0 && aligned16(a) && aligned16(beta) && aligned16(v) &&
                         aligned16(c) && aligned16(m) && (!y || aligned16(y));
    const size_t smem = core_fwd_smem<T>(!aligned, y != nullptr);
    if (smem > max_smem_per_cta()) return core_composed_forward<T>(a, beta, v, c, m, y, s, k, st);
    const dim3 blk(FTHREADS);
    if (mb == 1)
        return aligned ? launch(core_forward_staged<T, 2, false>, grid, blk, smem, st, a, beta, v, c, m, y, s)
                       : launch(core_forward_staged<T, 2, true>, grid, blk, smem, st, a, beta, v, c, m, y, s);
    return aligned ? launch(core_forward_staged<T, 1, false>, grid, blk, smem, st, a, beta, v, c, m, y, s)
                   : launch(core_forward_staged<T, 1, true>, grid, blk, smem, st, a, beta, v, c, m, y, s);
}

/* The carries exchanged between threads (core_backward_staged's XCH) by default where measured faster
 * (H200, 2026-12-03, backward x its floor, without -> with): bf16 kvH = H / 8 2.98 -> 2.84 at (8, 4096),
 * 4.37 -> 4.29 at (8, 4095), but kvH = H 1.19 -> 1.26 and 2.08 -> 2.32 (16-bit: only grouped heads);
 * float32 kvH = H 1.16 -> 1.08, H / 8 2.30 -> 2.20, unaligned equal. float64 (not timed) keeps the
 * recomputation. Variant 2 = without (the default before, for benchmarks), variant 3 = with. */
template <typename T>
static bool core_bwd_xch(bool grouped) { return sizeof(T) == 4 || (sizeof(T) == 2 && grouped); }
/* kvH < H with the exchange (k = 2): the group sums in registers by default, with an occupancy hint of 3
 * CTAs per SM in 16-bit and 2 in float32, as measured on the H200 (2026-12-04, backward x its floor at
 * kvH = H / 8, sums in shared memory -> registers with hints 2 / 3): bf16 (8, 4096) 2.92 -> 1.94 / 1.96,
 * (8, 4095) 4.30 -> 3.45 / 3.20; float32 2.09 -> 1.56 / 1.80, (8, 4095) 4.43 -> 2.27 / 2.41. In shared
 * memory (float32, 33 KB in 16-bit) each head's read-modify-write of the sums cost more than the
 * registers, which the 64-register cap had denied (the 16-bit kernel spilled there). float64: shared
 * memory (in registers it spilled 200 bytes). */
template <typename T>
static int core_bwd_racc() { return sizeof(T) == 2 ? 3 : sizeof(T) == 4 ? 2 : 0; }

/* racc: the occupancy hint of the group sums in registers (2 or 3; core_backward decides where they apply), or 0 */
template <typename T, int K, bool ANY, bool XCH>
static int core_backward_launch(const T* a, const T* beta, const T* v, const T* c, const T* dm, T* da, T* dbeta, T* dv,
                                T* dc, const CoreShape& s, unsigned grid, cudaStream_t st, int racc = 0) {
    const dim3 blk(BTHREADS);
    if constexpr (K == 2 && XCH && sizeof(T) <= 4) { /* the only builds with the sums in registers */
        if (racc == 2)
            return launch(core_backward_staged<T, K, ANY, true, XCH, 2>, grid, blk, core_bwd_smem<T>(ANY, true, XCH, true),
                          st, a, beta, v, c, dm, da, dbeta, dv, dc, s);
        if (racc == 3)
            return launch(core_backward_staged<T, K, ANY, true, XCH, 3>, grid, blk, core_bwd_smem<T>(ANY, true, XCH, true),
                          st, a, beta, v, c, dm, da, dbeta, dv, dc, s);
    }
    return s.r > 1 ? launch(core_backward_staged<T, K, ANY, true, XCH>, grid, blk, core_bwd_smem<T>(ANY, true, XCH), st,
                            a, beta, v, c, dm, da, dbeta, dv, dc, s)
                   : launch(core_backward_staged<T, K, ANY, false, XCH>, grid, blk, core_bwd_smem<T>(ANY, false, XCH),
                            st, a, beta, v, c, dm, da, dbeta, dv, dc, s);
}

template <typename T>
static int core_backward(const void* a_, const void* beta_, const void* v_, const void* c_, const void* dm_, void* da_,
                         void* dbeta_, void* dv_, void* dc_, CoreShape s, int32_t k, cudaStream_t st, int variant) {
    const T *a = (const T*) a_, *beta = (const T*) beta_, *v = (const T*) v_, *c = (const T*) c_, *dm = (const T*) dm_;
    T *da = (T*) da_, *dbeta = (T*) dbeta_, *dv = (T*) dv_, *dc = (T*) dc_;
    const int64_t mb = carry_blocks(s.L, k);
    if (mb >= 2 || variant == 1) return core_composed_backward<T>(a, beta, v, c, dm, da, dbeta, dv, dc, s, k, st);
    int64_t tiles;
    unsigned grid;
    if (!grid_of(s.B, s.kvH, s.L, CB_STEPS, 1, tiles, grid)) return SWR_EINVAL;
    s.tiles = tiles;
    const bool aligned = (s.L * (int64_t) sizeof(T)) % 16 == 0 && aligned16(a) && aligned16(beta) && aligned16(v) &&
                         aligned16(c) && aligned16(dm) && aligned16(dbeta) && aligned16(dv) && aligned16(dc);
    const bool xch = mb == 1 && (variant == 0 ? core_bwd_xch<T>(s.r > 1) : variant >= 3);
    /* the group sums in registers: kvH < H, k = 2 with the exchange, 16-bit and float32 */
    const bool racc_ok = s.r > 1 && mb == 1 && xch && sizeof(T) <= 4;
    const int racc = !racc_ok ? 0 : variant == 0 ? core_bwd_racc<T>() : variant == 4 ? 2 : variant == 5 ? 3 : 0;
    if (core_bwd_smem<T>(!aligned, s.r > 1, xch, racc > 0) > max_smem_per_cta())
        return core_composed_backward<T>(a, beta, v, c, dm, da, dbeta, dv, dc, s, k, st);
    if (mb == 1 && xch)
        return aligned ? core_backward_launch<T, 2, false, true>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st, racc)
                       : core_backward_launch<T, 2, true, true>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st, racc);
    if (mb == 1)
        return aligned ? core_backward_launch<T, 2, false, false>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st)
                       : core_backward_launch<T, 2, true, false>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st);
    return aligned ? core_backward_launch<T, 1, false, false>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st)
                   : core_backward_launch<T, 1, true, false>(a, beta, v, c, dm, da, dbeta, dv, dc, s, grid, st);
}

/* Shape checks shared by both entry points. */
static bool core_valid(int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k, CoreShape& s) {
    if (!valid(B, H, L, k) || block != BLK || kvH < 1 || kvH > H || H % kvH != 0) return false;
    s = CoreShape{B, H, kvH, L, H / kvH, 0, L, 0};
    return true;
}

/* [p, p + n) and [q, q + m) overlap (bytes) */
static bool overlap(const void* p, int64_t n, const void* q, int64_t m) {
    const uintptr_t a = (uintptr_t) p, b = (uintptr_t) q;
    return a < b + (uintptr_t) m && b < a + (uintptr_t) n;
}

static size_t dtype_size(int32_t dtype) {
    return dtype == SWR_F64 ? 8 : dtype == SWR_F32 ? 4 : dtype == SWR_F16 || dtype == SWR_BF16 ? 2 : 0;
}

/* Outputs must not share memory with inputs or each other (threads read neighbouring blocks of the
 * inputs while others write). */
static bool core_disjoint(const void* const* outs, const int64_t* on, int no, const void* const* ins, const int64_t* in,
                          int ni) {
    for (int i = 0; i < no; ++i) {
        if (!outs[i]) continue;
        for (int j = 0; j < ni; ++j)
            if (ins[j] && overlap(outs[i], on[i], ins[j], in[j])) return false;
        for (int j = i + 1; j < no; ++j)
            if (outs[j] && overlap(outs[i], on[i], outs[j], on[j])) return false;
    }
    return true;
}

template <typename Fn>
static int core_dispatch(int32_t dtype, Fn&& fn) {
    switch (dtype) {
        case SWR_F32: return fn(float());
        case SWR_F64: return fn(double());
        case SWR_F16: return fn(__half());
        case SWR_BF16: return fn(__nv_bfloat16());
        default: return SWR_EDTYPE;
    }
}

static int core_forward_entry(int32_t variant, int32_t dtype, const void* a, const void* beta, const void* v,
                              const void* c, void* m, void* y, int64_t B, int64_t H, int64_t kvH, int64_t L,
                              int32_t block, int32_t k, void* stream) {
    CoreShape s;
    if (!core_valid(B, H, kvH, L, block, k, s) || !a || !beta || !v || !c || !m) return SWR_EINVAL;
    const size_t es = dtype_size(dtype);
    if (!es) return SWR_EDTYPE;
    const int64_t nv = B * H * HEAD * L * (int64_t) es, ng = B * kvH * HEAD * L * (int64_t) es, na = B * H * L * (int64_t) es;
    const void* outs[] = {m, y};
    const int64_t on[] = {nv, nv};
    const void* ins[] = {a, beta, v, c};
    const int64_t in[] = {na, ng, nv, ng};
    if (!core_disjoint(outs, on, 2, ins, in, 4)) return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    return core_dispatch(dtype, [&](auto t) {
        return core_forward<decltype(t)>(a, beta, v, c, m, y, s, k, st, variant);
    });
}

static int core_backward_entry(int32_t variant, int32_t dtype, const void* a, const void* beta, const void* v,
                               const void* c, const void* y, const void* dm, void* da, void* dbeta, void* dv, void* dc,
                               int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k, void* stream) {
    CoreShape s;
    if (!core_valid(B, H, kvH, L, block, k, s) || !a || !beta || !v || !c || !dm || !da || !dbeta || !dv || !dc)
        return SWR_EINVAL;
    const size_t es = dtype_size(dtype);
    if (!es) return SWR_EDTYPE;
    const int64_t nv = B * H * HEAD * L * (int64_t) es, ng = B * kvH * HEAD * L * (int64_t) es, na = B * H * L * (int64_t) es;
    const void* outs[] = {da, dbeta, dv, dc};
    const int64_t on[] = {na, ng, nv, ng};
    const void* ins[] = {a, beta, v, c, y, dm};
    const int64_t in[] = {na, ng, nv, ng, nv, nv};
    if (!core_disjoint(outs, on, 4, ins, in, 6)) return SWR_EINVAL;
    cudaStream_t st = (cudaStream_t) stream;
    return core_dispatch(dtype, [&](auto t) {
        return core_backward<decltype(t)>(a, beta, v, c, dm, da, dbeta, dv, dc, s, k, st, variant);
    });
}

} // namespace phalanx_swr_cuda

extern "C" int phalanx_core_cuda_forward(int32_t dtype, const void* a, const void* beta, const void* v, const void* c,
                                         void* m, void* y, int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block,
                                         int32_t k, void* stream) {
    return phalanx_swr_cuda::core_forward_entry(0, dtype, a, beta, v, c, m, y, B, H, kvH, L, block, k, stream);
}

extern "C" int phalanx_core_cuda_backward(int32_t dtype, const void* a, const void* beta, const void* v, const void* c,
                                          const void* y, const void* dm, void* da, void* dbeta, void* dv, void* dc,
                                          int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k,
                                          void* stream) {
    return phalanx_swr_cuda::core_backward_entry(0, dtype, a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block,
                                                 k, stream);
}

/* Benchmarking only (swr/swr_cuda_testing.h): variant 1 = the composed (unfused) path for any k; forward
 * variant 2 = the fused kernel with every step in the tiles (no row ends apart); backward variants 2 and 3
 * = the fused kernel without and with the carries exchanged between threads (for kvH < H, 3 with the
 * group sums in shared memory: the default until 2026-12-04), 4 and 5 = 3 with the group sums of kvH < H
 * in registers (occupancy hints of 2 and 3 CTAs per SM; 16-bit and float32; the default is one of them). */
extern "C" int phalanx_core_cuda_forward_variant(int32_t variant, int32_t dtype, const void* a, const void* beta,
                                                 const void* v, const void* c, void* m, void* y, int64_t B, int64_t H,
                                                 int64_t kvH, int64_t L, int32_t block, int32_t k, void* stream) {
    if (variant < 0 || variant > 2) return SWR_EINVAL;
    return phalanx_swr_cuda::core_forward_entry(variant, dtype, a, beta, v, c, m, y, B, H, kvH, L, block, k, stream);
}

extern "C" int phalanx_core_cuda_backward_variant(int32_t variant, int32_t dtype, const void* a, const void* beta,
                                                  const void* v, const void* c, const void* y, const void* dm, void* da,
                                                  void* dbeta, void* dv, void* dc, int64_t B, int64_t H, int64_t kvH,
                                                  int64_t L, int32_t block, int32_t k, void* stream) {
    if (variant < 0 || variant > 5) return SWR_EINVAL;
    return phalanx_swr_cuda::core_backward_entry(variant, dtype, a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L,
                                                 block, k, stream);
}
