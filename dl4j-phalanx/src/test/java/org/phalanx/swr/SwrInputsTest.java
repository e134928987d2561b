package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.swr.SwrTestData.*;

/** Views, layouts, bad input, streaming and concurrent use of {@link Swr}. */
class SwrInputsTest {

    final Random r = new Random(System.nanoTime());

    @Test
    void viewsFOrderAndStridedArraysGiveTheReferenceResult() {
        int B = 2, H = 3, L = 37, C = 16 * H;
        // Embed a and u as strided, offset views of larger arrays.
        INDArray bigA = arr(gates(r, (B + 1) * (H + 2) * (2 * L), SwrTestData.Gates.UNIFORM), DataType.DOUBLE, B + 1, H + 2, 2 * L);
        INDArray bigU = arr(normal(r, (B + 1) * (C + 5) * (2 * L)), DataType.DOUBLE, B + 1, C + 5, 2 * L);
        INDArray a = bigA.get(NDArrayIndex.interval(1, B + 1), NDArrayIndex.interval(1, H + 1), NDArrayIndex.interval(0, 2, 2 * L));
        INDArray u = bigU.get(NDArrayIndex.interval(1, B + 1), NDArrayIndex.interval(3, C + 3), NDArrayIndex.interval(1, 2, 2 * L));
        assertTrue(a.isView() && u.isView());
        double[] ref = SwrReference.forward(flat(a), flat(u), B, H, L, 16, 2);
        INDArray bigA0 = bigA.dup(), bigU0 = bigU.dup();

        assertTrue(relErr(flat(Swr.forward(a, u)), ref) < 1e-12, "strided views");
        assertTrue(relErr(flat(Swr.forward(a.dup('f'), u.dup('f'))), ref) < 1e-12, "f order");
        // Contiguous offset views: a slice along the batch axis of a 'c' array.
        INDArray cA = Nd4j.concat(0, a.dup('c'), a.dup('c')), cU = Nd4j.concat(0, u.dup('c'), u.dup('c'));
        INDArray sliceA = cA.get(NDArrayIndex.interval(B, 2 * B), NDArrayIndex.all(), NDArrayIndex.all());
        INDArray sliceU = cU.get(NDArrayIndex.interval(B, 2 * B), NDArrayIndex.all(), NDArrayIndex.all());
        assertTrue(sliceA.offset() > 0);
        assertTrue(relErr(flat(Swr.forward(sliceA, sliceU)), ref) < 1e-12, "offset views");
        INDArray dy = arr(normal(r, B * C * L), DataType.DOUBLE, B, C, L);
        INDArray[] g1 = Swr.backward(a, u, dy.dup('f'));
        INDArray[] g2 = Swr.backward(a.dup('c'), u.dup('c'), dy);
        assertArrayEquals(flat(g2[0]), flat(g1[0]), 0.0);
        assertArrayEquals(flat(g2[1]), flat(g1[1]), 0.0);
        assertEquals(bigA0, bigA, "input modified");
        assertEquals(bigU0, bigU, "input modified");
    }

    @Test
    void intoVariantsWriteIntoNonContiguousOutputs() {
        int B = 2, H = 1, L = 20, C = 16;
        INDArray a = arr(gates(r, B * H * L, SwrTestData.Gates.UNIFORM), DataType.FLOAT, B, H, L);
        INDArray u = arr(normal(r, B * C * L), DataType.FLOAT, B, C, L);
        INDArray y = Nd4j.create(DataType.FLOAT, new long[]{B, C, L}, 'f');
        Swr.forwardInto(a, u, y, 16, 2);
        assertEquals(Swr.forward(a, u), y.dup('c'));
    }

    @Test
    void outputsMayAliasInputs() {
        int B = 2, H = 2, L = 3000, C = 16 * H; // long enough for several threads' runs of blocks
        INDArray a = arr(gates(r, B * H * L, SwrTestData.Gates.UNIFORM), DataType.FLOAT, B, H, L);
        INDArray u = arr(normal(r, B * C * L), DataType.FLOAT, B, C, L);
        INDArray dy = arr(normal(r, B * C * L), DataType.FLOAT, B, C, L);
        INDArray y = Swr.forward(a, u);
        INDArray[] g = Swr.backward(a, u, dy);
        INDArray uInPlace = u.dup();
        Swr.forwardInto(a, uInPlace, uInPlace, 16, 2);
        assertEquals(y, uInPlace, "y written over u");
        INDArray dyInPlace = dy.dup();
        INDArray da = Nd4j.create(DataType.FLOAT, B, H, L);
        Swr.backwardInto(a, u, dyInPlace, da, dyInPlace, 16, 2);
        assertEquals(g[1], dyInPlace, "du written over dy");
        assertEquals(g[0], da);
    }

    @Test
    void badInputGivesClearMessages() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 2, 2, 10), u = Nd4j.rand(DataType.FLOAT, 2, 32, 10);
        assertMessage(() -> Swr.forward(null, u), "a must not be null");
        assertMessage(() -> Swr.forward(a.reshape(4, 10), u), "a must have rank 3");
        assertMessage(() -> Swr.forward(a, u.reshape(64, 10)), "u must have rank 3");
        assertMessage(() -> Swr.forward(a, Nd4j.rand(DataType.FLOAT, 2, 30, 10)), "u must have shape [B, 16*H, L] = [2, 32, 10]");
        assertMessage(() -> Swr.forward(a, Nd4j.rand(DataType.FLOAT, 2, 32, 11)), "u must have shape");
        assertMessage(() -> Swr.forward(a, Nd4j.rand(DataType.FLOAT, 3, 32, 10)), "u must have shape");
        assertMessage(() -> Swr.forward(a, u.castTo(DataType.DOUBLE)), "u must have the type of a (FLOAT)");
        assertMessage(() -> Swr.forward(a.castTo(DataType.INT), u.castTo(DataType.INT)), "floating-point");
        assertMessage(() -> Swr.forward(a.castTo(DataType.HALF), u.castTo(DataType.HALF)), "FLOAT and DOUBLE");
        assertMessage(() -> Swr.forward(a, u, 0, 2), "blockSize must be >= 1");
        assertMessage(() -> Swr.forward(a, u, 16, 0), "k (window in blocks) must be >= 1");
        assertMessage(() -> Swr.backward(a, u, Nd4j.rand(DataType.FLOAT, 2, 32, 9)), "dy must have the shape of y, [2, 32, 10]");
        assertMessage(() -> Swr.backward(a, u, u.castTo(DataType.DOUBLE)), "dy must have the type of a");
        assertMessage(() -> Swr.forward(Nd4j.rand(DataType.FLOAT, 2, 2, 0), Nd4j.rand(DataType.FLOAT, 2, 32, 0)), "B, H, L >= 1");
        SwrState s = SwrState.create(DataType.FLOAT, 3, 2);
        assertMessage(() -> Swr.forward(a, u, 16, 2, s), "state holds 3 sequences of 2 heads");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' lacks '" + expected + "'");
    }

    @Test
    void streamingInPiecesOfAnySizeEqualsOnePass() {
        for (int k = 1; k <= 2; k++) {
            for (int start : new int[]{0, 1, 7, 15, 16, 17}) { // every block phase of the second piece
                int B = 2, H = 2, L = 150, C = 16 * H;
                INDArray a = arr(gates(r, B * H * L, SwrTestData.Gates.MIXED_EXACT), DataType.DOUBLE, B, H, L);
                INDArray u = arr(normal(r, B * C * L), DataType.DOUBLE, B, C, L);
                double[] ref = SwrReference.forward(flat(a), flat(u), B, H, L, 16, k);
                SwrState state = SwrState.create(DataType.DOUBLE, B, H);
                INDArray out = Nd4j.create(DataType.DOUBLE, B, C, L);
                int t = 0;
                int[] sizes = {start, 1, 3, 16, 17, 5, 32, 2};
                int i = 0;
                while (t < L) {
                    int n = Math.min(L - t, i < sizes.length ? sizes[i] : 1 + r.nextInt(40));
                    i++;
                    if (n == 0) continue;
                    INDArray y = Swr.forward(sub(a, t, n), sub(u, t, n), 16, k, state);
                    out.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(t, t + n)).assign(y);
                    t += n;
                }
                assertEquals(L, state.position());
                assertTrue(relErr(flat(out), ref) < 1e-12, "k=" + k + " start=" + start);
                state.reset();
                assertEquals(0, state.position());
                INDArray again = Swr.forward(sub(a, 0, 20), sub(u, 0, 20), 16, k, state);
                assertEquals(Swr.forward(sub(a, 0, 20), sub(u, 0, 20), 16, k), again, "after reset");
            }
        }
    }

    static INDArray sub(INDArray x, int t, int n) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(t, t + n));
    }

    @Test
    void twoThreadsAtOnceBothGetCorrectResults() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Callable<Double> job = () -> {
                Random rr = new Random(Thread.currentThread().getId() ^ System.nanoTime());
                double worst = 0;
                for (int rep = 0; rep < 20; rep++) {
                    int B = 1 + rr.nextInt(3), H = 1 + rr.nextInt(3), L = 1 + rr.nextInt(300), C = 16 * H;
                    INDArray a = arr(gates(rr, B * H * L, SwrTestData.Gates.UNIFORM), DataType.DOUBLE, B, H, L);
                    INDArray u = arr(normal(rr, B * C * L), DataType.DOUBLE, B, C, L);
                    worst = Math.max(worst, relErr(flat(Swr.forward(a, u)), SwrReference.forward(flat(a), flat(u), B, H, L, 16, 2)));
                }
                return worst;
            };
            Future<Double> f1 = pool.submit(job), f2 = pool.submit(job);
            assertTrue(f1.get() < 1e-12 && f2.get() < 1e-12, f1.get() + " " + f2.get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void otherBlockSizesMatchTheReference() {
        for (int block : new int[]{1, 3, 8, 32}) {
            int B = 2, H = 1, L = 77, C = 16;
            INDArray a = arr(gates(r, B * H * L, SwrTestData.Gates.UNIFORM), DataType.DOUBLE, B, H, L);
            INDArray u = arr(normal(r, B * C * L), DataType.DOUBLE, B, C, L);
            INDArray dy = arr(normal(r, B * C * L), DataType.DOUBLE, B, C, L);
            for (int k = 1; k <= 2; k++) {
                assertTrue(relErr(flat(Swr.forward(a, u, block, k)), SwrReference.forward(flat(a), flat(u), B, H, L, block, k)) < 1e-12);
                INDArray[] g = Swr.backward(a, u, dy, block, k);
                double[][] ref = SwrReference.backward(flat(a), flat(u), flat(dy), B, H, L, block, k);
                assertTrue(relErr(flat(g[0]), ref[0]) < 1e-11 && relErr(flat(g[1]), ref[1]) < 1e-12, "block " + block + " k " + k);
            }
        }
    }
}
