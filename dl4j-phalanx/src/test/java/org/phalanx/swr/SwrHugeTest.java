package org.phalanx.swr;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.phalanx.testutil.ChildJvm;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Arrays above 2^31 elements, forward and backward, without copies (see {@link SwrHugeMain}): about
 * 17 GiB, so only by hand, on a machine with the room:
 * {@code mvn -B -q -pl dl4j-phalanx -am -Dphalanx.cuda.skip=true test -Dtest=SwrHugeTest -Dphalanx.test.huge=true
 * -Dsurefire.failIfNoSpecifiedTests=false}. {@code -Dphalanx.huge.length=N} runs the same on
 * {@code [1, 32, N]} (a small N checks the harness itself).
 */
@EnabledIfSystemProperty(named = "phalanx.test.huge", matches = "true")
class SwrHugeTest {

    @Test
    void aboveTwoToThe31ElementsForwardAndBackwardMatchTheReference() throws Exception {
        String length = System.getProperty("phalanx.huge.length", String.valueOf((1L << 26) + 1));
        ChildJvm.Result r = ChildJvm.run(SwrHugeMain.class, List.of("-Xmx2g", "-Dorg.bytedeco.javacpp.maxbytes=21G",
                "-Dorg.bytedeco.javacpp.maxphysicalbytes=22G"), Map.of(), 1800, length);
        System.out.println(r.output.lines().filter(l -> !l.startsWith("[")).reduce("", (x, y) -> x + y + "\n"));
        assertEquals(0, r.exitCode, r.output);
        assertTrue(r.output.contains("\nOK"), r.output);
    }
}
