package org.cottention.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.cli.Main;
import org.cottention.kernels.Parallel;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class BenchAttentionCommandTest {
    @Test
    void printsOneRowPerVariantAndLengthWithTheGemmRatio() throws Exception {
        int saved = Parallel.threads();
        PrintStream out = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.commandLine().execute("bench", "attention", "--variant", "cosine-causal,softmax-causal-flash",
                    "--seq", "40,130", "--heads", "2", "--head-dim", "16", "--chunk", "16", "--threads", "2",
                    "--runs", "3", "--vs-gemm", "--json");
        } finally {
            System.setOut(out);
            Parallel.setThreads(saved);
        }
        assertEquals(0, rc);
        String[] lines = buf.toString(StandardCharsets.UTF_8).strip().split("\n");
        assertEquals(4, lines.length, String.join("\n", lines));
        ObjectMapper json = new ObjectMapper();
        for (String line : lines) {
            JsonNode j = json.readTree(line);
            for (String f : new String[]{"fwdMs", "fwdBwdMs", "fwdGflops", "gemmGflops", "fwdVsGemm", "fwdBwdVsGemm"})
                assertTrue(j.get(f).asDouble() > 0, f + " in " + line);
            assertEquals(j.get("fwdGflops").asDouble() / j.get("gemmGflops").asDouble(), j.get("fwdVsGemm").asDouble(), 2e-3, line);
            assertTrue(j.get("peakBytes").asLong() >= 0, line);
        }
        JsonNode first = json.readTree(lines[0]);
        assertEquals("cosine-causal", first.get("variant").asText());
        assertEquals(40, first.get("seq").asInt());
    }
}
