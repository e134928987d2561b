package org.phalanx.examples;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.weightinit.impl.XavierInitScheme;
import org.phalanx.samediff.PhalanxOps;
import org.phalanx.swr.Swr;

import java.io.File;
import java.util.Map;

/**
 * A first SameDiff model with the {@code swr} op: it learns to track a "leaky running sum" of a noisy
 * signal, the task SWR is made for.
 *
 * <p>Data (made here, fixed seed): inputs {@code x [B, 32, L]}; the target is a teacher SWR of
 * {@code x} with per-head decays 0.6 and 0.95 the model does not know, mixed by a fixed matrix. The
 * model computes decays {@code a = sigmoid(W_a x + b_a)} and a value projection {@code u = W_v x},
 * runs {@code swr(a, u)} and reads out with {@code W_o}. The loss falls by orders of magnitude;
 * the learnt decays approach the teacher's. Then the model is saved and loaded back.
 *
 * <pre>mvn -q -pl examples -am -DskipTests -Dphalanx.cuda.skip=true compile exec:java</pre>
 */
public final class SwrToyTask {

    public static void main(String[] args) throws Exception {
        int batch = 16, d = 32, heads = d / Swr.HEAD, length = 200, epochs = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        Nd4j.getRandom().setSeed(42);

        // Teacher: y = M * SWR(a*, x) with a* = 0.6 (head 0) and 0.95 (head 1).
        INDArray x = Nd4j.randn(DataType.FLOAT, batch, d, length);
        INDArray aTrue = Nd4j.create(DataType.FLOAT, batch, heads, length);
        aTrue.slice(0, 1).assign(0.6);
        aTrue.slice(1, 1).assign(0.95);
        INDArray mix = Nd4j.randn(DataType.FLOAT, d, d).divi(Math.sqrt(d));
        INDArray target = rows(Swr.forward(aTrue, x), d).mmul(mix);               // [B*L, d]
        DataSet data = new DataSet(x, target);

        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, d, length);
        SDVariable label = sd.placeHolder("y", DataType.FLOAT, -1, d);
        SDVariable wa = sd.var("Wa", new XavierInitScheme('c', d, heads), DataType.FLOAT, d, heads);
        SDVariable ba = sd.var("ba", Nd4j.zeros(DataType.FLOAT, 1, heads));
        SDVariable wv = sd.var("Wv", new XavierInitScheme('c', d, d), DataType.FLOAT, d, d);
        SDVariable wo = sd.var("Wo", new XavierInitScheme('c', d, d), DataType.FLOAT, d, d);

        SDVariable xr = in.permute(0, 2, 1).reshape(-1, d);                       // rows [B*L, d]
        SDVariable a = sd.nn.sigmoid(xr.mmul(wa).add(ba));                        // [B*L, H]
        SDVariable u = xr.mmul(wv);                                               // [B*L, d]
        SDVariable aNcw = a.reshape(-1, length, heads).permute(0, 2, 1);          // [B, H, L]
        SDVariable uNcw = u.reshape(-1, length, d).permute(0, 2, 1);              // [B, d, L]
        SDVariable h = PhalanxOps.swr(sd, "h", aNcw, uNcw);                       // [B, d, L]
        SDVariable out = h.permute(0, 2, 1).reshape(-1, d).mmul("out", wo);      // [B*L, d]
        sd.loss.meanSquaredError("loss", label, out, null);

        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.01)).dataSetFeatureMapping("x")
                .dataSetLabelMapping("y").build());

        System.out.println("SWR toy task: track a leaky running sum (teacher decays 0.6 / 0.95), B=" + batch
                + ", d=" + d + " (" + heads + " heads), L=" + length);
        double first = loss(sd, data);
        System.out.printf("epoch %4d  loss %.6f%n", 0, first);
        long t0 = System.nanoTime();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            sd.fit(data);
            if (epoch % 50 == 0 || epoch == epochs) {
                System.out.printf("epoch %4d  loss %.6f%n", epoch, loss(sd, data));
            }
        }
        double last = loss(sd, data);
        INDArray learntA = sd.output(Map.of("x", x), a.name()).get(a.name()).mean(0);
        System.out.printf("loss %.6f -> %.6f (x%.0f lower) in %.1f s; mean learnt decays per head: %s%n",
                first, last, first / last, (System.nanoTime() - t0) * 1e-9, learntA);

        File file = File.createTempFile("swr-toy", ".sd");
        file.deleteOnExit();
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);
        boolean same = loaded.outputSingle(Map.of("x", x), "out").equalsWithEps(sd.outputSingle(Map.of("x", x), "out"), 1e-6);
        System.out.println("saved and reloaded: outputs " + (same ? "identical" : "DIFFER"));
        if (!(last < first / 10) || !same) {
            throw new IllegalStateException("the toy task did not train as expected");
        }
    }

    static double loss(SameDiff sd, DataSet data) {
        return sd.output(Map.of("x", data.getFeatures(), "y", data.getLabels()), "loss").get("loss").getDouble(0);
    }

    static INDArray rows(INDArray ncw, int d) {
        return ncw.permute(0, 2, 1).dup('c').reshape(-1, d);
    }
}
