package org.phalanx.samediff.lm;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.GELU;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Sigmoid;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.swr.HeadNorm;
import org.phalanx.swr.PhalanxStep;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrState;

import java.util.ArrayList;
import java.util.List;

/**
 * Streaming decoder for a trained {@link CausalLm}: one token in, next-token logits out, in eager ND4J on
 * the graph's weights. Phalanx blocks keep their O(1) SWR state ({@link SwrState}); attention blocks keep a
 * key/value cache, bounded by the window for sliding-window blocks and by {@code maxContext} for global
 * ones. Gives the same logits as the graph on the same prefix (LmDecoderTest). One sequence; not thread-safe.
 *
 * <p>A step is a fixed, short list of ND4J calls on buffers allocated once (only the returned logits are
 * new): each block's input projections are one matrix product (their weights concatenated at construction),
 * attention scores and values are two batched products over the cache's filled rows, and every residual
 * branch is accumulated into the residual stream by its output projection ({@code beta = 1}).
 */
public final class LmDecoder {

    private final LmConfig c;
    private final INDArray table, head, finalGain;
    private final INDArray x, xn;                  // [1, d]: residual stream and its normalised copy
    private final List<Block> blocks = new ArrayList<>();
    private long position;

    /** {@code maxContext}: the most tokens a global attention block can attend to (its cache size). */
    public LmDecoder(SameDiff sd, LmConfig c, int maxContext) {
        if (maxContext < 1) {
            throw new IllegalArgumentException("LmDecoder: maxContext must be >= 1; got " + maxContext);
        }
        this.c = c;
        this.table = weight(sd, CausalLm.EMBEDDING);
        this.head = c.tiedHead() ? table.transpose().dup('c') : weight(sd, CausalLm.HEAD);
        this.finalGain = weight(sd, CausalLm.FINAL_NORM + "g");
        this.x = Nd4j.create(DataType.FLOAT, 1, c.dModel());
        this.xn = Nd4j.create(DataType.FLOAT, 1, c.dModel());
        for (int i = 0; i < c.layers(); i++) {
            blocks.add(new Block(sd, i, maxContext));
        }
    }

    private static INDArray weight(SameDiff sd, String name) {
        if (!sd.hasVariable(name) || sd.getVariable(name).getArr() == null) {
            throw new IllegalArgumentException("LmDecoder: the graph has no parameter " + name + " (not a CausalLm graph?)");
        }
        return sd.getVariable(name).getArr().castTo(DataType.FLOAT).dup('c');
    }

    /** Feeds one token; returns the logits [vocab] for the next one (a new array). */
    public INDArray step(int token) {
        if (token < 0 || token >= c.vocab()) {
            throw new IllegalArgumentException("LmDecoder.step: token must be in [0, " + c.vocab() + "); got " + token);
        }
        x.assign(table.getRow(token, true));
        for (Block b : blocks) {
            rmsNorm(x, b.norm1, xn);
            b.mixInto(xn, x);
            rmsNorm(x, b.norm2, xn);
            b.mlpInto(xn, x);
        }
        position++;
        INDArray logits = Nd4j.create(DataType.FLOAT, 1, c.vocab());
        Nd4j.gemm(rmsNorm(x, finalGain, xn), head, logits, false, false, 1.0, 0.0);
        return logits.reshape(c.vocab());
    }

    /** Tokens fed so far. */
    public long position() {
        return position;
    }

    /** Bytes of per-sequence state held now: SWR states and key/value caches (float32). */
    public long stateBytes() {
        long n = 0;
        for (Block b : blocks) {
            n += b.stateBytes();
        }
        return n;
    }

    /** {@code out = x / sqrt(mean(x^2) + eps) * g} for a row {@code x [1, d]}; returns out. */
    static INDArray rmsNorm(INDArray x, INDArray g, INDArray out) {
        double ss = x.norm2Number().doubleValue();
        double scale = 1 / Math.sqrt(ss * ss / x.length() + LmBlocks.RMS_EPS);
        return x.mul(g, out).muli(scale);
    }

    private static INDArray row(INDArray bias) {
        return bias.reshape(1, bias.length());
    }

    /** Columns {@code [from, to)} of a row buffer {@code [1, n]}, as a view. */
    private static INDArray cols(INDArray row, long from, long to) {
        return row.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to));
    }

    private final class Block {
        final LmConfig.Mixer m;
        final INDArray norm1, norm2, w1, b1, w2, b2, hidden;
        final INDArray wIn, bIn, wOut, proj;          // fused input projections, their bias, output projection (null: PhalanxStep)
        // attention: q|k|v = proj, caches [H, cap, dh], scores [H, 1, cap], output [H, 1, dh]
        INDArray q3, k2, v2, keys, values, scores, att;
        INDArray q2, rotation, rotated;               // RoPE: x' = x R_p for the heads' rows [H, dh]
        float[] rotationData;
        int cached;
        // phalanx: a|beta|c|v = proj
        INDArray a3, beta, u, u3, y, y3, rinv3, gate, cc, v;
        PhalanxLayer pconf;
        SwrState state;
        // phalanx in one native call (CPU): the weights column-major, the output z, scratch
        INDArray[] stepWeights;
        INDArray z, scratch;

        Block(SameDiff sd, int i, int maxContext) {
            m = c.mixer(i);
            String p = CausalLm.blockPrefix(i), mp = CausalLm.mixerPrefix(c, i);
            int d = c.dModel();
            norm1 = weight(sd, p + "norm1/g");
            norm2 = weight(sd, p + "norm2/g");
            w1 = weight(sd, p + "mlp/W1");
            b1 = weight(sd, p + "mlp/b1");
            w2 = weight(sd, p + "mlp/W2");
            b2 = weight(sd, p + "mlp/b2");
            hidden = Nd4j.create(DataType.FLOAT, 1, w1.columns());
            if (m.isAttention()) {
                int heads = c.attnHeads(), dh = d / heads;
                // 1/sqrt(dh) folded into Wq
                wIn = Nd4j.hstack(weight(sd, mp + "Wq").muli(1 / Math.sqrt(dh)), weight(sd, mp + "Wk"), weight(sd, mp + "Wv"));
                bIn = null;
                wOut = weight(sd, mp + "Wo");
                proj = Nd4j.create(DataType.FLOAT, 1, 3L * d);
                q3 = cols(proj, 0, d).reshape(heads, 1, dh);
                k2 = cols(proj, d, 2L * d).reshape(heads, dh);
                v2 = cols(proj, 2L * d, 3L * d).reshape(heads, dh);
                int cap = m == LmConfig.Mixer.S ? Math.min(c.window(), maxContext) : maxContext;
                keys = Nd4j.create(DataType.FLOAT, heads, cap, dh);
                values = Nd4j.create(DataType.FLOAT, heads, cap, dh);
                scores = Nd4j.create(DataType.FLOAT, heads, 1, cap);
                att = Nd4j.create(DataType.FLOAT, heads, 1, dh);
                if (c.rope()) {
                    q2 = cols(proj, 0, d).reshape(heads, dh);
                    rotation = Nd4j.create(DataType.FLOAT, dh, dh);
                    rotationData = new float[dh * dh];
                    rotated = Nd4j.create(DataType.FLOAT, heads, dh);
                }
            } else {
                pconf = CausalLm.phalanxConf(c, m);
                if (pconf.numKvHeads() != pconf.numHeads()) {
                    throw new IllegalStateException("LmDecoder: grouped kv heads are not used by CausalLm");
                }
                long h = pconf.numHeads();
                state = SwrState.create(DataType.FLOAT, 1, pconf.numHeads());
                String[] keys = {"Wa", "ba", "Wb", "bb", "Wc", "bc", "Wv", "Wo"};
                INDArray[] sw = new INDArray[keys.length];
                for (int k = 0; k < keys.length; k++) {
                    INDArray w = weight(sd, mp + keys[k]);
                    sw[k] = keys[k].startsWith("W") ? w.dup('f') : w.reshape(w.length());
                }
                if (PhalanxStep.supports(DataType.FLOAT, sw[0], sw[2], sw[4], sw[6], sw[7])) {
                    stepWeights = sw;                          // one native call per step: nothing else needed
                    z = Nd4j.create(DataType.FLOAT, 1, d);
                    scratch = Nd4j.create(DataType.FLOAT, PhalanxStep.scratchLength(1, h, h));
                    wIn = bIn = wOut = proj = null;
                    return;
                }
                wIn = Nd4j.hstack(weight(sd, mp + "Wa"), weight(sd, mp + "Wb"), weight(sd, mp + "Wc"), weight(sd, mp + "Wv"));
                bIn = Nd4j.hstack(row(sw[1]), row(sw[3]), row(sw[5]), Nd4j.zeros(DataType.FLOAT, 1, d));
                wOut = weight(sd, mp + "Wo");
                proj = Nd4j.create(DataType.FLOAT, 1, h + 3L * d);
                a3 = cols(proj, 0, h).reshape(1, h, 1);
                gate = cols(proj, 0, h + d);                                   // a and beta: one sigmoid
                beta = cols(proj, h, h + d);
                cc = cols(proj, h + d, h + 2L * d);
                v = cols(proj, h + 2L * d, h + 3L * d);
                u = Nd4j.create(DataType.FLOAT, 1, d);
                u3 = u.reshape(1, d, 1);
                y = Nd4j.create(DataType.FLOAT, 1, d);
                y3 = y.reshape(1, d, 1);
                rinv3 = Nd4j.create(DataType.FLOAT, 1, h, 1);
            }
        }

        /** {@code x += mixer(xn)}. */
        void mixInto(INDArray xn, INDArray x) {
            if (z != null) {                              // the whole Phalanx step in one native call
                INDArray[] w = stepWeights;
                PhalanxStep.stepInto(xn, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], pconf.numKvHeads(),
                        pconf.isHeadNorm(), false, pconf.getBlockSize(), pconf.getWindow(), state, z, scratch);
                x.addi(z);
                return;
            }
            Nd4j.gemm(xn, wIn, proj, false, false, 1.0, 0.0);
            INDArray out = m.isAttention() ? attend() : phalanx();
            Nd4j.gemm(out, wOut, x, false, false, 1.0, 1.0);
        }

        /** {@code x += mlp(xn)}. */
        void mlpInto(INDArray xn, INDArray x) {
            Nd4j.gemm(xn, w1, hidden, false, false, 1.0, 0.0);
            hidden.addi(b1);
            Nd4j.exec(new GELU(hidden, hidden));
            Nd4j.gemm(hidden, w2, x, false, false, 1.0, 1.0);
            x.addi(b2);
        }

        /** Attention output [1, d] for the query in proj, after caching its key and value. */
        INDArray attend() {
            int cap = (int) keys.size(1);
            if (m == LmConfig.Mixer.G && position >= cap) {
                throw new IllegalStateException("LmDecoder: a global attention block's cache holds " + cap
                        + " tokens (maxContext); fed " + (position + 1));
            }
            if (rotation != null) {
                rotate(q2);
                rotate(k2);
            }
            int slot = (int) (position % cap);            // ring buffer: scores do not depend on the slot order
            keys.get(NDArrayIndex.all(), NDArrayIndex.point(slot), NDArrayIndex.all()).assign(k2);
            values.get(NDArrayIndex.all(), NDArrayIndex.point(slot), NDArrayIndex.all()).assign(v2);
            cached = (int) Math.min(position + 1, cap);
            INDArray k = keys.get(NDArrayIndex.all(), NDArrayIndex.interval(0, cached), NDArrayIndex.all());
            INDArray vv = values.get(NDArrayIndex.all(), NDArrayIndex.interval(0, cached), NDArrayIndex.all());
            INDArray s = scores.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, cached));
            Nd4j.matmul(q3, k, s, false, true, false);                                      // [H, 1, T]
            Nd4j.exec(new SoftMax(s, s, 2));
            Nd4j.matmul(s, vv, att, false, false, false);                                  // [H, 1, dh]
            return att.reshape(1, c.dModel());
        }

        /** RoPE at the current position (LmBlocks.rotate): rows {@code x [H, dh]} rotated in place. */
        void rotate(INDArray x) {
            int dh = (int) x.size(1), half = dh / 2;
            java.util.Arrays.fill(rotationData, 0f);
            for (int j = 0; j < half; j++) {
                double a = LmBlocks.ropeAngle(position, j, dh);
                float cs = (float) Math.cos(a), sn = (float) Math.sin(a);
                rotationData[j * dh + j] = cs;                     // x'_j = x_j cos - x_{j+half} sin
                rotationData[(j + half) * dh + j] = -sn;
                rotationData[(j + half) * dh + j + half] = cs;     // x'_{j+half} = x_{j+half} cos + x_j sin
                rotationData[j * dh + j + half] = sn;
            }
            rotation.data().setData(rotationData);
            Nd4j.gemm(x, rotation, rotated, false, false, 1.0, 0.0);
            x.assign(rotated);
        }

        /** Phalanx output [1, d]: y = SWR(a, beta v) with the state, then y c + v. */
        INDArray phalanx() {
            proj.addi(bIn);
            Nd4j.exec(new Sigmoid(gate, gate));
            v.mul(beta, u);
            Swr.forwardInto(a3, u3, y3, pconf.getBlockSize(), pconf.getWindow(), state);
            y.muli(cc).addi(v);
            if (pconf.isHeadNorm()) {
                HeadNorm.forward(y3, rinv3, y3, PhalanxLayer.HEAD_NORM_EPS);
            }
            return y;
        }

        long stateBytes() {
            if (m.isAttention()) {
                return 2L * cached * c.dModel() * Float.BYTES;
            }
            return (2L * c.dModel() + pconf.numHeads()) * Float.BYTES;
        }
    }
}
