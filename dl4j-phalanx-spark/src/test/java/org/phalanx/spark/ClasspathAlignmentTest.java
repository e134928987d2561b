package org.phalanx.spark;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The module's classpath (as Maven resolved it from the pom's alignment) holds one ND4J/DL4J: every
 * DL4J, ND4J and DataVec jar at 1.0.0-M2.1 except the Scala-suffixed ones that were never published at M2.1;
 * Scala 2.12.18 (Spark 3.5's); Spark 3.5; no plain Kryo beside Spark's kryo-shaded.
 */
class ClasspathAlignmentTest {

    /** group path, artifact, version, from a jar path in the local Maven repository. */
    static final Pattern JAR = Pattern.compile(".*/(org/nd4j|org/deeplearning4j|org/datavec|org/scala-lang|org/apache/spark|com/esotericsoftware)/([^/]+)/([^/]+)/[^/]+\\.jar$");

    @Test
    void oneNd4jOneScalaOneKryo() {
        List<String> problems = new ArrayList<>();
        int dl4j = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Matcher m = JAR.matcher(entry.replace(File.separatorChar, '/'));
            if (!m.matches()) {
                continue;
            }
            String group = m.group(1), artifact = m.group(2), version = m.group(3);
            switch (group) {
                case "org/nd4j", "org/deeplearning4j", "org/datavec" -> {
                    dl4j++;
                    boolean scalaOnly = artifact.endsWith("_2.12");
                    String expected = scalaOnly ? "1.0.0-M2" : "1.0.0-M2.1";
                    if (!version.equals(expected)) {
                        problems.add(artifact + ":" + version + " (expected " + expected + ")");
                    }
                }
                case "org/scala-lang" -> {
                    if (!version.equals("2.12.18")) {
                        problems.add(artifact + ":" + version + " (expected Scala 2.12.18)");
                    }
                }
                case "org/apache/spark" -> {
                    if (!version.startsWith("3.5.")) {
                        problems.add(artifact + ":" + version + " (expected Spark 3.5.x)");
                    }
                }
                case "com/esotericsoftware" -> {
                    if (artifact.equals("kryo")) {
                        problems.add("plain kryo " + version + " beside Spark's kryo-shaded");
                    }
                }
                default -> throw new AssertionError(group);
            }
        }
        assertTrue(dl4j > 10, "expected the DL4J/ND4J jars on the classpath; found " + dl4j);
        assertTrue(problems.isEmpty(), "misaligned: " + problems);
    }
}
