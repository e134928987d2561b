package org.phalanx.portability;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our CPU library loaded before ND4J, in a fresh JVM: it must find an OpenMP runtime by itself and
 * then share it with ND4J (one libgomp in the process, not the system's beside ND4J's), with correct
 * results from both ({@link PortabilityCheck}). tools/oldroot/run.sh runs the same check on glibc 2.27
 * without any system libgomp.
 */
class OpenMpRuntimeTest {

    @Test
    void swrCpuLoadedBeforeNd4jSharesNd4jsOpenMpRuntime() throws Exception {
        String java = System.getProperty("java.home") + "/bin/java";
        Process p = new ProcessBuilder(List.of(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                PortabilityCheck.class.getName())).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out");
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
        assertTrue(out.contains("OK portability"), out);
    }
}
