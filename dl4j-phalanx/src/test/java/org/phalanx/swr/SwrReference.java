package org.phalanx.swr;

/**
 * Independent float64 references for SWR (docs/SWR.md section 1) on flat NCW arrays: the windowed
 * sum evaluated term by term, and its exact gradient summed term by term. Nothing here shares code
 * or formulas (block states, carriers) with the kernels.
 */
public final class SwrReference {

    private SwrReference() {
    }

    static long windowStart(long t, long block, long k) {
        long c = t / block;
        return block * Math.max(0, c - k + 1);
    }

    /** y[b, j, t] = sum_{s = s0(t)}^{t} prod_{r = s+1}^{t} a[b, j/16, r] * u[b, j, s]. */
    public static double[] forward(double[] a, double[] u, int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] y = new double[B * C * L];
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < C; j++) {
                int ao = (b * H + j / 16) * L, uo = (b * C + j) * L;
                for (int t = 0; t < L; t++) {
                    double acc = 0, prod = 1;
                    for (long s = t; s >= windowStart(t, block, k); s--) {
                        acc += prod * u[uo + (int) s];
                        prod *= a[ao + (int) s];
                    }
                    y[uo + t] = acc;
                }
            }
        }
        return y;
    }

    /**
     * For each element of {@link #forward}, the sum of the magnitudes of the terms it adds up,
     * sum_s |u_s| prod_{r=s+1}^{t} |a_r|: the same formula on |a|, |u| (each term is a product of inputs and
     * rounding is symmetric in sign, so each comes out exactly as the magnitude of the term forward adds). This,
     * not |y|, is the scale of the rounding error of any evaluation that adds the same terms without subtraction
     * or division (the error bound of a sum: |computed - exact| <= gamma_n * sum |terms|); cancellation can make
     * |y| arbitrarily smaller. Finite wherever forward is (a sum with a non-finite term is non-finite).
     */
    public static double[] forwardMagnitude(double[] a, double[] u, int B, int H, int L, int block, int k) {
        return forward(abs(a), abs(u), B, H, L, block, k);
    }

    /** The same for {@link #backward}: per element of {da, du}, the sum of its terms' magnitudes (the formula on |a|, |u|, |dy|). */
    public static double[][] backwardMagnitude(double[] a, double[] u, double[] dy, int B, int H, int L, int block, int k) {
        return backward(abs(a), abs(u), abs(dy), B, H, L, block, k);
    }

    static double[] abs(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = Math.abs(x[i]);
        return y;
    }

    /**
     * Exact {da, du} of sum(dy * y): each term dy_t u_s prod_{r=s+1}^{t} a_r differentiated directly. The
     * product without a_r is the product left of r times the product right of r: every term multiplies
     * exactly the factors the formula lists, so a NaN or Inf reaches a gradient entry only where the exact
     * gradient has it. O(L * window^2) per channel.
     */
    public static double[][] backward(double[] a, double[] u, double[] dy, int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] da = new double[B * H * L], du = new double[B * C * L], right = new double[L];
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < C; j++) {
                int ao = (b * H + j / 16) * L, uo = (b * C + j) * L;
                for (int t = 0; t < L; t++) {
                    int s0 = (int) windowStart(t, block, k);
                    right[t] = 1; // right[r] = prod_{q = r+1}^{t} a_q
                    for (int r = t - 1; r >= s0; r--) right[r] = a[ao + r + 1] * right[r + 1];
                    for (int s = t; s >= s0; s--) {
                        du[uo + s] += dy[uo + t] * right[s];
                        double left = 1; // prod_{q = s+1}^{r-1} a_q
                        for (int r = s + 1; r <= t; r++) {
                            da[ao + r] += dy[uo + t] * u[uo + s] * (left * right[r]);
                            left *= a[ao + r];
                        }
                    }
                }
            }
        }
        return new double[][]{da, du};
    }

    /**
     * The same exact {da, du} in O(L * window) instead of O(L * window^3), for the fuzz test's long
     * windows: for each output step t, du_s gets dy_t prod_{r=s+1}^{t} a_r, and da_r (s0 < r <= t) gets
     * dy_t prod_{q=r+1}^{t} a_q * left_r, with left_r = sum_{s=s0}^{r-1} u_s prod_{q=s+1}^{r-1} a_q built
     * up from s0 (left_{r+1} = left_r a_r + u_r). Checked against {@link #backward} by the fuzz test.
     */
    public static double[][] backwardLinear(double[] a, double[] u, double[] dy, int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] da = new double[B * H * L], du = new double[B * C * L];
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < C; j++) {
                int ao = (b * H + j / 16) * L, uo = (b * C + j) * L;
                double[] left = new double[L + 1];
                for (int t = 0; t < L; t++) {
                    int s0 = (int) windowStart(t, block, k);
                    left[s0] = 0;
                    for (int r = s0; r < t; r++) left[r + 1] = left[r] * (r > s0 ? a[ao + r] : 1) + u[uo + r];
                    double g = dy[uo + t], suffix = 1; // suffix = prod_{q=s+1}^{t} a_q
                    for (int s = t; s >= s0; s--) {
                        du[uo + s] += g * suffix;
                        if (s > s0) da[ao + s] += g * suffix * left[s];
                        suffix *= a[ao + s];
                    }
                }
            }
        }
        return new double[][]{da, du};
    }
}
