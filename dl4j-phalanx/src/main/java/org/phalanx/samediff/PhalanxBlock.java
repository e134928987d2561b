package org.phalanx.samediff;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.params.PhalanxParamInitializer;
import org.phalanx.swr.RightPaddedMaskOp;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Phalanx block (docs/SWR.md section 2) inside a SameDiff graph: the same equations, parameter names
 * ({@code prefix + "Wa"}, ... {@code prefix + "Wo"}), shapes and initialisation as the DL4J
 * {@link PhalanxLayer}, with SWR from {@link PhalanxOps#swr}. Trainable with {@code sd.fit} and
 * {@code calculateGradients}; saved and loaded with the graph.
 *
 * <pre>{@code
 * PhalanxLayer conf = new PhalanxLayer.Builder().nIn(256).kvHeads(4).build();
 * SDVariable out = PhalanxBlock.apply(sd, "mixer1/", x, conf);       // x [B, 256, L] -> [B, 256, L]
 *
 * // with a [B, L] mask and a carried state (prefill, then decode step by step):
 * SwrGraphState in = SwrGraphState.placeholders(sd, "mixer1/state/", DataType.FLOAT, conf.numHeads(), conf.getWindow());
 * PhalanxBlock.Output o = PhalanxBlock.apply(sd, "mixer1/", x, conf, params, mask, in);  // o.out(), o.state()
 * }</pre>
 *
 * The configuration's {@code nIn, nOut, kvHeads, blockSize, window, dataFormat} and weight init are used;
 * every parameter shape comes from {@link PhalanxParamInitializer} (inner width {@code 16 * conf.numHeads()}).
 * The input must have {@code nIn} channels in the format's channel dimension.
 *
 * <p>Masks are those of the layer: {@code [B, L]}, 1 for a step and 0 for padding (other values are refused at
 * run time). A padded step carries the state (decay 1, input 0), outputs 0 and passes no gradient. Each
 * sequence's blocks are counted from its own first valid step ({@link PhalanxOps#swrMasked}), so left- and
 * right-padded sequences equal each sequence run alone. With a carried state the batch shares one block phase:
 * masks must then be right-padded (anything else is refused at run time with a clear exception), and the state
 * after a piece is that of the whole array (padding included): continue decoding from it only sequences that
 * were not padded in that piece.
 */
public final class PhalanxBlock {

    private PhalanxBlock() {
    }

    /** The block's output and, when it was given an incoming state, the state after the piece (else null). */
    public record Output(SDVariable out, SwrGraphState state) {
    }

    /** Builds the block with freshly initialised parameters (as the DL4J layer initialises them). */
    public static SDVariable apply(SameDiff sd, String prefix, SDVariable x, PhalanxLayer conf) {
        return apply(sd, prefix, x, conf, initialParams(conf, x.dataType()));
    }

    /**
     * Builds the block with the given parameter values (keys {@code Wa .. Wo}, as in a trained layer's
     * {@code paramTable()}); they are copied into new variables named {@code prefix + key}.
     */
    public static SDVariable apply(SameDiff sd, String prefix, SDVariable x, PhalanxLayer conf,
                                   Map<String, INDArray> params) {
        return apply(sd, prefix, x, conf, params, null, null).out();
    }

    /**
     * The block with an optional {@code [B, L]} mask (null: none) and an optional incoming SWR state (null: a
     * fresh sequence, and no state out). With a state, the output equals the corresponding steps of one pass over
     * the whole sequence at every block phase, and {@link Output#state()} continues it (feed it back for the next
     * piece, or chain it in the same graph: gradients flow through it). With a state, any window: for a finite
     * {@code k >= 3} the state carries its ring of blocks ({@code SwrGraphState.placeholders(sd, prefix, type,
     * conf.numHeads(), conf.getWindow())}).
     */
    public static Output apply(SameDiff sd, String prefix, SDVariable x, PhalanxLayer conf,
                               Map<String, INDArray> params, SDVariable mask, SwrGraphState state) {
        if (sd == null || x == null || conf == null || params == null) {
            throw new IllegalArgumentException("PhalanxBlock.apply: sd, x, conf and params must not be null");
        }
        String p = prefix == null ? "" : prefix;
        conf.validate(-1, true);
        long nIn = conf.getNIn(), nOut = conf.getNOut(), h = conf.numHeads(), kv = conf.numKvHeads();
        long inner = PhalanxLayer.HEAD * h, rep = h / kv;
        boolean nwc = conf.getRnnDataFormat() == RNNFormat.NWC;
        if (x.getShape() != null && x.getShape().length > 0) {
            long[] s = x.getShape();
            if (s.length != 3 || (s[nwc ? 2 : 1] != nIn && s[nwc ? 2 : 1] > 0)) {
                throw new IllegalArgumentException("PhalanxBlock.apply: x must have shape "
                        + (nwc ? "[B, L, nIn]" : "[B, nIn, L]") + " with nIn = " + nIn + "; got " + Arrays.toString(s));
            }
        }
        if (mask != null && mask.getShape() != null && mask.getShape().length != 2) {
            throw new IllegalArgumentException("PhalanxBlock.apply: mask must have shape [B, L]; got "
                    + Arrays.toString(mask.getShape()));
        }
        Map<String, long[]> shapes = paramShapes(conf);
        Map<String, SDVariable> w = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String key = e.getKey();
            long[] shape = e.getValue();
            INDArray v = params.get(key);
            if (v == null || v.length() != Arrays.stream(shape).reduce(1, (q, r) -> q * r)) {
                throw new IllegalArgumentException("PhalanxBlock.apply: parameter " + key + " must have shape "
                        + Arrays.toString(shape) + "; got " + (v == null ? "none" : Arrays.toString(v.shape())));
            }
            w.put(key, sd.var(p + key, v.reshape('c', shape).castTo(x.dataType()).dup('c')));
        }

        // Rows [B*L, nIn]: one GEMM per projection.
        SDVariable xt = nwc ? x : sd.permute(x, 0, 2, 1);                     // [B, L, nIn]
        SDVariable rows = sd.reshape(xt, -1, nIn);                             // [N, nIn]
        SDVariable bDim = sd.reshape(sd.sizeAt(x, 0).castTo(DataType.LONG), 1);
        SDVariable a = sd.nn.sigmoid(sd.mmul(rows, w.get("Wa")).add(w.get("ba")));     // [N, H]
        SDVariable beta = sd.nn.sigmoid(sd.mmul(rows, w.get("Wb")).add(w.get("bb")));  // [N, G]
        SDVariable c = sd.mmul(rows, w.get("Wc")).add(w.get("bc"));                     // [N, G]
        SDVariable v = sd.mmul(rows, w.get("Wv"));                                      // [N, C]
        SDVariable a3 = sd.permute(sd.reshape(a, shape(sd, bDim, h)), 0, 2, 1);        // [B, H, L]
        Core core = mask == null && state == null
                ? new Core(fusedCore(sd, p, a3, beta, c, v, bDim, conf, inner), null, null)
                : unfusedCore(sd, p, a3, beta, c, v, bDim, conf, mask, state, x.dataType());
        SDVariable m = conf.isHeadNorm() ? headNorm(sd, core.m(), h) : core.m();
        SDVariable out = sd.reshape(sd.mmul(m, w.get("Wo")), shape(sd, bDim, nOut));     // [B, L, nOut]
        Activation act = activation(conf);
        if (act != null) {
            out = act.asSameDiff(sd, out);                                               // as the layer: before the mask
        }
        if (core.mask() != null) {
            out = out.mul(sd.expandDims(core.mask(), 2));                                 // padded outputs 0
        }
        return new Output(sd.identity(p + "out", nwc ? out : sd.permute(out, 0, 2, 1)), core.state());
    }

    /** The layer's headNorm on m [N, C]: each head's 16 channels divided by their RMS (org.phalanx.swr.HeadNorm). */
    private static SDVariable headNorm(SameDiff sd, SDVariable m, long h) {
        SDVariable m3 = sd.reshape(m, -1, h, PhalanxLayer.HEAD);                        // [N, H, 16]
        SDVariable ms = sd.mean(sd.math.square(m3), true, 2).add(PhalanxLayer.HEAD_NORM_EPS);
        return sd.reshape(m3.mul(sd.math.rsqrt(ms)), -1, PhalanxLayer.HEAD * h);
    }

    /** The core's output m [N, C], the mask as applied [B, L] (or null) and the state after the piece (or null). */
    private record Core(SDVariable m, SDVariable mask, SwrGraphState state) {
    }

    /** Whole sequences without a mask: u, SWR and m = y * c + v in one op ({@link PhalanxOps#phalanxCore}). */
    private static SDVariable fusedCore(SameDiff sd, String p, SDVariable a3, SDVariable beta, SDVariable c, SDVariable v,
                                        SDVariable bDim, PhalanxLayer conf, long inner) {
        long g = PhalanxLayer.HEAD * conf.numKvHeads();
        SDVariable beta3 = sd.permute(sd.reshape(beta, shape(sd, bDim, g)), 0, 2, 1);  // [B, G, L]
        SDVariable c3 = sd.permute(sd.reshape(c, shape(sd, bDim, g)), 0, 2, 1);        // [B, G, L]
        SDVariable v3 = sd.permute(sd.reshape(v, shape(sd, bDim, inner)), 0, 2, 1);    // [B, C, L]
        SDVariable m3 = PhalanxOps.phalanxCore(sd, p + "core", a3, beta3, v3, c3, conf.getBlockSize(), conf.getWindow());
        return sd.reshape(sd.permute(m3, 0, 2, 1), -1, inner);                         // [N, C]
    }

    /** With a mask or a carried state: u = beta * v, the SWR op that takes them, m = y * c + v. */
    private static Core unfusedCore(SameDiff sd, String p, SDVariable a3, SDVariable beta, SDVariable c,
                                    SDVariable v, SDVariable bDim, PhalanxLayer conf, SDVariable mask,
                                    SwrGraphState state, DataType t) {
        long h = conf.numHeads(), kv = conf.numKvHeads(), inner = PhalanxLayer.HEAD * h, rep = h / kv;
        SDVariable u = repeatMul(sd, v, beta, kv, rep, inner);                          // [N, C]
        SDVariable u3 = sd.permute(sd.reshape(u, shape(sd, bDim, inner)), 0, 2, 1);    // [B, C, L]
        SDVariable mk = null;
        if (mask != null) {
            // With a state the block phase is shared by the batch: only right padding keeps it right for all.
            mk = (state != null ? new RightPaddedMaskOp(sd, mask).outputVariable() : mask).castTo(t);
            SDVariable m3 = sd.expandDims(mk, 1);                                        // [B, 1, L]
            // A padded step carries the state through: decay 1, input 0 (as the layer).
            a3 = a3.mul(m3).add(m3.rsub(1.0));
            u3 = u3.mul(m3);
        }
        SDVariable y3;
        SwrGraphState next = null;
        if (state != null) {
            PhalanxOps.SwrStep step = PhalanxOps.swr(sd, p + "swr", a3, u3, state, conf.getBlockSize(), conf.getWindow());
            y3 = step.y();
            next = step.state();
        } else { // a mask on whole sequences: blocks counted from each sequence's first valid step
            y3 = PhalanxOps.swrMasked(sd, p + "swr", a3, u3, mk, conf.getBlockSize(), conf.getWindow());
        }
        SDVariable y = sd.reshape(sd.permute(y3, 0, 2, 1), -1, inner);                // [N, C]
        return new Core(repeatMul(sd, y, c, kv, rep, inner).add(v), mk, next);
    }

    /** The layer's output activation as an {@link Activation}, or null where the layer applies none. */
    private static Activation activation(PhalanxLayer conf) {
        IActivation fn = conf.getActivationFn();
        if (!conf.appliesActivation() || fn == null || fn instanceof ActivationIdentity) {
            return null;
        }
        for (Activation a : Activation.values()) {
            IActivation candidate;
            try {
                candidate = a.getActivationFunction();
            } catch (RuntimeException notAvailable) {
                continue;
            }
            if (candidate.getClass() == fn.getClass() && candidate.equals(fn)) {
                return a;
            }
        }
        throw new IllegalArgumentException("PhalanxBlock.apply: activation " + fn + " has no SameDiff form here; use "
                + "one of DL4J's Activation values with default parameters (e.g. TANH) or apply it in the graph");
    }

    /** The parameters' shapes, in key order, as {@link PhalanxParamInitializer} lays them out for {@code conf}. */
    public static Map<String, long[]> paramShapes(PhalanxLayer conf) {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : initialise(conf, DataType.FLOAT, false).entrySet()) {
            out.put(e.getKey(), e.getValue().shape());
        }
        return out;
    }

    /** [B, -1, n] as a LONG shape vector. */
    private static SDVariable shape(SameDiff sd, SDVariable bDim, long n) {
        return sd.concat(0, bDim, sd.constant(Nd4j.createFromArray(-1L, n)));
    }

    /** full [N, C] * repeat(group [N, 16 kv]): head h uses kv head h / rep. */
    private static SDVariable repeatMul(SameDiff sd, SDVariable full, SDVariable group, long kv, long rep, long d) {
        if (rep == 1) {
            return full.mul(group);
        }
        SDVariable f4 = sd.reshape(full, -1, kv, rep, PhalanxLayer.HEAD);
        SDVariable g4 = sd.reshape(group, -1, kv, 1, PhalanxLayer.HEAD);
        return sd.reshape(f4.mul(g4), -1, d);
    }

    /** Parameters initialised exactly as the DL4J layer initialises them ({@link PhalanxParamInitializer}). */
    public static Map<String, INDArray> initialParams(PhalanxLayer conf, DataType dataType) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : initialise(conf, dataType, true).entrySet()) {
            out.put(e.getKey(), e.getValue().dup('c'));
        }
        return out;
    }

    private static Map<String, INDArray> initialise(PhalanxLayer conf, DataType dataType, boolean initialize) {
        PhalanxLayer c = (PhalanxLayer) conf.clone();
        NeuralNetConfiguration nn = new NeuralNetConfiguration.Builder().dataType(dataType).layer(c).build();
        PhalanxParamInitializer init = PhalanxParamInitializer.getInstance();
        INDArray flat = Nd4j.create(dataType, 1, init.numParams(c));
        return init.init(nn, flat, initialize);
    }
}
