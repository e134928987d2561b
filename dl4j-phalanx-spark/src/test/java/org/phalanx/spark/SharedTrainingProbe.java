package org.phalanx.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.AdaptiveThresholdAlgorithm;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.evaluation.regression.RegressionEvaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.phalanx.parallel.TwoTimeScalesTask;

import java.util.List;

/**
 * Run in a fresh JVM by {@link SharedTrainingMasterTest} (Aeron threads and a possible hang stay out of the
 * test JVM): SparkDl4jMultiLayer with SharedTrainingMaster (gradient sharing over Aeron UDP, the controller
 * on 127.0.0.1) in local[2]; prints the test MSE before and after each epoch (args: port, epochs = 2). If the second
 * {@code fit} has not returned after five times the first one's time (at least a minute), it prints
 * {@code HUNG in fit 2} and ends the JVM with exit code 3.
 */
public final class SharedTrainingProbe {
    public static void main(String[] args) {
        int port = Integer.parseInt(args[0]);
        int epochs = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("shared-training")
                .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.ui.enabled", "false");
        JavaSparkContext sc = new JavaSparkContext(conf);
        try {
            List<DataSet> train = TwoTimeScalesTask.batches(16, 4, 33, 300, DataType.FLOAT);
            List<DataSet> test = TwoTimeScalesTask.batches(4, 4, 33, 902, DataType.FLOAT);
            VoidConfiguration voidConf = VoidConfiguration.builder()
                    .unicastPort(port)
                    .networkMask("127.0.0.0/8")
                    .controllerAddress("127.0.0.1")
                    .build();
            SharedTrainingMaster tm = new SharedTrainingMaster.Builder(voidConf, 4)
                    .batchSizePerWorker(4).workersPerNode(2).rngSeed(12345)
                    .thresholdAlgorithm(new AdaptiveThresholdAlgorithm(1e-3))
                    .build();
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc,
                    TwoTimeScalesTask.multiLayer(32, new Adam(1e-2), 3, DataType.FLOAT), tm);
            System.out.printf("EPOCH 0 mse %.6f%n", mse(spark, test));
            JavaRDD<DataSet> rdd = sc.parallelize(train, 2);
            long firstFitNs = 0;
            for (int epoch = 1; epoch <= epochs; epoch++) {
                Thread watchdog = null;
                if (epoch == 2) { // a hang (as ParallelWrapper's shared mode has): give up after 5x the first fit, >= 1 min
                    long limitMs = Math.max(60_000, 5 * firstFitNs / 1_000_000);
                    watchdog = new Thread(() -> {
                        try {
                            Thread.sleep(limitMs);
                            System.out.println("HUNG in fit 2 (no return after " + limitMs / 1000 + " s)");
                            System.out.flush();
                            Runtime.getRuntime().halt(3);
                        } catch (InterruptedException returned) {
                            // the fit returned in time
                        }
                    });
                    watchdog.setDaemon(true);
                    watchdog.start();
                }
                long t0 = System.nanoTime();
                spark.fit(rdd);
                long ns = System.nanoTime() - t0;
                if (watchdog != null) {
                    watchdog.interrupt();
                }
                firstFitNs = epoch == 1 ? ns : firstFitNs;
                System.out.printf("EPOCH %d mse %.6f (%.1f s)%n", epoch, mse(spark, test), ns / 1e9);
            }
            System.out.println("DONE");
        } finally {
            sc.stop();
        }
        System.exit(0);
    }

    private static double mse(SparkDl4jMultiLayer spark, List<DataSet> test) {
        RegressionEvaluation e = spark.getNetwork().evaluateRegression(new ExistingDataSetIterator(test));
        return (e.meanSquaredError(0) + e.meanSquaredError(1)) / 2;
    }
}
