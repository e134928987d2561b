package org.phalanx.spark;

import org.apache.spark.SparkConf;

/** {@link SparkTrainingTestBase} with Kryo and ND4J's registrator (what DL4J requires with Kryo). */
class KryoSerializationSparkTest extends SparkTrainingTestBase {
    @Override
    SparkConf serializer(SparkConf conf) {
        return conf.set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator");
    }
}
