package org.phalanx.bench;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.Swr;

import java.util.Arrays;

/**
 * SWR forward and backward throughput on the CPU as a fraction of this machine's copy bandwidth,
 * measured side by side in the same run (bytes read plus written, buffers reused).
 *
 * <pre>
 * mvn -q -pl bench/java -am -DskipTests package exec:java -Dexec.mainClass=org.phalanx.bench.SwrBenchmark
 * </pre>
 * Arguments (optional): B C L reps. Default 4 2048 4096 15 (float32). Report OMP_NUM_THREADS with the
 * figures.
 */
public final class SwrBenchmark {

    public static void main(String[] args) {
        int B = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        int C = args.length > 1 ? Integer.parseInt(args[1]) : 2048;
        int L = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 15;
        int H = C / Swr.HEAD;
        DataType t = DataType.FLOAT;
        long es = t.width();

        INDArray a = Nd4j.rand(t, B, H, L);
        INDArray u = Nd4j.randn(t, B, C, L);
        INDArray dy = Nd4j.randn(t, B, C, L);
        INDArray y = Nd4j.create(t, B, C, L);
        INDArray da = Nd4j.create(t, B, H, L);
        INDArray du = Nd4j.create(t, B, C, L);
        INDArray copySrc = Nd4j.randn(t, B, C, L), copyDst = Nd4j.create(t, B, C, L);

        long copyBytes = 2 * copySrc.length() * es;
        long fwdBytes = (a.length() + u.length() + y.length()) * es;
        long bwdBytes = (a.length() + u.length() + dy.length() + da.length() + du.length()) * es;

        // Interleave the three so that machine noise hits them alike; keep the median of each.
        double[] tc = new double[reps], tf = new double[reps], tb = new double[reps];
        for (int i = -2; i < reps; i++) { // two warm-up rounds
            double c = time(() -> copyDst.assign(copySrc));
            double f = time(() -> Swr.forwardInto(a, u, y, 16, 2));
            double b = time(() -> Swr.backwardInto(a, u, dy, da, du, 16, 2));
            if (i >= 0) {
                tc[i] = c;
                tf[i] = f;
                tb[i] = b;
            }
        }
        double c = median(tc), f = median(tf), b = median(tb);
        double bwCopy = copyBytes / c, bwF = fwdBytes / f, bwB = bwdBytes / b;
        System.out.printf("SWR CPU benchmark: B=%d C=%d (H=%d) L=%d float32, k=2, block 16; OMP_NUM_THREADS=%s, %d cores; median of %d%n",
                B, C, H, L, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), Runtime.getRuntime().availableProcessors(), reps);
        System.out.printf("output buffer addresses mod 64: y %d, da %d, du %d%n", y.data().addressPointer().address() % 64,
                da.data().addressPointer().address() % 64, du.data().addressPointer().address() % 64);
        System.out.printf("%-10s %10s %10s %12s %14s%n", "pass", "ms", "MiB moved", "GB/s", "of copy bw");
        System.out.printf("%-10s %10.2f %10d %12.2f %14s%n", "copy", c * 1e3, copyBytes >> 20, bwCopy / 1e9, "100%");
        System.out.printf("%-10s %10.2f %10d %12.2f %13.0f%%%n", "forward", f * 1e3, fwdBytes >> 20, bwF / 1e9, 100 * bwF / bwCopy);
        System.out.printf("%-10s %10.2f %10d %12.2f %13.0f%%%n", "backward", b * 1e3, bwdBytes >> 20, bwB / 1e9, 100 * bwB / bwCopy);
    }

    static double time(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) * 1e-9;
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
