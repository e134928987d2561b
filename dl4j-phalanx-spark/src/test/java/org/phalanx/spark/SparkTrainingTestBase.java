package org.phalanx.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.api.NeuralNetwork;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.evaluation.regression.RegressionEvaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.parallel.TwoTimeScalesTask;

import java.io.File;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Phalanx networks on Spark in local mode ({@code local[2]}: two executor threads in this JVM, fed through
 * Spark's serializer like a cluster's): SparkDl4jMultiLayer and SparkComputationGraph train with
 * ParameterAveragingTrainingMaster, then are evaluated on Spark. Spark's evaluation rebuilds the network on
 * the executors from its JSON and broadcast parameters; the independent reference is the same trained network
 * evaluated here, locally, on the same data. Subclasses choose the serializer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(240)
abstract class SparkTrainingTestBase {

    static final int WIDTH = 32;
    /** Not a multiple of the SWR block (16). */
    static final int LENGTH = 33;
    static final int BATCH = 4;

    JavaSparkContext sc;

    @TempDir
    File tmp;

    /** The serializer settings under test. */
    abstract SparkConf serializer(SparkConf conf);

    @BeforeAll
    void startSpark() {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName(getClass().getSimpleName())
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.ui.enabled", "false");
        sc = new JavaSparkContext(serializer(conf));
    }

    @AfterAll
    void stopSpark() {
        if (sc != null) {
            sc.stop();
        }
    }

    JavaRDD<DataSet> rdd(List<DataSet> batches) {
        return sc.parallelize(batches, 2);
    }

    ParameterAveragingTrainingMaster.Builder averaging() {
        return new ParameterAveragingTrainingMaster.Builder(BATCH)
                .batchSizePerWorker(BATCH)
                .averagingFrequency(2)
                .workerPrefetchNumBatches(0)
                .rngSeed(12345L);
    }

    /** Mean squared error over both outputs (local evaluation: {@code output}, not {@code score}). */
    static double mse(RegressionEvaluation e) {
        return (e.meanSquaredError(0) + e.meanSquaredError(1)) / 2;
    }

    /** Spark's regression evaluation must agree with the local one on the same network and data. */
    static void assertSameEvaluation(RegressionEvaluation local, RegressionEvaluation spark) {
        for (int column = 0; column < TwoTimeScalesTask.OUT; column++) {
            double l = local.meanSquaredError(column), s = spark.meanSquaredError(column);
            assertEquals(l, s, 1e-5 * l + 1e-9, "MSE of output " + column + ": local " + l + ", Spark " + s);
        }
    }

    static RegressionEvaluation evaluateLocally(NeuralNetwork net, List<DataSet> test) {
        return net.doEvaluation(new ExistingDataSetIterator(test), new RegressionEvaluation(TwoTimeScalesTask.OUT))[0];
    }

    /**
     * Three epochs on Spark; the test MSE (evaluated locally) must fall below half its initial value, and
     * Spark's evaluation of the trained network must equal the local one.
     */
    void trainAndEvaluate(Supplier<NeuralNetwork> network, Consumer<JavaRDD<DataSet>> fitOnSpark,
                          Function<JavaRDD<DataSet>, RegressionEvaluation> evaluateOnSpark,
                          List<DataSet> train, List<DataSet> test) {
        double initial = mse(evaluateLocally(network.get(), test));
        JavaRDD<DataSet> data = rdd(train);
        for (int epoch = 0; epoch < 3; epoch++) {
            fitOnSpark.accept(data);
        }
        RegressionEvaluation local = evaluateLocally(network.get(), test);
        assertTrue(mse(local) < 0.5 * initial, "test MSE " + initial + " -> " + mse(local));
        assertSameEvaluation(local, evaluateOnSpark.apply(rdd(test)));
    }

    @Test
    void sparkDl4jMultiLayerTrainsAndEvaluates() {
        List<DataSet> test = TwoTimeScalesTask.batches(4, BATCH, LENGTH, 900, DataType.FLOAT);
        MultiLayerConfiguration conf = TwoTimeScalesTask.multiLayer(WIDTH, new Adam(1e-2), 3, DataType.FLOAT);
        // The default training approach: the RDD is first exported to files, which the workers read.
        ParameterAveragingTrainingMaster tm = averaging()
                .rddTrainingApproach(RDDTrainingApproach.Export)
                .exportDirectory(new File(tmp, "export").toURI().toString())
                .build();
        SparkDl4jMultiLayer spark = new SparkDl4jMultiLayer(sc, conf, tm);
        trainAndEvaluate(spark::getNetwork, spark::fit,
                rdd -> spark.doEvaluation(rdd, new RegressionEvaluation(TwoTimeScalesTask.OUT), 2),
                TwoTimeScalesTask.batches(24, BATCH, LENGTH, 100, DataType.FLOAT), test);

        double scoreOnSpark = spark.calculateScore(rdd(test), true);
        MultiLayerNetwork net = spark.getNetwork();
        double scoreLocal = test.stream().mapToDouble(net::score).average().orElseThrow();
        assertEquals(scoreLocal, scoreOnSpark, 1e-4 * scoreLocal, "average score on Spark vs local");
    }

    @Test
    void sparkComputationGraphTrainsAndEvaluates() {
        ComputationGraphConfiguration conf = TwoTimeScalesTask.graph(WIDTH, new Adam(1e-2), 4, DataType.FLOAT);
        ParameterAveragingTrainingMaster tm = averaging().rddTrainingApproach(RDDTrainingApproach.Direct).build();
        SparkComputationGraph spark = new SparkComputationGraph(sc, conf, tm);
        trainAndEvaluate(spark::getNetwork, spark::fit,
                rdd -> spark.doEvaluation(rdd, new RegressionEvaluation(TwoTimeScalesTask.OUT), 2),
                TwoTimeScalesTask.batches(24, BATCH, LENGTH, 200, DataType.FLOAT),
                TwoTimeScalesTask.batches(4, BATCH, LENGTH, 901, DataType.FLOAT));
    }
}
