package org.cottention.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.kernels.Parallel;
import org.cottention.testutil.Cli;
import org.junit.jupiter.api.Test;

class BenchTrainCommandTest {
    /**
     * A tiny model, one row per context: tokens/s, the MFU against the GEMM's best run and the one paired with a GEMM
     * timed after each step (both positive and finite; a tiny model is far below either GEMM), and the steal share.
     */
    @Test
    void printsTheMfuAgainstTheBestAndThePairedGemm() throws Exception {
        int saved = Parallel.threads();
        Cli.Result r;
        try {
            r = Cli.run("bench", "train", "--attention", "cosine", "--context", "16,32", "--tokens-per-step", "64",
                    "--steps", "3", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--vocab-size", "64", "--threads", "1", "--json");
        } finally {
            Parallel.setThreads(saved);
        }
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length);
        for (int i = 0; i < 2; i++) {
            JsonNode j = new ObjectMapper().readTree(lines[i]);
            assertEquals(16 << i, j.get("context").asInt());
            assertEquals(64 / (16 << i), j.get("batch").asInt());
            assertEquals(org.cottention.kernels.Machine.isa(), j.get("isa").asText());
            assertTrue(j.get("tokensPerSec").asDouble() > 0);
            for (String f : new String[]{"mfu", "mfuPaired", "gemmPairedGflops"}) {
                double v = j.get(f).asDouble(-1);
                assertTrue(v > 0 && Double.isFinite(v), f + " = " + j.get(f));
            }
            assertTrue(j.get("mfuPaired").asDouble() < 1, "a one-layer 32-wide model cannot reach the GEMM's rate: " + j.get("mfuPaired"));
            if (java.nio.file.Files.isReadable(java.nio.file.Path.of("/proc/stat"))) {
                double steal = j.get("stealPercent").asDouble(-1);
                assertTrue(steal >= 0 && steal <= 100, "stealPercent " + j.get("stealPercent"));
            }
        }
    }
}
