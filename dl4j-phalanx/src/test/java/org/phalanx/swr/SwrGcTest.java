package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.phalanx.testutil.ChildJvm;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Every native call keeps what it reads and writes reachable until it returns: all entry points
 * (forward, backward, their Into variants, streaming, the ops through {@code Nd4j.exec}, a SameDiff
 * graph, the layer) give bit-identical results while another thread calls {@code System.gc()} every
 * millisecond. The child JVM runs with {@code MALLOC_MMAP_THRESHOLD_=131072}, so a buffer freed while
 * a kernel still uses it is unmapped (a crash) or reused (a wrong result), not silently still there.
 * Fails on the code before the fix (SIGSEGV in libjniSwrCpu in the first entry point).
 * {@code -Dphalanx.gc.calls=N} (default 400 per entry point) and {@code -Dphalanx.gc.seconds=S}
 * (default 20, all entry points together) run it longer by hand.
 */
class SwrGcTest {

    @Test
    void resultsUnderConstantGcPressureAreBitwiseTheQuietResults() throws Exception {
        String calls = System.getProperty("phalanx.gc.calls", "400");
        long ms = 1000L * Long.getLong("phalanx.gc.seconds", 20);
        ChildJvm.Result r = ChildJvm.run(SwrGcPressureMain.class,
                // Concurrent cycles back to back, so references are cleared while the calls run; early
                // compilation, because compiled code (not the interpreter) lets go of dead locals.
                List.of("-Xmx512m", "-XX:+UseG1GC", "-XX:+ExplicitGCInvokesConcurrent", "-XX:CompileThresholdScaling=0.01"), Map.of("MALLOC_MMAP_THRESHOLD_", "131072"),
                ms / 1000 + 120, calls, String.valueOf(ms), String.valueOf(System.nanoTime()));
        String out = r.output;
        out.lines().filter(l -> l.startsWith("RESULT ")).forEach(System.out::println);
        assertFalse(r.crashed(), "the child JVM died (exit " + r.exitCode + ") in "
                + lastEntry(out) + ":\n" + tail(out));
        assertEquals(0, r.exitCode, "results differ under GC pressure:\n" + tail(out));
    }

    static String lastEntry(String out) {
        int i = out.lastIndexOf("ENTRY ");
        return i < 0 ? "start-up" : out.substring(i + 6, out.indexOf('\n', i) < 0 ? out.length() : out.indexOf('\n', i));
    }

    static String tail(String out) {
        return out.length() > 6000 ? out.substring(out.length() - 6000) : out;
    }
}
