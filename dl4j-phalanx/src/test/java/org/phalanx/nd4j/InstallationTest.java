package org.phalanx.nd4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;
import org.phalanx.testutil.ChildJvm;

import java.io.File;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Adding the dependency is enough: fresh JVMs, without any flag or property, that touch
 * dl4j-phalanx first in different ways (loading a saved graph before any of our classes; our API
 * before ND4J; our op class before ND4J) all find the executioner installed and the ops registered.
 */
class InstallationTest {

    @Test
    void thisJvmHasThePhalanxExecutioner() {
        assertInstanceOf(PhalanxNativeOpExecutioner.class, Nd4j.getExecutioner());
        assertTrue(PhalanxRuntime.status().startsWith("installed"), PhalanxRuntime.status());
    }

    @Test
    void freshJvmsWorkWhateverIsTouchedFirst(@TempDir File dir) throws Exception {
        String graph = new File(dir, "g.sd").getPath();
        run("save", graph);
        run("load-first", graph);
        run("swr-first");
        run("op-class-first");
    }

    static void run(String... args) throws Exception {
        ChildJvm.Result r = ChildJvm.run(FreshJvmMain.class, List.of("-Xmx1g"), Map.of(), 120, args);
        assertEquals(0, r.exitCode, "child JVM " + args[0] + " failed:\n" + r.output);
        assertTrue(r.output.contains("OK " + args[0]), r.output);
    }
}
