// Native check of the CPU kernels against swr_reference.h (float64, the formula term by term):
// forward, backward, streaming in pieces, every window kind (k = 1, 2, 3.., >= the number of blocks,
// SWR_UNBOUNDED), huge block and window arguments, NaN and Inf where the formula never multiplies
// them, and the error codes; then the fused Phalanx core (phalanx_core.h) against the same
// reference composed as the header defines it, with grouped heads. CI runs it for each instruction-set build (PHALANX_SWR_ISA=0, 3, 4),
// also under -fsanitize=address,undefined.
// Build: g++ -O2 -fopenmp -I../../main/cpp/include -I../../main/cpp/cpu swr_cpu_check.cpp ../../main/cpp/cpu/swr_cpu.cpp
#include "swr/phalanx_core.h"
#include "swr/swr_cpu.h"
#include "swr_reference.h"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#ifdef _OPENMP
#include <omp.h>
#endif

static int fails = 0;

/* Same finite/non-finite pattern as the reference, and ||x - ref|| / ||ref|| < tol over the finite part. */
template <typename V>
static bool close(const char* what, const std::string& where, const V& x, const std::vector<double>& r, double tol) {
    double n = 0, d = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        const double xi = (double) x[i];
        if (std::isfinite(xi) != std::isfinite(r[i])) {
            printf("FAIL %s %s: element %zu is %g, reference %g\n", where.c_str(), what, i, xi, r[i]);
            ++fails;
            return false;
        }
        if (std::isfinite(r[i])) { n += (xi - r[i]) * (xi - r[i]); d += r[i] * r[i]; }
    }
    const double e = std::sqrt(n / (d > 0 ? d : 1));
    if (!(e < tol)) {
        printf("FAIL %s %s: relative error %.3e (tolerance %.1e)\n", where.c_str(), what, e, tol);
        ++fails;
        return false;
    }
    return true;
}

static void expect_rc(const std::string& where, int rc, int want) {
    if (rc != want) {
        printf("FAIL %s: returned %d, expected %d\n", where.c_str(), rc, want);
        ++fails;
    }
}

static int stream_f(const float* a, const float* u, float* y, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                    float* h, float* P, float* v, float* rv, float* rA, int64_t pos) {
    return swr_cpu_forward_stream_f32(a, u, y, B, H, L, block, k, h, P, v, rv, rA, pos);
}
static int stream_f(const double* a, const double* u, double* y, int64_t B, int64_t H, int64_t L, int32_t block,
                    int32_t k, double* h, double* P, double* v, double* rv, double* rA, int64_t pos) {
    return swr_cpu_forward_stream_f64(a, u, y, B, H, L, block, k, h, P, v, rv, rA, pos);
}

/* Streams a [B, H, L], u [B, C, L] in pieces (sizes from `piece`, cycled) and returns y. */
template <typename T>
static std::vector<T> stream(const std::vector<T>& a, const std::vector<T>& u, int64_t B, int64_t H, int64_t L,
                             int32_t block, int32_t k, const std::vector<int64_t>& piece, const std::string& where) {
    const int64_t C = 16 * H;
    const int64_t slots = k >= 3 && k != SWR_UNBOUNDED ? k - 2 : 0;
    std::vector<T> y(B * C * L), h(B * C, T(7)), P(B * H, T(7)), v(B * C, T(7)), rv(B * slots * C + 1), rA(B * slots * H + 1);
    std::vector<T> ap, up, yp;
    size_t next = 0;
    for (int64_t t0 = 0; t0 < L;) {
        const int64_t n = std::min<int64_t>(piece[next++ % piece.size()], L - t0);
        ap.assign(B * H * n, T(0));
        up.assign(B * C * n, T(0));
        yp.assign(B * C * n, T(0));
        for (int64_t r = 0; r < B * H; ++r) for (int64_t i = 0; i < n; ++i) ap[r * n + i] = a[r * L + t0 + i];
        for (int64_t r = 0; r < B * C; ++r) for (int64_t i = 0; i < n; ++i) up[r * n + i] = u[r * L + t0 + i];
        expect_rc(where + " stream", stream_f(ap.data(), up.data(), yp.data(), B, H, n, block, k, h.data(), P.data(),
                                              v.data(), slots ? rv.data() : nullptr, slots ? rA.data() : nullptr, t0),
                  SWR_OK);
        for (int64_t r = 0; r < B * C; ++r) for (int64_t i = 0; i < n; ++i) y[r * L + t0 + i] = yp[r * n + i];
        t0 += n;
    }
    return y;
}

/*
 * One configuration: float64 and float32 forward, backward and (where asked) streaming in pieces of
 * 1, 3, 16, 17 and random sizes, against the reference on the same (rounded) inputs.
 */
static void check(const std::string& where, const std::vector<double>& a, const std::vector<double>& u,
                  const std::vector<double>& dy, int64_t B, int64_t H, int64_t L, int32_t block, int32_t k,
                  bool streaming, std::mt19937_64& rng) {
    const int64_t C = 16 * H;
    std::vector<double> yr, dar, dur;
    swr_ref::forward(a, u, yr, B, H, L, block, k);
    swr_ref::backward(a, u, dy, dar, dur, B, H, L, block, k);
    std::vector<double> y(B * C * L), da(B * H * L), du(B * C * L);
    expect_rc(where + " f64 forward", swr_cpu_forward_f64(a.data(), u.data(), y.data(), B, H, L, block, k), SWR_OK);
    expect_rc(where + " f64 backward", swr_cpu_backward_f64(a.data(), u.data(), dy.data(), da.data(), du.data(), B, H, L, block, k), SWR_OK);
    close("f64 y", where, y, yr, 1e-12);
    close("f64 da", where, da, dar, 1e-12);
    close("f64 du", where, du, dur, 1e-12);

    // float32 (block 16, k <= 2 on AVX-512/AVX2: the in-register scans), against the reference on rounded inputs
    std::vector<float> af(a.begin(), a.end()), uf(u.begin(), u.end()), gf(dy.begin(), dy.end());
    std::vector<float> yf(B * C * L), daf(B * H * L), duf(B * C * L);
    expect_rc(where + " f32 forward", swr_cpu_forward_f32(af.data(), uf.data(), yf.data(), B, H, L, block, k), SWR_OK);
    expect_rc(where + " f32 backward", swr_cpu_backward_f32(af.data(), uf.data(), gf.data(), daf.data(), duf.data(), B, H, L, block, k), SWR_OK);
    std::vector<double> a32(af.begin(), af.end()), u32(uf.begin(), uf.end()), g32(gf.begin(), gf.end()), yr32, dar32, dur32;
    swr_ref::forward(a32, u32, yr32, B, H, L, block, k);
    swr_ref::backward(a32, u32, g32, dar32, dur32, B, H, L, block, k);
    close("f32 y", where, yf, yr32, 2e-6);
    close("f32 da", where, daf, dar32, 5e-5); /* a sum over 16 channels: cancellation */
    close("f32 du", where, duf, dur32, 2e-6);

    if (!streaming) return;
    std::uniform_int_distribution<int64_t> any(1, 40);
    const std::vector<std::vector<int64_t>> pieces = {{1}, {3}, {16}, {17}, {any(rng), any(rng), any(rng), any(rng)}, {L}};
    for (const auto& p : pieces) {
        close("f64 stream y", where + " pieces " + std::to_string(p[0]), stream(a, u, B, H, L, block, k, p, where), yr, 1e-12);
        close("f32 stream y", where + " pieces " + std::to_string(p[0]), stream(af, uf, B, H, L, block, k, p, where), yr32, 2e-6);
    }
}

static std::vector<double> uniform(std::mt19937_64& rng, size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> x(n);
    for (auto& e : x) e = d(rng);
    return x;
}

/* The fused core's reference, composed from the SWR reference exactly as phalanx_core.h defines it. */
struct CoreRef {
    std::vector<double> y, m, da, dbeta, dv, dc;
};
static CoreRef core_reference(const std::vector<double>& a, const std::vector<double>& beta, const std::vector<double>& v,
                              const std::vector<double>& c, const std::vector<double>& dm, int64_t B, int64_t H, int64_t kvH,
                              int64_t L, int32_t block, int32_t k) {
    const int64_t C = 16 * H, G = 16 * kvH, per = H / kvH;
    auto grp = [&](int64_t b, int64_t j, int64_t t) { return (b * G + (j / 16) / per * 16 + j % 16) * L + t; };
    std::vector<double> u(B * C * L), dy(B * C * L), du;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < C; ++j)
            for (int64_t t = 0; t < L; ++t) {
                const int64_t i = (b * C + j) * L + t;
                u[i] = beta[grp(b, j, t)] * v[i];
                dy[i] = dm[i] * c[grp(b, j, t)];
            }
    CoreRef r;
    swr_ref::forward(a, u, r.y, B, H, L, block, k);
    swr_ref::backward(a, u, dy, r.da, du, B, H, L, block, k);
    r.m.assign(B * C * L, 0.0);
    r.dv.assign(B * C * L, 0.0);
    r.dbeta.assign(B * G * L, 0.0);
    r.dc.assign(B * G * L, 0.0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < C; ++j)
            for (int64_t t = 0; t < L; ++t) {
                const int64_t i = (b * C + j) * L + t, g = grp(b, j, t);
                r.m[i] = r.y[i] * c[g] + v[i];
                r.dv[i] = dm[i] + du[i] * beta[g];
                r.dbeta[g] += du[i] * v[i];
                r.dc[g] += dm[i] * r.y[i];
            }
    return r;
}

static int core_fwd(const float* a, const float* beta, const float* v, const float* c, float* m, float* y, int64_t B,
                    int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    return phalanx_core_cpu_forward_f32(a, beta, v, c, m, y, B, H, kvH, L, block, k);
}
static int core_fwd(const double* a, const double* beta, const double* v, const double* c, double* m, double* y, int64_t B,
                    int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    return phalanx_core_cpu_forward_f64(a, beta, v, c, m, y, B, H, kvH, L, block, k);
}
static int core_bwd(const float* a, const float* beta, const float* v, const float* c, const float* y, const float* dm,
                    float* da, float* dbeta, float* dv, float* dc, int64_t B, int64_t H, int64_t kvH, int64_t L,
                    int32_t block, int32_t k) {
    return phalanx_core_cpu_backward_f32(a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k);
}
static int core_bwd(const double* a, const double* beta, const double* v, const double* c, const double* y,
                    const double* dm, double* da, double* dbeta, double* dv, double* dc, int64_t B, int64_t H,
                    int64_t kvH, int64_t L, int32_t block, int32_t k) {
    return phalanx_core_cpu_backward_f64(a, beta, v, c, y, dm, da, dbeta, dv, dc, B, H, kvH, L, block, k);
}

/* One type: forward with and without y, backward with and without y, against the reference on the
 * same (rounded) inputs; tol for m, y, dv, scaled up for the sums (da over 16 channels, dbeta, dc over heads). */
template <typename T>
static void check_core_as(const std::string& where, const std::vector<double>& a, const std::vector<double>& beta,
                          const std::vector<double>& v, const std::vector<double>& c, const std::vector<double>& dm,
                          int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k, double tol, double sumTol) {
    const int64_t C = 16 * H, G = 16 * kvH;
    std::vector<T> at(a.begin(), a.end()), bt(beta.begin(), beta.end()), vt(v.begin(), v.end()), ct(c.begin(), c.end()),
        gt(dm.begin(), dm.end());
    auto wide = [](const std::vector<T>& x) { return std::vector<double>(x.begin(), x.end()); };
    const CoreRef r = core_reference(wide(at), wide(bt), wide(vt), wide(ct), wide(gt), B, H, kvH, L, block, k);
    const std::string w = where + (sizeof(T) == 4 ? " f32" : " f64");
    std::vector<T> m(B * C * L, T(7)), m2(B * C * L, T(7)), y(B * C * L, T(7));
    expect_rc(w + " core forward", core_fwd(at.data(), bt.data(), vt.data(), ct.data(), m.data(), y.data(), B, H, kvH, L, block, k), SWR_OK);
    expect_rc(w + " core forward (no y)", core_fwd(at.data(), bt.data(), vt.data(), ct.data(), m2.data(), nullptr, B, H, kvH, L, block, k), SWR_OK);
    close("core m", w, m, r.m, tol);
    close("core y", w, y, r.y, tol);
    close("core m (no y)", w, m2, r.m, tol);
    for (int given = 0; given < 2; ++given) {
        std::vector<T> da(B * H * L, T(7)), db(B * G * L, T(7)), dv(B * C * L, T(7)), dc(B * G * L, T(7));
        const std::string wg = w + (given ? " (y given)" : " (y recomputed)");
        expect_rc(wg + " core backward", core_bwd(at.data(), bt.data(), vt.data(), ct.data(), given ? y.data() : nullptr, gt.data(),
                                                  da.data(), db.data(), dv.data(), dc.data(), B, H, kvH, L, block, k), SWR_OK);
        close("core da", wg, da, r.da, sumTol);
        close("core dbeta", wg, db, r.dbeta, sumTol);
        close("core dv", wg, dv, r.dv, tol);
        close("core dc", wg, dc, r.dc, sumTol);
    }
}

static void check_core(const std::string& where, const std::vector<double>& a, const std::vector<double>& beta,
                       const std::vector<double>& v, const std::vector<double>& c, const std::vector<double>& dm,
                       int64_t B, int64_t H, int64_t kvH, int64_t L, int32_t block, int32_t k) {
    check_core_as<double>(where, a, beta, v, c, dm, B, H, kvH, L, block, k, 1e-12, 1e-12);
    check_core_as<float>(where, a, beta, v, c, dm, B, H, kvH, L, block, k, 2e-6, 5e-5);
}

/* Random core inputs: a in [alo, ahi], beta and c gates in (0, 1), v and dm in [-1, 1]. */
static void core_case(const std::string& where, std::mt19937_64& rng, int64_t B, int64_t H, int64_t kvH, int64_t L,
                      int32_t block, int32_t k, double alo, double ahi, bool extreme_gates);

/* One thread and two give bitwise the same float32 outputs (grouped heads, parallel split, streamed). */
static void core_threads(std::mt19937_64& rng) {
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    for (int64_t L : {1, 15, 17, 33, 4099, 65537}) {
        const int64_t B = 2, H = 4, kvH = 1, C = 16 * H, G = 16 * kvH;
        auto f = [&](int64_t k) { std::vector<float> x(k); for (auto& e : x) e = (float) std::uniform_real_distribution<double>(0, 1)(rng); return x; };
        const std::vector<float> a = f(B * H * L), beta = f(B * G * L), v = f(B * C * L), c = f(B * G * L), dm = f(B * C * L);
        std::vector<float> out[2][5];
        for (int t = 0; t < 2; ++t) {
            omp_set_num_threads(t + 1);
            for (auto* o : {&out[t][0], &out[t][2]}) o->assign(B * C * L, 7.f);
            out[t][1].assign(B * H * L, 7.f); out[t][3].assign(B * G * L, 7.f); out[t][4].assign(B * G * L, 7.f);
            std::vector<float> dv(B * C * L, 7.f);
            expect_rc("core threads forward", core_fwd(a.data(), beta.data(), v.data(), c.data(), out[t][0].data(), nullptr, B, H, kvH, L, 16, 2), SWR_OK);
            expect_rc("core threads backward", core_bwd(a.data(), beta.data(), v.data(), c.data(), nullptr, dm.data(), out[t][1].data(),
                                                        out[t][3].data(), out[t][2].data(), out[t][4].data(), B, H, kvH, L, 16, 2), SWR_OK);
        }
        for (int i = 0; i < 5; ++i)
            if (std::memcmp(out[0][i].data(), out[1][i].data(), out[0][i].size() * sizeof(float)) != 0) {
                printf("FAIL core threads L=%ld: output %d differs between 1 and 2 threads\n", (long) L, i);
                ++fails;
            }
    }
    omp_set_num_threads(threads);
#else
    (void) rng;
#endif
}

static void check_core_all(std::mt19937_64& rng) {
    const int32_t U = SWR_UNBOUNDED;
    const int64_t Ls[] = {1, 2, 15, 16, 17, 31, 33, 100, 257};
    const int64_t heads[][2] = {{2, 2}, {4, 1}, {4, 2}, {3, 3}};
    int next = 0; /* head layouts in turn, every one at L = 17 */
    for (int32_t k : {1, 2, 3, U})
        for (int32_t block : {16, 1, 5})
            for (int64_t L : Ls)
                for (const auto& hk : heads) {
                    if (L != 17 && &hk != &heads[next++ % 4]) continue;
                    if (k > 2 && L > (block == 1 ? 33 : 100)) continue; /* the reference is O(L * window^2) */
                    core_case("core k=" + std::to_string(k) + " l=" + std::to_string(block) + " L=" + std::to_string(L) + " H=" +
                                  std::to_string(hk[0]) + " kvH=" + std::to_string(hk[1]),
                              rng, 2, hk[0], hk[1], L, block, k, 0.0, 1.0, true);
                }
    // Long sequences through the parallel split (runs with look-behind), grouped heads.
    for (int32_t k : {1, 2, U}) /* the reference backward of the unbounded window is O(L^3): a shorter one */
        core_case("core long k=" + std::to_string(k), rng, 1, 2, 1, k == U ? 301 : 2049, 16, k, 0.8, 1.0, false);
    core_case("core long B=3 k=2", rng, 3, 8, 2, 700, 16, 2, 0.5, 1.0, false);
    // Past STREAM_STORE_MIN_BYTES: streamed stores, rows at every alignment (L odd), two heads per group.
    core_case("core streamed k=2", rng, 1, 4, 2, 65537, 16, 2, 0.9, 1.0, false);
    core_threads(rng);
    // Huge block and window: bounded by the semantics.
    core_case("core huge k", rng, 1, 2, 1, 100, 16, 100000000, 0.0, 1.0, false);
    core_case("core huge block", rng, 1, 2, 2, 100, 1000000000, 2, 0.0, 1.0, false);
}

static void core_case(const std::string& where, std::mt19937_64& rng, int64_t B, int64_t H, int64_t kvH, int64_t L,
                      int32_t block, int32_t k, double alo, double ahi, bool extreme_gates) {
    const int64_t C = 16 * H, G = 16 * kvH;
    std::vector<double> a = uniform(rng, B * H * L, alo, ahi), beta = uniform(rng, B * G * L, 0, 1),
                        v = uniform(rng, B * C * L, -1, 1), c = uniform(rng, B * G * L, 0, 1), dm = uniform(rng, B * C * L, -1, 1);
    if (extreme_gates && L > 5) {
        a[3] = 0.0; a[1] = 1.0; a[4] = 1 - 1e-7; a[5] = 1e-7;
        beta[2] = 0.0; beta[3] = 1.0; beta[4] = 1e-7; c[2] = 1.0; c[3] = 0.0; c[5] = 1 - 1e-7;
    }
    check_core(where, a, beta, v, c, dm, B, H, kvH, L, block, k);
}

/* NaN and Inf in a, beta, c or dm at every phase of three blocks (grouped heads): the outputs must be
 * non-finite exactly where the reference's are (a[0], never multiplied, changes nothing). One thread,
 * as for the SWR check above. */
static void check_core_nonfinite(std::mt19937_64& rng) {
    const double bad[] = {NAN, INFINITY};
    for (int32_t k : {1, 2, 3, SWR_UNBOUNDED})
        for (int32_t block : {16, 5}) {
            const int64_t B = 1, H = 2, kvH = 1, L = 3 * block + 3, C = 16 * H, G = 16 * kvH;
            for (int64_t p = 0; p < L; ++p)
                for (double x : bad)
                    for (int target = 0; target < 4; ++target) {
                        if (target > 0 && (x != x) == (p % 2 == 0)) continue; /* beta, c, dm: NaN and Inf on alternate steps */
                        std::vector<double> a = uniform(rng, B * H * L, 0.1, 1.0), beta = uniform(rng, B * G * L, 0, 1),
                                            v = uniform(rng, B * C * L, -1, 1), c = uniform(rng, B * G * L, 0, 1),
                                            dm = uniform(rng, B * C * L, -1, 1);
                        if (target == 0) a[p] = x;
                        else if (target == 1) beta[5 * L + p] = x;
                        else if (target == 2) c[5 * L + p] = x;
                        else dm[21 * L + p] = x;
                        check_core(std::string("core ") + "abcd"[target] + "[" + std::to_string(p) + "]=" + std::to_string(x) +
                                       " k=" + std::to_string(k) + " l=" + std::to_string(block),
                                   a, beta, v, c, dm, B, H, kvH, L, block, k);
                    }
        }
}

static void check_core_errors() {
    std::vector<double> a(2 * 300, 0.5), x(32 * 300, 1.0), o1(32 * 300), o2(32 * 300), o3(32 * 300), o4(32 * 300);
    const double* p = x.data();
    expect_rc("core kvH does not divide H", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 3, 2, 100, 16, 2), SWR_EINVAL);
    expect_rc("core kvH = 0", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 2, 0, 100, 16, 2), SWR_EINVAL);
    expect_rc("core kvH > H", phalanx_core_cpu_backward_f64(a.data(), p, p, p, nullptr, p, o1.data(), o2.data(), o3.data(), o4.data(), 1, 1, 2, 100, 16, 2), SWR_EINVAL);
    expect_rc("core k = 0", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 2, 1, 100, 16, 0), SWR_EINVAL);
    expect_rc("core block = 0", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 2, 1, 100, 0, 2), SWR_EINVAL);
    expect_rc("core null m", phalanx_core_cpu_forward_f64(a.data(), p, p, p, nullptr, nullptr, 1, 2, 1, 100, 16, 2), SWR_EINVAL);
    expect_rc("core null beta", phalanx_core_cpu_forward_f64(a.data(), nullptr, p, p, o1.data(), nullptr, 1, 2, 1, 100, 16, 2), SWR_EINVAL);
    expect_rc("core null dc", phalanx_core_cpu_backward_f64(a.data(), p, p, p, nullptr, p, o1.data(), o2.data(), o3.data(), nullptr, 1, 2, 1, 100, 16, 2), SWR_EINVAL);
    expect_rc("core L overflow", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 1LL << 40, 1, 1LL << 40, 16, 2), SWR_EINVAL);
    setenv("PHALANX_SWR_MAX_SCRATCH_BYTES", "1024", 1);
    expect_rc("core staged rows over the cap", phalanx_core_cpu_forward_f64(a.data(), p, p, p, o1.data(), nullptr, 1, 2, 1, 300, 5, 2), SWR_ENOMEM);
    expect_rc("core staged backward over the cap", phalanx_core_cpu_backward_f64(a.data(), p, p, p, nullptr, p, o1.data(), o2.data(), o3.data(), o4.data(), 1, 2, 1, 300, 5, 2), SWR_ENOMEM);
    unsetenv("PHALANX_SWR_MAX_SCRATCH_BYTES");
    expect_rc("core under the cap", phalanx_core_cpu_backward_f64(a.data(), p, p, p, nullptr, p, o1.data(), o2.data(), o3.data(), o4.data(), 1, 2, 1, 300, 5, 2), SWR_OK);
}

/*
 * float32 outputs past STREAM_STORE_MIN_BYTES (streamed in whole lines, stream_row) at every offset of a
 * buffer from its 64-byte line (ND4J's large buffers start 16 bytes past one) and rows of every alignment
 * (L odd): forward and backward (k = 1, 2) against the reference on the rounded inputs, the unbounded
 * forward against the recurrence itself, and every element around the outputs untouched.
 */
struct OffsetBuf {
    std::vector<float> mem;
    float* p;
    size_t n;
    OffsetBuf(size_t n_, int off) : mem(n_ + 64, 7.f), n(n_) {
        const uintptr_t base = (reinterpret_cast<uintptr_t>(mem.data()) + 63) & ~(uintptr_t) 63;
        p = reinterpret_cast<float*>(base) + 16 + off; /* at least 16 guard floats before */
    }
    bool guards_ok() const {
        for (const float* q = mem.data(); q < p; ++q)
            if (*q != 7.f) return false;
        for (const float* q = p + n; q < mem.data() + mem.size(); ++q)
            if (*q != 7.f) return false;
        return true;
    }
};
static void check_streamed_offsets(std::mt19937_64& rng) {
    const int64_t B = 1, H = 4, L = 65537, C = 16 * H; /* 16.8 MB of u, y, du */
    std::vector<double> a = uniform(rng, B * H * L, 0.8, 1.0), u = uniform(rng, B * C * L, -1, 1), dy = uniform(rng, B * C * L, -1, 1);
    std::vector<float> af(a.begin(), a.end()), uf(u.begin(), u.end()), gf(dy.begin(), dy.end());
    const std::vector<double> a32(af.begin(), af.end()), u32(uf.begin(), uf.end()), g32(gf.begin(), gf.end());
    std::vector<double> yr[2], dar[2], dur[2], yu(B * C * L);
    for (int k = 1; k <= 2; ++k) {
        swr_ref::forward(a32, u32, yr[k - 1], B, H, L, 16, k);
        swr_ref::backward(a32, u32, g32, dar[k - 1], dur[k - 1], B, H, L, 16, k);
    }
    for (int64_t row = 0; row < B * C; ++row) /* the unbounded window: x_t = a_t x_{t-1} + u_t */
        for (int64_t t = 0; t < L; ++t)
            yu[row * L + t] = t == 0 ? u32[row * L] : a32[row / 16 * L + t] * yu[row * L + t - 1] + u32[row * L + t];
    for (int off : {0, 1, 4, 13}) {
        for (int32_t k : {1, 2, SWR_UNBOUNDED}) {
            const std::string where = "streamed offset " + std::to_string(off) + " k=" + std::to_string(k);
            OffsetBuf y(B * C * L, off), da(B * H * L, off), du(B * C * L, off);
            expect_rc(where + " forward", swr_cpu_forward_f32(af.data(), uf.data(), y.p, B, H, L, 16, k), SWR_OK);
            close("y", where, y.p, k == SWR_UNBOUNDED ? yu : yr[k - 1], 2e-6);
            if (k != SWR_UNBOUNDED) { /* (the unbounded backward's reference is O(L^3)) */
                expect_rc(where + " backward", swr_cpu_backward_f32(af.data(), uf.data(), gf.data(), da.p, du.p, B, H, L, 16, k), SWR_OK);
                close("da", where, da.p, dar[k - 1], 5e-5);
                close("du", where, du.p, dur[k - 1], 2e-6);
            }
            if (!y.guards_ok() || !da.guards_ok() || !du.guards_ok()) {
                printf("FAIL %s: an element outside the outputs was written\n", where.c_str());
                ++fails;
            }
        }
    }
}

int main() {
    std::mt19937_64 rng(42);
    const int32_t U = SWR_UNBOUNDED;

    // Every window kind at the awkward lengths; gates near 0 and 1 and exact 0 / 1 included.
    const int64_t Ls[] = {1, 2, 15, 16, 17, 31, 33, 100, 257};
    for (int32_t k : {1, 2, 3, 4, 7, U})
        for (int32_t block : {16, 1, 5})
            for (int64_t L : Ls) {
                if (block == 1 && L > 100 && k > 2) continue; /* the reference is O(L * window^2) */
                const int64_t B = 2, H = 2, C = 16 * H;
                std::vector<double> a = uniform(rng, B * H * L, 0.0, 1.0), u = uniform(rng, B * C * L, -1, 1),
                                    dy = uniform(rng, B * C * L, -1, 1);
                if (L > 5) { a[3] = 0.0; a[1] = 1.0; a[4] = 1 - 1e-7; a[5] = 1e-7; }
                check("k=" + std::to_string(k) + " l=" + std::to_string(block) + " L=" + std::to_string(L), a, u, dy,
                      B, H, L, block, k, true, rng);
            }
    // One long sequence through the parallel split (runs with look-behind) for each window kind.
    for (int32_t k : {1, 2, 3, U}) {
        const int64_t B = 1, H = 1, L = 4097;
        std::vector<double> a = uniform(rng, B * H * L, 0.5, 1.0), u = uniform(rng, 16 * L, -1, 1), dy = uniform(rng, 16 * L, -1, 1);
        std::vector<double> yr, y(16 * L);
        swr_ref::forward(a, u, yr, B, H, L, 16, k == U ? 300 : k); /* 300 blocks reach t = 0 from everywhere */
        expect_rc("long forward", swr_cpu_forward_f64(a.data(), u.data(), y.data(), B, H, L, 16, k), SWR_OK);
        close("long y", "k=" + std::to_string(k) + " L=4097", y, yr, 1e-12);
    }

    // The unbounded window on one long sequence (cut into runs across threads), against the recurrence
    // itself: x_t = a_t x_{t-1} + u_t; g_t = dy_t + a_{t+1} g_{t+1}, du = g, da_t = sum_ch g_t x_{t-1}.
    for (int64_t L : {3 * 8192 + 5, 100000}) {
        std::vector<double> a = uniform(rng, L, 0.9, 1.0), u = uniform(rng, 16 * L, -1, 1), dy = uniform(rng, 16 * L, -1, 1);
        a[0] = NAN;          /* never multiplied */
        a[L / 2 + 7] = 0.0;  /* cuts the recurrence inside a run */
        std::vector<double> yr(16 * L), dur(16 * L), dar(L, 0.0), y(16 * L), da(L), du(16 * L);
        for (int ch = 0; ch < 16; ++ch) {
            for (int64_t t = 0; t < L; ++t) yr[ch * L + t] = t == 0 ? u[ch * L] : a[t] * yr[ch * L + t - 1] + u[ch * L + t];
            for (int64_t t = L - 1; t >= 0; --t) {
                dur[ch * L + t] = t == L - 1 ? dy[ch * L + t] : dy[ch * L + t] + a[t + 1] * dur[ch * L + t + 1];
                if (t > 0) dar[t] += dur[ch * L + t] * yr[ch * L + t - 1];
            }
        }
        const std::string where = "unbounded L=" + std::to_string(L);
        expect_rc(where, swr_cpu_forward_f64(a.data(), u.data(), y.data(), 1, 1, L, 16, U), SWR_OK);
        expect_rc(where, swr_cpu_backward_f64(a.data(), u.data(), dy.data(), da.data(), du.data(), 1, 1, L, 16, U), SWR_OK);
        close("y", where, y, yr, 1e-12);
        close("da", where, da, dar, 1e-12);
        close("du", where, du, dur, 1e-12);
    }

    // Huge windows and blocks: bounded by the semantics (k >= blocks: unbounded; block >= L: one block).
    for (int64_t k : {100LL, 100000000LL, (long long) U})
        for (int64_t block : {16LL, 1000000000LL, (long long) U}) {
            const int64_t B = 1, H = 1, L = 100;
            std::vector<double> a = uniform(rng, L, 0.0, 1.0), u = uniform(rng, 16 * L, -1, 1), dy = uniform(rng, 16 * L, -1, 1);
            check("huge k=" + std::to_string(k) + " l=" + std::to_string(block), a, u, dy, B, H, L, (int32_t) block, (int32_t) k,
                  block == 16 && k == U, rng);
        }

    // NaN and Inf in a (and in dy) at every phase of three blocks: where the formula never multiplies
    // them (a[0], a at a window-start block's first step) nothing may change; elsewhere the outputs
    // the formula makes non-finite, and only those, are non-finite.
    // One thread here: every head count then takes the float32 in-register kernels where they apply
    // (the unbounded ones want a head per thread); float64 and block 5 take the tile kernels.
    const double bad[] = {NAN, INFINITY, -INFINITY};
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    for (int32_t k : {1, 2, 3, U})
        for (int32_t block : {16, 5}) {
            const int64_t B = 1, H = 1, L = 3 * block + 3;
            for (int64_t p = 0; p < L; ++p)
                for (double x : bad)
                    for (int target = 0; target < 2; ++target) {
                        std::vector<double> a = uniform(rng, L, 0.1, 1.0), u = uniform(rng, 16 * L, -1, 1), dy = uniform(rng, 16 * L, -1, 1);
                        if (target == 0) a[p] = x;
                        else dy[5 * L + p] = x; /* one channel's output gradient */
                        check(std::string(target == 0 ? "a" : "dy") + "[" + std::to_string(p) + "]=" + std::to_string(x) +
                                  " k=" + std::to_string(k) + " l=" + std::to_string(block),
                              a, u, dy, B, H, L, block, k, target == 0 && x != x, rng);
                    }
        }

    check_core_nonfinite(rng);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    check_streamed_offsets(rng);
    check_core_all(rng);
    check_core_errors();

    // Error codes: bad arguments, and a scratch larger than allowed is SWR_ENOMEM (no exception, no abort).
    {
        std::vector<double> a(300, 0.5), u(16 * 300, 1.0), y(16 * 300), da(300), du(16 * 300), h(16), P(1), v(16);
        expect_rc("k = 0", swr_cpu_forward_f64(a.data(), u.data(), y.data(), 1, 1, 300, 16, 0), SWR_EINVAL);
        expect_rc("block = 0", swr_cpu_forward_f64(a.data(), u.data(), y.data(), 1, 1, 300, 0, 2), SWR_EINVAL);
        expect_rc("L overflow", swr_cpu_forward_f64(a.data(), u.data(), y.data(), 1, 1LL << 40, 1LL << 40, 16, 2), SWR_EINVAL);
        expect_rc("null y", swr_cpu_forward_f64(a.data(), u.data(), nullptr, 1, 1, 300, 16, 2), SWR_EINVAL);
        expect_rc("pos < 0", swr_cpu_forward_stream_f64(a.data(), u.data(), y.data(), 1, 1, 300, 16, 2, h.data(), P.data(), v.data(), nullptr, nullptr, -1), SWR_EINVAL);
        expect_rc("pos + L overflow", swr_cpu_forward_stream_f64(a.data(), u.data(), y.data(), 1, 1, 300, 16, 2, h.data(), P.data(), v.data(), nullptr, nullptr, INT64_MAX - 10), SWR_EINVAL);
        expect_rc("ring missing", swr_cpu_forward_stream_f64(a.data(), u.data(), y.data(), 1, 1, 300, 16, 3, h.data(), P.data(), v.data(), nullptr, nullptr, 0), SWR_EINVAL);
        setenv("PHALANX_SWR_MAX_SCRATCH_BYTES", "1024", 1);
        expect_rc("scratch over the cap", swr_cpu_backward_f64(a.data(), u.data(), y.data(), da.data(), du.data(), 1, 1, 300, 100, 2), SWR_ENOMEM);
        expect_rc("ring over the cap", swr_cpu_forward_f64(a.data(), u.data(), y.data(), 1, 1, 300, 1, 200), SWR_ENOMEM);
        unsetenv("PHALANX_SWR_MAX_SCRATCH_BYTES");
        expect_rc("scratch under the cap", swr_cpu_backward_f64(a.data(), u.data(), y.data(), da.data(), du.data(), 1, 1, 300, 100, 2), SWR_OK);
    }

    printf("%d failed\n", fails);
    return fails != 0;
}
