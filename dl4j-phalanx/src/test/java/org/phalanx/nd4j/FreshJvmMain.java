package org.phalanx.nd4j;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.samediff.PhalanxOps;
import org.phalanx.swr.Swr;

import java.io.File;
import java.util.Map;

/**
 * Run in a fresh JVM by {@link InstallationTest}: each mode touches dl4j-phalanx first in a different
 * way, with no JVM flag or system property, and prints OK on success.
 */
public class FreshJvmMain {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        switch (mode) {
            case "save": { // build and save a graph with swr
                SameDiff sd = SameDiff.create();
                var a = sd.var("a", Nd4j.rand(DataType.FLOAT, 1, 2, 19));
                var u = sd.var("u", Nd4j.randn(DataType.FLOAT, 1, 32, 19));
                var y = PhalanxOps.swr(sd, "y", a, u);
                sd.sum("loss", y.mul(y));
                sd.save(new File(args[1]), true);
                Nd4j.write(sd.outputSingle(Map.of(), "y"), new java.io.DataOutputStream(new java.io.FileOutputStream(args[1] + ".y")));
                break;
            }
            case "load-first": { // the first thing this JVM does: load a saved graph that uses swr
                SameDiff sd = SameDiff.load(new File(args[1]), true);
                INDArray y = sd.outputSingle(Map.of(), "y");
                INDArray expect = Nd4j.read(new java.io.DataInputStream(new java.io.FileInputStream(args[1] + ".y")));
                if (!y.equals(expect)) throw new AssertionError("loaded graph gives other outputs");
                sd.setLossVariables("loss");
                if (sd.calculateGradients(Map.of(), "a").get("a") == null) throw new AssertionError("no gradient");
                break;
            }
            case "swr-first": { // our API before ND4J has started
                INDArray y = Swr.forward(Nd4j.rand(DataType.DOUBLE, 1, 1, 5), Nd4j.randn(DataType.DOUBLE, 1, 16, 5));
                if (y.length() != 80) throw new AssertionError();
                break;
            }
            case "op-class-first": { // our op class initialised before ND4J
                Class.forName("org.phalanx.swr.SwrOp");
                SameDiff sd = SameDiff.create();
                var y = PhalanxOps.swr(sd, "y", sd.var("a", Nd4j.rand(DataType.FLOAT, 2, 1, 40)), sd.var("u", Nd4j.randn(DataType.FLOAT, 2, 16, 40)));
                sd.sum("loss", y);
                sd.setLossVariables("loss");
                sd.calculateGradients(Map.of(), "a", "u");
                break;
            }
            default:
                throw new IllegalArgumentException(mode);
        }
        if (!(Nd4j.getExecutioner() instanceof PhalanxExecutioner)) throw new AssertionError("executioner not installed");
        System.out.println("OK " + mode);
    }
}
