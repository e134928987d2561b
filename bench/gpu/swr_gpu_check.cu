/*
 * GPU harness for the SWR CUDA kernels (libnd4j-ops/src/main/cpp/cuda/swr_cuda.cu).
 *
 *   swr_gpu_check check   correctness over many random shapes, dtypes, k and gate distributions
 *                         against float64 references; output poisoning, guard zones, bitwise
 *                         reproducibility (two runs, memcmp)
 *   swr_gpu_check small   a few small shapes (for compute-sanitizer memcheck / racecheck)
 *   swr_gpu_check bench   copy bandwidth, then forward and forward+backward times at C = 2048
 *                         (H = 128), aligned and unaligned lengths, every type, with the ratio to the
 *                         memory floor; then the fused Phalanx core (and the composed steps it replaces)
 *   swr_gpu_check core    the fused Phalanx core's checks only (check runs them after the SWR ones)
 *   swr_gpu_check quick | corebench   bench without kernel variants and windows | the core only
 *
 * References: for L <= 100, the brute-force float64 evaluation of swr_reference.h (the definition,
 * evaluated term by term); for every L, the CPU kernel in float64 (itself checked against it). Inputs
 * are rounded to the storage type first, so the reference sees exactly what the GPU sees.
 * Build: see run_h200.sh. Exit status 0 only if every check passed.
 */
#include "swr/swr_cuda.h"
#include "swr/swr_cuda_testing.h"
#include "swr/swr_cpu.h"
#include "swr/phalanx_core.h"
#include "swr_reference.h"

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#define CK(x)                                                                                    \
    do {                                                                                         \
        cudaError_t e_ = (x);                                                                    \
        if (e_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__,    \
                    __LINE__, #x);                                                               \
            exit(2);                                                                             \
        }                                                                                        \
    } while (0)

static const char* dname(int dt) {
    return dt == SWR_F32 ? "f32" : dt == SWR_F64 ? "f64" : dt == SWR_F16 ? "f16" : "bf16";
}
static size_t dsize(int dt) { return dt == SWR_F32 ? 4 : dt == SWR_F64 ? 8 : 2; }

/* ---- storage conversion on the host ---- */
static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t) (x >> 16);
}
static float bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t) h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
/* Rounds x to dtype; writes the stored bytes to dst[i] and returns the rounded value. */
static double store(int dt, void* dst, size_t i, double x) {
    switch (dt) {
        case SWR_F64: ((double*) dst)[i] = x; return x;
        case SWR_F32: ((float*) dst)[i] = (float) x; return (double) (float) x;
        case SWR_F16: {
            __half h = __float2half_rn((float) x);
            ((__half*) dst)[i] = h;
            return (double) __half2float(h);
        }
        default: {
            uint16_t h = f32_to_bf16((float) x);
            ((uint16_t*) dst)[i] = h;
            return (double) bf16_to_f32(h);
        }
    }
}
static double load(int dt, const void* src, size_t i) {
    switch (dt) {
        case SWR_F64: return ((const double*) src)[i];
        case SWR_F32: return ((const float*) src)[i];
        case SWR_F16: return (double) __half2float(((const __half*) src)[i]);
        default: return (double) bf16_to_f32(((const uint16_t*) src)[i]);
    }
}

/* ---- gates ---- */
enum Gate { G_UNIFORM, G_NEAR0, G_NEAR1, G_ZERO_ONE, G_MIXED, G_COUNT };
static const char* gname(int g) {
    static const char* n[] = {"uniform", "near0", "near1", "exact0/1", "mixed"};
    return n[g];
}
static double draw_gate(int g, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> U(0.0, 1.0);
    switch (g) {
        case G_UNIFORM: return U(rng);
        case G_NEAR0: return 1e-3 * U(rng);
        case G_NEAR1: return 1.0 - 1e-3 * U(rng);
        case G_ZERO_ONE: return U(rng) < 0.5 ? 0.0 : 1.0;
        default: {
            const double r = U(rng);
            return r < 0.1 ? 0.0 : r < 0.2 ? 1.0 : r < 0.4 ? 1.0 - 1e-4 * U(rng) : r < 0.5 ? 1e-4 * U(rng) : U(rng);
        }
    }
}

/* ---- device buffers with guard zones ---- */
static const size_t GUARD = 256; /* bytes after each buffer that must stay untouched */
static const unsigned char GUARD_BYTE = 0x5a, POISON_BYTE = 0xff; /* 0xff..: NaN in every type */

struct Dev {
    unsigned char* base = nullptr;
    size_t off = 0, bytes = 0;
    void* p() const { return base + off; }
    void alloc(size_t b, size_t misalign) {
        off = misalign;
        bytes = b;
        CK(cudaMalloc(&base, off + bytes + GUARD));
        CK(cudaMemset(base, GUARD_BYTE, off + bytes + GUARD));
    }
    void poison() { CK(cudaMemset(base + off, POISON_BYTE, bytes)); }
    bool guards_ok() const {
        std::vector<unsigned char> h(off + bytes + GUARD);
        CK(cudaMemcpy(h.data(), base, h.size(), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < off; ++i) if (h[i] != GUARD_BYTE) return false;
        for (size_t i = off + bytes; i < h.size(); ++i) if (h[i] != GUARD_BYTE) return false;
        return true;
    }
    void put(const std::vector<unsigned char>& h) { CK(cudaMemcpy(p(), h.data(), bytes, cudaMemcpyHostToDevice)); }
    void get(std::vector<unsigned char>& h) const {
        h.resize(bytes);
        CK(cudaMemcpy(h.data(), p(), bytes, cudaMemcpyDeviceToHost));
    }
    ~Dev() { if (base) cudaFree(base); }
};

struct Err {
    double rel = 0, maxn = 0; /* ||x - r|| / ||r||; max |x - r| / max |r| (over finite references) */
    long nan = 0;             /* elements finite in one of x and r but not in the other */
};
static Err compare(int dt, const std::vector<unsigned char>& x, const std::vector<double>& r) {
    Err e;
    double n = 0, d = 0, mx = 0, mr = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const double v = load(dt, x.data(), i);
        if (std::isfinite(v) != std::isfinite(r[i])) { ++e.nan; continue; }
        if (!std::isfinite(v)) continue;
        n += (v - r[i]) * (v - r[i]);
        d += r[i] * r[i];
        mx = std::max(mx, std::fabs(v - r[i]));
        mr = std::max(mr, std::fabs(r[i]));
    }
    e.rel = std::sqrt(n / (d > 0 ? d : 1));
    e.maxn = mx / (mr > 0 ? mr : 1);
    return e;
}

/* Tolerances on ||x - r|| / ||r|| (METHOD.md: float32 far under 1e-3, bf16 1e-3..1e-2); the
 * max-normalised error gets 4x that. Outputs of the 16-bit types are rounded once on store. */
static double tol(int dt) {
    return dt == SWR_F64 ? 1e-12 : dt == SWR_F32 ? 1e-5 : dt == SWR_F16 ? 2e-3 : 1e-2;
}

struct Worst {
    double y = 0, da = 0, du = 0, maxn = 0;
};
static Worst worst[4];
static int n_cases = 0, n_fail = 0, n_variant_bitwise = 0, n_bvariant_bitwise = 0;
constexpr int FWD_VARIANTS = 7; /* swr_cuda_forward_variant 1..7 */
constexpr int BWD_VARIANTS = 10; /* swr_cuda_backward_variant 1..10 */

/* The unbounded window (x_t = a_t x_{t-1} + u_t, x_0 = u_0) in float64, O(L): docs/SWR.md, "Any
 * window" (du_t = g_t, da_t = sum over the head's channels of g_t x_{t-1}, da_0 = 0). */
static void unbounded_reference(const std::vector<double>& a, const std::vector<double>& u,
                                const std::vector<double>& dy, std::vector<double>& y, std::vector<double>& da,
                                std::vector<double>& du, int64_t B, int64_t H, int64_t L) {
    const int64_t C = 16 * H;
    y.assign(B * C * L, 0.0); da.assign(B * H * L, 0.0); du.assign(B * C * L, 0.0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < C; ++j) {
            const double* ap = &a[(b * H + j / 16) * L];
            const int64_t o = (b * C + j) * L;
            y[o] = u[o];
            for (int64_t t = 1; t < L; ++t) y[o + t] = ap[t] * y[o + t - 1] + u[o + t];
            double g = 0;
            for (int64_t t = L - 1; t >= 0; --t) {
                g = t + 1 < L ? dy[o + t] + ap[t + 1] * g : dy[o + t];
                du[o + t] = g;
                if (t > 0) da[(b * H + j / 16) * L + t] += g * y[o + t - 1];
            }
        }
}

/* The float64 reference of SWR forward and backward: term by term for L <= 100, the O(L) unbounded
 * recurrence for the unbounded window, the CPU kernel in float64 otherwise. */
static bool reference(const std::vector<double>& a, const std::vector<double>& u, const std::vector<double>& g,
                      std::vector<double>& yr, std::vector<double>& dar, std::vector<double>& dur, int64_t B,
                      int64_t H, int64_t L, int k) {
    const int64_t nb = (L + 15) / 16;
    yr.assign(u.size(), 0.0); dar.assign(a.size(), 0.0); dur.assign(u.size(), 0.0);
    if (k >= nb && L > 100) {
        unbounded_reference(a, u, g, yr, dar, dur, B, H, L);
    } else if (L <= 100) {
        swr_ref::forward(a, u, yr, B, H, L, 16, k);
        swr_ref::backward(a, u, g, dar, dur, B, H, L, 16, k);
    } else if (swr_cpu_forward_f64(a.data(), u.data(), yr.data(), B, H, L, 16, k) != SWR_OK ||
               swr_cpu_backward_f64(a.data(), u.data(), g.data(), dar.data(), dur.data(), B, H, L, 16, k) != SWR_OK) {
        printf("CPU reference failed\n");
        return false;
    }
    return true;
}

/* Non-finite values placed in the inputs (docs/SWR.md, "Non-finite values"). */
enum Poison { P_NONE, P_A0, P_A_BLOCK_STARTS, P_A_ANY, P_DY, P_U_INF, P_COUNT };
static const char* pname(int p) {
    static const char* n[] = {"", " NaN:a0", " NaN:a@blockstarts", " NaN:a", " NaN:dy", " Inf:u"};
    return n[p];
}

/* Places `poison` (a P_* value) in the decays a, an input u of [B, 16 H, L] (Inf) or an output
 * gradient g of the same shape (NaN): in the float64 copy and in the stored bytes. */
static void place_poison(int poison, int dt, std::vector<double>& a, std::vector<unsigned char>& ha,
                         std::vector<double>& u, std::vector<unsigned char>& hu, std::vector<double>& g,
                         std::vector<unsigned char>& hg, int64_t B, int64_t H, int64_t L, std::mt19937_64& rng) {
    const int64_t C = 16 * H, nb = (L + 15) / 16;
    std::uniform_int_distribution<int64_t> Td(0, L - 1), Rd(0, B * H - 1), Cd(0, B * C - 1), Bd(0, nb - 1);
    const double nan = std::nan(""), inf = HUGE_VAL;
    switch (poison) {
        case P_A0: for (int64_t r = 0; r < B * H; ++r) a[r * L] = store(dt, ha.data(), r * L, nan); break;
        case P_A_BLOCK_STARTS:
            for (int i = 0; i < 3; ++i) { const size_t at = Rd(rng) * L + 16 * Bd(rng); a[at] = store(dt, ha.data(), at, nan); }
            break;
        case P_A_ANY: { const size_t at = Rd(rng) * L + Td(rng); a[at] = store(dt, ha.data(), at, nan); break; }
        case P_DY: { const size_t at = Cd(rng) * L + Td(rng); g[at] = store(dt, hg.data(), at, nan); break; }
        case P_U_INF: { const size_t at = Cd(rng) * L + Td(rng); u[at] = store(dt, hu.data(), at, inf); break; }
        default: break;
    }
}

/* misalign: base pointers that many elements past 16-byte alignment (0: aligned). */
static bool run_case(int dt, int k, int64_t B, int64_t H, int64_t L, int gate, int misalign,
                     std::mt19937_64& rng, bool verbose, int poison = P_NONE) {
    const int64_t C = 16 * H;
    const size_t na = B * H * L, nu = B * C * L, es = dsize(dt);
    std::vector<unsigned char> ha(na * es), hu(nu * es), hg(nu * es);
    std::vector<double> a(na), u(nu), g(nu);
    std::uniform_real_distribution<double> S(-1.0, 1.0);
    for (size_t i = 0; i < na; ++i) a[i] = store(dt, ha.data(), i, draw_gate(gate, rng));
    for (size_t i = 0; i < nu; ++i) u[i] = store(dt, hu.data(), i, S(rng));
    for (size_t i = 0; i < nu; ++i) g[i] = store(dt, hg.data(), i, S(rng));
    place_poison(poison, dt, a, ha, u, hu, g, hg, B, H, L, rng);

    std::vector<double> yr, dar, dur;
    if (!reference(a, u, g, yr, dar, dur, B, H, L, k)) return false;

    const size_t mis = (size_t) misalign * es;
    Dev da_, du_, dg, dy[2], dda[2], ddu[2];
    da_.alloc(na * es, mis); du_.alloc(nu * es, mis); dg.alloc(nu * es, mis);
    for (int r = 0; r < 2; ++r) { dy[r].alloc(nu * es, mis); dda[r].alloc(na * es, mis); ddu[r].alloc(nu * es, mis); }
    da_.put(ha); du_.put(hu); dg.put(hg);
    int rc = SWR_OK;
    for (int r = 0; r < 2; ++r) {
        dy[r].poison(); dda[r].poison(); ddu[r].poison();
        rc |= swr_cuda_forward(dt, da_.p(), du_.p(), dy[r].p(), B, H, L, 16, k, nullptr);
        rc |= swr_cuda_backward(dt, da_.p(), du_.p(), dg.p(), dda[r].p(), ddu[r].p(), B, H, L, 16, k, nullptr);
        CK(cudaDeviceSynchronize());
    }
    CK(cudaGetLastError());
    std::vector<unsigned char> y0, y1, a0, a1, u0, u1;
    dy[0].get(y0); dy[1].get(y1); dda[0].get(a0); dda[1].get(a1); ddu[0].get(u0); ddu[1].get(u1);
    const bool repro = y0 == y1 && a0 == a1 && u0 == u1;
    bool guards = da_.guards_ok() && du_.guards_ok() && dg.guards_ok();
    for (int r = 0; r < 2; ++r) guards = guards && dy[r].guards_ok() && dda[r].guards_ok() && ddu[r].guards_ok();
    Err ey = compare(dt, y0, yr);
    Err ea = compare(dt, a0, dar), eu = compare(dt, u0, dur);
    /* Every backward kernel (1 staged, per-thread du stores; 2 staged; 3 general; 4 staged with the
     * channel sum by shuffles; 5 that with the raw chunks of rows of any alignment fetched by TMA; 6 and 7
     * that with the raw rows realigned in rows of their own, or in place; 8 read where they land; 9 that by bulk
     * copies (16-bit); 10 the default before neighbouring threads exchanged their carries). */
    for (int variant = 1; variant <= BWD_VARIANTS; ++variant) {
        dda[1].poison(); ddu[1].poison();
        rc |= swr_cuda_backward_variant(variant, dt, da_.p(), du_.p(), dg.p(), dda[1].p(), ddu[1].p(), B, H, L, 16, k, nullptr);
        CK(cudaDeviceSynchronize());
        dda[1].get(a1); ddu[1].get(u1);
        const Err va = compare(dt, a1, dar), vu = compare(dt, u1, dur);
        ea.rel = std::max(ea.rel, va.rel); ea.maxn = std::max(ea.maxn, va.maxn); ea.nan += va.nan;
        eu.rel = std::max(eu.rel, vu.rel); eu.maxn = std::max(eu.maxn, vu.maxn); eu.nan += vu.nan;
        if (a1 == a0 && u1 == u0) ++n_bvariant_bitwise;
    }
    /* The other forward kernels (staged with per-thread stores; the general kernel; raw chunks of rows
     * of any alignment fetched by TMA; rows of any alignment through the realignment pass; 16-bit rows of
     * any alignment by bulk copies; the default with every step in the tiles): same tolerance. Variant 7
     * differs from the default only in where a row's last blocks are computed: bitwise equal, or the case fails. */
    bool ends_same = true;
    for (int variant = 1; variant <= FWD_VARIANTS; ++variant) {
        dy[1].poison();
        rc |= swr_cuda_forward_variant(variant, dt, da_.p(), du_.p(), dy[1].p(), B, H, L, 16, k, nullptr);
        CK(cudaDeviceSynchronize());
        dy[1].get(y1);
        const Err ev = compare(dt, y1, yr);
        ey.rel = std::max(ey.rel, ev.rel); ey.maxn = std::max(ey.maxn, ev.maxn); ey.nan += ev.nan;
        if (y1 == y0) ++n_variant_bitwise;
        else if (variant == 7) ends_same = false;
    }
    const double t = tol(dt);
    const bool ok = rc == SWR_OK && repro && guards && ends_same && ey.nan == 0 && ea.nan == 0 && eu.nan == 0 &&
                    ey.rel <= t && ea.rel <= t && eu.rel <= t && ey.maxn <= 4 * t && ea.maxn <= 4 * t &&
                    eu.maxn <= 4 * t;
    Worst& w = worst[dt];
    w.y = std::max(w.y, ey.rel); w.da = std::max(w.da, ea.rel); w.du = std::max(w.du, eu.rel);
    w.maxn = std::max({w.maxn, ey.maxn, ea.maxn, eu.maxn});
    ++n_cases;
    if (!ok) ++n_fail;
    if (verbose || !ok)
        printf("%-4s k=%-10d B=%lld H=%lld L=%-6lld %-8s%s%s  y %.2e/%.2e  da %.2e/%.2e  du %.2e/%.2e  nan %ld/%ld/%ld repro %d guards %d rc %d  %s\n",
               dname(dt), k, (long long) B, (long long) H, (long long) L, gname(gate), misalign ? (misalign == 1 ? " misal" : misalign == 3 ? " misal3" : " misal7") : "",
               pname(poison), ey.rel, ey.maxn, ea.rel, ea.maxn, eu.rel, eu.maxn, ey.nan, ea.nan, eu.nan, (int) (repro && ends_same), (int) guards, rc,
               ok ? "ok" : "FAIL");
    return ok;
}

static int check_invalid() {
    /* Argument checks: no launch, an error code. */
    int bad = 0;
    float* p = nullptr;
    CK(cudaMalloc(&p, 4096));
    bad += swr_cuda_forward(SWR_F32, p, p, p, 1, 1, 1, 8, 2, nullptr) != SWR_EINVAL;  /* block != 16 */
    bad += swr_cuda_forward(SWR_F32, p, p, p, 1, 1, 1, 16, 0, nullptr) != SWR_EINVAL; /* k = 0 */
    bad += swr_cuda_forward(SWR_F32, p, p, p, 1, 1, 1, 16, -3, nullptr) != SWR_EINVAL; /* k < 0 */
    bad += swr_cuda_forward(SWR_F32, p, p, p, 0, 1, 1, 16, 2, nullptr) != SWR_EINVAL; /* B = 0 */
    bad += swr_cuda_forward(SWR_F32, p, p, p, 1, 1, 0, 16, 2, nullptr) != SWR_EINVAL; /* L = 0 */
    bad += swr_cuda_forward(7, p, p, p, 1, 1, 1, 16, 2, nullptr) != SWR_EDTYPE;
    bad += swr_cuda_backward(SWR_F32, p, p, nullptr, p, p, 1, 1, 1, 16, 2, nullptr) != SWR_EINVAL;
    CK(cudaFree(p));
    printf("argument checks: %s\n", bad ? "FAIL" : "ok");
    return bad;
}

static int run_checks(bool small) {
    std::mt19937_64 rng(20261128);
    const int dts[] = {SWR_F32, SWR_BF16, SWR_F16, SWR_F64};
    int fails = check_invalid();
    if (small) {
        const int64_t Ls[] = {1, 17, 33, 515, 1100, 1032, 2056};
        for (int dt : dts)
            for (int k : {1, 2, 3, SWR_UNBOUNDED})
                for (int64_t L : Ls) run_case(dt, k, 2, 2, L, G_MIXED, L == 515, rng, true);
        for (int dt : dts) /* rows of any alignment: misaligned base pointers, tile-crossing rows */
            for (int k : {1, 2}) run_case(dt, k, 1, 2, 1041, G_MIXED, dt == SWR_F64 ? 1 : 3, rng, true);
        printf("cases: %d, failed: %d\n", n_cases, n_fail + fails);
        return fails + n_fail;
    }
    /* Lengths: tiny, block edges (16), tile edges (512 steps per CTA), the authors' failing lengths
     * (1536, 12288, 16384), odd ones (rows not 16-byte aligned), and one over 65536. */
    const int64_t Ls[] = {1, 2, 8, 15, 16, 17, 24, 31, 33, 100, 511, 512, 513, 520, 1000, 1024, 1040, 1536, 2056, 4097,
                          12288, 16384, 65536 + 37};
    std::uniform_int_distribution<int> Bd(1, 3), Hd(1, 3);
    int gi = 0;
    for (int64_t L : Ls)
        for (int dt : dts)
            for (int k = 1; k <= 2; ++k) {
                int64_t B = Bd(rng), H = Hd(rng);
                if (L > 20000) { B = 1; H = 2; }
                const int gate = gi++ % G_COUNT;
                run_case(dt, k, B, H, L, gate, false, rng, L >= 12288 || L == 1536);
            }
    /* Every gate distribution at a tile-crossing length, k = 2, all dtypes. */
    for (int dt : dts)
        for (int gate = 0; gate < G_COUNT; ++gate) run_case(dt, 2, 2, 2, 1536 + 5, gate, false, rng, false);
    /* Rows of any alignment (the default chunk path and the TMA variants) against their edges: a row's
     * short last tile (255, 257, 1025, 1041 around the 256-element boxes, 16-bit tiles of 1024 steps),
     * the buffers' first elements before the tensor map's 16-byte aligned start (base pointers 1, 3 or 7
     * elements off alignment), and long odd rows; every output element written, guards untouched. */
    for (int64_t L : {255, 257, 1025, 1041, 4095, 4097, 12289})
        for (int dt : dts)
            for (int mis : {1, 3, 7}) {
                if (mis * (int) dsize(dt) >= 16) continue;
                for (int k = 1; k <= 2; ++k) run_case(dt, k, L > 5000 ? 1 : 2, L > 5000 ? 1 : 2, L, gi++ % G_COUNT, mis, rng, false);
            }
    /* Misaligned base pointers (scalar path) and random shapes. */
    for (int dt : dts) run_case(dt, 2, 2, 3, 2048, G_UNIFORM, true, rng, true);
    std::uniform_int_distribution<int64_t> Ld(1, 3000);
    for (int i = 0; i < 40; ++i) {
        const int dt = dts[i % 4];
        run_case(dt, 1 + (i / 4) % 2, Bd(rng), Hd(rng), Ld(rng), (i / 8) % G_COUNT, i % 7 == 0, rng, false);
    }
    /* Any window: k = 3, 4, 7, 40 and the unbounded one, at every block phase around the chunk edges
     * (chunks of k - 1 blocks), tile edges and odd lengths. */
    const int ks[] = {3, 4, 7, 40, SWR_UNBOUNDED};
    const int64_t kLs[] = {1, 15, 16, 17, 33, 47, 48, 49, 64, 81, 100, 515, 1541, 4097, 12289};
    for (int kk : ks)
        for (int64_t L : kLs)
            for (int dt : dts) {
                const bool big = L > 1000 && kk != SWR_UNBOUNDED && kk > 4; /* CPU reference O(L k) */
                if (big && dt != SWR_F32) continue;
                run_case(dt, kk, Bd(rng), Hd(rng), L, gi++ % G_COUNT, L == 515, rng, L == 4097 || L == 12289);
            }
    /* Non-finite inputs: the finite/non-finite pattern of every output equals the term-by-term
     * reference's (a value the formula never multiplies must not reach an output). */
    const int pks[] = {1, 2, 3, 5, SWR_UNBOUNDED};
    const int64_t pLs[] = {17, 48, 100};
    for (int kk : pks)
        for (int64_t L : pLs)
            for (int pz = P_A0; pz < P_COUNT; ++pz)
                for (int dt : dts) run_case(dt, kk, 2, 2, L, G_UNIFORM, false, rng, false, pz);
    for (int pz = P_A0; pz < P_COUNT; ++pz) /* long rows: the tiled kernels' edges */
        run_case(SWR_F32, SWR_UNBOUNDED, 1, 2, 3000, G_UNIFORM, false, rng, true, pz);
    printf("\nworst errors (rel L2 of y / da / du; max-normalised over all), tolerance:\n");
    for (int dt : dts)
        printf("  %-4s  y %.2e  da %.2e  du %.2e  max %.2e   tol %.0e\n", dname(dt), worst[dt].y, worst[dt].da,
               worst[dt].du, worst[dt].maxn, tol(dt));
    printf("kernel variants bitwise equal to the default: forward %d of %d, backward %d of %d\n", n_variant_bitwise,
           FWD_VARIANTS * n_cases, n_bvariant_bitwise, BWD_VARIANTS * n_cases);
    printf("cases: %d, failed: %d\n", n_cases, n_fail + fails);
    return fails + n_fail;
}

/* ---- timing ---- */
static float time_ms(cudaEvent_t e0, cudaEvent_t e1) {
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    return ms;
}

/* ---- the fused Phalanx core (swr/phalanx_core.h) ----
 * Reference in float64 from the rounded inputs: u = rep(beta) v, dy = dm rep(c), the SWR reference
 * above, then m = y rep(c) + v, dv = dm + du rep(beta), dbeta = gsum(du v), dc = gsum(dm y). */
struct CoreWorst {
    double e[6] = {0, 0, 0, 0, 0, 0}; /* m, y, da, dbeta, dv, dc */
};
static CoreWorst core_worst[4];
static int n_core = 0, n_core_fail = 0, n_core_bitwise = 0, n_core_bitwise_of = 0, n_core_fbitwise = 0, n_core_fbitwise_of = 0;
static const char* core_names[6] = {"m", "y", "da", "dbeta", "dv", "dc"};

static bool run_core_case(int dt, int k, int64_t B, int64_t H, int64_t kvH, int64_t L, int gate, bool misalign,
                          std::mt19937_64& rng, bool verbose, int poison = P_NONE) {
    const int64_t C = 16 * H, G = 16 * kvH, r = H / kvH;
    const size_t na = B * H * L, nv = B * C * L, ng = B * G * L, es = dsize(dt);
    std::vector<unsigned char> ha(na * es), hb(ng * es), hv(nv * es), hc(ng * es), hm(nv * es);
    std::vector<double> a(na), beta(ng), v(nv), c(ng), dm(nv);
    std::uniform_real_distribution<double> S(-1.0, 1.0);
    for (size_t i = 0; i < na; ++i) a[i] = store(dt, ha.data(), i, draw_gate(gate, rng));
    for (size_t i = 0; i < ng; ++i) beta[i] = store(dt, hb.data(), i, S(rng));
    for (size_t i = 0; i < ng; ++i) c[i] = store(dt, hc.data(), i, S(rng));
    for (size_t i = 0; i < nv; ++i) v[i] = store(dt, hv.data(), i, S(rng));
    for (size_t i = 0; i < nv; ++i) dm[i] = store(dt, hm.data(), i, S(rng));
    place_poison(poison, dt, a, ha, v, hv, dm, hm, B, H, L, rng); /* v in u's place, dm in dy's */
    auto grow = [&](size_t i) { /* element of [B, C, L] -> its group element of [B, G, L] */
        const int64_t row = i / L, t = i % L, lane = row % 16, bh = row / 16, b = bh / H, h = bh % H;
        return (size_t) (((b * kvH + h / r) * 16 + lane) * L + t);
    };
    std::vector<double> u(nv), dy(nv), yr, dar, dur;
    for (size_t i = 0; i < nv; ++i) { u[i] = beta[grow(i)] * v[i]; dy[i] = dm[i] * c[grow(i)]; }
    if (!reference(a, u, dy, yr, dar, dur, B, H, L, k)) return false;
    std::vector<double> ref[6];
    ref[0].resize(nv); ref[4].resize(nv); ref[3].assign(ng, 0.0); ref[5].assign(ng, 0.0);
    ref[1] = yr; ref[2] = dar;
    for (size_t i = 0; i < nv; ++i) {
        const size_t gi = grow(i);
        ref[0][i] = yr[i] * c[gi] + v[i];
        ref[4][i] = dm[i] + dur[i] * beta[gi];
        ref[3][gi] += dur[i] * v[i];
        ref[5][gi] += dm[i] * yr[i];
    }

    const size_t mis = misalign ? es : 0;
    Dev d_a, d_b, d_v, d_c, d_dm, out[2][6];
    d_a.alloc(na * es, mis); d_b.alloc(ng * es, mis); d_v.alloc(nv * es, mis); d_c.alloc(ng * es, mis); d_dm.alloc(nv * es, mis);
    d_a.put(ha); d_b.put(hb); d_v.put(hv); d_c.put(hc); d_dm.put(hm);
    const size_t osz[6] = {nv, nv, na, ng, nv, ng};
    for (int q = 0; q < 2; ++q)
        for (int o = 0; o < 6; ++o) out[q][o].alloc(osz[o] * es, mis);
    int rc = SWR_OK;
    /* run 0 with y (forward writes it, backward is passed it), run 1 without: the same m and gradients */
    for (int q = 0; q < 2; ++q) {
        for (int o = 0; o < 6; ++o) out[q][o].poison();
        void* yp = q == 0 ? out[q][1].p() : nullptr;
        rc |= phalanx_core_cuda_forward(dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), out[q][0].p(), yp, B, H, kvH, L, 16, k, nullptr);
        rc |= phalanx_core_cuda_backward(dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), yp, d_dm.p(), out[q][2].p(), out[q][3].p(),
                                         out[q][4].p(), out[q][5].p(), B, H, kvH, L, 16, k, nullptr);
        CK(cudaDeviceSynchronize());
    }
    CK(cudaGetLastError());
    std::vector<unsigned char> h0[6], h1;
    bool repro = true, guards = d_a.guards_ok() && d_b.guards_ok() && d_v.guards_ok() && d_c.guards_ok() && d_dm.guards_ok();
    Err e[6];
    for (int o = 0; o < 6; ++o) {
        out[0][o].get(h0[o]);
        e[o] = compare(dt, h0[o], ref[o]);
        if (o != 1) { out[1][o].get(h1); repro = repro && h0[o] == h1; }
        guards = guards && out[0][o].guards_ok() && out[1][o].guards_ok();
    }
    /* Fused variants: the same operations in the same order, so bitwise the default's outputs [o0, o1), or
     * the case fails. run(var) launches variant var into out[1]. */
    bool variants_same = true;
    auto same_as_default = [&](int var, int o0, int o1, int& n_same, int& n_of, auto&& run) {
        for (int o = o0; o < o1; ++o) out[1][o].poison();
        rc |= run(var);
        CK(cudaDeviceSynchronize());
        bool same = true;
        for (int o = o0; o < o1; ++o) {
            out[1][o].get(h1);
            same = same && h0[o] == h1;
        }
        n_same += same;
        ++n_of;
        variants_same = variants_same && same;
    };
    /* backward variants 2 and 3 (carries recomputed / exchanged), 4 and 5 (3 with the group sums in registers) */
    for (int var : {2, 3, 4, 5})
        same_as_default(var, 2, 6, n_core_bitwise, n_core_bitwise_of, [&](int vr) {
            return phalanx_core_cuda_backward_variant(vr, dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), nullptr, d_dm.p(),
                                                      out[1][2].p(), out[1][3].p(), out[1][4].p(), out[1][5].p(), B, H,
                                                      kvH, L, 16, k, nullptr);
        });
    /* forward variant 2 (every step in the tiles): m and y */
    same_as_default(2, 0, 2, n_core_fbitwise, n_core_fbitwise_of, [&](int vr) {
        return phalanx_core_cuda_forward_variant(vr, dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), out[1][0].p(), out[1][1].p(),
                                                 B, H, kvH, L, 16, k, nullptr);
    });
    /* the composed (unfused) variant: the same function */
    for (int o = 0; o < 6; ++o) out[1][o].poison();
    rc |= phalanx_core_cuda_forward_variant(1, dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), out[1][0].p(), out[1][1].p(), B, H,
                                            kvH, L, 16, k, nullptr);
    rc |= phalanx_core_cuda_backward_variant(1, dt, d_a.p(), d_b.p(), d_v.p(), d_c.p(), nullptr, d_dm.p(), out[1][2].p(),
                                             out[1][3].p(), out[1][4].p(), out[1][5].p(), B, H, kvH, L, 16, k, nullptr);
    CK(cudaDeviceSynchronize());
    for (int o = 0; o < 6; ++o) {
        out[1][o].get(h1);
        const Err ev = compare(dt, h1, ref[o]);
        e[o].rel = std::max(e[o].rel, ev.rel); e[o].maxn = std::max(e[o].maxn, ev.maxn); e[o].nan += ev.nan;
    }
    /* dbeta and dc sum H / kvH products per element: scale the tolerance of the 16-bit types by it */
    const double t = tol(dt);
    bool ok = rc == SWR_OK && repro && guards && variants_same;
    for (int o = 0; o < 6; ++o) {
        ok = ok && e[o].nan == 0 && e[o].rel <= t && e[o].maxn <= 4 * t;
        core_worst[dt].e[o] = std::max(core_worst[dt].e[o], e[o].rel);
    }
    ++n_core;
    if (!ok) ++n_core_fail;
    if (verbose || !ok) {
        printf("core %-4s k=%-10d B=%lld H=%lld kvH=%lld L=%-6lld %-8s%s%s ", dname(dt), k, (long long) B, (long long) H,
               (long long) kvH, (long long) L, gname(gate), misalign ? " misal" : "", pname(poison));
        for (int o = 0; o < 6; ++o) printf(" %s %.1e/%.1e/%ld", core_names[o], e[o].rel, e[o].maxn, e[o].nan);
        printf("  repro %d guards %d variants %d rc %d  %s\n", (int) repro, (int) guards, (int) variants_same, rc, ok ? "ok" : "FAIL");
    }
    return ok;
}

static int check_core_invalid() {
    int bad = 0;
    float* p = nullptr;
    CK(cudaMalloc(&p, 1 << 20));
    float* q = p + 4096; /* disjoint buffers */
    auto fwd = [&](int dt, const void* a, const void* b, const void* v, const void* c, void* m, void* y, int64_t B,
                   int64_t H, int64_t kvH, int64_t L, int blk, int k) {
        return phalanx_core_cuda_forward(dt, a, b, v, c, m, y, B, H, kvH, L, blk, k, nullptr);
    };
    bad += fwd(SWR_F32, p, p, p, p, q, nullptr, 1, 2, 3, 16, 16, 2) != SWR_EINVAL; /* kvH does not divide H */
    bad += fwd(SWR_F32, p, p, p, p, q, nullptr, 1, 2, 0, 16, 16, 2) != SWR_EINVAL; /* kvH = 0 */
    bad += fwd(SWR_F32, p, p, p, p, q, nullptr, 1, 2, 4, 16, 16, 2) != SWR_EINVAL; /* kvH > H */
    bad += fwd(SWR_F32, p, p, p, p, q, nullptr, 1, 2, 1, 16, 8, 2) != SWR_EINVAL;  /* block != 16 */
    bad += fwd(SWR_F32, p, p, p, p, q, nullptr, 1, 2, 1, 0, 16, 2) != SWR_EINVAL;  /* L = 0 */
    bad += fwd(SWR_F32, p, p, p, p, nullptr, nullptr, 1, 1, 1, 16, 16, 2) != SWR_EINVAL; /* no m */
    bad += fwd(SWR_F32, p, p, p, p, p, nullptr, 1, 1, 1, 16, 16, 2) != SWR_EINVAL; /* m aliases v */
    bad += fwd(SWR_F32, p, p, p, p, q, q + 8, 1, 1, 1, 16, 16, 2) != SWR_EINVAL;  /* y overlaps m */
    bad += fwd(9, p, p, p, p, q, nullptr, 1, 1, 1, 16, 16, 2) != SWR_EDTYPE;
    bad += phalanx_core_cuda_backward(SWR_F32, p, p, p, p, nullptr, p, q, q + 1024, q + 2048, nullptr, 1, 1, 1, 16, 16, 2,
                                      nullptr) != SWR_EINVAL; /* no dc */
    bad += phalanx_core_cuda_backward(SWR_F32, p, p, p, p, nullptr, p, q, q + 1024, q + 2048, q + 2048, 1, 1, 1, 16, 16, 2,
                                      nullptr) != SWR_EINVAL; /* dc aliases dv */
    CK(cudaFree(p));
    printf("core argument checks: %s\n", bad ? "FAIL" : "ok");
    return bad;
}

static int run_core_checks(bool small) {
    std::mt19937_64 rng(20261202);
    const int dts[] = {SWR_F32, SWR_BF16, SWR_F16, SWR_F64};
    int fails = check_core_invalid();
    if (small) {
        for (int dt : {SWR_F32, SWR_BF16})
            for (int k : {1, 2, 3})
                for (int64_t L : {17, 300, 1030}) {
                    run_core_case(dt, k, 2, 2, 2, L, G_MIXED, L == 300, rng, true);
                    run_core_case(dt, k, 1, 4, 1, L, G_MIXED, L == 1030, rng, true);
                }
    } else {
        /* lengths: tiny, block and 16-byte edges, backward tiles (256), forward tiles (256-1024), odd */
        const int64_t Ls[] = {1, 2, 15, 16, 17, 100, 255, 256, 257, 1000, 1024, 1025, 2049, 4097};
        int gi = 0;
        for (int64_t L : Ls)
            for (int dt : dts)
                for (int k : {1, 2, 3, SWR_UNBOUNDED}) {
                    if (k == 3 && L > 2000 && dt != SWR_F32) continue;
                    const bool mis = gi % 5 == 4;
                    run_core_case(dt, k, 2, 2, 2, L, gi % G_COUNT, mis, rng, false);      /* kvH = H */
                    run_core_case(dt, k, 1, 4, 2, L, (gi + 1) % G_COUNT, mis, rng, false); /* 2 heads per group */
                    if (L >= 256) run_core_case(dt, k, 2, 8, 1, L, (gi + 2) % G_COUNT, !mis, rng, false); /* 8 per group */
                    ++gi;
                }
        const int pks[] = {1, 2, 3, SWR_UNBOUNDED};
        for (int kk : pks)
            for (int64_t L : {17, 100, 300})
                for (int pz = P_A0; pz < P_COUNT; ++pz)
                    for (int dt : dts) run_core_case(dt, kk, 1, 4, 2, L, G_UNIFORM, false, rng, false, pz);
    }
    printf("\ncore worst errors (rel L2):\n");
    for (int dt : dts) {
        printf("  %-4s", dname(dt));
        for (int o = 0; o < 6; ++o) printf("  %s %.2e", core_names[o], core_worst[dt].e[o]);
        printf("   tol %.0e\n", tol(dt));
    }
    printf("core forward variant 2 bitwise equal to the default: %d of %d\n", n_core_fbitwise, n_core_fbitwise_of);
    printf("core backward variants 2-5 bitwise equal to the default: %d of %d\n", n_core_bitwise, n_core_bitwise_of);
    printf("core cases: %d, failed: %d\n", n_core, n_core_fail + fails);
    return fails + n_core_fail;
}

/* Timings of the fused core against its floor and the composed (unfused) steps. Floors: forward reads
 * a, beta, v, c and writes m; backward reads a, beta, v, c, dm and writes da, dbeta, dv, dc. */
static int run_core_bench(double copy_bw, cudaEvent_t e0, cudaEvent_t e1) {
    const int64_t H = 128, C = 16 * H;
    const int64_t shapes[][2] = {{8, 4096}, {1, 32768}, {8, 4095}, {2, 12289}, {3, 5555}};
    const int dts[] = {SWR_BF16, SWR_F16, SWR_F32};
    const char* only_env = getenv("SWR_BENCH_DTYPES");
    const std::string only = only_env ? "," + std::string(only_env) + "," : "";
    size_t maxv = 0;
    for (auto& sh : shapes) maxv = std::max(maxv, (size_t) (sh[0] * C * sh[1]));
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> U(0.0, 1.0), S(-1.0, 1.0);
    for (int dt : dts) {
        if (!only.empty() && only.find("," + std::string(dname(dt)) + ",") == std::string::npos) continue;
        const size_t es = dsize(dt);
        void *a, *b, *v, *c, *m, *y, *dm, *da, *db, *dv, *dc;
        {
            std::vector<unsigned char> ha(maxv / 16 * es), hv(maxv * es);
            for (size_t i = 0; i < maxv / 16; ++i) store(dt, ha.data(), i, U(rng));
            for (size_t i = 0; i < maxv; ++i) store(dt, hv.data(), i, S(rng));
            for (void** p : {&a, &da}) CK(cudaMalloc(p, maxv / 16 * es));
            for (void** p : {&b, &v, &c, &m, &y, &dm, &db, &dv, &dc}) CK(cudaMalloc(p, maxv * es));
            CK(cudaMemcpy(a, ha.data(), maxv / 16 * es, cudaMemcpyHostToDevice));
            for (void* p : {b, v, c, dm}) CK(cudaMemcpy(p, hv.data(), maxv * es, cudaMemcpyHostToDevice));
        }
        for (auto& sh : shapes)
            for (int64_t kvH : {H, H / 8}) {
                const int64_t B = sh[0], L = sh[1], G = 16 * kvH;
                const double na = B * H * L, nv = B * C * L, ng = B * G * L;
                int rc = 0;
                auto timed = [&](auto&& fn, int n) {
                    for (int i = 0; i < 3; ++i) fn();
                    CK(cudaEventRecord(e0));
                    for (int i = 0; i < n; ++i) fn();
                    CK(cudaEventRecord(e1));
                    CK(cudaEventSynchronize(e1));
                    return (double) time_ms(e0, e1) / n;
                };
                auto fwd = [&](int var) {
                    rc |= phalanx_core_cuda_forward_variant(var, dt, a, b, v, c, m, nullptr, B, H, kvH, L, 16, 2, nullptr);
                };
                auto bwd = [&](int var) {
                    rc |= phalanx_core_cuda_backward_variant(var, dt, a, b, v, c, nullptr, dm, da, db, dv, dc, B, H, kvH, L,
                                                             16, 2, nullptr);
                };
                const double f = timed([&] { fwd(0); }, 30), bw = timed([&] { bwd(0); }, 30);
                const double fb = timed([&] { fwd(0); bwd(0); }, 30);
                const double fu = timed([&] { fwd(1); }, 10), bu = timed([&] { bwd(1); }, 10), f2 = timed([&] { fwd(2); }, 30);
                const double b2 = timed([&] { bwd(2); }, 30), b3 = timed([&] { bwd(3); }, 30);
                const double b4 = kvH < H ? timed([&] { bwd(4); }, 30) : 0, b5 = kvH < H ? timed([&] { bwd(5); }, 30) : 0;
                CK(cudaGetLastError());
                if (rc) { printf("core launch failed\n"); return 1; }
                const double ff = es * (na + 2 * ng + 2 * nv) / copy_bw * 1e3;
                const double bf = es * (2 * na + 4 * ng + 3 * nv) / copy_bw * 1e3;
                printf("CORE dtype=%s B=%lld L=%lld kvH=%lld fwd_ms=%.5f fwd_floor_ms=%.5f bwd_ms=%.5f bwd_floor_ms=%.5f "
                       "fb_ms=%.5f fb_floor_ms=%.5f unfused_fwd_ms=%.5f unfused_bwd_ms=%.5f bwd2_ms=%.5f bwd3_ms=%.5f fwd2_ms=%.5f bwd4_ms=%.5f bwd5_ms=%.5f\n",
                       dname(dt), (long long) B, (long long) L, (long long) kvH, f, ff, bw, bf, fb, ff + bf, fu, bu, b2, b3, f2, b4, b5);
            }
        for (void* p : {a, b, v, c, m, y, dm, da, db, dv, dc}) cudaFree(p);
    }
    return 0;
}

static int run_bench(bool swr, bool core, bool quick) {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    char date[64];
    const time_t now = time(nullptr);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("GPU: %s (sm_%d%d, %d SMs, %.0f GiB), %s\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
           prop.totalGlobalMem / 1073741824.0, date);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    /* Device copy bandwidth: cudaMemcpy D2D, bytes read + written. */
    const size_t cb = 1ull << 30;
    void *s = nullptr, *d = nullptr;
    CK(cudaMalloc(&s, cb));
    CK(cudaMalloc(&d, cb));
    CK(cudaMemset(s, 1, cb));
    for (int i = 0; i < 3; ++i) CK(cudaMemcpyAsync(d, s, cb, cudaMemcpyDeviceToDevice));
    const int creps = 20;
    CK(cudaEventRecord(e0));
    for (int i = 0; i < creps; ++i) CK(cudaMemcpyAsync(d, s, cb, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    const double copy_bw = 2.0 * cb * creps / (time_ms(e0, e1) * 1e-3); /* bytes / s */
    CK(cudaFree(s));
    CK(cudaFree(d));
    printf("copy bandwidth (cudaMemcpy D2D 1 GiB, read + write): %.0f GB/s\n\n", copy_bw / 1e9);
    if (!swr) return core ? run_core_bench(copy_bw, e0, e1) : 0;

    /* Every shape is also timed with the backward that was the default before (variant 10: each thread
     * recomputing its neighbours' carries), side by side in the same run; the forward is unchanged, and
     * rows not 16-byte aligned also time backward variant 8 (rows read in place from cp.async chunks: in
     * 16-bit the alternative to the default's bulk copies). */
    constexpr int PREV_BWD = 10; /* the backward default until 2026-12-03 (still float32's) */
    /* C = 2048 (H = 128); aligned shapes at 32768 tokens, then lengths that are not a multiple of 8
     * (rows not 16-byte aligned) and random ones, at several B. One input set per dtype, reused. */
    const int64_t H = 128, C = 16 * H;
    const int64_t shapes[][2] = {{8, 4096}, {4, 8192}, {2, 16384}, {1, 32768}, {8, 4095}, {8, 4097}, {8, 4100},
                                 {4, 8191}, {2, 12289}, {1, 32767}, {3, 5555}, {5, 2049}, {16, 1021}};
    size_t maxu = 0;
    for (auto& sh : shapes) maxu = std::max(maxu, (size_t) (sh[0] * C * sh[1]));
    const int dts[] = {SWR_BF16, SWR_F16, SWR_F32, SWR_F64};
    const char* only_env = getenv("SWR_BENCH_DTYPES"); /* e.g. "bf16,f32" */
    const std::string only = only_env ? "," + std::string(only_env) + "," : "";
    printf("%-5s %-11s %10s %10s %7s %12s %12s %7s %9s %9s\n", "dtype", "(B, L)", "fwd ms", "floor ms", "ratio",
           "fwd+bwd ms", "floor ms", "ratio", "fwd GB/s", "bwd GB/s");
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> U(0.0, 1.0), S(-1.0, 1.0);
    for (int dt : dts) {
        if (!only.empty() && only.find("," + std::string(dname(dt)) + ",") == std::string::npos) continue;
        const size_t es = dsize(dt), maxa = maxu / 16;
        void *a, *u, *y, *g, *da, *du;
        {
            std::vector<unsigned char> ha(maxa * es), hu(maxu * es);
            for (size_t i = 0; i < maxa; ++i) store(dt, ha.data(), i, U(rng));
            for (size_t i = 0; i < maxu; ++i) store(dt, hu.data(), i, S(rng));
            CK(cudaMalloc(&a, maxa * es)); CK(cudaMalloc(&u, maxu * es)); CK(cudaMalloc(&y, maxu * es));
            CK(cudaMalloc(&g, maxu * es)); CK(cudaMalloc(&da, maxa * es)); CK(cudaMalloc(&du, maxu * es));
            CK(cudaMemcpy(a, ha.data(), maxa * es, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(u, hu.data(), maxu * es, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(g, hu.data(), maxu * es, cudaMemcpyHostToDevice)); /* any non-zero gradient */
        }
        /* a copy of the bytes a kernel moves (half read, half written), to show what memory itself takes at
         * that size (launch, ramp and the last wave included) beside the asymptotic floor */
        void *cs = nullptr, *cd = nullptr;
        const size_t cmax = 2 * maxu * es;
        CK(cudaMalloc(&cs, cmax));
        CK(cudaMalloc(&cd, cmax));
        CK(cudaMemset(cs, 0, cmax));
        for (auto& sh : shapes) {
            const int64_t B = sh[0], L = sh[1];
            const size_t na = B * H * L, nu = B * C * L;
            const int reps = 30;
            int rc = 0;
            auto timed = [&](auto&& fn, int n) {
                for (int i = 0; i < 3; ++i) fn();
                CK(cudaEventRecord(e0));
                for (int i = 0; i < n; ++i) fn();
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                return (double) time_ms(e0, e1) / n;
            };
            const double fwd = timed([&] { rc |= swr_cuda_forward(dt, a, u, y, B, H, L, 16, 2, nullptr); }, reps);
            const double old_f = timed([&] { rc |= swr_cuda_forward_variant(7, dt, a, u, y, B, H, L, 16, 2, nullptr); }, reps);
            double var_ms[4] = {0, 0, 0, 0}, bvar_ms[5] = {0, 0, 0, 0, 0}, bwd8 = 0;
            const double bwd = timed([&] { rc |= swr_cuda_backward(dt, a, u, g, da, du, B, H, L, 16, 2, nullptr); }, reps);
            const double old_b = timed([&] { rc |= swr_cuda_backward_variant(PREV_BWD, dt, a, u, g, da, du, B, H, L, 16, 2, nullptr); }, reps);
            const double old_fb = timed([&] {
                rc |= swr_cuda_forward(dt, a, u, y, B, H, L, 16, 2, nullptr);
                rc |= swr_cuda_backward_variant(PREV_BWD, dt, a, u, g, da, du, B, H, L, 16, 2, nullptr);
            }, reps);
            if ((L * (int64_t) es) % 16)
                bwd8 = timed([&] { rc |= swr_cuda_backward_variant(8, dt, a, u, g, da, du, B, H, L, 16, 2, nullptr); }, reps);
            for (int variant = 1; variant <= 3 && !quick; ++variant)
                var_ms[variant] = timed([&] { rc |= swr_cuda_forward_variant(variant, dt, a, u, y, B, H, L, 16, 2, nullptr); }, reps);
            for (int variant = 1; variant <= 4 && !quick; ++variant)
                bvar_ms[variant] = timed([&] { rc |= swr_cuda_backward_variant(variant, dt, a, u, g, da, du, B, H, L, 16, 2, nullptr); }, reps);
            const double fb = timed([&] {
                rc |= swr_cuda_forward(dt, a, u, y, B, H, L, 16, 2, nullptr);
                rc |= swr_cuda_backward(dt, a, u, g, da, du, B, H, L, 16, 2, nullptr);
            }, reps);
            const size_t fcopy = es * (na + 2 * nu) / 2, bcopy = es * (2 * na + 3 * nu) / 2;
            const double copy_f = timed([&] { CK(cudaMemcpyAsync(cd, cs, fcopy, cudaMemcpyDeviceToDevice)); }, reps);
            const double copy_b = timed([&] { CK(cudaMemcpyAsync(cd, cs, bcopy, cudaMemcpyDeviceToDevice)); }, reps);
            CK(cudaGetLastError());
            if (rc) { printf("launch failed\n"); return 1; }
            /* Floors: forward reads a, u and writes y; backward reads a, u, dy and writes da, du. */
            const double fbytes = (double) es * (na + 2 * nu), bbytes = (double) es * (2 * na + 3 * nu);
            const double ffloor = fbytes / copy_bw * 1e3, fbfloor = (fbytes + bbytes) / copy_bw * 1e3;
            printf("%-5s (%lld, %5lld) %10.4f %10.4f %7.2f %12.4f %12.4f %7.2f %9.0f %9.0f\n", dname(dt), (long long) B,
                   (long long) L, fwd, ffloor, fwd / ffloor, fb, fbfloor, fb / fbfloor, fbytes / fwd / 1e6,
                   bbytes / (fb - fwd) / 1e6);
            printf("VARIANTS dtype=%s B=%lld L=%lld fwd: staged_thread_stores_ms=%.4f staged_coalesced_ms=%.4f general_ms=%.4f"
                   "  bwd: staged_thread_stores_ms=%.4f staged_coalesced_ms=%.4f general_ms=%.4f staged_shfl_ms=%.4f\n",
                   dname(dt), (long long) B, (long long) L, var_ms[1], var_ms[2], var_ms[3], bvar_ms[1], bvar_ms[2],
                   bvar_ms[3], bvar_ms[4]);
            printf("BENCH dtype=%s B=%lld L=%lld fwd_ms=%.5f fwd_floor_ms=%.5f fb_ms=%.5f fb_floor_ms=%.5f copy_GBs=%.1f"
                   " prev_fb_ms=%.5f bwd_ms=%.5f bwd_floor_ms=%.5f prev_bwd_ms=%.5f bwd8_ms=%.5f copy_fwd_ms=%.5f"
                   " copy_bwd_ms=%.5f prev_fwd_ms=%.5f\n",
                   dname(dt), (long long) B, (long long) L, fwd, ffloor, fb, fbfloor, copy_bw / 1e9, old_fb, bwd,
                   bbytes / copy_bw * 1e3, old_b, bwd8, copy_f, copy_b, old_f);
            /* Other windows (the multi-pass path), at the first two shapes. */
            if (!quick && (&sh - &shapes[0] == 0 || &sh - &shapes[0] == 5))
                for (int kk : {1, 3, 8, SWR_UNBOUNDED}) {
                    const double kf = timed([&] { rc |= swr_cuda_forward(dt, a, u, y, B, H, L, 16, kk, nullptr); }, 10);
                    const double kb = timed([&] {
                        rc |= swr_cuda_forward(dt, a, u, y, B, H, L, 16, kk, nullptr);
                        rc |= swr_cuda_backward(dt, a, u, g, da, du, B, H, L, 16, kk, nullptr);
                    }, 10);
                    CK(cudaGetLastError());
                    if (rc) { printf("launch failed (k = %d)\n", kk); return 1; }
                    printf("WINDOW dtype=%s B=%lld L=%lld k=%d fwd_ms=%.5f fwd_x_floor=%.2f fb_ms=%.5f fb_x_floor=%.2f\n",
                           dname(dt), (long long) B, (long long) L, kk, kf, kf / ffloor, kb, kb / fbfloor);
                }
        }
        cudaFree(a); cudaFree(u); cudaFree(y); cudaFree(g); cudaFree(da); cudaFree(du); cudaFree(cs); cudaFree(cd);
    }
    return core ? run_core_bench(copy_bw, e0, e1) : 0;
}

/* One launch of each default kernel at C = 2048 (for a profiler: ncu): SWR forward and backward at
 * (8, 4096) and (8, 4095), the fused core forward and backward at (8, 4096) and (8, 4095), kvH = H, H / 8,
 * and the SWR forward at (8, 4097) and (5, 2049).
 * SWR_PROF_DTYPE picks the type (default bf16). */
static int run_profile() {
    const char* e = getenv("SWR_PROF_DTYPE");
    const int dt = !e ? SWR_BF16 : !strcmp(e, "f32") ? SWR_F32 : !strcmp(e, "f16") ? SWR_F16 : !strcmp(e, "f64") ? SWR_F64 : SWR_BF16;
    const int64_t H = 128, C = 16 * H, B = 8, Lmax = 4097;
    const size_t es = dsize(dt), nv = B * C * Lmax, na = B * H * Lmax;
    void *a, *b, *v, *c, *m, *dm, *da, *db, *dv, *dc;
    for (void** p : {&a, &da}) { CK(cudaMalloc(p, na * es)); CK(cudaMemset(*p, 0x3c, na * es)); }
    for (void** p : {&b, &v, &c, &m, &dm, &db, &dv, &dc}) { CK(cudaMalloc(p, nv * es)); CK(cudaMemset(*p, 0x3c, nv * es)); }
    int rc = 0;
    for (int64_t L : {4096, 4095}) {
        rc |= swr_cuda_forward(dt, a, v, m, B, H, L, 16, 2, nullptr);
        rc |= swr_cuda_backward(dt, a, v, dm, da, dv, B, H, L, 16, 2, nullptr);
        if (L % 8) /* the other realignments: rows of their own, in place, read where they land */
            for (int var : {6, 7, 8}) rc |= swr_cuda_backward_variant(var, dt, a, v, dm, da, dv, B, H, L, 16, 2, nullptr);
        for (int64_t kvH : {H, H / 8}) {
            rc |= phalanx_core_cuda_forward(dt, a, b, v, c, m, nullptr, B, H, kvH, L, 16, 2, nullptr);
            rc |= phalanx_core_cuda_backward(dt, a, b, v, c, nullptr, dm, da, db, dv, dc, B, H, kvH, L, 16, 2, nullptr);
        }
    }
    /* forwards whose rows end in a short tile: (8, 4097), (5, 2049) */
    rc |= swr_cuda_forward(dt, a, v, m, B, H, 4097, 16, 2, nullptr);
    rc |= swr_cuda_forward(dt, a, v, m, 5, H, 2049, 16, 2, nullptr);
    CK(cudaDeviceSynchronize());
    for (void* p : {a, b, v, c, m, dm, da, db, dv, dc}) cudaFree(p);
    printf("profile launches: %s\n", rc ? "FAILED" : "ok");
    return rc ? 1 : 0;
}

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "check";
    int dev = 0;
    if (cudaGetDeviceCount(&dev) != cudaSuccess || dev == 0) {
        printf("no CUDA device\n");
        return 2;
    }
    if (mode == "check") return run_checks(false) + run_core_checks(false) ? 1 : 0;
    if (mode == "small") return run_checks(true) + run_core_checks(true) ? 1 : 0;
    if (mode == "core") return run_core_checks(false) ? 1 : 0;
    if (mode == "bench") return run_bench(true, true, false);
    if (mode == "quick") return run_bench(true, true, true);   /* default kernels only, no variants or windows */
    if (mode == "corebench") return run_bench(false, true, true);
    if (mode == "profile") return run_profile();
    fprintf(stderr, "usage: %s check|small|core|bench|quick|corebench|profile\n", argv[0]);
    return 2;
}
