package org.phalanx.testutil;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class in a fresh JVM on this test's class path, so that a crash (SIGSEGV, SIGABRT) or a
 * different environment does not take the test JVM with it.
 */
public final class ChildJvm {

    /** What a child JVM printed (stdout and stderr together) and its exit code. */
    public static final class Result {
        public final int exitCode;
        public final String output;

        Result(int exitCode, String output) {
            this.exitCode = exitCode;
            this.output = output;
        }

        /** Exit codes above 128 are a death by signal (134 SIGABRT, 139 SIGSEGV). */
        public boolean crashed() {
            return exitCode > 128;
        }
    }

    private ChildJvm() {
    }

    /**
     * Runs {@code main} with the given JVM options (e.g. {@code -Xmx1g}), environment additions and
     * arguments; waits at most {@code timeoutSeconds} (then kills it and throws).
     */
    public static Result run(Class<?> main, List<String> jvmOptions, Map<String, String> env, long timeoutSeconds,
                             String... args) throws IOException, InterruptedException {
        String java = System.getProperty("java.home") + "/bin/java";
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path")));
        cmd.addAll(jvmOptions);
        // A crash report goes to the temporary folder, not into the checkout.
        cmd.add("-XX:ErrorFile=" + System.getProperty("java.io.tmpdir") + "/phalanx-child-hs_err_%p.log");
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        // Read while it runs (a full pipe would stall the child), on a thread so the timeout holds.
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        Thread reader = new Thread(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // the child was killed
            }
        });
        reader.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            reader.join(5000);
            throw new AssertionError("child JVM " + main.getSimpleName() + " timed out after " + timeoutSeconds
                    + " s; its output:\n" + out.toString(StandardCharsets.UTF_8));
        }
        reader.join();
        return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8));
    }
}
