package org.phalanx.swr;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/** Random inputs for the SWR tests, in the gate regimes the tests name. */
final class SwrTestData {

    enum Gates { UNIFORM, NEAR_ZERO, NEAR_ONE, EXACT_ZERO, EXACT_ONE, MIXED_EXACT }

    private SwrTestData() {
    }

    static double[] gates(Random r, int n, Gates g) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            switch (g) {
                case UNIFORM: a[i] = r.nextDouble(); break;
                case NEAR_ZERO: a[i] = 1e-6 * r.nextDouble(); break;
                case NEAR_ONE: a[i] = 1 - 1e-6 * r.nextDouble(); break;
                case EXACT_ZERO: a[i] = 0; break;
                case EXACT_ONE: a[i] = 1; break;
                default: {
                    double p = r.nextDouble();
                    a[i] = p < 0.2 ? 0 : p < 0.4 ? 1 : r.nextDouble();
                }
            }
        }
        return a;
    }

    static double[] normal(Random r, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = r.nextGaussian();
        return x;
    }

    static INDArray arr(double[] x, DataType t, long... shape) {
        return Nd4j.createFromArray(x).reshape('c', shape).castTo(t);
    }

    static double[] flat(INDArray x) {
        return x.dup('c').castTo(DataType.DOUBLE).data().asDouble();
    }

    /** ||x - ref|| / max(||ref||, tiny). */
    static double relErr(double[] x, double[] ref) {
        double n = 0, d = 0;
        for (int i = 0; i < x.length; i++) {
            n += (x[i] - ref[i]) * (x[i] - ref[i]);
            d += ref[i] * ref[i];
        }
        return Math.sqrt(n) / Math.max(Math.sqrt(d), 1e-300);
    }

    static double maxAbsErr(double[] x, double[] ref) {
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - ref[i]));
        return m;
    }
}
