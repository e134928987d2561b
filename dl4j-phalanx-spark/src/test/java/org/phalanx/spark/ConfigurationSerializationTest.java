package org.phalanx.spark;

import org.apache.commons.lang3.SerializationUtils;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.phalanx.parallel.TwoTimeScalesTask;
import scala.reflect.ClassTag$;

import java.io.Serializable;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What Spark does to a configuration with Phalanx layers before the executors see it (the training masters
 * broadcast it inside their Java- or Kryo-serialized closures), and what DL4J's workers do ({@code clone()}):
 * each copy must equal the original, as an object and as JSON.
 */
class ConfigurationSerializationTest {

    static final SerializerInstance KRYO = new KryoSerializer(new SparkConf()
            .set("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator")).newInstance();

    @SuppressWarnings("unchecked")
    static <T> T kryoCopy(T value) {
        Object copy = KRYO.deserialize(KRYO.serialize(value, ClassTag$.MODULE$.apply(value.getClass())),
                ClassTag$.MODULE$.apply(value.getClass()));
        return (T) copy;
    }

    static <T extends Serializable> T javaCopy(T value) {
        return SerializationUtils.clone(value);
    }

    @Test
    void multiLayerConfigurationSurvivesJavaKryoAndClone() {
        MultiLayerConfiguration conf = TwoTimeScalesTask.multiLayer(48, new Adam(1e-3), 1, DataType.FLOAT);
        for (MultiLayerConfiguration copy : new MultiLayerConfiguration[]{javaCopy(conf), kryoCopy(conf), conf.clone()}) {
            assertEquals(conf, copy);
            assertEquals(conf.toJson(), copy.toJson());
        }
    }

    @Test
    void computationGraphConfigurationSurvivesJavaKryoAndClone() {
        ComputationGraphConfiguration conf = TwoTimeScalesTask.graph(32, new Adam(1e-3), 1, DataType.FLOAT);
        for (ComputationGraphConfiguration copy : new ComputationGraphConfiguration[]{javaCopy(conf), kryoCopy(conf), conf.clone()}) {
            assertEquals(conf, copy);
            assertEquals(conf.toJson(), copy.toJson());
        }
    }
}
