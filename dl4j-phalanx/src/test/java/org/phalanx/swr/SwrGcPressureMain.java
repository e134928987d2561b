package org.phalanx.swr;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.nn.PhalanxTestUtil;
import org.phalanx.samediff.PhalanxOps;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Run by {@link SwrGcTest} in a child JVM: every SWR entry point called many times while another thread
 * calls {@code System.gc()} every millisecond, each result compared bit for bit with the result of a
 * quiet call on the same inputs. Inputs are one-head ({@code a [B, 1, L]}) and strided views, the
 * arrays that get copied on their way to the kernels. Prints {@code ENTRY name} before each entry point
 * (so a crash names it) and {@code RESULT name mismatches/calls}; exits 1 on any mismatch.
 */
public final class SwrGcPressureMain {

    public static void main(String[] args) throws Exception {
        int calls = Integer.parseInt(args[0]);
        long budgetMs = Long.parseLong(args[1]);
        Random r = new Random(Long.parseLong(args[2]));
        int B = 1, H = 1, L = 20_000, C = 16 * H; // a: 160 KB, u: 2.5 MB, above the mmap threshold the test sets
        // Views: every other step of larger arrays, so that both reach the kernels as copies.
        INDArray aBig = arr(SwrTestData.gates(r, B * H * 2 * L, SwrTestData.Gates.UNIFORM), B, H, 2 * L);
        INDArray uBig = arr(SwrTestData.normal(r, B * C * 2 * L), B, C, 2 * L);
        INDArray dyBig = arr(SwrTestData.normal(r, B * C * 2 * L), B, C, 2 * L);
        INDArray aView = everyOther(aBig), uView = everyOther(uBig), dyView = everyOther(dyBig);
        INDArray aOneHead = aView.dup('c'), u = uView.dup('c'), dy = dyView.dup('c'); // contiguous, H = 1

        Map<String, Supplier<INDArray[]>> entries = new LinkedHashMap<>();
        entries.put("forward(one-head)", () -> new INDArray[]{Swr.forward(aOneHead, u)});
        entries.put("forward(views)", () -> new INDArray[]{Swr.forward(aView, uView)});
        entries.put("forwardInto(views, f-order y)", () -> {
            INDArray y = Nd4j.create(DataType.DOUBLE, new long[]{B, C, L}, 'f');
            return new INDArray[]{Swr.forwardInto(aView, uView, y, 16, 2)};
        });
        entries.put("backward(one-head)", () -> Swr.backward(aOneHead, u, dy));
        entries.put("backward(views)", () -> Swr.backward(aView, uView, dyView));
        entries.put("backwardInto(views)", () -> {
            INDArray da = Nd4j.create(DataType.DOUBLE, B, H, L), du = Nd4j.create(DataType.DOUBLE, B, C, L);
            Swr.backwardInto(aView, uView, dyView, da, du, 16, 2);
            return new INDArray[]{da, du};
        });
        entries.put("forward(streaming, views)", () -> {
            SwrState s = SwrState.create(DataType.DOUBLE, B, H);
            INDArray y1 = Swr.forward(first(aView, 999), first(uView, 999), 16, 2, s);
            return new INDArray[]{y1, Swr.forward(rest(aView, 999), rest(uView, 999), 16, 2, s)};
        });
        entries.put("SwrOp (Nd4j.exec)", () -> Nd4j.exec(new SwrOp(aView, uView, null, 16, 2)));
        entries.put("SwrBp (Nd4j.exec)", () -> Nd4j.exec(new SwrBp(aView, uView, dyView, null, null, 16, 2)));
        SameDiff sd = SameDiff.create();
        SDVariable pa = sd.placeHolder("a", DataType.DOUBLE, B, H, L), pu = sd.placeHolder("u", DataType.DOUBLE, B, C, L);
        PhalanxOps.swr(sd, "y", pa, pu);
        entries.put("SameDiff output", () -> new INDArray[]{sd.outputSingle(Map.of("a", aView, "u", uView), "y")});
        MultiLayerNetwork net = PhalanxTestUtil.single(DataType.DOUBLE, 16, 16, 1, 16, 2, RNNFormat.NCW, 7);
        INDArray x = everyOther(arr(SwrTestData.normal(r, B * 16 * 2 * 4000), B, 16, 2 * 4000));
        entries.put("PhalanxLayer output (one head)", () -> new INDArray[]{net.output(x)});

        Map<String, List<double[]>> quiet = new LinkedHashMap<>();
        for (Map.Entry<String, Supplier<INDArray[]>> e : entries.entrySet()) {
            quiet.put(e.getKey(), flat(e.getValue().get()));
        }

        Thread gc = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                System.gc();
                try {
                    Thread.sleep(1);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }, "gc-pressure");
        gc.setDaemon(true);
        if (args.length < 4) gc.start();
        boolean allEqual = true;
        for (Map.Entry<String, Supplier<INDArray[]>> e : entries.entrySet()) {
            System.out.println("ENTRY " + e.getKey());
            System.out.flush();
            List<double[]> expect = quiet.get(e.getKey());
            int mismatches = 0, n = 0;
            long end = System.currentTimeMillis() + budgetMs / entries.size();
            for (; n < calls && System.currentTimeMillis() < end; n++) {
                List<double[]> got = flat(e.getValue().get());
                for (int i = 0; i < expect.size(); i++) {
                    if (!Arrays.equals(expect.get(i), got.get(i))) { // bitwise, NaN included
                        mismatches++;
                        break;
                    }
                }
            }
            System.out.println("RESULT " + e.getKey() + " " + mismatches + "/" + n);
            System.out.flush();
            allEqual &= mismatches == 0;
        }
        gc.interrupt();
        System.exit(allEqual ? 0 : 1);
    }

    static INDArray arr(double[] x, long... shape) {
        return SwrTestData.arr(x, DataType.DOUBLE, shape);
    }

    static INDArray everyOther(INDArray x) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2, x.size(2)));
    }

    static INDArray first(INDArray x, long n) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, n));
    }

    static INDArray rest(INDArray x, long n) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(n, x.size(2)));
    }

    static List<double[]> flat(INDArray[] xs) {
        List<double[]> out = new ArrayList<>();
        for (INDArray x : xs) out.add(x.dup('c').data().asDouble());
        return out;
    }
}
