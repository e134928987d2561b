package org.phalanx.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.evaluation.regression.RegressionEvaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.parallel.TwoTimeScalesTask;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * A Phalanx network trained on Spark: {@link TwoTimeScalesTask}'s MultiLayerNetwork with
 * ParameterAveragingTrainingMaster, evaluated on Spark after each epoch. The shaded jar runs it with
 * {@code java -jar} (its manifest opens what Spark needs on Java 17); on a cluster, pass {@code --master}
 * or use spark-submit, which sets the master itself.
 *
 * <pre>java -jar dl4j-phalanx-spark/target/dl4j-phalanx-spark-0.1.0-SNAPSHOT-app.jar --epochs 3</pre>
 */
@Command(name = "phalanx-spark-example", mixinStandardHelpOptions = true,
        description = "Trains a Phalanx network on Spark with parameter averaging and evaluates it on Spark.")
public final class PhalanxSparkExample implements Callable<Integer> {

    @Option(names = "--master", description = "Spark master (default: local[2], or what spark-submit sets)")
    String master;

    @Option(names = "--epochs", defaultValue = "3", description = "passes over the training data (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--width", defaultValue = "32", description = "channels of the Phalanx layer, a multiple of 16 (default: ${DEFAULT-VALUE})")
    int width;

    @Option(names = "--length", defaultValue = "64", description = "sequence length (default: ${DEFAULT-VALUE})")
    int length;

    @Option(names = "--batches", defaultValue = "32", description = "training minibatches of 8 sequences (default: ${DEFAULT-VALUE})")
    int batches;

    @Override
    public Integer call() {
        SparkConf conf = new SparkConf().setAppName("phalanx-spark-example")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator");
        if (master != null) {
            conf.setMaster(master);
        } else if (!conf.contains("spark.master")) {
            conf.setMaster("local[2]").set("spark.driver.host", "127.0.0.1").set("spark.ui.enabled", "false");
        }
        JavaSparkContext sc = new JavaSparkContext(conf);
        try {
            int batch = 8;
            List<DataSet> train = TwoTimeScalesTask.batches(batches, batch, length, 1000, DataType.FLOAT);
            List<DataSet> test = TwoTimeScalesTask.batches(4, batch, length, 1, DataType.FLOAT);
            JavaRDD<DataSet> trainRdd = sc.parallelize(train, sc.defaultParallelism()).cache();
            JavaRDD<DataSet> testRdd = sc.parallelize(test, sc.defaultParallelism());
            ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(batch)
                    .batchSizePerWorker(batch).averagingFrequency(4).workerPrefetchNumBatches(2).build();
            SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc,
                    TwoTimeScalesTask.multiLayer(width, new Adam(1e-2), 7, DataType.FLOAT), tm);
            System.out.printf("master %s, %d partitions%n", sc.master(), trainRdd.getNumPartitions());
            System.out.printf("epoch 0 test MSE %.5f%n", mse(spark, testRdd));
            for (int epoch = 1; epoch <= epochs; epoch++) {
                long t0 = System.nanoTime();
                spark.fit(trainRdd);
                System.out.printf("epoch %d test MSE %.5f (%.1f s)%n", epoch, mse(spark, testRdd),
                        (System.nanoTime() - t0) / 1e9);
            }
            return 0;
        } finally {
            sc.stop();
        }
    }

    private static double mse(SparkDl4jMultiLayer spark, JavaRDD<DataSet> test) {
        RegressionEvaluation e = spark.doEvaluation(test, new RegressionEvaluation(TwoTimeScalesTask.OUT), 8);
        return (e.meanSquaredError(0) + e.meanSquaredError(1)) / 2;
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new PhalanxSparkExample()).execute(args));
    }
}
