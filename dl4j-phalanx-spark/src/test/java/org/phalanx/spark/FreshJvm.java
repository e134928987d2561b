package org.phalanx.spark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a JVM of this Java installation to its end, or kills it after a deadline. */
final class FreshJvm {

    /** Exit code (-1 when killed), everything it printed, and whether it ended by itself in time. */
    record Result(int exit, String output, boolean finished) {
    }

    private FreshJvm() {
    }

    static Result run(long timeoutS, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(System.getProperty("java.home") + "/bin/java");
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try {
                out.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the process was killed
            }
        });
        reader.start();
        boolean finished = p.waitFor(timeoutS, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        reader.join(5000);
        return new Result(finished ? p.exitValue() : -1, out.toString(), finished);
    }
}
