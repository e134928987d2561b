package org.phalanx.nn.layers;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.recurrent.BaseRecurrentLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationTanH;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Sigmoid;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.common.primitives.Pair;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nd4j.ArrayMemory;
import org.phalanx.swr.HeadNorm;
import org.phalanx.swr.PhalanxCore;
import org.phalanx.swr.PhalanxStep;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrState;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.phalanx.nn.params.PhalanxParamInitializer.*;

/**
 * Implementation of the {@link PhalanxLayer} (docs/SWR.md section 2), written the classic DL4J way: the
 * forward pass and an exact, hand-written backward pass on ND4J arrays.
 *
 * <p>Everything runs in NCW with contiguous 'c' arrays: the projections are, per sequence {@code b}, GEMMs
 * {@code W^T [n, d] x x_b [d, L]} (no transposes of activations), SWR runs on {@code a [B, H, L]},
 * {@code u [B, C, L]}, and the readout is {@code Wo^T [nOut, d] x m_b [d, L]}. NWC inputs are permuted to NCW
 * once on the way in, outputs and epsilons permuted back as views.
 *
 * <p>Training: the forward pass in training mode keeps its intermediates (in the activations workspace,
 * which lives until backprop) and {@link #backpropGradient} uses them when they belong to the same input;
 * otherwise it recomputes the forward pass.
 */
public class PhalanxLayerImpl extends BaseRecurrentLayer<PhalanxLayer> {

    /** Intermediates of one forward pass (NCW, contiguous): what backprop needs. */
    private static final class Fwd {
        INDArray x;       // [B, nIn, L] input (mask not applied)
        INDArray mask;    // [B, L] or null
        long[] shift;     // leading masked steps per sequence when a mask is left-padded (else null)
        SwrState stateIn; // the SWR state this segment started from (truncated BPTT), else null
        INDArray a;       // [B, H, L] decays (1 at masked steps)
        INDArray beta;    // [B, G, L]
        INDArray c;       // [B, G, L]
        INDArray v;       // [B, C, L]
        INDArray gate;    // [B, G, L] the beta the fused core read (beta * mask with a mask), when fused
        INDArray u;       // [B, C, L] (0 at masked steps); null when fused
        INDArray y;       // [B, C, L] SWR output; null when fused
        INDArray m;       // [B, C, L] y * repeat(c) + v
        INDArray mn;      // [B, C, L] m normalised per head (headNorm), else null
        INDArray rinv;    // [B, H, L] 1 / rms of each head's m (headNorm), else null
        INDArray z;       // [B, nOut, L] before the activation (null when it is the identity)
        INDArray out;     // [B, nOut, L] NCW
    }

    private Fwd cached;
    private INDArray cachedFor;
    private SwrState streamState;
    private SwrState tbpttState;
    /** The state the last training segment of truncated BPTT started from (for a backprop that must recompute). */
    private SwrState segmentStart;
    /** Per sequence of the stream / TBPTT state: whether a valid (unmasked) step has been seen. */
    private boolean[] streamStarted, tbpttStarted;
    private StepBuffers step;

    public PhalanxLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Type type() {
        return Type.RECURRENT;
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    // ------------------------------------------------------------------------------------------------ sizes

    private long nIn() {
        return layerConf().getNIn();
    }

    /** The SWR width C = 16 H. */
    private long inner() {
        return layerConf().innerWidth();
    }

    private long heads() {
        return layerConf().numHeads();
    }

    private long kvHeads() {
        return layerConf().numKvHeads();
    }

    private long nOut() {
        return layerConf().getNOut();
    }

    /** The activation applied to the output, or null for none (identity, or a configuration of 0.1.0). */
    private IActivation activation() {
        IActivation act = layerConf().getActivationFn();
        return !layerConf().appliesActivation() || act == null || act instanceof ActivationIdentity ? null : act;
    }

    private String where() {
        String name = layerConf().getLayerName();
        return "PhalanxLayer" + (name != null ? " \"" + name + "\"" : "") + " (layer index " + getIndex() + "): ";
    }

    // ------------------------------------------------------------------------------------------------ input

    /** The input as a contiguous NCW array of the layer's type, checked. */
    private INDArray ncwInput(LayerWorkspaceMgr mgr, ArrayType type) {
        INDArray in = this.input;
        boolean nwc = layerConf().getRnnDataFormat() == RNNFormat.NWC;
        String layout = nwc ? "[B, L, nIn] (NWC)" : "[B, nIn, L] (NCW)";
        if (in.rank() == 2) {
            throw new IllegalArgumentException(where() + "input must be a sequence of rank 3, " + layout + " with nIn = "
                    + nIn() + "; got a rank-2 array of shape " + Arrays.toString(in.shape()) + ". Give the network "
                    + ".setInputType(InputType.recurrent(nIn)) (it adds the preprocessor a feed-forward layer below needs), "
                    + "or add a FeedForwardToRnnPreProcessor before this layer; for a single step use rnnTimeStep");
        }
        if (in.rank() != 3) {
            throw new IllegalArgumentException(where() + "input must have rank 3, " + layout + " with nIn = " + nIn()
                    + "; got shape " + Arrays.toString(in.shape()));
        }
        long ch = in.size(nwc ? 2 : 1);
        if (ch != nIn()) {
            throw new IllegalArgumentException(where() + "input must have nIn = " + nIn() + " channels in dimension "
                    + (nwc ? 2 : 1) + " (" + layout + "); got shape " + Arrays.toString(in.shape()));
        }
        if (in.size(0) < 1 || in.size(nwc ? 1 : 2) < 1) {
            throw new IllegalArgumentException(where() + "input must have batch and length >= 1; got shape "
                    + Arrays.toString(in.shape()));
        }
        INDArray x = in.castTo(dataType);
        if (nwc) {
            x = x.permute(0, 2, 1);
        }
        if (x.ordering() != 'c' || !Shape.hasDefaultStridesForShape(x)) {
            x = mgr.dup(type, x, 'c');
        }
        return x;
    }

    /** The feature mask as a [B, L] array of the layer's type (or null), checked against x [B, d, L]. */
    private INDArray mask(INDArray x) {
        if (maskArray == null) {
            return null;
        }
        long b = x.size(0), l = x.size(2);
        INDArray mk = maskArray;
        if (mk.rank() == 3 && mk.size(1) == 1) {
            mk = mk.reshape(mk.size(0), mk.size(2));
        }
        if (mk.rank() != 2 || mk.size(0) != b || mk.size(1) != l) {
            throw new IllegalArgumentException(where() + "feature mask must have shape [B, L] = [" + b + ", " + l
                    + "] (one value per sequence and step); got shape " + Arrays.toString(maskArray.shape()));
        }
        return mk.castTo(dataType);
    }

    /**
     * Leading masked steps of each sequence, when at least one sequence has masked steps before its first valid
     * one (left padding); null otherwise (no mask, right padding, or sequences without any valid step).
     */
    private static long[] leadingMasked(INDArray mask) {
        if (mask == null) {
            return null;
        }
        long bsz = mask.size(0), len = mask.size(1);
        long[] n0 = new long[(int) bsz];
        boolean any = false;
        for (int b = 0; b < bsz; b++) {
            long t = 0;
            while (t < len && mask.getDouble(b, t) == 0.0) t++;
            n0[b] = t < len ? t : 0;
            any |= n0[b] > 0;
        }
        return any ? n0 : null;
    }

    /**
     * With a stored state (rnnTimeStep, truncated BPTT) the block phase is shared by the batch, so a sequence
     * cannot start later than the others: refuse masked steps before a sequence's first valid step.
     */
    private void checkNotLeftPadded(INDArray mask, boolean[] started, String what) {
        long bsz = mask.size(0), len = mask.size(1);
        for (int b = 0; b < bsz; b++) {
            boolean sawMasked = false;
            for (long t = 0; t < len && !started[b]; t++) {
                if (mask.getDouble(b, t) != 0.0) {
                    if (sawMasked) {
                        throw new IllegalArgumentException(where() + what + ": sequence " + b + " of the mask has masked "
                                + "steps before its first valid step (left padding). With a stored state all sequences "
                                + "share the block phase, so pad on the right (mask 1 ... 1 0 ... 0), or run whole "
                                + "sequences with output()/fit() without truncated BPTT, where left padding is exact");
                    }
                    started[b] = true;
                } else {
                    sawMasked = true;
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ forward

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        ArrayType keep = training ? ArrayType.ACTIVATIONS : ArrayType.FF_WORKING_MEM;
        INDArray x = ncwInput(workspaceMgr, keep);
        Fwd f = forward(x, mask(x), training, keep, null, workspaceMgr);
        remember(training ? f : null);
        segmentStart = null;
        return permuteIfNWC(f.out);
    }

    private void remember(Fwd f) {
        cached = f;
        cachedFor = f == null ? null : this.input;
    }

    /**
     * The forward pass on x [B, nIn, L] (contiguous NCW). Intermediates go to {@code keep}; the output to
     * ACTIVATIONS. With a state, SWR continues from it (streaming, truncated BPTT) and advances it.
     */
    private Fwd forward(INDArray x, INDArray mask, boolean training, ArrayType keep, SwrState state,
                        LayerWorkspaceMgr mgr) {
        final long bsz = x.size(0), len = x.size(2), c = inner(), h = heads(), g = Swr.HEAD * kvHeads(), no = nOut();
        DataType t = dataType;
        INDArray wa = getParamWithNoise(WA, training, mgr), ba = getParamWithNoise(BA, training, mgr);
        INDArray wb = getParamWithNoise(WB, training, mgr), bb = getParamWithNoise(BB, training, mgr);
        INDArray wc = getParamWithNoise(WC, training, mgr), bc = getParamWithNoise(BC, training, mgr);
        INDArray wv = getParamWithNoise(WV, training, mgr), wo = getParamWithNoise(WO, training, mgr);

        Fwd f = new Fwd();
        f.x = x;
        f.mask = mask;
        f.shift = state == null ? leadingMasked(mask) : null;
        f.a = mgr.createUninitialized(keep, t, new long[]{bsz, h, len}, 'c');
        f.beta = mgr.createUninitialized(keep, t, new long[]{bsz, g, len}, 'c');
        f.c = mgr.createUninitialized(keep, t, new long[]{bsz, g, len}, 'c');
        f.v = mgr.createUninitialized(keep, t, new long[]{bsz, c, len}, 'c');
        for (long b = 0; b < bsz; b++) {
            INDArray xb = x.slice(b);
            Nd4j.gemm(wa, xb, f.a.slice(b), true, false, 1.0, 0.0);
            Nd4j.gemm(wb, xb, f.beta.slice(b), true, false, 1.0, 0.0);
            Nd4j.gemm(wc, xb, f.c.slice(b), true, false, 1.0, 0.0);
            Nd4j.gemm(wv, xb, f.v.slice(b), true, false, 1.0, 0.0);
        }
        addChannelBias(f.a, ba);
        addChannelBias(f.beta, bb);
        addChannelBias(f.c, bc);
        Nd4j.exec(new Sigmoid(f.a, f.a));
        Nd4j.exec(new Sigmoid(f.beta, f.beta));

        if (mask != null) {
            // A masked step carries the state through: decay 1, input 0 (u = beta * v is masked below, or
            // through beta for the fused core).
            Nd4j.exec(new BroadcastMulOp(f.a, mask, f.a, 0, 2));
            INDArray notMask = mask.rsub(1.0);
            Nd4j.exec(new BroadcastAddOp(f.a, notMask, f.a, 0, 2));
        }
        int block = layerConf().getBlockSize(), k = layerConf().getWindow();
        f.m = mgr.createUninitialized(keep, t, new long[]{bsz, c, len}, 'c');
        if (state == null && f.shift == null) {
            // Whole sequences, right-padded or unmasked: u, SWR and m in one pass (PhalanxCore).
            f.gate = f.beta;
            if (mask != null) {
                f.gate = mgr.createUninitialized(keep, t, new long[]{bsz, g, len}, 'c');
                Nd4j.exec(new BroadcastMulOp(f.beta, mask, f.gate, 0, 2));
            }
            PhalanxCore.forwardInto(f.a, f.gate, f.v, f.c, f.m, null, block, k);
        } else {
            forwardUnfused(f, state, training, block, k, keep, mgr);
        }

        INDArray read = f.m;
        if (layerConf().isHeadNorm()) {
            f.rinv = mgr.createUninitialized(keep, t, new long[]{bsz, h, len}, 'c');
            f.mn = mgr.createUninitialized(keep, t, new long[]{bsz, c, len}, 'c');
            HeadNorm.forward(f.m, f.rinv, f.mn, PhalanxLayer.HEAD_NORM_EPS);
            read = f.mn;
        }
        IActivation act = activation();
        INDArray z = mgr.createUninitialized(act == null ? ArrayType.ACTIVATIONS : keep, t, new long[]{bsz, no, len}, 'c');
        for (long b = 0; b < bsz; b++) {
            Nd4j.gemm(wo, read.slice(b), z.slice(b), true, false, 1.0, 0.0);
        }
        if (act == null) {
            f.out = z;
        } else {
            f.z = z;
            f.out = act.getActivation(mgr.dup(ArrayType.ACTIVATIONS, z, 'c'), training);
        }
        if (mask != null) {
            Nd4j.exec(new BroadcastMulOp(f.out, mask, f.out, 0, 2));
        }
        return f;
    }

    /**
     * The core as three passes (u = beta * v, SWR, m = y * c + v), for what the fused core does not take: a
     * carried state (streaming, truncated BPTT) and left-padded masks (SWR in each sequence's shifted time).
     */
    private void forwardUnfused(Fwd f, SwrState state, boolean training, int block, int k, ArrayType keep,
                                LayerWorkspaceMgr mgr) {
        long[] full = f.v.shape();
        DataType t = f.v.dataType();
        f.u = mgr.createUninitialized(keep, t, full, 'c');
        mulRepeat(f.v, f.beta, f.u);
        if (f.mask != null) {
            Nd4j.exec(new BroadcastMulOp(f.u, f.mask, f.u, 0, 2));
        }
        f.y = mgr.createUninitialized(keep, t, full, 'c');
        if (state != null) {
            if (training) {
                f.stateIn = state.copy();
            }
            Swr.forwardInto(f.a, f.u, f.y, block, k, state);
        } else if (f.shift != null) {
            // Left padding: each sequence's blocks are counted from its first valid step.
            INDArray ys = Swr.forward(shiftLeft(f.a, f.shift, 1.0), shiftLeft(f.u, f.shift, 0.0), block, k);
            shiftRightInto(ys, f.shift, f.y);
        } else {
            Swr.forwardInto(f.a, f.u, f.y, block, k);
        }
        mulRepeat(f.y, f.c, f.m);
        f.m.addi(f.v);
    }

    /** z [B, n, L] with sequence b moved {@code n0[b]} steps earlier, the freed tail filled with {@code fill}. */
    private static INDArray shiftLeft(INDArray z, long[] n0, double fill) {
        INDArray s = z.dup('c');
        long len = z.size(2);
        for (int b = 0; b < n0.length; b++) {
            if (n0[b] > 0) {
                INDArray row = s.slice(b);
                row.get(all(), interval(0, len - n0[b])).assign(z.slice(b).get(all(), interval(n0[b], len)));
                row.get(all(), interval(len - n0[b], len)).assign(fill);
            }
        }
        return s;
    }

    /** out [B, n, L] = z with sequence b moved {@code n0[b]} steps later, zeros in front (undoes shiftLeft). */
    private static void shiftRightInto(INDArray z, long[] n0, INDArray out) {
        long len = z.size(2);
        for (int b = 0; b < n0.length; b++) {
            INDArray dst = out.slice(b), src = z.slice(b);
            if (n0[b] > 0) {
                dst.get(all(), interval(0, n0[b])).assign(0.0);
                dst.get(all(), interval(n0[b], len)).assign(src.get(all(), interval(0, len - n0[b])));
            } else {
                dst.assign(src);
            }
        }
    }

    /**
     * z [B, n, L] (contiguous) += bias[n] along dimension 1, as a row-wise broadcast on the [B*n, L] view
     * (in ND4J about 20x faster than a broadcast along the middle dimension of a rank-3 array).
     */
    private static void addChannelBias(INDArray z, INDArray bias) {
        long bsz = z.size(0), n = z.size(1), len = z.size(2);
        INDArray col = vec(bias).reshape(1, n).repeat(0, bsz).reshape(bsz * n, 1).castTo(z.dataType());
        z.reshape('c', bsz * n, len).addiColumnVector(col);
    }

    private static INDArray vec(INDArray bias) {
        return bias.rank() == 1 ? bias : bias.reshape(bias.length());
    }

    /**
     * out = full * repeat(group): full, out [B, d, L]; group [B, G, L] with G = 16 kvHeads; channel j of head
     * j / 16 uses group channel (head / rep) * 16 + j % 16, rep = H / kvHeads.
     */
    private void mulRepeat(INDArray full, INDArray group, INDArray out) {
        long rep = heads() / kvHeads();
        if (rep == 1) {
            Nd4j.exec(new MulOp(full, group, out));
            return;
        }
        long bsz = full.size(0), len = full.size(2), kv = kvHeads();
        INDArray f4 = full.reshape('c', bsz, kv, rep, Swr.HEAD * len);
        INDArray o4 = out.reshape('c', bsz, kv, rep, Swr.HEAD * len);
        INDArray g3 = group.reshape('c', bsz, kv, Swr.HEAD * len);
        for (long r = 0; r < rep; r++) {
            INDArray fr = f4.get(all(), all(), point(r), all());
            INDArray or = o4.get(all(), all(), point(r), all());
            Nd4j.exec(new MulOp(fr, g3, or));
        }
    }

    /** out [B, G, L] = sum over each group's rep heads of (p * q) [B, d, L]. */
    private void groupSumProduct(INDArray p, INDArray q, INDArray out, LayerWorkspaceMgr mgr) {
        long rep = heads() / kvHeads();
        if (rep == 1) {
            Nd4j.exec(new MulOp(p, q, out));
            return;
        }
        long bsz = p.size(0), len = p.size(2), kv = kvHeads();
        INDArray prod = mgr.createUninitialized(ArrayType.BP_WORKING_MEM, p.dataType(), p.shape(), 'c');
        Nd4j.exec(new MulOp(p, q, prod));
        INDArray p4 = prod.reshape('c', bsz, kv, rep, Swr.HEAD * len);
        INDArray o3 = out.reshape('c', bsz, kv, Swr.HEAD * len);
        o3.assign(p4.get(all(), all(), point(0), all()));
        for (long r = 1; r < rep; r++) {
            o3.addi(p4.get(all(), all(), point(r), all()));
        }
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex all() {
        return org.nd4j.linalg.indexing.NDArrayIndex.all();
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex point(long i) {
        return org.nd4j.linalg.indexing.NDArrayIndex.point(i);
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex interval(long from, long to) {
        return org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to);
    }

    // ------------------------------------------------------------------------------------------------ backward

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        final long c = inner(), h = heads(), g = Swr.HEAD * kvHeads();
        DataType t = dataType;
        Fwd f = usableCache();
        remember(null);
        if (f == null) {
            // Recompute, from the segment's incoming state if this is a truncated-BPTT segment (on a copy).
            INDArray x = ncwInput(workspaceMgr, ArrayType.BP_WORKING_MEM);
            f = forward(x, mask(x), true, ArrayType.BP_WORKING_MEM, segmentStart == null ? null : segmentStart.copy(),
                    workspaceMgr);
        }
        final long bsz = f.x.size(0), len = f.x.size(2);
        long[] outShape = {bsz, nOut(), len};

        INDArray eps = permuteIfNWC(epsilon);
        if (eps.rank() != 3 || !Arrays.equals(eps.shape(), outShape)) {
            throw new IllegalArgumentException(where() + "epsilon must have the output's shape " + Arrays.toString(outShape)
                    + " (NCW); got " + Arrays.toString(eps.shape()));
        }
        eps = eps.castTo(t);
        if (f.mask != null || eps.ordering() != 'c' || !Shape.hasDefaultStridesForShape(eps)) {
            eps = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, eps, 'c');
        }
        if (f.mask != null) {
            Nd4j.exec(new BroadcastMulOp(eps, f.mask, eps, 0, 2));
        }
        IActivation act = activation();
        if (act != null) {
            // backprop overwrites its input: give it a copy of the pre-activation.
            eps = act.backprop(workspaceMgr.dup(ArrayType.BP_WORKING_MEM, f.z, 'c'), eps).getFirst();
            if (eps.ordering() != 'c' || !Shape.hasDefaultStridesForShape(eps)) {
                eps = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, eps, 'c');
            }
        }

        INDArray wa = getParamWithNoise(WA, true, workspaceMgr), wb = getParamWithNoise(WB, true, workspaceMgr);
        INDArray wc = getParamWithNoise(WC, true, workspaceMgr), wv = getParamWithNoise(WV, true, workspaceMgr);
        INDArray wo = getParamWithNoise(WO, true, workspaceMgr);
        INDArray gWa = gradientViews.get(WA), gba = gradientViews.get(BA), gWb = gradientViews.get(WB);
        INDArray gbb = gradientViews.get(BB), gWc = gradientViews.get(WC), gbc = gradientViews.get(BC);
        INDArray gWv = gradientViews.get(WV), gWo = gradientViews.get(WO);

        // Readout: z_b = Wo^T m_b.
        INDArray dm = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, c, len}, 'c');
        INDArray read = f.mn != null ? f.mn : f.m;
        for (long b = 0; b < bsz; b++) {
            INDArray eb = eps.slice(b);
            Nd4j.gemm(read.slice(b), eb, gWo, false, true, 1.0, b == 0 ? 0.0 : 1.0);
            Nd4j.gemm(wo, eb, dm.slice(b), false, false, 1.0, 0.0);
        }
        if (f.mn != null) {
            HeadNorm.backwardInPlace(dm, f.mn, f.rinv);
        }
        INDArray dc = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, g, len}, 'c');
        INDArray da = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, h, len}, 'c');
        INDArray dbeta = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, g, len}, 'c');
        INDArray dv;
        if (f.gate != null) {
            // The fused core's backward: da, d(gate), dv, dc in one pass; d(beta) = d(gate) * mask.
            dv = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, c, len}, 'c');
            PhalanxCore.backwardInto(f.a, f.gate, f.v, f.c, null, dm, da, dbeta, dv, dc, layerConf().getBlockSize(),
                    layerConf().getWindow());
            if (f.mask != null) {
                Nd4j.exec(new BroadcastMulOp(dbeta, f.mask, dbeta, 0, 2));
            }
        } else {
            dv = backwardUnfused(f, dm, da, dbeta, dc, workspaceMgr);
        }

        // Gates: dz = d(out) * s (1 - s); a is 1 at masked steps, so da vanishes there.
        INDArray dza = da;
        dza.muli(f.a).muli(f.a.rsub(1.0));
        INDArray dzb = dbeta;
        dzb.muli(f.beta).muli(f.beta.rsub(1.0));
        INDArray dzc = dc;

        // Bias gradients: sums over batch and time.
        vec(gba).assign(dza.sum(0, 2));
        vec(gbb).assign(dzb.sum(0, 2));
        vec(gbc).assign(dzc.sum(0, 2));

        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, t, new long[]{bsz, nIn(), len}, 'c');
        for (long b = 0; b < bsz; b++) {
            INDArray xb = f.x.slice(b);
            double beta = b == 0 ? 0.0 : 1.0;
            INDArray za = dza.slice(b), zb = dzb.slice(b), zc = dzc.slice(b), zv = dv.slice(b), dxb = dx.slice(b);
            Nd4j.gemm(xb, za, gWa, false, true, 1.0, beta);
            Nd4j.gemm(xb, zb, gWb, false, true, 1.0, beta);
            Nd4j.gemm(xb, zc, gWc, false, true, 1.0, beta);
            Nd4j.gemm(xb, zv, gWv, false, true, 1.0, beta);
            Nd4j.gemm(wa, za, dxb, false, false, 1.0, 0.0);
            Nd4j.gemm(wb, zb, dxb, false, false, 1.0, 1.0);
            Nd4j.gemm(wc, zc, dxb, false, false, 1.0, 1.0);
            Nd4j.gemm(wv, zv, dxb, false, false, 1.0, 1.0);
        }

        Gradient grad = new DefaultGradient(gradientsFlattened);
        for (String key : KEYS) {
            grad.gradientForVariable().put(key, gradientViews.get(key));
        }

        weightNoiseParams.clear();
        INDArray epsOut = permuteIfNWC(dx);
        epsOut = backpropDropOutIfPresent(epsOut);
        return new Pair<>(grad, epsOut);
    }

    /** The backward of {@link #forwardUnfused}: fills da, dbeta, dc and returns dv (in dm's memory). */
    private INDArray backwardUnfused(Fwd f, INDArray dm, INDArray da, INDArray dbeta, INDArray dc, LayerWorkspaceMgr mgr) {
        // m = y * repeat(c) + v.
        INDArray dy = mgr.createUninitialized(ArrayType.BP_WORKING_MEM, dm.dataType(), dm.shape(), 'c');
        mulRepeat(dm, f.c, dy);
        groupSumProduct(dm, f.y, dc, mgr);
        INDArray dv = dm;   // direct path; the gate path is added below
        // SWR.
        INDArray du = mgr.createUninitialized(ArrayType.BP_WORKING_MEM, dm.dataType(), dm.shape(), 'c');
        swrBackward(f, dy, da, du);
        if (f.mask != null) {
            Nd4j.exec(new BroadcastMulOp(du, f.mask, du, 0, 2));
        }
        // u = repeat(beta) * v.
        groupSumProduct(du, f.v, dbeta, mgr);
        mulRepeat(du, f.beta, du);   // du <- du * repeat(beta), in place (same shapes, elementwise)
        return dv.addi(du);
    }

    /**
     * SWR's backward for the forward pass {@code f}: da [B, H, L], du [B, C, L] for dy [B, C, L]. A segment of
     * truncated BPTT that started from a stored state is differentiated with that state held fixed (the gradient
     * stops at the segment boundary, as DL4J's LSTM does); a left-padded batch in the shifted time of its forward.
     */
    private void swrBackward(Fwd f, INDArray dy, INDArray da, INDArray du) {
        int block = layerConf().getBlockSize(), k = layerConf().getWindow();
        if (f.stateIn != null && f.stateIn.position() > 0) {
            INDArray[] g = Swr.backward(f.a, f.u, dy, block, k, f.stateIn);
            da.assign(g[0]);
            du.assign(g[1]);
        } else if (f.shift != null) {
            INDArray[] g = Swr.backward(shiftLeft(f.a, f.shift, 1.0), shiftLeft(f.u, f.shift, 0.0),
                    shiftLeft(dy, f.shift, 0.0), block, k);
            shiftRightInto(g[0], f.shift, da);
            shiftRightInto(g[1], f.shift, du);
        } else {
            Swr.backwardInto(f.a, f.u, dy, da, du, block, k);
        }
    }

    /** The training forward pass's intermediates, if they belong to the current input and are still valid. */
    private Fwd usableCache() {
        Fwd f = cached;
        if (f == null || cachedFor != this.input) {
            return null;
        }
        INDArray[] all = {f.x, f.a, f.beta, f.gate, f.c, f.v, f.u, f.y, f.m, f.mn, f.rinv, f.mask};
        for (INDArray arr : all) {
            if (arr != null && (arr.wasClosed() || !arr.isInScope())) {
                return null;
            }
        }
        return f;
    }

    @Override
    public Pair<Gradient, INDArray> tbpttBackpropGradient(INDArray epsilon, int tbpttBackLength,
                                                          LayerWorkspaceMgr workspaceMgr) {
        // The segment's forward (rnnActivateUsingStoredState) kept the state it started from; backprop holds
        // that state fixed. tbpttBackLength < the segment length is not applied (DL4J's LSTM applies it only
        // to the recurrent term); the SWR window is at most blockSize * window steps anyway.
        return backpropGradient(epsilon, workspaceMgr);
    }

    // ------------------------------------------------------------------------------------------------ streaming

    @Override
    public INDArray rnnTimeStep(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        boolean nwc = layerConf().getRnnDataFormat() == RNNFormat.NWC;
        boolean rank2 = input.rank() == 2 && input.size(1) == nIn();
        if (nwc && input.rank() == 3 && input.size(2) == 1 && input.size(1) == nIn()) {
            // MultiLayerNetwork.rnnTimeStep reshapes a single step [B, nIn] to [B, nIn, 1] whatever the format.
            input = input.permute(0, 2, 1);
        } else if (rank2) {
            input = nwc ? input.reshape(input.size(0), 1, nIn()) : input.reshape(input.size(0), nIn(), 1);
        }
        INDArray out = timeStep(input, workspaceMgr);
        return rank2 ? out.reshape(out.size(0), nOut()) : out;   // a rank-2 step gives [B, nOut], as DL4J's LSTM
    }

    private INDArray timeStep(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        setInput(input, workspaceMgr);
        streamState = stepState(streamState, "rnnTimeStep");
        streamStarted = started(streamStarted, streamState);
        INDArray fast = StepBuffers.usable(this, maskArray) ? stepOnce(workspaceMgr) : null;
        if (fast != null) {
            return fast;
        }
        INDArray x = ncwInput(workspaceMgr, ArrayType.FF_WORKING_MEM);
        INDArray mk = mask(x);
        if (mk != null) {
            checkNotLeftPadded(mk, streamStarted, "rnnTimeStep");
        }
        Fwd f = forward(x, mk, false, ArrayType.FF_WORKING_MEM, streamState, workspaceMgr);
        return permuteIfNWC(f.out);
    }

    @Override
    public INDArray rnnActivateUsingStoredState(INDArray input, boolean training, boolean storeLastForTBPTT,
                                                LayerWorkspaceMgr workspaceMgr) {
        setInput(input, workspaceMgr);
        if (training) {
            applyDropOutIfNecessary(true, workspaceMgr);
        }
        tbpttState = stepState(tbpttState, "rnnActivateUsingStoredState");
        tbpttStarted = started(tbpttStarted, tbpttState);
        SwrState s = storeLastForTBPTT ? tbpttState : tbpttState.copy();
        boolean[] st = storeLastForTBPTT ? tbpttStarted : tbpttStarted.clone();
        ArrayType keep = training ? ArrayType.ACTIVATIONS : ArrayType.FF_WORKING_MEM;
        INDArray x = ncwInput(workspaceMgr, keep);
        INDArray mk = mask(x);
        if (mk != null) {
            checkNotLeftPadded(mk, st, "truncated BPTT (rnnActivateUsingStoredState)");
        }
        Fwd f = forward(x, mk, training, keep, s, workspaceMgr);
        remember(training ? f : null);
        segmentStart = training ? f.stateIn : null;
        return permuteIfNWC(f.out);
    }

    /**
     * One step of rnnTimeStep without a mask, on buffers kept between calls: only the output is allocated (in
     * the activations workspace). On the CPU the whole step is one native call ({@link PhalanxStep}); elsewhere
     * it runs op by op. Returns null when the fast path does not apply (then the general one runs).
     */
    private INDArray stepOnce(LayerWorkspaceMgr mgr) {
        long bsz = input.size(0);
        if (step == null || step.batch != bsz || step.type != dataType) {
            step = new StepBuffers(bsz, nIn(), heads(), kvHeads(), dataType);
        }
        StepBuffers sb = step;
        boolean nwc = layerConf().getRnnDataFormat() == RNNFormat.NWC;
        INDArray x = input.rank() == 3 ? input.reshape(bsz, nIn()) : input;
        if (x.size(0) != bsz || x.size(1) != nIn()) {
            return null;
        }
        int block = layerConf().getBlockSize(), k = layerConf().getWindow();
        INDArray wa = getParam(WA), wb = getParam(WB), wc = getParam(WC), wv = getParam(WV), wo = getParam(WO);
        INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, dataType,
                nwc ? new long[]{bsz, 1, nOut()} : new long[]{bsz, nOut(), 1}, 'c');
        INDArray out2 = out.reshape(bsz, nOut());
        IActivation act = activation();
        if (PhalanxStep.supports(dataType, wa, wb, wc, wv, wo)) {
            INDArray xc = x.dataType() == dataType && ArrayMemory.isDenseC(x) ? x : sb.x.assign(x);
            boolean tanh = act instanceof ActivationTanH;   // applied in the native step, one call less
            PhalanxStep.stepInto(xc, wa, getParam(BA), wb, getParam(BB), wc, getParam(BC), wv, wo, kvHeads(),
                    layerConf().isHeadNorm(), tanh, block, k, streamState, out2, sb.scratch);
            if (tanh) {
                act = null;
            }
        } else {
            sb.x.assign(x);
            Nd4j.gemm(sb.x, wa, sb.a, false, false, 1.0, 0.0);
            Nd4j.gemm(sb.x, wb, sb.beta, false, false, 1.0, 0.0);
            Nd4j.gemm(sb.x, wc, sb.c, false, false, 1.0, 0.0);
            Nd4j.gemm(sb.x, wv, sb.v, false, false, 1.0, 0.0);
            sb.a.addiRowVector(getParam(BA));
            sb.beta.addiRowVector(getParam(BB));
            sb.c.addiRowVector(getParam(BC));
            Nd4j.exec(new Sigmoid(sb.a, sb.a));
            Nd4j.exec(new Sigmoid(sb.beta, sb.beta));
            sb.mulRepeat(sb.v, sb.beta, sb.u);
            Swr.forwardInto(sb.a3, sb.u3, sb.y3, block, k, streamState);
            sb.mulRepeat(sb.y, sb.c, sb.m);
            sb.m.addi(sb.v);
            if (layerConf().isHeadNorm()) {
                HeadNorm.forward(sb.m3, sb.rinv3, sb.m3, PhalanxLayer.HEAD_NORM_EPS);
            }
            Nd4j.gemm(sb.m, wo, out2, false, false, 1.0, 0.0);
        }
        if (act != null) {
            act.getActivation(out2, false);
        }
        Arrays.fill(streamStarted, true);
        return out;
    }

    /** Buffers of {@link #stepOnce}: one step's projections, [B, n] and their rank-3 views for SWR. */
    private static final class StepBuffers {
        final long batch;
        final DataType type;
        final INDArray x, a, beta, c, v, u, y, m, a3, u3, y3, m3, rinv3, scratch;
        final long kv, rep;

        StepBuffers(long batch, long nIn, long heads, long kvHeads, DataType type) {
            this.batch = batch;
            this.type = type;
            long cw = Swr.HEAD * heads, g = Swr.HEAD * kvHeads;
            kv = kvHeads;
            rep = heads / kvHeads;
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                x = Nd4j.create(type, batch, nIn);
                a = Nd4j.create(type, batch, heads);
                beta = Nd4j.create(type, batch, g);
                c = Nd4j.create(type, batch, g);
                v = Nd4j.create(type, batch, cw);
                u = Nd4j.create(type, batch, cw);
                y = Nd4j.create(type, batch, cw);
                m = Nd4j.create(type, batch, cw);
                scratch = Nd4j.create(type, PhalanxStep.scratchLength(batch, heads, kvHeads));
                a3 = a.reshape(batch, heads, 1);
                u3 = u.reshape(batch, cw, 1);
                y3 = y.reshape(batch, cw, 1);
                m3 = m.reshape(batch, cw, 1);
                rinv3 = Nd4j.create(type, batch, heads, 1);
            }
        }

        /** Whether the fast step applies: no mask and no weight noise (inference uses the parameters as they are). */
        static boolean usable(PhalanxLayerImpl layer, INDArray mask) {
            INDArray in = layer.input;
            boolean oneStep = in.rank() == 3 && in.size(layer.layerConf().getRnnDataFormat() == RNNFormat.NWC ? 1 : 2) == 1;
            return oneStep && mask == null && layer.layerConf().getWeightNoise() == null;
        }

        /** out [B, C] = full [B, C] * repeat(group [B, G]) over the heads of each kv group. */
        void mulRepeat(INDArray full, INDArray group, INDArray out) {
            if (rep == 1) {
                Nd4j.exec(new MulOp(full, group, out));
                return;
            }
            INDArray f3 = full.reshape(batch * kv, rep, Swr.HEAD), o3 = out.reshape(batch * kv, rep, Swr.HEAD);
            INDArray g2 = group.reshape(batch * kv, Swr.HEAD);
            Nd4j.exec(new BroadcastMulOp(f3, g2, o3, 0, 2));
        }
    }

    /** The started-flags of a state's sequences: fresh (none started) for a state at position 0. */
    private static boolean[] started(boolean[] flags, SwrState s) {
        if (flags == null || flags.length != s.batch()) {
            flags = new boolean[(int) s.batch()];
            Arrays.fill(flags, s.position() > 0);   // a restored state is mid-sequence
        } else if (s.position() == 0) {
            Arrays.fill(flags, false);
        }
        return flags;
    }

    /** The state to continue from: a fresh one if none, checked against the input's batch and type. */
    private SwrState stepState(SwrState s, String what) {
        long bsz = this.input.size(0);
        if (s == null) {
            return SwrState.create(dataType, bsz, heads());
        }
        if (s.batch() != bsz || s.dataType() != dataType) {
            throw new IllegalStateException(where() + what + ": the stored state is for " + s.batch()
                    + " sequences of type " + s.dataType() + "; the input has batch " + bsz + " (type " + dataType
                    + "). Call rnnClearPreviousState() before starting a new batch of sequences");
        }
        return s;
    }

    /** The streaming state (null before the first rnnTimeStep or after rnnClearPreviousState). */
    public SwrState getStreamState() {
        return streamState;
    }

    @Override
    public void rnnClearPreviousState() {
        super.rnnClearPreviousState();
        streamState = null;
        tbpttState = null;
        streamStarted = null;
        tbpttStarted = null;
        segmentStart = null;
    }

    /** Key prefix of the SWR state in {@link #rnnGetPreviousState()}: swr_h, swr_P, swr_v, swr_position. */
    public static final String STATE_PREFIX = "swr_";

    /** The streaming state as copies: {@code swr_h [B, C], swr_P [B, H], swr_v [B, C], swr_position}. */
    @Override
    public Map<String, INDArray> rnnGetPreviousState() {
        return withState(stateMap, streamState);
    }

    /** A copy of DL4J's state map with the SWR state's arrays added (copies). */
    private static Map<String, INDArray> withState(Map<String, INDArray> base, SwrState s) {
        Map<String, INDArray> m = new HashMap<>(base);
        if (s != null) {
            m.putAll(s.toMap(STATE_PREFIX));
        }
        return m;
    }

    /** Restores a state from {@link #rnnGetPreviousState()} (an empty map clears it). */
    @Override
    public void rnnSetPreviousState(Map<String, INDArray> stateMap) {
        super.rnnSetPreviousState(stateMap);
        streamState = SwrState.isIn(stateMap, STATE_PREFIX) ? restore(stateMap, "rnnSetPreviousState") : null;
        streamStarted = null;
    }

    /** The truncated-BPTT state (copies, same keys as {@link #rnnGetPreviousState()}); empty before the first segment. */
    @Override
    public Map<String, INDArray> rnnGetTBPTTState() {
        return withState(tBpttStateMap, tbpttState);
    }

    /** Sets the state the next truncated-BPTT segment starts from (an empty map: a fresh sequence). */
    @Override
    public void rnnSetTBPTTState(Map<String, INDArray> state) {
        super.rnnSetTBPTTState(state);
        tbpttState = SwrState.isIn(state, STATE_PREFIX) ? restore(state, "rnnSetTBPTTState") : null;
        tbpttStarted = null;
    }

    private SwrState restore(Map<String, INDArray> state, String what) {
        SwrState s = SwrState.fromMap(state, STATE_PREFIX, heads());
        if (s.dataType() != dataType) {
            throw new IllegalArgumentException(where() + what + ": state of type " + s.dataType()
                    + "; the layer runs in " + dataType);
        }
        return s;
    }

    @Override
    public void clear() {
        super.clear();
        cached = null;
        cachedFor = null;
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState,
                                                          int minibatchSize) {
        this.maskArray = maskArray;
        this.maskState = currentMaskState;
        return new Pair<>(maskArray, currentMaskState);
    }
}
