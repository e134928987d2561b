package org.phalanx.samediff;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.cpu.nativecpu.ops.NativeOpExecutioner;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.swr.Swr;
import org.phalanx.swr.SwrOp;
import org.phalanx.swr.SwrReference;

import java.io.File;
import java.lang.reflect.Field;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The swr op inside SameDiff graphs: forward, gradients, training, save and load, eager exec. */
class PhalanxOpsTest {

    final Random r = new Random(System.nanoTime());

    /** loss = sum(w * swr(sigmoid(za), u)^2): gradients flow through the op into za and u. */
    static SameDiff graph(int B, int H, int L, int block, int k) {
        SameDiff sd = SameDiff.create();
        SDVariable za = sd.var("za", Nd4j.randn(DataType.DOUBLE, B, H, L));
        SDVariable u = sd.var("u", Nd4j.randn(DataType.DOUBLE, B, 16 * H, L));
        SDVariable w = sd.constant("w", Nd4j.randn(DataType.DOUBLE, B, 16 * H, L));
        SDVariable y = PhalanxOps.swr(sd, "y", sd.nn.sigmoid(za), u, block, k);
        sd.sum("loss", y.mul(y).mul(w));
        sd.setLossVariables("loss");
        return sd;
    }

    @Test
    void forwardInAGraphMatchesTheReference() {
        int B = 2, H = 2, L = 33;
        SameDiff sd = graph(B, H, L, 16, 2);
        INDArray y = sd.outputSingle(Map.of(), "y");
        INDArray a = Nd4j.nn.sigmoid(sd.getArrForVarName("za"));
        double[] ref = SwrReference.forward(a.data().asDouble(), sd.getArrForVarName("u").data().asDouble(), B, H, L, 16, 2);
        assertArrayEquals(ref, y.data().asDouble(), 1e-12);
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        for (int k = 1; k <= 3; k++) {
            int B = 2, H = 1, L = 53;
            SameDiff sd = graph(B, H, L, 16, k);
            Map<String, INDArray> grads = sd.calculateGradients(Map.of(), "za", "u");
            for (String name : new String[]{"za", "u"}) {
                INDArray p = sd.getArrForVarName(name);
                INDArray g = grads.get(name);
                for (int check = 0; check < 25; check++) {
                    long i = r.nextInt((int) p.length());
                    double orig = p.getDouble(i), eps = 1e-6;
                    p.putScalar(i, orig + eps);
                    double fp = sd.outputSingle(Map.of(), "loss").getDouble(0);
                    p.putScalar(i, orig - eps);
                    double fm = sd.outputSingle(Map.of(), "loss").getDouble(0);
                    p.putScalar(i, orig);
                    double numeric = (fp - fm) / (2 * eps), analytic = g.getDouble(i);
                    assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)),
                            "d loss / d " + name + "[" + i + "] with k=" + k);
                }
            }
        }
    }

    @Test
    void trainsWithFitAndSurvivesSaveAndLoad(@TempDir File dir) throws Exception {
        // Learn decays and a readout so that the SWR of x matches a target made by known decays.
        int B = 4, H = 1, L = 40;
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 16, L);
        SDVariable target = sd.placeHolder("target", DataType.FLOAT, -1, 16, L);
        SDVariable bias = sd.var("bias", Nd4j.zeros(DataType.FLOAT, 1, 1, L));
        SDVariable a = sd.nn.sigmoid(x.mean(true, 1).mul(0).add(bias));     // [B, 1, L]
        SDVariable y = PhalanxOps.swr(sd, "y", a, x);
        SDVariable loss = sd.loss.meanSquaredError("loss", target, y, null);
        sd.setLossVariables(loss);
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.05)).dataSetFeatureMapping("x")
                .dataSetLabelMapping("target").build());
        INDArray xs = Nd4j.randn(DataType.FLOAT, B, 16, L);
        INDArray trueA = Nd4j.valueArrayOf(new long[]{B, 1, L}, 0.8f);
        DataSet ds = new DataSet(xs, Swr.forward(trueA, xs));
        Map<String, INDArray> feed = Map.of("x", xs, "target", ds.getLabels());
        double first = sd.output(feed, "loss").get("loss").getDouble(0);
        for (int i = 0; i < 150; i++) sd.fit(ds);
        double last = sd.output(feed, "loss").get("loss").getDouble(0);
        assertTrue(last < 0.05 * first, "loss " + first + " -> " + last);

        File f = new File(dir, "swr.sd");
        sd.save(f, true);
        SameDiff loaded = SameDiff.load(f, true);
        INDArray before = sd.outputSingle(Map.of("x", xs), "y");
        INDArray after = loaded.outputSingle(Map.of("x", xs), "y");
        assertEquals(before, after);
        // The loaded graph still differentiates (its gradient graph is cloned through the registry).
        Map<String, INDArray> g1 = sd.calculateGradients(feed, "bias");
        Map<String, INDArray> g2 = loaded.calculateGradients(feed, "bias");
        assertEquals(g1.get("bias"), g2.get("bias"));
    }

    @Test
    void eagerExecThroughNd4j() {
        INDArray a = Nd4j.rand(DataType.FLOAT, 1, 2, 21), u = Nd4j.randn(DataType.FLOAT, 1, 32, 21);
        INDArray[] out = Nd4j.exec(new SwrOp(a, u, null, 16, 2));
        assertEquals(Swr.forward(a, u), out[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Nd4j.exec(new SwrOp(a, Nd4j.randn(DataType.FLOAT, 1, 31, 21), null, 16, 2)));
        assertTrue(e.getMessage().contains("u must have shape"), e.getMessage());
    }

    @Test
    void anExecutionerThatDoesNotKnowTheOpGivesAClearExceptionNotACrash() throws Exception {
        Field f = Nd4j.class.getDeclaredField("OP_EXECUTIONER_INSTANCE");
        f.setAccessible(true);
        OpExecutioner ours = (OpExecutioner) f.get(null);
        try {
            f.set(null, new NativeOpExecutioner());
            INDArray a = Nd4j.rand(DataType.FLOAT, 1, 1, 5), u = Nd4j.randn(DataType.FLOAT, 1, 16, 5);
            RuntimeException e = assertThrows(RuntimeException.class, () -> Nd4j.exec(new SwrOp(a, u, null, 16, 2)));
            String msg = e.getMessage() + " / " + (e.getCause() == null ? "" : e.getCause().getMessage());
            assertTrue(msg.contains("reached ND4J's native executioner"), msg);
        } finally {
            f.set(null, ours);
        }
    }
}
