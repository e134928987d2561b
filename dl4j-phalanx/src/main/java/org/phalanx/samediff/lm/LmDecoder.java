package org.phalanx.samediff.lm;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.GELU;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.phalanx.nn.conf.layers.PhalanxLayer;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrState;

import java.util.ArrayList;
import java.util.List;

/**
 * Streaming decoder for a trained {@link CausalLm}: one token in, next-token logits out, in eager ND4J on
 * the graph's weights. Phalanx blocks keep their O(1) SWR state ({@link SwrState}); attention blocks keep a
 * key/value cache, bounded by the window for sliding-window blocks and by {@code maxContext} for global
 * ones. Gives the same logits as the graph on the same prefix (LmDecoderTest). One sequence; not thread-safe.
 */
public final class LmDecoder {

    private final LmConfig c;
    private final int maxContext;
    private final INDArray table, head;
    private final INDArray finalGain;
    private final List<Block> blocks = new ArrayList<>();
    private long position;

    /** {@code maxContext}: the most tokens a global attention block can attend to (its cache size). */
    public LmDecoder(SameDiff sd, LmConfig c, int maxContext) {
        if (maxContext < 1) {
            throw new IllegalArgumentException("LmDecoder: maxContext must be >= 1; got " + maxContext);
        }
        this.c = c;
        this.maxContext = maxContext;
        this.table = weight(sd, CausalLm.EMBEDDING);
        this.head = c.tiedHead() ? table.transpose().dup('c') : weight(sd, CausalLm.HEAD);
        this.finalGain = weight(sd, CausalLm.FINAL_NORM + "g");
        for (int i = 0; i < c.layers(); i++) {
            blocks.add(new Block(sd, i));
        }
    }

    private static INDArray weight(SameDiff sd, String name) {
        if (!sd.hasVariable(name) || sd.getVariable(name).getArr() == null) {
            throw new IllegalArgumentException("LmDecoder: the graph has no parameter " + name + " (not a CausalLm graph?)");
        }
        return sd.getVariable(name).getArr().castTo(DataType.FLOAT).dup('c');
    }

    /** Feeds one token; returns the logits [vocab] for the next one. */
    public INDArray step(int token) {
        if (token < 0 || token >= c.vocab()) {
            throw new IllegalArgumentException("LmDecoder.step: token must be in [0, " + c.vocab() + "); got " + token);
        }
        INDArray x = table.getRow(token).reshape(1, c.dModel()).dup();
        for (Block b : blocks) {
            x.addi(b.mixer(rmsNorm(x, b.norm1)));
            x.addi(b.mlp(rmsNorm(x, b.norm2)));
        }
        position++;
        return rmsNorm(x, finalGain).mmul(head).reshape(c.vocab());
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

    static INDArray rmsNorm(INDArray x, INDArray g) {
        double ms = x.mul(x).meanNumber().doubleValue();
        return x.mul(1 / Math.sqrt(ms + LmBlocks.RMS_EPS)).muli(g);
    }

    private final class Block {
        final LmConfig.Mixer m;
        final INDArray norm1, norm2, w1, b1, w2, b2;
        // attention
        INDArray wq, wk, wv, wo, keys, values;
        int cached;
        // phalanx
        INDArray wa, ba, wb, bb, wc, bc, pv, po;
        PhalanxLayer pconf;
        SwrState state;

        Block(SameDiff sd, int i) {
            m = c.mixer(i);
            String p = CausalLm.blockPrefix(i), mp = CausalLm.mixerPrefix(c, i);
            norm1 = weight(sd, p + "norm1/g");
            norm2 = weight(sd, p + "norm2/g");
            w1 = weight(sd, p + "mlp/W1");
            b1 = weight(sd, p + "mlp/b1");
            w2 = weight(sd, p + "mlp/W2");
            b2 = weight(sd, p + "mlp/b2");
            if (m.isAttention()) {
                wq = weight(sd, mp + "Wq");
                wk = weight(sd, mp + "Wk");
                wv = weight(sd, mp + "Wv");
                wo = weight(sd, mp + "Wo");
                int cap = m == LmConfig.Mixer.S ? Math.min(c.window(), maxContext) : maxContext;
                keys = Nd4j.create(DataType.FLOAT, cap, c.dModel());
                values = Nd4j.create(DataType.FLOAT, cap, c.dModel());
            } else {
                pconf = CausalLm.phalanxConf(c, m);
                if (pconf.numKvHeads() != pconf.numHeads()) {
                    throw new IllegalStateException("LmDecoder: grouped kv heads are not used by CausalLm");
                }
                wa = weight(sd, mp + "Wa");
                ba = weight(sd, mp + "ba");
                wb = weight(sd, mp + "Wb");
                bb = weight(sd, mp + "bb");
                wc = weight(sd, mp + "Wc");
                bc = weight(sd, mp + "bc");
                pv = weight(sd, mp + "Wv");
                po = weight(sd, mp + "Wo");
                state = SwrState.create(DataType.FLOAT, 1, pconf.numHeads());
            }
        }

        INDArray mlp(INDArray x) {
            INDArray h = x.mmul(w1).addiRowVector(b1);
            return Nd4j.exec(new GELU(h, h)).mmul(w2).addiRowVector(b2);
        }

        INDArray mixer(INDArray x) {
            return m.isAttention() ? attend(x) : phalanx(x);
        }

        INDArray attend(INDArray x) {
            int d = c.dModel(), heads = c.attnHeads(), dh = d / heads;
            int cap = (int) keys.rows();
            if (m == LmConfig.Mixer.G && position >= cap) {
                throw new IllegalStateException("LmDecoder: a global attention block's cache holds " + cap
                        + " tokens (maxContext); fed " + (position + 1));
            }
            int slot = (int) (position % cap);            // ring buffer; order is irrelevant without positions
            keys.putRow(slot, x.mmul(wk));
            values.putRow(slot, x.mmul(wv));
            cached = (int) Math.min(position + 1, cap);
            INDArray q = x.mmul(wq).reshape(1, heads, dh);
            INDArray k = keys.get(NDArrayIndex.interval(0, cached), NDArrayIndex.all()).reshape(cached, heads, dh);
            INDArray v = values.get(NDArrayIndex.interval(0, cached), NDArrayIndex.all()).reshape(cached, heads, dh);
            INDArray s = k.mul(q.broadcast(cached, heads, dh)).sum(2).muli(1 / Math.sqrt(dh));   // [T, H]
            INDArray e = Transforms.exp(s.subRowVector(s.max(0)), false);
            e.diviRowVector(e.sum(0));
            INDArray o = v.mul(e.reshape(cached, heads, 1).broadcast(cached, heads, dh)).sum(0);  // [H, dh]
            return o.reshape(1, d).mmul(wo);
        }

        INDArray phalanx(INDArray x) {
            long d = c.dModel(), h = pconf.numHeads();
            INDArray a = Transforms.sigmoid(x.mmul(wa).addiRowVector(ba), false);
            INDArray beta = Transforms.sigmoid(x.mmul(wb).addiRowVector(bb), false);
            INDArray cc = x.mmul(wc).addiRowVector(bc);
            INDArray v = x.mmul(pv);
            INDArray u = v.mul(beta);
            INDArray y = Swr.forward(a.reshape(1, h, 1), u.reshape(1, d, 1), pconf.getBlockSize(), pconf.getWindow(), state);
            return y.reshape(1, d).muli(cc).addi(v).mmul(po);
        }

        long stateBytes() {
            if (m.isAttention()) {
                return 2L * cached * c.dModel() * Float.BYTES;
            }
            return (2L * c.dModel() + pconf.numHeads()) * Float.BYTES;
        }
    }
}
