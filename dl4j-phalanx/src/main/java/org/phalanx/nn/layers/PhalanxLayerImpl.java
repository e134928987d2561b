package org.phalanx.nn.layers;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.recurrent.BaseRecurrentLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
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
        INDArray x;     // [B, d, L] input (mask not applied)
        INDArray mask;  // [B, L] or null
        INDArray a;     // [B, H, L] decays (1 at masked steps)
        INDArray beta;  // [B, G, L]
        INDArray c;     // [B, G, L]
        INDArray v;     // [B, d, L]
        INDArray u;     // [B, d, L] (0 at masked steps)
        INDArray y;     // [B, d, L] SWR output
        INDArray m;     // [B, d, L] y * repeat(c) + v
        INDArray out;   // [B, nOut, L] NCW
    }

    private Fwd cached;
    private INDArray cachedFor;
    private SwrState streamState;
    private SwrState tbpttState;

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

    private long d() {
        return layerConf().getNIn();
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

    private String where() {
        String name = layerConf().getLayerName();
        return "PhalanxLayer" + (name != null ? " \"" + name + "\"" : "") + " (layer index " + getIndex() + "): ";
    }

    // ------------------------------------------------------------------------------------------------ input

    /** The input as a contiguous NCW array of the layer's type, checked. */
    private INDArray ncwInput(LayerWorkspaceMgr mgr, ArrayType type) {
        INDArray in = this.input;
        boolean nwc = layerConf().getRnnDataFormat() == RNNFormat.NWC;
        if (in.rank() != 3) {
            throw new IllegalArgumentException(where() + "input must have rank 3, "
                    + (nwc ? "[B, L, nIn] (NWC)" : "[B, nIn, L] (NCW)") + " with nIn = " + d() + "; got shape "
                    + Arrays.toString(in.shape()));
        }
        long ch = in.size(nwc ? 2 : 1);
        if (ch != d()) {
            throw new IllegalArgumentException(where() + "input must have nIn = " + d() + " channels in dimension "
                    + (nwc ? 2 : 1) + " (" + (nwc ? "NWC [B, L, nIn]" : "NCW [B, nIn, L]") + "); got shape "
                    + Arrays.toString(in.shape()));
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

    // ------------------------------------------------------------------------------------------------ forward

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        ArrayType keep = training ? ArrayType.ACTIVATIONS : ArrayType.FF_WORKING_MEM;
        INDArray x = ncwInput(workspaceMgr, keep);
        Fwd f = forward(x, mask(x), training, keep, null, workspaceMgr);
        if (training) {
            cached = f;
            cachedFor = this.input;
        } else {
            cached = null;
            cachedFor = null;
        }
        return permuteIfNWC(f.out);
    }

    /**
     * The forward pass on x [B, d, L] (contiguous NCW). Intermediates go to {@code keep}; the output to
     * ACTIVATIONS. With a state, SWR continues from it (streaming) and advances it.
     */
    private Fwd forward(INDArray x, INDArray mask, boolean training, ArrayType keep, SwrState state,
                        LayerWorkspaceMgr mgr) {
        final long bsz = x.size(0), len = x.size(2), d = d(), h = heads(), g = Swr.HEAD * kvHeads(), no = nOut();
        DataType t = dataType;
        INDArray wa = getParamWithNoise(WA, training, mgr), ba = getParamWithNoise(BA, training, mgr);
        INDArray wb = getParamWithNoise(WB, training, mgr), bb = getParamWithNoise(BB, training, mgr);
        INDArray wc = getParamWithNoise(WC, training, mgr), bc = getParamWithNoise(BC, training, mgr);
        INDArray wv = getParamWithNoise(WV, training, mgr), wo = getParamWithNoise(WO, training, mgr);

        Fwd f = new Fwd();
        f.x = x;
        f.mask = mask;
        f.a = mgr.createUninitialized(keep, t, new long[]{bsz, h, len}, 'c');
        f.beta = mgr.createUninitialized(keep, t, new long[]{bsz, g, len}, 'c');
        f.c = mgr.createUninitialized(keep, t, new long[]{bsz, g, len}, 'c');
        f.v = mgr.createUninitialized(keep, t, new long[]{bsz, d, len}, 'c');
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

        f.u = mgr.createUninitialized(keep, t, new long[]{bsz, d, len}, 'c');
        mulRepeat(f.v, f.beta, f.u);
        if (mask != null) {
            // A masked step carries the state through: decay 1, input 0.
            Nd4j.exec(new BroadcastMulOp(f.a, mask, f.a, 0, 2));
            INDArray notMask = mask.rsub(1.0);
            Nd4j.exec(new BroadcastAddOp(f.a, notMask, f.a, 0, 2));
            Nd4j.exec(new BroadcastMulOp(f.u, mask, f.u, 0, 2));
        }

        int block = layerConf().getBlockSize(), k = layerConf().getWindow();
        f.y = mgr.createUninitialized(keep, t, new long[]{bsz, d, len}, 'c');
        if (state != null) {
            Swr.forwardInto(f.a, f.u, f.y, block, k, state);
        } else {
            Swr.forwardInto(f.a, f.u, f.y, block, k);
        }

        f.m = mgr.createUninitialized(keep, t, new long[]{bsz, d, len}, 'c');
        mulRepeat(f.y, f.c, f.m);
        f.m.addi(f.v);

        f.out = mgr.createUninitialized(ArrayType.ACTIVATIONS, t, new long[]{bsz, no, len}, 'c');
        for (long b = 0; b < bsz; b++) {
            Nd4j.gemm(wo, f.m.slice(b), f.out.slice(b), true, false, 1.0, 0.0);
        }
        if (mask != null) {
            Nd4j.exec(new BroadcastMulOp(f.out, mask, f.out, 0, 2));
        }
        return f;
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

    // ------------------------------------------------------------------------------------------------ backward

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        final long d = d(), h = heads(), g = Swr.HEAD * kvHeads();
        DataType t = dataType;
        Fwd f = usableCache();
        cached = null;
        cachedFor = null;
        if (f == null) {
            INDArray x = ncwInput(workspaceMgr, ArrayType.BP_WORKING_MEM);
            f = forward(x, mask(x), true, ArrayType.BP_WORKING_MEM, null, workspaceMgr);
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

        INDArray wa = getParamWithNoise(WA, true, workspaceMgr), wb = getParamWithNoise(WB, true, workspaceMgr);
        INDArray wc = getParamWithNoise(WC, true, workspaceMgr), wv = getParamWithNoise(WV, true, workspaceMgr);
        INDArray wo = getParamWithNoise(WO, true, workspaceMgr);
        INDArray gWa = gradientViews.get(WA), gba = gradientViews.get(BA), gWb = gradientViews.get(WB);
        INDArray gbb = gradientViews.get(BB), gWc = gradientViews.get(WC), gbc = gradientViews.get(BC);
        INDArray gWv = gradientViews.get(WV), gWo = gradientViews.get(WO);

        // Readout: out_b = Wo^T m_b.
        INDArray dm = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, d, len}, 'c');
        for (long b = 0; b < bsz; b++) {
            INDArray eb = eps.slice(b);
            Nd4j.gemm(f.m.slice(b), eb, gWo, false, true, 1.0, b == 0 ? 0.0 : 1.0);
            Nd4j.gemm(wo, eb, dm.slice(b), false, false, 1.0, 0.0);
        }
        // m = y * repeat(c) + v.
        INDArray dy = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, d, len}, 'c');
        mulRepeat(dm, f.c, dy);
        INDArray dc = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, g, len}, 'c');
        groupSumProduct(dm, f.y, dc, workspaceMgr);
        INDArray dv = dm;   // direct path; the gate path is added below

        // SWR.
        INDArray da = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, h, len}, 'c');
        INDArray du = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, d, len}, 'c');
        Swr.backwardInto(f.a, f.u, dy, da, du, layerConf().getBlockSize(), layerConf().getWindow());
        if (f.mask != null) {
            Nd4j.exec(new BroadcastMulOp(du, f.mask, du, 0, 2));
        }
        // u = repeat(beta) * v.
        INDArray dbeta = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, t, new long[]{bsz, g, len}, 'c');
        groupSumProduct(du, f.v, dbeta, workspaceMgr);
        mulRepeat(du, f.beta, du);   // du <- du * repeat(beta), in place (same shapes, elementwise)
        dv.addi(du);

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

        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, t, new long[]{bsz, d, len}, 'c');
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
        grad.gradientForVariable().put(WA, gWa);
        grad.gradientForVariable().put(BA, gba);
        grad.gradientForVariable().put(WB, gWb);
        grad.gradientForVariable().put(BB, gbb);
        grad.gradientForVariable().put(WC, gWc);
        grad.gradientForVariable().put(BC, gbc);
        grad.gradientForVariable().put(WV, gWv);
        grad.gradientForVariable().put(WO, gWo);

        weightNoiseParams.clear();
        INDArray epsOut = permuteIfNWC(dx);
        epsOut = backpropDropOutIfPresent(epsOut);
        return new Pair<>(grad, epsOut);
    }

    /** The training forward pass's intermediates, if they belong to the current input and are still valid. */
    private Fwd usableCache() {
        Fwd f = cached;
        if (f == null || cachedFor != this.input) {
            return null;
        }
        INDArray[] all = {f.x, f.a, f.beta, f.c, f.v, f.u, f.y, f.m, f.mask};
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
        return backpropGradient(epsilon, workspaceMgr);
    }

    // ------------------------------------------------------------------------------------------------ streaming

    @Override
    public INDArray rnnTimeStep(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        if (layerConf().getRnnDataFormat() == RNNFormat.NWC && input.rank() == 3 && input.size(2) == 1
                && input.size(1) == d()) {
            // MultiLayerNetwork.rnnTimeStep reshapes a single step [B, nIn] to [B, nIn, 1] whatever the format.
            input = input.permute(0, 2, 1);
        }
        setInput(input, workspaceMgr);
        streamState = stepState(streamState, "rnnTimeStep");
        INDArray x = ncwInput(workspaceMgr, ArrayType.FF_WORKING_MEM);
        Fwd f = forward(x, mask(x), false, ArrayType.FF_WORKING_MEM, streamState, workspaceMgr);
        return permuteIfNWC(f.out);
    }

    @Override
    public INDArray rnnActivateUsingStoredState(INDArray input, boolean training, boolean storeLastForTBPTT,
                                                LayerWorkspaceMgr workspaceMgr) {
        if (training) {
            throw new UnsupportedOperationException(where() + "truncated BPTT (BackpropType.TruncatedBPTT) is not "
                    + "supported: the SWR window spans at most blockSize * window steps and training memory is O(L); "
                    + "train on whole (or independently cut) sequences with BackpropType.Standard");
        }
        setInput(input, workspaceMgr);
        SwrState s = stepState(tbpttState, "rnnActivateUsingStoredState");
        if (!storeLastForTBPTT) {
            s = s.copy();
        }
        INDArray x = ncwInput(workspaceMgr, ArrayType.FF_WORKING_MEM);
        Fwd f = forward(x, mask(x), false, ArrayType.FF_WORKING_MEM, s, workspaceMgr);
        if (storeLastForTBPTT) {
            tbpttState = s;
        }
        return permuteIfNWC(f.out);
    }

    /** The state to continue from: a fresh one if none, checked against the input's batch and type. */
    private SwrState stepState(SwrState s, String what) {
        if (this.input == null || this.input.rank() < 1) {
            return s;
        }
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
    }

    /** Key prefix of the SWR state in {@link #rnnGetPreviousState()}: swr_h, swr_P, swr_v, swr_position. */
    public static final String STATE_PREFIX = "swr_";

    /** The streaming state as copies: {@code swr_h [B, C], swr_P [B, H], swr_v [B, C], swr_position}. */
    @Override
    public Map<String, INDArray> rnnGetPreviousState() {
        Map<String, INDArray> m = new HashMap<>(stateMap);
        if (streamState != null) {
            m.putAll(streamState.toMap(STATE_PREFIX));
        }
        return m;
    }

    /** Restores a state from {@link #rnnGetPreviousState()} (an empty map clears it). */
    @Override
    public void rnnSetPreviousState(Map<String, INDArray> stateMap) {
        super.rnnSetPreviousState(stateMap);
        if (SwrState.isIn(stateMap, STATE_PREFIX)) {
            SwrState s = SwrState.fromMap(stateMap, STATE_PREFIX, heads());
            if (s.dataType() != dataType) {
                throw new IllegalArgumentException(where() + "rnnSetPreviousState: state of type " + s.dataType()
                        + "; the layer runs in " + dataType);
            }
            streamState = s;
        } else {
            streamState = null;
        }
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
