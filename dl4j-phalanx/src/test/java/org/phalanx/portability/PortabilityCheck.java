package org.phalanx.portability;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nativeops.SwrCpu;
import org.phalanx.nativeops.SwrCuda;
import org.phalanx.nd4j.PhalanxExecutioner;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrReference;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Random;
import java.util.TreeSet;

/**
 * A fresh-JVM check of the native CPU library where it is deployed: {@code tools/oldroot/run.sh}
 * runs it inside an Ubuntu 18.04 root (glibc 2.27, no libgomp installed), {@code OpenMpRuntimeTest}
 * on the build machine. It loads {@link SwrCpu} before ND4J has started (so the library must find an
 * OpenMP runtime by itself), checks forward and backward on raw buffers against the float64
 * reference ({@link SwrReference}), then starts ND4J and checks {@link Swr} on INDArrays, loads the
 * CUDA library where it was built (no GPU needed to load it), and finally requires that exactly one libgomp is mapped into the process (ours and ND4J's shared).
 * Prints one line per step and "OK portability" at the end; exits non-zero on any failure.
 */
public final class PortabilityCheck {

    /** {B, H, L, block, k}: lengths 1, 15, 16, 17, odd and long, blocks 16 (the in-register scans) and others. */
    private static final int[][] CASES = {
            {1, 1, 1, 16, 2}, {2, 1, 15, 16, 2}, {1, 2, 16, 16, 2}, {1, 1, 17, 16, 2}, {2, 3, 257, 16, 2},
            {1, 1, 1000, 16, 1}, {2, 2, 101, 5, 3}, {1, 1, 40, 1, 4}, {1, 1, 33, 7, 1},
    };

    private PortabilityCheck() {
    }

    public static void main(String[] args) throws Exception {
        long seed = args.length > 0 ? Long.parseLong(args[0]) : System.nanoTime();
        System.out.println("java " + System.getProperty("java.version") + ", seed " + seed + ", " + osRelease());
        Random rnd = new Random(seed);

        // 1. The kernels through the JavaCPP binding alone: no ND4J class touched yet.
        SwrCpu.load();
        System.out.println("SwrCpu loaded first; OpenMP runtime: " + mappedLibgomp());
        for (int[] c : CASES) {
            for (boolean single : new boolean[]{true, false}) {
                double err = kernelError(rnd, single, c[0], c[1], c[2], c[3], c[4]);
                require(err <= (single ? 2e-5 : 1e-12), String.format("SwrCpu %s B=%d H=%d L=%d block=%d k=%d: relative error %.2e",
                        single ? "f32" : "f64", c[0], c[1], c[2], c[3], c[4], err));
            }
        }
        System.out.println("SwrCpu forward+backward, f32 and f64, " + CASES.length + " shapes: match the float64 reference");

        // 2. ND4J and the swr op.
        for (int[] c : CASES) {
            for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
                double err = nd4jError(rnd, type, c[0], c[1], c[2], c[3], c[4]);
                require(err <= (type == DataType.FLOAT ? 2e-5 : 1e-12), String.format("Swr %s B=%d H=%d L=%d block=%d k=%d: relative error %.2e",
                        type, c[0], c[1], c[2], c[3], c[4], err));
            }
        }
        require(Nd4j.getExecutioner() instanceof PhalanxExecutioner, "executioner not installed: " + Nd4j.getExecutioner());
        System.out.println("ND4J " + Nd4j.getBackend().getClass().getSimpleName() + " + Swr.forward/backward: match the float64 reference");

        // 3. The CUDA library, where it was built, loads and asks its static CUDA runtime for devices
        //    (0 without a driver); its glibc and libstdc++ needs are resolved at load.
        if (SwrCuda.class.getResource(Loader.getPlatform() + "/libjniSwrCuda.so") != null) {
            SwrCuda.load();
            int[] count = {-1};
            int status = SwrCuda.swr_cuda_test_device_count(count);
            System.out.println("SwrCuda loaded; CUDA devices: " + count[0]
                    + (status == SwrCuda.SWR_OK ? "" : " (status " + status + ": no usable driver or GPU)"));
        } else {
            System.out.println("SwrCuda not built here: not checked");
        }

        TreeSet<String> gomp = mappedLibgomp();
        require(gomp.size() == 1, "expected one OpenMP runtime in the process, found " + gomp);
        System.out.println("one OpenMP runtime shared with ND4J: " + gomp.first());
        System.out.println("OK portability");
    }

    /** Max |kernel - reference| / max(1, max |reference|) over y, da and du. */
    private static double kernelError(Random rnd, boolean single, int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] a = decays(rnd, B * H * L), u = gaussian(rnd, B * C * L), dy = gaussian(rnd, B * C * L);
        double[] y, da, du;
        if (single) {
            try (FloatPointer pa = f32(a); FloatPointer pu = f32(u); FloatPointer pdy = f32(dy);
                 FloatPointer py = new FloatPointer(u.length); FloatPointer pda = new FloatPointer(a.length);
                 FloatPointer pdu = new FloatPointer(u.length)) {
                check(SwrCpu.swr_cpu_forward_f32(pa.address(), pu.address(), py.address(), B, H, L, block, k));
                check(SwrCpu.swr_cpu_backward_f32(pa.address(), pu.address(), pdy.address(), pda.address(), pdu.address(), B, H, L, block, k));
                y = toDouble(py, u.length); da = toDouble(pda, a.length); du = toDouble(pdu, u.length);
                a = roundToFloat(a); u = roundToFloat(u); dy = roundToFloat(dy);
            }
        } else {
            try (DoublePointer pa = new DoublePointer(a); DoublePointer pu = new DoublePointer(u);
                 DoublePointer pdy = new DoublePointer(dy); DoublePointer py = new DoublePointer(u.length);
                 DoublePointer pda = new DoublePointer(a.length); DoublePointer pdu = new DoublePointer(u.length)) {
                check(SwrCpu.swr_cpu_forward_f64(pa.address(), pu.address(), py.address(), B, H, L, block, k));
                check(SwrCpu.swr_cpu_backward_f64(pa.address(), pu.address(), pdy.address(), pda.address(), pdu.address(), B, H, L, block, k));
                y = new double[u.length]; da = new double[a.length]; du = new double[u.length];
                py.get(y); pda.get(da); pdu.get(du);
            }
        }
        double[][] g = SwrReference.backward(a, u, dy, B, H, L, block, k);
        return Math.max(relError(y, SwrReference.forward(a, u, B, H, L, block, k)), Math.max(relError(da, g[0]), relError(du, g[1])));
    }

    private static double nd4jError(Random rnd, DataType type, int B, int H, int L, int block, int k) {
        int C = 16 * H;
        double[] a = decays(rnd, B * H * L), u = gaussian(rnd, B * C * L), dy = gaussian(rnd, B * C * L);
        INDArray na = Nd4j.create(a, new long[]{B, H, L}, DataType.DOUBLE).castTo(type);
        INDArray nu = Nd4j.create(u, new long[]{B, C, L}, DataType.DOUBLE).castTo(type);
        INDArray ndy = Nd4j.create(dy, new long[]{B, C, L}, DataType.DOUBLE).castTo(type);
        a = flat(na); u = flat(nu); dy = flat(ndy);  // the values the kernel sees
        INDArray y = Swr.forward(na, nu, block, k);
        INDArray[] g = Swr.backward(na, nu, ndy, block, k);
        double[][] ref = SwrReference.backward(a, u, dy, B, H, L, block, k);
        return Math.max(relError(flat(y), SwrReference.forward(a, u, B, H, L, block, k)),
                Math.max(relError(flat(g[0]), ref[0]), relError(flat(g[1]), ref[1])));
    }

    private static double[] flat(INDArray x) {
        return x.dup('c').reshape(x.length()).toDoubleVector();
    }

    /** Decays in (0, 1), a tenth of them within 1e-3 of 0 or of 1. */
    private static double[] decays(Random rnd, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            double r = rnd.nextDouble();
            a[i] = r < 0.05 ? 1e-3 * rnd.nextDouble() : r < 0.1 ? 1 - 1e-3 * rnd.nextDouble() : rnd.nextDouble();
        }
        return a;
    }

    private static double[] gaussian(Random rnd, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextGaussian();
        return x;
    }

    private static FloatPointer f32(double[] x) {
        FloatPointer p = new FloatPointer(x.length);
        for (int i = 0; i < x.length; i++) p.put(i, (float) x[i]);
        return p;
    }

    private static double[] toDouble(FloatPointer p, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = p.get(i);
        return x;
    }

    private static double[] roundToFloat(double[] x) {
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = (float) x[i];
        return r;
    }

    private static double relError(double[] got, double[] want) {
        double err = 0, scale = 1;
        for (int i = 0; i < want.length; i++) {
            err = Math.max(err, Math.abs(got[i] - want[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        return err / scale;
    }

    private static void check(int status) {
        require(status == SwrCpu.SWR_OK, "SwrCpu returned status " + status);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            System.out.println("FAILED: " + message);
            System.exit(1);
        }
    }

    /** The distinct files mapped into this process whose name starts with libgomp. */
    static TreeSet<String> mappedLibgomp() throws IOException {
        TreeSet<String> paths = new TreeSet<>();
        for (String line : Files.readAllLines(Paths.get("/proc/self/maps"))) {
            int slash = line.indexOf('/');
            if (slash >= 0 && Paths.get(line.substring(slash)).getFileName().toString().startsWith("libgomp")) {
                paths.add(line.substring(slash));
            }
        }
        return paths;
    }

    private static String osRelease() {
        try {
            for (String line : Files.readAllLines(Paths.get("/etc/os-release"))) {
                if (line.startsWith("PRETTY_NAME=")) return line.substring(12).replace("\"", "");
            }
        } catch (IOException ignored) {
            // not Linux, or an unusual root: the name is only informative
        }
        return "unknown OS";
    }
}
