import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.phalanx.nativeops.SwrCpu;
import org.phalanx.nativeops.SwrCuda;

import java.util.Random;

/**
 * Java-on-GPU check: loads the SWR CUDA library through JavaCPP (org.phalanx.nativeops.SwrCuda), runs
 * forward and backward on device buffers, and compares with the CPU library (SwrCpu) on the same
 * inputs, float32 and float64, k = 1, 2, 3, 5, lengths that cross the kernels' tile boundaries.
 * Without a GPU it only checks that the library loads and reports no device (exit 0 with "no GPU").
 * Run by bench/gpu/run_h200.sh; exits 1 on any mismatch.
 */
public final class SwrCudaCheck {
    public static void main(String[] args) {
        SwrCuda.load();
        SwrCpu.load();
        int[] count = new int[1];
        int rc = SwrCuda.swr_cuda_test_device_count(count);
        System.out.println("SwrCuda loaded; device count " + count[0] + " (rc " + rc + ")");
        if (count[0] == 0) {
            System.out.println("no GPU: load check only");
            return;
        }
        long[][] shapes = {{1, 1, 1}, {3, 1, 17}, {2, 3, 1536}, {1, 2, 4097}, {2, 2, 12288}};
        Random rnd = new Random(11);
        int fails = 0;
        for (int dtype : new int[] {SwrCuda.SWR_F32, SwrCuda.SWR_F64}) {
            for (int k : new int[] {1, 2, 3, 5}) {
                for (long[] s : shapes) {
                    fails += check(dtype, k, s[0], s[1], s[2], rnd) ? 0 : 1;
                }
            }
        }
        System.out.println("java check: " + (fails == 0 ? "ok" : fails + " FAILED"));
        System.exit(fails == 0 ? 0 : 1);
    }

    static void ck(int rc, String what) {
        if (rc != SwrCuda.SWR_OK) {
            throw new IllegalStateException(what + " returned " + rc);
        }
    }

    static long dev(long bytes) {
        long[] p = new long[1];
        ck(SwrCuda.swr_cuda_test_malloc(bytes, p), "malloc");
        return p[0];
    }

    static boolean check(int dtype, int k, long B, long H, long L, Random rnd) {
        boolean f64 = dtype == SwrCuda.SWR_F64;
        int es = f64 ? 8 : 4;
        long na = B * H * L, nu = B * 16 * H * L;
        double[] a = new double[(int) na], u = new double[(int) nu], g = new double[(int) nu];
        for (int i = 0; i < na; ++i) a[i] = rnd.nextDouble();
        for (int i = 0; i < nu; ++i) { u[i] = rnd.nextDouble() * 2 - 1; g[i] = rnd.nextDouble() * 2 - 1; }
        Pointer ha = buf(f64, a), hu = buf(f64, u), hg = buf(f64, g);
        Pointer gy = buf(f64, new double[(int) nu]), gda = buf(f64, new double[(int) na]), gdu = buf(f64, new double[(int) nu]);
        Pointer cy = buf(f64, new double[(int) nu]), cda = buf(f64, new double[(int) na]), cdu = buf(f64, new double[(int) nu]);
        long da_ = dev(na * es), du_ = dev(nu * es), dg = dev(nu * es), dy = dev(nu * es), dda = dev(na * es), ddu = dev(nu * es);
        ck(SwrCuda.swr_cuda_test_to_device(da_, ha.address(), na * es), "h2d");
        ck(SwrCuda.swr_cuda_test_to_device(du_, hu.address(), nu * es), "h2d");
        ck(SwrCuda.swr_cuda_test_to_device(dg, hg.address(), nu * es), "h2d");
        ck(SwrCuda.swr_cuda_test_memset(dy, 0xff, nu * es), "memset");
        ck(SwrCuda.swr_cuda_test_memset(dda, 0xff, na * es), "memset");
        ck(SwrCuda.swr_cuda_test_memset(ddu, 0xff, nu * es), "memset");
        ck(SwrCuda.swr_cuda_forward(dtype, da_, du_, dy, B, H, L, 16, k, 0L), "forward");
        ck(SwrCuda.swr_cuda_backward(dtype, da_, du_, dg, dda, ddu, B, H, L, 16, k, 0L), "backward");
        ck(SwrCuda.swr_cuda_test_sync(), "sync");
        ck(SwrCuda.swr_cuda_test_to_host(gy.address(), dy, nu * es), "d2h");
        ck(SwrCuda.swr_cuda_test_to_host(gda.address(), dda, na * es), "d2h");
        ck(SwrCuda.swr_cuda_test_to_host(gdu.address(), ddu, nu * es), "d2h");
        for (long p : new long[] {da_, du_, dg, dy, dda, ddu}) ck(SwrCuda.swr_cuda_test_free(p), "free");
        int r1, r2;
        if (f64) {
            r1 = SwrCpu.swr_cpu_forward_f64(ha.address(), hu.address(), cy.address(), B, H, L, 16, k);
            r2 = SwrCpu.swr_cpu_backward_f64(ha.address(), hu.address(), hg.address(), cda.address(), cdu.address(), B, H, L, 16, k);
        } else {
            r1 = SwrCpu.swr_cpu_forward_f32(ha.address(), hu.address(), cy.address(), B, H, L, 16, k);
            r2 = SwrCpu.swr_cpu_backward_f32(ha.address(), hu.address(), hg.address(), cda.address(), cdu.address(), B, H, L, 16, k);
        }
        ck(r1 | r2, "cpu");
        double ey = rel(f64, gy, cy, nu), ea = rel(f64, gda, cda, na), eu = rel(f64, gdu, cdu, nu);
        double tol = f64 ? 1e-12 : 1e-5;
        boolean ok = ey <= tol && ea <= tol && eu <= tol;
        System.out.printf("%s k=%d B=%d H=%d L=%-6d  y %.2e  da %.2e  du %.2e  %s%n", f64 ? "f64" : "f32", k, B, H, L,
                ey, ea, eu, ok ? "ok" : "FAIL");
        for (Pointer p : new Pointer[] {ha, hu, hg, gy, gda, gdu, cy, cda, cdu}) p.close();
        return ok;
    }

    static Pointer buf(boolean f64, double[] x) {
        if (f64) {
            return new DoublePointer(x);
        }
        FloatPointer p = new FloatPointer(x.length);
        for (int i = 0; i < x.length; ++i) p.put(i, (float) x[i]);
        return p;
    }

    static double get(boolean f64, Pointer p, long i) {
        return f64 ? ((DoublePointer) p).get(i) : ((FloatPointer) p).get(i);
    }

    /** ||x - r|| / ||r||; NaN (an unwritten, poisoned output) fails. */
    static double rel(boolean f64, Pointer x, Pointer r, long n) {
        double num = 0, den = 0;
        for (long i = 0; i < n; ++i) {
            double a = get(f64, x, i), b = get(f64, r, i);
            if (!Double.isFinite(a)) return Double.POSITIVE_INFINITY;
            num += (a - b) * (a - b);
            den += b * b;
        }
        return Math.sqrt(num / (den > 0 ? den : 1));
    }
}
