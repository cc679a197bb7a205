package org.cottention.cli;

import org.cottention.testutil.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** quickstart's own options (the run itself takes minutes: it is the README's first command, run by hand). */
class QuickstartCommandTest {
    @Test
    void badBudgetOrStepsAreRefusedBeforeAnythingRuns(@TempDir Path tmp) {
        Path out = tmp.resolve("qs");
        for (String[] bad : new String[][]{{"--minutes", "0"}, {"--minutes", "-1"}, {"--minutes", "NaN"}, {"--steps", "0"}}) {
            Cli.Result r = Cli.run("quickstart", "--out", out.toString(), bad[0], bad[1]);
            assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
            assertTrue(r.err().contains(bad[0]), r.err());
            assertFalse(Files.exists(out), "nothing is written for " + String.join(" ", bad));
        }
    }
}
