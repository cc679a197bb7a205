package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** bench quality (same budget per variant, resumable) and bench recall (a diverging model, input checks). */
class BenchQualityRecallTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void qualityTrainsEachVariantOnTheSameBudgetAndKeepsFinishedOnes(@TempDir Path tmp) throws IOException {
        Path corpus = tmp.resolve("moby.txt"), out = tmp.resolve("q");
        Files.writeString(corpus, Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(20_000, 45_000));
        String[] args = {"bench", "quality", "--data", corpus.toString(), "--variants", "cosine,cosine-gate-conv", "--steps", "3",
                "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--context", "32", "--batch", "2", "--vocab-size", "280",
                "--val-batches", "2", "--threads", "2", "--json", "--out", out.toString(), "--plot", tmp.resolve("q.png").toString()};
        Cli.Result r = Cli.run(args);
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        JsonNode a = JSON.readTree(lines.get(0)), b = JSON.readTree(lines.get(1));
        for (String f : new String[]{"variant", "params", "steps", "tokens", "valLoss", "valPerplexity", "trainTokensPerSec"})
            assertTrue(a.has(f) && b.has(f), "row lacks " + f);
        assertEquals("cosine-gate-conv", b.get("variant").asText());
        assertEquals(a.get("tokens").asLong(), b.get("tokens").asLong());
        assertEquals(3L * 2 * 32, a.get("tokens").asLong());
        assertTrue(b.get("params").asLong() > a.get("params").asLong(), "gate and conv add parameters");
        assertTrue(Files.size(tmp.resolve("q.png")) > 1000);
        Cli.Result again = Cli.run(args);
        assertEquals(0, again.code(), again.err());
        assertEquals(r.out(), again.out(), "finished variants are kept, not retrained");
        assertTrue(again.err().contains("kept the finished result"), again.err());
    }

    @Test
    void recallReportsADivergedModelAndRunsTheRest() throws IOException {
        // a learning rate no model survives: the first update sends the weights to ~1e30, the next loss overflows
        Cli.Result r = Cli.run("bench", "recall", "--variants", "cosine,softmax", "--seq", "16", "--kv-pairs", "2", "--d-model", "16",
                "--n-head", "2", "--steps", "6", "--batch", "2", "--eval-batches", "1", "--lr", "1e30", "--threads", "1", "--json");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        for (int i = 0; i < 2; i++) {
            JsonNode row = JSON.readTree(lines.get(i));
            assertEquals(i == 0 ? "cosine" : "softmax", row.get("variant").asText());
            assertTrue(row.get("diverged").asText().startsWith("training diverged at step "), lines.get(i));
            long done = row.get("stepsDone").asLong();
            assertTrue(done >= 0 && done < 6, lines.get(i));
            assertTrue(row.get("diverged").asText().startsWith("training diverged at step " + (done + 1) + ":"), lines.get(i));
            double acc = row.get("accuracy").asDouble();
            assertTrue(acc >= 0 && acc <= 1, lines.get(i));
        }
        assertTrue(r.err().contains("bench recall: cosine at seq 16: training diverged"), r.err());
    }

    @Test
    void badInputIsOneErrorLine() {
        for (String[] args : new String[][]{
                {"bench", "recall", "--seq", "64,128", "--kv-pairs", "4"},
                {"bench", "recall", "--seq", "16", "--kv-pairs", "8"},
                {"bench", "recall", "--variants", "linear"},
                {"bench", "quality", "--data", "x.txt", "--variants", "mamba"}}) {
            Cli.Result r = Cli.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.err().startsWith("error: "), r.err());
        }
    }
}
