package org.phalanx.spark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.samediff.PhalanxOps;

import java.io.DataInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The shaded application jar ({@code -app.jar}, built in {@code package}): its service files are merged, a
 * fresh JVM started from it loads a saved SameDiff graph with the {@code swr} op through ND4J's API alone, and
 * {@code java -jar} runs the Spark example with a local master and no JVM flags.
 */
class AppJarIT {

    static final String SERVICE = "META-INF/services/org.nd4j.linalg.env.EnvironmentalAction";

    @TempDir
    Path tmp;

    static Path jar() {
        Path jar = Path.of(System.getProperty("phalanx.app.jar", "target/missing-app.jar"));
        assertTrue(Files.isRegularFile(jar), "application jar not built: " + jar);
        return jar;
    }

    static Set<String> serviceLines(InputStream in) throws IOException {
        Set<String> out = new TreeSet<>();
        for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
            String entry = line.replaceAll("#.*", "").trim();
            if (!entry.isEmpty()) {
                out.add(entry);
            }
        }
        return out;
    }

    /** Runs a JVM from this Java installation; fails if it does not end within {@code timeoutS}. */
    static FreshJvm.Result java(long timeoutS, String... args) throws Exception {
        FreshJvm.Result r = FreshJvm.run(timeoutS, List.of(args));
        assertTrue(r.finished(), "timed out after " + timeoutS + " s: " + List.of(args) + "\n" + r.output());
        return r;
    }

    @Test
    void everyCopyOfTheEnvironmentalActionServiceIsMerged() throws Exception {
        Set<String> expected = new TreeSet<>();
        Enumeration<URL> copies = getClass().getClassLoader().getResources(SERVICE);
        int count = 0;
        while (copies.hasMoreElements()) {
            try (InputStream in = copies.nextElement().openStream()) {
                expected.addAll(serviceLines(in));
            }
            count++;
        }
        assertTrue(count >= 2, "ND4J and dl4j-phalanx each ship one: found " + count);
        assertTrue(expected.contains("org.phalanx.nd4j.PhalanxEnvironmentHook"), expected.toString());
        try (JarFile jar = new JarFile(jar().toFile())) {
            Set<String> merged = serviceLines(jar.getInputStream(jar.getEntry(SERVICE)));
            assertEquals(expected, merged, "the jar's " + SERVICE);
            assertNotNull(jar.getEntry("org/phalanx/nativeops/linux-x86_64/libjniSwrCpu.so"), "our native library");
        }
    }

    @Test
    void aFreshJvmFromTheJarLoadsASavedSwrGraph() throws Exception {
        SameDiff sd = SameDiff.create();
        SDVariable a = sd.var("a", Nd4j.rand(DataType.FLOAT, 2, 2, 37));
        SDVariable u = sd.var("u", Nd4j.randn(DataType.FLOAT, 2, 32, 37));
        PhalanxOps.swr(sd, "y", a, u);
        File graph = tmp.resolve("swr.fb").toFile();
        sd.save(graph, true);
        INDArray expected = sd.outputSingle(Map.of(), "y");
        File out = tmp.resolve("y.bin").toFile();
        File classLog = tmp.resolve("classes.log").toFile();

        FreshJvm.Result run = java(180, "-Xmx1g", "-Xlog:class+load=info:file=" + classLog,
                "-cp", jar().toString(), RunSavedGraph.class.getName(), graph.toString(), "y", out.toString());
        assertEquals(0, run.exit(), run.output());
        INDArray actual;
        try (DataInputStream in = new DataInputStream(new FileInputStream(out))) {
            actual = Nd4j.read(in);
        }
        assertEquals(expected, actual, "swr output computed in the fresh JVM");

        // Our classes arrive through ND4J's service lookup: the hook is the first of them to load.
        List<String> ours = new ArrayList<>();
        Matcher m = Pattern.compile(" (org\\.phalanx\\.(?!spark\\.)[\\w.$]+) source:").matcher(Files.readString(classLog.toPath()));
        while (m.find()) {
            ours.add(m.group(1));
        }
        assertFalse(ours.isEmpty(), "no dl4j-phalanx class loaded");
        assertEquals("org.phalanx.nd4j.PhalanxEnvironmentHook", ours.get(0), "first dl4j-phalanx classes: "
                + ours.subList(0, Math.min(5, ours.size())));
    }

    @Test
    void javaJarRunsTheSparkExampleWithALocalMaster() throws Exception {
        FreshJvm.Result run = java(400, "-Xmx2g", "-jar", jar().toString(),
                "--epochs", "2", "--batches", "8", "--length", "33");
        String log = run.output();
        assertEquals(0, run.exit(), log);
        Matcher m = Pattern.compile("epoch (\\d+) test MSE ([0-9.]+)").matcher(log);
        List<Double> mse = new ArrayList<>();
        while (m.find()) {
            mse.add(Double.parseDouble(m.group(2)));
        }
        assertEquals(3, mse.size(), log);
        assertTrue(mse.get(2) < mse.get(0), "test MSE by epoch " + mse);
    }
}
