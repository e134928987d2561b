package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.phalanx.nd4j.ArrayMemory;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;
import static org.phalanx.swr.SwrInputsTest.assertMessage;
import static org.phalanx.swr.SwrTestData.*;

/**
 * How {@link Swr} treats memory: which arrays reach the kernels uncopied, outputs that share memory
 * with inputs or each other (judged by address ranges, not by buffer objects), outputs whose
 * elements overlap, closed arrays and arrays that claim more than their buffer holds.
 */
class SwrMemoryTest {

    final Random r = new Random(System.nanoTime());

    static INDArray batch(INDArray x, long from, long to) {
        return x.get(NDArrayIndex.interval(from, to), NDArrayIndex.all(), NDArrayIndex.all());
    }

    /** An array on the same memory as x through a second DataBuffer object (not a view of x's). */
    static INDArray sameMemory(INDArray x) {
        DataBuffer other = Nd4j.createBuffer(x.data().addressPointer(), x.length(), x.dataType());
        INDArray y = Nd4j.create(other, x.shape());
        assertNotSame(ArrayMemory.root(x), ArrayMemory.root(y));
        return y;
    }

    @Test
    void denseArraysWithSizeOneDimensionsOrOffsetsAreNotCopied() {
        INDArray oneHead = Nd4j.rand(DataType.FLOAT, 3, 1, 17); // strides [17, 17, 1]: ND4J's own test says "not default"
        INDArray big = Nd4j.rand(DataType.DOUBLE, 4, 32, 9);
        INDArray[] dense = {oneHead, Nd4j.rand(DataType.FLOAT, 1, 1, 1), Nd4j.rand(DataType.FLOAT, 1, 16, 5),
                batch(big, 1, 3), batch(big, 3, 4), batch(oneHead, 2, 3),
                big.get(NDArrayIndex.point(2), NDArrayIndex.all(), NDArrayIndex.all()).reshape(1, 32, 9)};
        for (INDArray x : dense) {
            assertTrue(ArrayMemory.isDenseC(x), x.shapeInfoToString());
            assertSame(x, Swr.contiguous(x), x.shapeInfoToString());
        }
        INDArray[] notDense = {big.dup('f'), big.permute(0, 2, 1), Nd4j.rand(DataType.FLOAT, 2, 16, 9).permute(2, 1, 0).dup('c').permute(2, 1, 0),
                big.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 16), NDArrayIndex.all()),
                big.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2, 9))};
        for (INDArray x : notDense) {
            assertFalse(ArrayMemory.isDenseC(x), x.shapeInfoToString());
            INDArray c = Swr.contiguous(x);
            assertNotSame(x, c);
            assertEquals(x, c);
        }
        // The uncopied one-head and offset arrays give the reference result.
        int B = 3, L = 17;
        INDArray u = arr(normal(r, B * 16 * L), DataType.FLOAT, B, 16, L);
        INDArray a = arr(gates(r, B * L, Gates.UNIFORM), DataType.FLOAT, B, 1, L);
        assertTrue(relErr(flat(Swr.forward(a, u)), SwrReference.forward(flat(a), flat(u), B, 1, L, 16, 2)) < 2e-6);
        INDArray y = Swr.forward(batch(a, 1, 3), batch(u, 1, 3));
        assertTrue(relErr(flat(y), SwrReference.forward(flat(batch(a, 1, 3)), flat(batch(u, 1, 3)), 2, 1, L, 16, 2)) < 2e-6);
    }

    @Test
    void anOutputOnTheInputsMemoryThroughAnotherBufferIsStillCorrect() {
        int B = 2, H = 2, L = 3000, C = 16 * H; // long enough that kernel threads' blocks meet
        INDArray a = arr(gates(r, B * H * L, Gates.UNIFORM), DataType.FLOAT, B, H, L);
        INDArray u = arr(normal(r, B * C * L), DataType.FLOAT, B, C, L);
        INDArray dy = arr(normal(r, B * C * L), DataType.FLOAT, B, C, L);
        INDArray y = Swr.forward(a, u);
        INDArray[] g = Swr.backward(a, u, dy);

        INDArray u2 = u.dup();
        Swr.forwardInto(a, u2, sameMemory(u2), 16, 2);
        assertEquals(y, u2, "y on u's memory through a second DataBuffer");

        INDArray dy2 = dy.dup(), da = Nd4j.create(DataType.FLOAT, B, H, L);
        Swr.backwardInto(a, u, dy2, da, sameMemory(dy2), 16, 2);
        assertEquals(g[1], dy2, "du on dy's memory through a second DataBuffer");
        assertEquals(g[0], da);

        // da inside the memory of an input (a's own memory, a second buffer): still correct.
        INDArray a2 = a.dup(), du = Nd4j.create(DataType.FLOAT, B, C, L);
        Swr.backwardInto(a2, u, dy, sameMemory(a2), du, 16, 2);
        assertEquals(g[0], a2);
        assertEquals(g[1], du);
        // A y that is a view into u's buffer, on half of it: the other half is left as it was.
        INDArray both = Nd4j.concat(0, u, u);
        INDArray before = both.dup();
        Swr.forwardInto(a, batch(both, 0, B), batch(both, 1, B + 1), 16, 2);
        assertEquals(y, batch(both, 1, B + 1));
        assertEquals(batch(before, 0, 1), batch(both, 0, 1));
    }

    @Test
    void outputsThatShareMemoryWithEachOtherOrThemselvesAreRefused() {
        int B = 2, H = 1, L = 40, C = 16;
        INDArray a = Nd4j.rand(DataType.FLOAT, B, H, L), u = Nd4j.rand(DataType.FLOAT, B, C, L), dy = Nd4j.rand(DataType.FLOAT, B, C, L);
        INDArray du = Nd4j.create(DataType.FLOAT, B, C, L);
        INDArray daInsideDu = Nd4j.create(du.data(), new long[]{B, H, L}, new long[]{H * L, L, 1}, 5 * L, 'c');
        assertMessage(() -> Swr.backwardInto(a, u, dy, daInsideDu, du, 16, 2), "da and du share memory");
        INDArray daSecondBuffer = sameMemory(du).reshape('c', B, C * L).get(NDArrayIndex.all(), NDArrayIndex.interval(0, L)).reshape('c', B, H, L);
        assertMessage(() -> Swr.backwardInto(a, u, dy, daSecondBuffer, du, 16, 2), "da and du share memory");

        INDArray base = Nd4j.create(DataType.FLOAT, 1, 1, L);
        INDArray broadcast = Nd4j.create(base.data(), new long[]{B, C, L}, new long[]{0, 0, 1}, 0, 'c');
        assertMessage(() -> Swr.forwardInto(a, u, broadcast, 16, 2), "output y has elements that share memory");
        INDArray stride0 = Nd4j.create(Nd4j.create(DataType.FLOAT, 1, 1, 1).data(), new long[]{B, C, L}, new long[]{0, 0, 0}, 0, 'c');
        assertMessage(() -> Swr.forwardInto(a, u, stride0, 16, 2), "share memory");
        INDArray interleaved = Nd4j.create(Nd4j.create(DataType.FLOAT, B * C * L).data(), new long[]{B, C, L}, new long[]{C * L / 2, L, 1}, 0, 'c');
        assertMessage(() -> Swr.backwardInto(a, u, dy, Nd4j.create(DataType.FLOAT, B, H, L), interleaved, 16, 2),
                "output du has elements that share memory");
        assertFalse(ArrayMemory.mayOverlapItself(u.permute(0, 2, 1)));
        assertFalse(ArrayMemory.mayOverlapItself(u.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 3, L))));
    }

    @Test
    void closedArraysMissingArgumentsAndShortBuffersGetClearMessages() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 2, 1, 10), u = Nd4j.rand(DataType.FLOAT, 2, 16, 10);
        assertMessage(() -> Swr.backward(a, u, null), "dy (the gradient of y) must not be null");
        assertMessage(() -> Swr.backward(a, u, Nd4j.rand(DataType.FLOAT, 32, 10)), "dy must have rank 3");
        assertMessage(() -> Swr.forwardInto(a, u, null, 16, 2), "output y must have shape [2, 16, 10]");
        assertMessage(() -> Swr.backwardInto(a, u, u, null, u.dup(), 16, 2), "output da must have shape [2, 1, 10]");
        INDArray closed = u.dup();
        closed.close();
        assertMessage(() -> Swr.forward(a, closed), "u was closed");
        INDArray closedA = a.dup();
        closedA.close();
        assertMessage(() -> Swr.backward(closedA, u, u), "a was closed");
        INDArray closedY = u.dup();
        closedY.close();
        assertMessage(() -> Swr.forwardInto(a, u, closedY, 16, 2), "output y was closed");
        // An array that claims more elements than its buffer holds.
        INDArray shortU = Nd4j.create(Nd4j.create(DataType.FLOAT, 100).data(), new long[]{2, 16, 10}, new long[]{160, 10, 1}, 0, 'c');
        assertMessage(() -> Swr.forward(a, shortU), "its buffer holds only 100 elements");
        INDArray tail = Nd4j.create(u.data(), new long[]{2, 16, 10}, new long[]{160, 10, 1}, 1, 'c');
        assertMessage(() -> Swr.forward(a, tail), "buffer holds only");
    }

    /**
     * ND4J M2.1 wraps strides of 2^31 or more to 32 bits. Arrays that claim a huge buffer over a few
     * bytes of real memory (only their metadata is ever looked at here) show how such arrays are
     * judged: dense when they are an array of their own from offset 0, refused before any allocation
     * or kernel when they are views.
     */
    @Test
    void arraysWithStridesWrappedTo32BitsAreJudgedByTheirBuffer() {
        long L = (1L << 26) + 1, n = 2 * 32 * L; // stride of dim 0: 32 L > 2^31
        INDArray backing = Nd4j.create(DataType.FLOAT, 16);
        INDArray u = Nd4j.create(Nd4j.createBuffer(backing.data().addressPointer(), n, DataType.FLOAT), new long[]{2, 32, L});
        assertTrue(u.stride(0) != 32 * L, "ND4J now computes long strides: this test (and the workaround) can go");
        assertTrue(ArrayMemory.isDenseC(u) && ArrayMemory.beyondIntStrides(u) && ArrayMemory.fitsItsBuffer(u));
        INDArray view = Nd4j.create(Nd4j.createBuffer(backing.data().addressPointer(), n + 16, DataType.FLOAT),
                new long[]{2, 32, L}, u.stride(), 16, 'c');
        assertFalse(ArrayMemory.isDenseC(view));
        INDArray a = Nd4j.create(Nd4j.createBuffer(backing.data().addressPointer(), 2 * 2 * L, DataType.FLOAT), new long[]{2, 2, L});
        assertMessage(() -> Swr.forward(a, view), "u has 4294967360 elements (2^31 or more) and is not a dense 'c'-order array");
        assertMessage(() -> Swr.forwardInto(a, Nd4j.create(DataType.FLOAT, 2, 32, 1).broadcast(2, 32, 1), u, 16, 2), "u must have shape");
        assertFalse(ArrayMemory.isDenseC(Nd4j.create(DataType.FLOAT, 2, 32, 3).permute(0, 2, 1)));
    }
}
