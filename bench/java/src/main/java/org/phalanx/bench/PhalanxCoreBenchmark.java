package org.phalanx.bench;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.swr.PhalanxCore;
import org.phalanx.swr.Swr;

/**
 * The Phalanx core {@code m = SWR(a, beta v) c + v} on the CPU, fused ({@link PhalanxCore}) against the three
 * passes it replaces (ND4J multiply, {@link Swr}, multiply-add), each against this machine's copy bandwidth
 * measured in the same run (interleaved, medians). Floors: the forward reads {@code a, beta, v, c} and writes
 * {@code m}; the backward reads {@code a, beta, v, c, dm} and writes {@code da, dbeta, dv, dc}. The three-pass
 * backward also reads the forward's {@code y} (kept, as the unfused layer keeps it).
 *
 * <pre>
 * mvn -q -o -pl bench/java -am -Dphalanx.cuda.skip=true -DskipTests package dependency:build-classpath -Dmdep.outputFile=cp.txt
 * OMP_NUM_THREADS=2 java -Xmx6g -cp bench/java/target/classes:$(cat bench/java/cp.txt) org.phalanx.bench.PhalanxCoreBenchmark 8 256 4096 15
 * </pre>
 * Arguments (optional): B C L reps; default 8 256 4096 15 (the layer benchmark's shape: d = 256, 16 heads,
 * kvHeads = heads), float32, block 16, k = 2.
 */
public final class PhalanxCoreBenchmark {

    public static void main(String[] args) {
        int B = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        int C = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int L = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 15;
        int H = C / Swr.HEAD;
        DataType t = DataType.FLOAT;
        long es = t.width();

        INDArray a = Nd4j.rand(t, B, H, L), beta = Nd4j.rand(t, B, C, L), c = Nd4j.randn(t, B, C, L);
        INDArray v = Nd4j.randn(t, B, C, L), dm = Nd4j.randn(t, B, C, L);
        INDArray m = v.ulike(), u = v.ulike(), y = v.ulike(), dy = v.ulike(), du = v.ulike();
        INDArray da = a.ulike(), dbeta = beta.ulike(), dv = v.ulike(), dc = c.ulike();
        INDArray copySrc = Nd4j.randn(t, B, C, L), copyDst = copySrc.ulike();

        long n = v.length(), na = a.length();
        long copyBytes = 2 * n * es;
        long fwdBytes = (na + 4 * n) * es;          // a, beta, v, c -> m
        long bwdBytes = (2 * na + 8 * n) * es;      // a, beta, v, c, dm -> da, dbeta, dv, dc

        Runnable unfusedForward = () -> {
            Nd4j.exec(new MulOp(beta, v, u));
            Swr.forwardInto(a, u, y, 16, 2);
            Nd4j.exec(new MulOp(y, c, m));
            m.addi(v);
        };
        Runnable unfusedBackward = () -> {
            Nd4j.exec(new MulOp(dm, c, dy));
            Nd4j.exec(new MulOp(dm, y, dc));
            Swr.backwardInto(a, u, dy, da, du, 16, 2);
            Nd4j.exec(new MulOp(du, v, dbeta));
            Nd4j.exec(new MulOp(du, beta, dv));
            Nd4j.exec(new AddOp(dv, dm, dv));
        };
        Runnable fusedForward = () -> PhalanxCore.forwardInto(a, beta, v, c, m, null, 16, 2);
        Runnable fusedBackward = () -> PhalanxCore.backwardInto(a, beta, v, c, null, dm, da, dbeta, dv, dc, 16, 2);

        String[] names = {"copy", "3-pass fwd", "fused fwd", "3-pass bwd", "fused bwd"};
        Runnable[] runs = {() -> copyDst.assign(copySrc), unfusedForward, fusedForward, unfusedBackward, fusedBackward};
        long[] bytes = {copyBytes, fwdBytes, fwdBytes, bwdBytes, bwdBytes};
        double[][] times = new double[runs.length][reps];
        for (int i = -2; i < reps; i++) { // two warm-up rounds; interleaved so that machine noise hits all alike
            for (int r = 0; r < runs.length; r++) {
                double s = SwrBenchmark.time(runs[r]);
                if (i >= 0) times[r][i] = s;
            }
        }
        System.out.printf("Phalanx core CPU benchmark: B=%d C=%d (H=%d, kvH=%d) L=%d float32, k=2, block 16; OMP_NUM_THREADS=%s, %d cores; median of %d%n",
                B, C, H, H, L, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), Runtime.getRuntime().availableProcessors(), reps);
        System.out.printf("%-11s %10s %14s %14s %16s%n", "pass", "ms", "floor MiB", "floor GB/s", "time / floor");
        double bwCopy = copyBytes / SwrBenchmark.median(times[0]);
        for (int r = 0; r < runs.length; r++) {
            double s = SwrBenchmark.median(times[r]);
            double floor = bytes[r] / bwCopy;
            System.out.printf("%-11s %10.2f %14d %14.2f %15.2fx%n", names[r], s * 1e3, bytes[r] >> 20, bytes[r] / s / 1e9, s / floor);
        }
    }
}
