package org.cottention.server;

import org.cottention.model.AttentionType;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.Session;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A process killed (SIGKILL) while it keeps rewriting a session file leaves a whole, valid state behind. */
class KillWhileWritingTest {
    @TempDir
    Path tmp;

    @Test
    void theStateFileIsTheOldOrTheNewOneNeverAMixture() throws Exception {
        Path model = TinyModels.gpt(tmp.resolve("tiny"), AttentionType.COSINE, 5);
        Path dir = tmp.resolve("sessions");
        try (InferenceEngine engine = InferenceEngine.load(model, EngineConfig.defaults())) {
            for (int round = 0; round < 3; round++) {
                Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "--add-modules", "jdk.incubator.vector", "-XX:TieredStopAtLevel=1", "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                        StateWriterMain.class.getName(), model.toString(), dir.toString()).redirectErrorStream(true).start();
                BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
                String line;
                while ((line = r.readLine()) != null && !line.equals("ready")) { /* JVM warnings */ }
                assertEquals("ready", line, "the writer started");
                Thread.sleep(200 + 150 * round);
                p.destroyForcibly(); // SIGKILL: no shutdown hooks, no chance to finish a write
                assertTrue(p.waitFor(10, TimeUnit.SECONDS));
                byte[] state = Files.readAllBytes(dir.resolve("victim.state"));
                Session s = engine.importState(state); // throws on a truncated or mixed file
                assertTrue(s.tokens() > 0);
            }
            // temporary files of interrupted writes are swept when the store opens
            new FileSessionStore(dir);
            try (var files = Files.list(dir)) {
                assertEquals(List.of("victim.state"), files.map(f -> f.getFileName().toString()).toList());
            }
        }
    }
}
