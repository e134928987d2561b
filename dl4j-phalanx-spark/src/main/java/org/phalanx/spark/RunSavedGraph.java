package org.phalanx.spark;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.DataOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.util.Map;

/**
 * Loads a saved SameDiff graph and writes one of its variables, computed, with {@code Nd4j.write}. It uses
 * ND4J's API only and never names a dl4j-phalanx class: a graph with the {@code swr} op loads only if ND4J
 * finds our {@code EnvironmentalAction} through {@code META-INF/services} as it starts, which in an uber-jar
 * means that the service files were merged.
 *
 * <pre>java -cp dl4j-phalanx-spark-...-app.jar org.phalanx.spark.RunSavedGraph GRAPH.fb VARIABLE OUTPUT</pre>
 */
public final class RunSavedGraph {

    private RunSavedGraph() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: RunSavedGraph GRAPH_FILE VARIABLE OUTPUT_FILE");
            System.exit(2);
        }
        SameDiff sd = SameDiff.load(new File(args[0]), true);
        INDArray value = sd.outputSingle(Map.of(), args[1]);
        try (DataOutputStream out = new DataOutputStream(new FileOutputStream(args[2]))) {
            Nd4j.write(value, out);
        }
        System.out.println("wrote " + args[1] + " " + java.util.Arrays.toString(value.shape()) + " to " + args[2]);
    }
}
