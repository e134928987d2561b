/*
 * Plain float64 references for SWR (docs/SWR.md section 1), independent of the kernels:
 * the forward is the windowed sum itself, evaluated term by term; the backward is its exact
 * derivative, summed term by term too (O(L * window) per channel). Used by the C++ checks and the
 * GPU harness.
 */
#ifndef PHALANX_SWR_REFERENCE_H
#define PHALANX_SWR_REFERENCE_H
#include <cstdint>
#include <vector>

namespace swr_ref {

inline int64_t window_start(int64_t t, int64_t block, int64_t k) {
    int64_t c = t / block;
    return block * (c - k + 1 > 0 ? c - k + 1 : 0);
}

/* y[b, j, t] = sum_{s = s0(t)}^{t} prod_{r = s+1}^{t} a[b, j/16, r] * u[b, j, s] */
inline void forward(const std::vector<double>& a, const std::vector<double>& u, std::vector<double>& y,
                    int64_t B, int64_t H, int64_t L, int64_t block, int64_t k) {
    const int64_t C = 16 * H;
    y.assign(B * C * L, 0.0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < C; ++j) {
            const double* ap = &a[(b * H + j / 16) * L];
            const double* up = &u[(b * C + j) * L];
            for (int64_t t = 0; t < L; ++t) {
                double acc = 0, prod = 1;
                for (int64_t s = t; s >= window_start(t, block, k); --s) {
                    acc += prod * up[s];
                    prod *= ap[s];
                }
                y[(b * C + j) * L + t] = acc;
            }
        }
}

/* du[s] = sum_{t: s in window(t)} prod_{s+1..t} a * dy[t];
 * da[r] = sum over channels, t >= r, s < r, s >= s0(t): dy[t] * u[s] * prod_{s+1..t, except r} a.
 * Each term multiplies exactly the factors the formula lists (the product without a_r as the
 * product left of r times the product right of r), so a NaN or Inf reaches a gradient entry only
 * where the exact gradient has it. O(L * window^2) per channel. */
inline void backward(const std::vector<double>& a, const std::vector<double>& u, const std::vector<double>& dy,
                     std::vector<double>& da, std::vector<double>& du,
                     int64_t B, int64_t H, int64_t L, int64_t block, int64_t k) {
    const int64_t C = 16 * H;
    da.assign(B * H * L, 0.0);
    du.assign(B * C * L, 0.0);
    std::vector<double> right(L);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < C; ++j) {
            const double* ap = &a[(b * H + j / 16) * L];
            const double* up = &u[(b * C + j) * L];
            const double* gp = &dy[(b * C + j) * L];
            double* dap = &da[(b * H + j / 16) * L];
            double* dup = &du[(b * C + j) * L];
            for (int64_t t = 0; t < L; ++t) {
                const int64_t s0 = window_start(t, block, k);
                /* right[r] = prod_{q = r+1}^{t} a_q */
                right[t] = 1;
                for (int64_t r = t - 1; r >= s0; --r) right[r] = ap[r + 1] * right[r + 1];
                for (int64_t s = t; s >= s0; --s) {
                    /* term (t, s) = dy_t u_s prod_{r=s+1}^{t} a_r */
                    dup[s] += gp[t] * right[s];
                    double left = 1; /* prod_{q = s+1}^{r-1} a_q */
                    for (int64_t r = s + 1; r <= t; ++r) {
                        dap[r] += gp[t] * up[s] * (left * right[r]);
                        left *= ap[r];
                    }
                }
            }
        }
}

} // namespace swr_ref
#endif
