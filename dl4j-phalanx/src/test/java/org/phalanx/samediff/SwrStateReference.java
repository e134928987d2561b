package org.phalanx.samediff;

/**
 * Independent float64 reference for SWR continued from a streaming state, transcribed from docs/SWR.md
 * ("Streaming (decode) state"), per channel in plain loops: at a block start ({@code position mod l == 0})
 * of block {@code c > 0}, {@code v = h} ({@code k = 2}; the previous block's terminal local state) or
 * {@code v = h + P v} ({@code k = UNBOUNDED}, the recurrence's value there; {@code v = h} for {@code c = 1});
 * then {@code h = u}, {@code P = a}; otherwise {@code h = a h + u}, {@code P = P a}; {@code y = h + P v}
 * ({@code k = 2} or UNBOUNDED, in blocks {@code c > 0}: block 0 has no carry) or {@code h}. Position 0 starts
 * fresh ({@code h = v = 0, P = 1}); for {@code k = 1} the final {@code v} is 0.
 * Flat arrays: a [B, H, L], u [B, C, L], h [B, C], P [B, H], v [B, C], C = 16 H.
 */
final class SwrStateReference {

    /** y, then the final h, P, v. */
    record Result(double[] y, double[] h, double[] p, double[] v) {
    }

    static final int UNBOUNDED = Integer.MAX_VALUE;

    private SwrStateReference() {
    }

    static Result run(double[] a, double[] u, double[] h0, double[] p0, double[] v0, long position,
                      int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] y = new double[B * C * L], h = new double[B * C], p = new double[B * H], v = new double[B * C];
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < C; j++) {
                int hd = j / 16;
                double hs = position == 0 ? 0 : h0[b * C + j];
                double ps = position == 0 ? 1 : p0[b * H + hd];
                double vs = position == 0 ? 0 : v0[b * C + j];
                for (int t = 0; t < L; t++) {
                    long pos = position + t;
                    double at = a[(b * H + hd) * L + t], ut = u[(b * C + j) * L + t];
                    long c = pos / block;
                    if (pos % block == 0) {
                        if (c > 0) vs = k == UNBOUNDED && c > 1 ? hs + ps * vs : hs;
                        hs = ut;
                        ps = at;
                    } else {
                        hs = at * hs + ut;
                        ps = ps * at;
                    }
                    y[(b * C + j) * L + t] = k != 1 && c > 0 ? hs + ps * vs : hs;
                }
                h[b * C + j] = hs;
                p[b * H + hd] = ps;
                v[b * C + j] = k != 1 ? vs : 0;
            }
        }
        return new Result(y, h, p, v);
    }
}
