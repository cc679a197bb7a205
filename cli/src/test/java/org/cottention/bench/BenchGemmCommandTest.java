package org.cottention.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.cottention.cli.Main;
import org.cottention.kernels.Parallel;
import org.junit.jupiter.api.Test;

class BenchGemmCommandTest {
    @Test
    void printsOneJsonLinePerCombination() throws Exception {
        int saved = Parallel.threads();
        PrintStream out = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.commandLine().execute("bench", "gemm", "--m", "3,8", "--n", "5", "--k", "7", "--threads", "1",
                    "--runs", "5", "--warmup", "0", "--json");
        } finally {
            System.setOut(out);
            Parallel.setThreads(saved);
        }
        assertEquals(0, rc);
        String[] lines = buf.toString(StandardCharsets.UTF_8).strip().split("\n");
        assertEquals(2, lines.length);
        JsonNode j = new ObjectMapper().readTree(lines[1]);
        assertEquals(8, j.get("m").asInt());
        assertEquals(5, j.get("n").asInt());
        assertEquals(7, j.get("k").asInt());
        assertEquals(1, j.get("threads").asInt());
        assertEquals(org.cottention.kernels.Machine.isa(), j.get("isa").asText());
        assertTrue(j.get("gflops").asDouble() > 0);
        assertTrue(j.get("minMs").asDouble() <= j.get("medianMs").asDouble());
        // where /proc/stat can be read (Linux: CI), the row says how much CPU time other guests took meanwhile
        if (java.nio.file.Files.isReadable(java.nio.file.Path.of("/proc/stat"))) {
            double steal = j.get("stealPercent").asDouble(-1);
            assertTrue(steal >= 0 && steal <= 100, "stealPercent " + j.get("stealPercent"));
        }
    }

    @Test
    void rejectsTooFewRuns() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("bench", "gemm", "--runs", "2");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("--runs must be >= 5"), err.toString());
    }
}
