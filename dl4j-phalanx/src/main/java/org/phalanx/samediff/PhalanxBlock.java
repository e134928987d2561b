package org.phalanx.samediff;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.nn.params.PhalanxParamInitializer;

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
 * }</pre>
 *
 * The configuration's {@code nIn, nOut, kvHeads, blockSize, window, dataFormat} and weight init are used;
 * the input must have {@code nIn} channels in the format's channel dimension. Masks are not applied here
 * (a graph can multiply the output by its own mask).
 */
public final class PhalanxBlock {

    private PhalanxBlock() {
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
        if (sd == null || x == null || conf == null || params == null) {
            throw new IllegalArgumentException("PhalanxBlock.apply: sd, x, conf and params must not be null");
        }
        String p = prefix == null ? "" : prefix;
        PhalanxLayer.validate(conf.getLayerName(), -1, conf.getNIn(), conf.getNOut(), conf.getKvHeads(),
                conf.getBlockSize(), conf.getWindow(), conf.getRnnDataFormat(), true);
        long d = conf.getNIn(), nOut = conf.getNOut(), h = conf.numHeads(), kv = conf.numKvHeads();
        long g = PhalanxLayer.HEAD * kv, rep = h / kv;
        boolean nwc = conf.getRnnDataFormat() == RNNFormat.NWC;
        if (x.getShape() != null && x.getShape().length > 0) {
            long[] s = x.getShape();
            if (s.length != 3 || (s[nwc ? 2 : 1] != d && s[nwc ? 2 : 1] > 0)) {
                throw new IllegalArgumentException("PhalanxBlock.apply: x must have shape "
                        + (nwc ? "[B, L, nIn]" : "[B, nIn, L]") + " with nIn = " + d + "; got " + Arrays.toString(s));
            }
        }
        long[][] shapes = PhalanxParamInitializer.shapes(d, nOut, kv);
        Map<String, SDVariable> w = new LinkedHashMap<>();
        int i = 0;
        for (String key : PhalanxParamInitializer.KEYS) {
            INDArray v = params.get(key);
            if (v == null || v.length() != (shapes[i].length == 1 ? shapes[i][0] : shapes[i][0] * shapes[i][1])) {
                throw new IllegalArgumentException("PhalanxBlock.apply: parameter " + key + " must have shape "
                        + Arrays.toString(shapes[i]) + "; got " + (v == null ? "none" : Arrays.toString(v.shape())));
            }
            w.put(key, sd.var(p + key, v.reshape('c', shapes[i]).castTo(x.dataType()).dup('c')));
            i++;
        }

        // Rows [B*L, d]: one GEMM per projection.
        SDVariable xt = nwc ? x : sd.permute(x, 0, 2, 1);                     // [B, L, d]
        SDVariable rows = sd.reshape(xt, -1, d);                               // [N, d]
        SDVariable bDim = sd.reshape(sd.sizeAt(x, 0).castTo(DataType.LONG), 1);
        SDVariable a = sd.nn.sigmoid(sd.mmul(rows, w.get("Wa")).add(w.get("ba")));     // [N, H]
        SDVariable beta = sd.nn.sigmoid(sd.mmul(rows, w.get("Wb")).add(w.get("bb")));  // [N, G]
        SDVariable c = sd.mmul(rows, w.get("Wc")).add(w.get("bc"));                     // [N, G]
        SDVariable v = sd.mmul(rows, w.get("Wv"));                                      // [N, d]
        SDVariable u = repeatMul(sd, v, beta, kv, rep, d);                              // [N, d]

        SDVariable a3 = sd.permute(sd.reshape(a, shape(sd, bDim, h)), 0, 2, 1);        // [B, H, L]
        SDVariable u3 = sd.permute(sd.reshape(u, shape(sd, bDim, d)), 0, 2, 1);        // [B, d, L]
        SDVariable y3 = PhalanxOps.swr(sd, p + "swr", a3, u3, conf.getBlockSize(), conf.getWindow());
        SDVariable y = sd.reshape(sd.permute(y3, 0, 2, 1), -1, d);                     // [N, d]
        SDVariable m = repeatMul(sd, y, c, kv, rep, d).add(v);
        SDVariable out = sd.reshape(sd.mmul(m, w.get("Wo")), shape(sd, bDim, nOut));    // [B, L, nOut]
        return sd.identity(p + "out", nwc ? out : sd.permute(out, 0, 2, 1));
    }

    /** [B, -1, n] as a LONG shape vector. */
    private static SDVariable shape(SameDiff sd, SDVariable bDim, long n) {
        return sd.concat(0, bDim, sd.constant(Nd4j.createFromArray(-1L, n)));
    }

    /** full [N, d] * repeat(group [N, 16 kv]): head h uses kv head h / rep. */
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
        PhalanxLayer c = (PhalanxLayer) conf.clone();
        NeuralNetConfiguration nn = new NeuralNetConfiguration.Builder().dataType(dataType).layer(c).build();
        PhalanxParamInitializer init = PhalanxParamInitializer.getInstance();
        INDArray flat = Nd4j.create(dataType, 1, init.numParams(c));
        Map<String, INDArray> m = init.init(nn, flat, true);
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : m.entrySet()) {
            out.put(e.getKey(), e.getValue().dup('c'));
        }
        return out;
    }
}
