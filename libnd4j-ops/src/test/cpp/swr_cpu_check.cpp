// Quick native check of the CPU kernels against swr_reference.h (float64 brute force).
// Build: g++ -O2 -fopenmp -I../../main/cpp/include -I../../main/cpp/cpu swr_cpu_check.cpp ../../main/cpp/cpu/swr_cpu.cpp
#include "swr/swr_cpu.h"
#include "swr_reference.h"
#include <cmath>
#include <cstdio>
#include <random>

static double relerr(const std::vector<double>& x, const std::vector<double>& r) {
    double n = 0, d = 0;
    for (size_t i = 0; i < x.size(); ++i) { n += (x[i] - r[i]) * (x[i] - r[i]); d += r[i] * r[i]; }
    return std::sqrt(n / (d > 0 ? d : 1));
}

int main() {
    std::mt19937_64 rng(42);
    int fails = 0;
    const int64_t Ls[] = {1, 2, 15, 16, 17, 31, 33, 100, 257, 4097};
    for (int k = 1; k <= 4; ++k)
        for (int block : {16, 1, 5}) 
            for (int64_t L : Ls) {
                int64_t B = L > 1000 ? 1 : 2, H = L > 1000 ? 1 : 2, C = 16 * H;
                std::uniform_real_distribution<double> ua(0.0, 1.0), uu(-1, 1);
                std::vector<double> a(B * H * L), u(B * C * L), dy(B * C * L);
                for (auto& x : a) x = ua(rng);
                if (L > 3) { a[3] = 0.0; a[1] = 1.0; }
                for (auto& x : u) x = uu(rng);
                for (auto& x : dy) x = uu(rng);
                std::vector<double> yr, dar, dur, y(B * C * L), da(B * H * L), du(B * C * L);
                swr_ref::forward(a, u, yr, B, H, L, block, k);
                swr_ref::backward(a, u, dy, dar, dur, B, H, L, block, k);
                swr_cpu_forward_f64(a.data(), u.data(), y.data(), B, H, L, block, k);
                swr_cpu_backward_f64(a.data(), u.data(), dy.data(), da.data(), du.data(), B, H, L, block, k);
                // streaming in pieces of 3 (k <= 2; larger windows are refused)
                std::vector<double> ys(k <= 2 ? yr : std::vector<double>(B * C * L)), h(B * C), P(B * H), v(B * C);
                std::vector<double> ap(B * H * 3), up(B * C * 3), yp(B * C * 3);
                if (k > 2 && swr_cpu_forward_stream_f64(a.data(), u.data(), ys.data(), B, H, L, block, k, h.data(), P.data(), v.data(), 0) != SWR_EINVAL) {
                    printf("streaming with k = %d was not refused\n", k);
                    ++fails;
                }
                for (int64_t t0 = 0; k <= 2 && t0 < L; t0 += 3) {
                    int64_t n = std::min<int64_t>(3, L - t0);
                    for (int64_t r = 0; r < B * H; ++r) for (int64_t i = 0; i < n; ++i) ap[r * n + i] = a[r * L + t0 + i];
                    for (int64_t r = 0; r < B * C; ++r) for (int64_t i = 0; i < n; ++i) up[r * n + i] = u[r * L + t0 + i];
                    swr_cpu_forward_stream_f64(ap.data(), up.data(), yp.data(), B, H, n, block, k, h.data(), P.data(), v.data(), t0);
                    for (int64_t r = 0; r < B * C; ++r) for (int64_t i = 0; i < n; ++i) ys[r * L + t0 + i] = yp[r * n + i];
                }
                // float32 (on AVX-512 with block 16: the in-register scan path), against the same reference
                std::vector<float> af(a.begin(), a.end()), uf(u.begin(), u.end()), gf(dy.begin(), dy.end());
                std::vector<float> yf(B * C * L), daf(B * H * L), duf(B * C * L);
                swr_cpu_forward_f32(af.data(), uf.data(), yf.data(), B, H, L, block, k);
                swr_cpu_backward_f32(af.data(), uf.data(), gf.data(), daf.data(), duf.data(), B, H, L, block, k);
                std::vector<double> a32(af.begin(), af.end()), u32(uf.begin(), uf.end()), g32(gf.begin(), gf.end()), yr32, dar32, dur32;
                swr_ref::forward(a32, u32, yr32, B, H, L, block, k);
                swr_ref::backward(a32, u32, g32, dar32, dur32, B, H, L, block, k);
                double f1 = relerr(std::vector<double>(yf.begin(), yf.end()), yr32);
                double f2 = relerr(std::vector<double>(daf.begin(), daf.end()), dar32);
                double f3 = relerr(std::vector<double>(duf.begin(), duf.end()), dur32);
                bool bad32 = !(f1 < 2e-6 && f2 < 2e-5 && f3 < 2e-6);
                if (bad32) printf("k=%d l=%d L=%ld  float32: y %.2e da %.2e du %.2e FAIL\n", k, block, (long) L, f1, f2, f3);
                fails += bad32;
                double e1 = relerr(y, yr), e2 = relerr(da, dar), e3 = relerr(du, dur), e4 = k <= 2 ? relerr(ys, yr) : 0.0;
                bool bad = !(e1 < 1e-12 && e2 < 1e-12 && e3 < 1e-12 && e4 < 1e-12);
                if (bad || L >= 257) printf("k=%d l=%d L=%ld  y %.2e da %.2e du %.2e stream %.2e %s\n", k, block, (long) L, e1, e2, e3, e4, bad ? "FAIL" : "ok");
                fails += bad;
            }
    printf("%d failed\n", fails);
    return fails != 0;
}
