package org.phalanx.swr;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The Phalanx layer's {@code headNorm} option on ND4J arrays: each head's {@link Swr#HEAD} channels of
 * {@code m [B, C, L]} (C = 16 H) divided by their root mean square, {@code mn = m * rinv},
 * {@code rinv = 1 / sqrt(mean(m^2) + eps)} per sequence, head and step. No gain: the readout {@code Wo} that follows
 * holds the per-channel scale. The native decode step (phalanx_step.h) computes the same.
 */
public final class HeadNorm {

    private HeadNorm() {
    }

    /** Fills {@code rinv [B, H, L]} and {@code mn [B, C, L]} (which may be {@code m} itself); all contiguous 'c'. */
    public static void forward(INDArray m, INDArray rinv, INDArray mn, double eps) {
        long bsz = m.size(0), h = rinv.size(1), len = m.size(2);
        INDArray m4 = m.reshape('c', bsz, h, Swr.HEAD, len);
        INDArray ms = m4.mul(m4).mean(2);
        rinv.assign(Transforms.pow(ms.addi(eps), -0.5, false));
        Nd4j.exec(new BroadcastMulOp(m4, rinv, mn.reshape('c', bsz, h, Swr.HEAD, len), 0, 1, 3));
    }

    /**
     * The backward of {@link #forward}: {@code dm = rinv (dmn - mn mean_head(dmn mn))}, written over {@code dmn}
     * (all contiguous 'c').
     */
    public static void backwardInPlace(INDArray dmn, INDArray mn, INDArray rinv) {
        long bsz = mn.size(0), h = rinv.size(1), len = mn.size(2);
        INDArray d4 = dmn.reshape('c', bsz, h, Swr.HEAD, len), n4 = mn.reshape('c', bsz, h, Swr.HEAD, len);
        INDArray s = d4.mul(n4).mean(2);
        INDArray ns = n4.ulike();
        Nd4j.exec(new BroadcastMulOp(n4, s, ns, 0, 1, 3));
        d4.subi(ns);
        Nd4j.exec(new BroadcastMulOp(d4, rinv, d4, 0, 1, 3));
    }
}
