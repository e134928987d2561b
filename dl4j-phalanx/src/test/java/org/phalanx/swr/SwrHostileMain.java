package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.AbstractMap.SimpleEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Hostile arguments to the public API, run by {@link SwrFuzzTest} in a child JVM from a given case on.
 * Prints {@code CASE i name} before a case and {@code DONE i} after it, with {@code FAIL i name: why}
 * when the case ended in neither its expected result nor a clear refusal.
 */
public final class SwrHostileMain {

    /** A case: runs, checks its own result; returns normally, or throws. */
    interface Body {
        void run() throws Exception;
    }

    /** What a case may end in: its result (checked by the body), or an IllegalArgumentException naming this. */
    static final class Case {
        final Body body;
        final String refusal; // null: must give the result; "": any clear refusal also accepted

        Case(Body body, String refusal) {
            this.body = body;
            this.refusal = refusal;
        }
    }

    static final int B = 2, H = 1, L = 40, C = 16;
    static final Random R = new Random(11);
    static final double[] AD = SwrTestData.gates(R, B * H * L, SwrTestData.Gates.UNIFORM);
    static final double[] UD = SwrTestData.normal(R, B * C * L), GD = SwrTestData.normal(R, B * C * L);

    static INDArray a(DataType t) {
        return SwrTestData.arr(AD, t, B, H, L);
    }

    static INDArray u(DataType t) {
        return SwrTestData.arr(UD, t, B, C, L);
    }

    static INDArray dy(DataType t) {
        return SwrTestData.arr(GD, t, B, C, L);
    }

    /** Forward and backward with these arguments must match the reference (which takes any block and k). */
    static Case matches(int block, int k) {
        return new Case(() -> {
            for (DataType t : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
                double tol = t == DataType.DOUBLE ? 1e-11 : 5e-5;
                double ey = SwrTestData.relErr(SwrTestData.flat(Swr.forward(a(t), u(t), block, k)),
                        SwrReference.forward(AD, UD, B, H, L, block, k));
                INDArray[] g = Swr.backward(a(t), u(t), dy(t), block, k);
                double[][] ref = SwrReference.backwardLinear(AD, UD, GD, B, H, L, block, k);
                double ea = SwrTestData.relErr(SwrTestData.flat(g[0]), ref[0]), eu = SwrTestData.relErr(SwrTestData.flat(g[1]), ref[1]);
                if (!(ey < tol && ea < 10 * tol && eu < tol)) {
                    throw new AssertionError(t + ": relative errors y " + ey + ", da " + ea + ", du " + eu);
                }
            }
        }, null);
    }

    static Case refused(String message, Body body) {
        return new Case(body, message);
    }

    static Case runs(Body body) {
        return new Case(body, null);
    }

    static List<Map.Entry<String, Case>> cases() {
        List<Map.Entry<String, Case>> c = new ArrayList<>();
        DataType f = DataType.FLOAT;
        for (int k : new int[]{100_000_000, Integer.MAX_VALUE, 1 << 30, (1 << 30) + 1}) {
            c.add(new SimpleEntry<>("window k = " + k, matches(16, k)));
        }
        for (int block : new int[]{1_000_000_000, Integer.MAX_VALUE, L, L + 1}) {
            c.add(new SimpleEntry<>("block = " + block, matches(block, 2)));
        }
        c.add(new SimpleEntry<>("block = 1e9 and k = 1e8", matches(1_000_000_000, 100_000_000)));
        c.add(new SimpleEntry<>("block = 1, k = 1e8", matches(1, 100_000_000)));
        for (int bad : new int[]{0, -1, Integer.MIN_VALUE}) {
            c.add(new SimpleEntry<>("k = " + bad, refused("k (window in blocks) must be >= 1", () -> Swr.forward(a(f), u(f), 16, bad))));
            c.add(new SimpleEntry<>("block = " + bad, refused("blockSize must be >= 1", () -> Swr.backward(a(f), u(f), dy(f), bad, 2))));
        }
        c.add(new SimpleEntry<>("streaming k = 1e8", refused("use Swr.UNBOUNDED",
                () -> Swr.forward(a(f), u(f), 16, 100_000_000, SwrState.create(f, B, H)))));
        c.add(new SimpleEntry<>("op k = Integer.MAX_VALUE", runs(() -> {
            INDArray y = Nd4j.exec(new SwrOp(a(DataType.DOUBLE), u(DataType.DOUBLE), null, 16, Integer.MAX_VALUE))[0];
            double e = SwrTestData.relErr(SwrTestData.flat(y), SwrReference.forward(AD, UD, B, H, L, 16, Integer.MAX_VALUE));
            if (!(e < 1e-11)) throw new AssertionError("relative error " + e);
        })));
        c.add(new SimpleEntry<>("B = 0", refused("B, H, L >= 1", () -> Swr.forward(Nd4j.create(f, 0, 1, 5), Nd4j.create(f, 0, 16, 5)))));
        c.add(new SimpleEntry<>("L = 0", refused("B, H, L >= 1", () -> Swr.backward(Nd4j.create(f, 2, 1, 0), Nd4j.create(f, 2, 16, 0), Nd4j.create(f, 2, 16, 0)))));
        c.add(new SimpleEntry<>("H = 0", refused("B, H, L >= 1", () -> Swr.forward(Nd4j.create(f, 2, 0, 5), Nd4j.create(f, 2, 0, 5)))));
        c.add(new SimpleEntry<>("scalar a", refused("a must have rank 3", () -> Swr.forward(Nd4j.scalar(1f), u(f)))));
        c.add(new SimpleEntry<>("rank-4 u", refused("u must have rank 3", () -> Swr.forward(a(f), Nd4j.create(f, 1, 2, 16, 40)))));
        c.add(new SimpleEntry<>("L = 1e9 on a 16-element buffer", refused("buffer holds only", () -> {
            INDArray tiny = Nd4j.create(f, 16);
            INDArray hugeU = Nd4j.create(tiny.data(), new long[]{1, 16, 1_000_000_000L}, new long[]{16_000_000_000L, 1_000_000_000L, 1}, 0, 'c');
            INDArray hugeA = Nd4j.create(tiny.data(), new long[]{1, 1, 1_000_000_000L}, new long[]{1_000_000_000L, 1_000_000_000L, 1}, 0, 'c');
            Swr.forward(hugeA, hugeU);
        })));
        c.add(new SimpleEntry<>("strided view reaching past its buffer", refused("buffer holds only", () -> {
            INDArray small = Nd4j.create(f, 2, 16, 40);
            Swr.forward(a(f), Nd4j.create(small.data(), new long[]{2, 16, 40}, new long[]{640, 40, 2}, 0, 'c'));
        })));
        c.add(new SimpleEntry<>("NaN and Inf inputs", runs(() -> {
            INDArray a = a(f), u = u(f), dy = dy(f);
            a.putScalar(0, 0, 0, Float.NaN);
            a.putScalar(1, 0, 17, Float.POSITIVE_INFINITY);
            u.putScalar(0, 3, 5, Float.NaN);
            dy.putScalar(1, 2, 39, Float.NEGATIVE_INFINITY);
            INDArray y = Swr.forward(a, u, 16, 2);
            INDArray[] g = Swr.backward(a, u, dy, 16, 2);
            if (y.length() != B * C * L || g[0].length() != B * H * L || g[1].length() != B * C * L) throw new AssertionError("shapes");
        })));
        c.add(new SimpleEntry<>("da inside du", refused("da and du share memory", () -> {
            INDArray du = Nd4j.create(f, B, C, L);
            Swr.backwardInto(a(f), u(f), dy(f), Nd4j.create(du.data(), new long[]{B, H, L}, new long[]{H * L, L, 1}, 7, 'c'), du, 16, 2);
        })));
        c.add(new SimpleEntry<>("broadcast output", refused("share memory", () ->
                Swr.forwardInto(a(f), u(f), Nd4j.create(Nd4j.create(f, L).data(), new long[]{B, C, L}, new long[]{0, 0, 1}, 0, 'c'), 16, 2))));
        c.add(new SimpleEntry<>("y = u, du = dy, da = a", runs(() -> {
            INDArray a = a(DataType.DOUBLE), u = u(DataType.DOUBLE), dy = dy(DataType.DOUBLE);
            Swr.forwardInto(a, u, u, 16, 2);
            double e = SwrTestData.relErr(SwrTestData.flat(u), SwrReference.forward(AD, UD, B, H, L, 16, 2));
            u = u(DataType.DOUBLE);
            Swr.backwardInto(a, u, dy, a, dy, 16, 2);
            double[][] ref = SwrReference.backwardLinear(AD, UD, GD, B, H, L, 16, 2);
            double ea = SwrTestData.relErr(SwrTestData.flat(a), ref[0]), eu = SwrTestData.relErr(SwrTestData.flat(dy), ref[1]);
            if (!(e < 1e-11 && ea < 1e-10 && eu < 1e-11)) throw new AssertionError(e + " " + ea + " " + eu);
        })));
        c.add(new SimpleEntry<>("closed u", refused("u was closed", () -> {
            INDArray u = u(f);
            u.close();
            Swr.forward(a(f), u);
        })));
        c.add(new SimpleEntry<>("closed output", refused("output du was closed", () -> {
            INDArray du = Nd4j.create(f, B, C, L);
            du.close();
            Swr.backwardInto(a(f), u(f), dy(f), Nd4j.create(f, B, H, L), du, 16, 2);
        })));
        c.add(new SimpleEntry<>("null dy", refused("dy (the gradient of y) must not be null", () -> Swr.backward(a(f), u(f), null))));
        c.add(new SimpleEntry<>("op with a missing input", refused("was null", // ND4J's own check, in the op's constructor
                () -> Nd4j.exec(new SwrBp(a(f), u(f), null, null, null, 16, 2)))));
        c.add(new SimpleEntry<>("op with a wrong output", refused("output 0 must have shape",
                () -> Nd4j.exec(new SwrOp(a(f), u(f), Nd4j.create(f, B, C, L + 1), 16, 2)))));
        c.add(new SimpleEntry<>("mixed types", refused("dy must have the type of a", () -> Swr.backward(a(f), u(f), dy(DataType.DOUBLE)))));
        c.add(new SimpleEntry<>("integer arrays", refused("floating-point", () -> Swr.forward(a(DataType.INT), u(DataType.INT)))));
        c.add(new SimpleEntry<>("many sequences of one step", runs(() -> {
            int n = 100_000;
            INDArray y = Swr.forward(Nd4j.rand(f, n, 1, 1), Nd4j.ones(f, n, 16, 1), 16, 2);
            if (y.minNumber().doubleValue() != 1 || y.maxNumber().doubleValue() != 1) throw new AssertionError("y != u at L = 1");
        })));
        return c;
    }

    public static void main(String[] args) {
        List<Map.Entry<String, Case>> cases = cases();
        for (int i = Integer.parseInt(args[0]); i < cases.size(); i++) {
            String name = cases.get(i).getKey();
            Case c = cases.get(i).getValue();
            System.out.println("CASE " + i + " " + name);
            System.out.flush();
            String failure = null;
            try {
                c.body.run();
                if (c.refusal != null) failure = "expected an IllegalArgumentException with '" + c.refusal + "'; it ran";
            } catch (IllegalArgumentException e) {
                if (c.refusal == null) failure = "refused: " + e.getMessage();
                else if (e.getMessage() == null || !e.getMessage().contains(c.refusal)) {
                    failure = "message '" + e.getMessage() + "' lacks '" + c.refusal + "'";
                }
            } catch (Throwable e) {
                failure = e.toString();
            }
            if (failure != null) System.out.println("FAIL " + i + " " + name + ": " + failure);
            System.out.println("DONE " + i);
            System.out.flush();
        }
        System.exit(0);
    }

    static int lastStarted(String output) {
        Matcher m = Pattern.compile("(?m)^CASE (\\d+) ").matcher(output);
        int last = -1;
        while (m.find()) last = Integer.parseInt(m.group(1));
        return last;
    }

    static boolean finished(String output, int i) {
        return Pattern.compile("(?m)^DONE " + i + "$").matcher(output).find();
    }
}
