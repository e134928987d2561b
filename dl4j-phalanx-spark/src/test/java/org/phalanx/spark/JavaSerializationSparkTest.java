package org.phalanx.spark;

import org.apache.spark.SparkConf;

/** {@link SparkTrainingTestBase} with Spark's default Java serialization. */
class JavaSerializationSparkTest extends SparkTrainingTestBase {
    @Override
    SparkConf serializer(SparkConf conf) {
        return conf.set("spark.serializer", "org.apache.spark.serializer.JavaSerializer");
    }
}
