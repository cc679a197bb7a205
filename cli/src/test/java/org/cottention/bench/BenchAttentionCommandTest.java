package org.cottention.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.kernels.Parallel;
import org.cottention.testutil.Cli;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class BenchAttentionCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void printsOneRowPerVariantAndLengthWithTheGemmRatio() throws Exception {
        Cli.Result r = bench("--variant", "cosine-causal,softmax-causal-flash", "--seq", "40,130", "--heads", "2",
                "--head-dim", "16", "--chunk", "16", "--threads", "2", "--runs", "3", "--vs-gemm", "--json");
        String[] lines = lines(r, 4);
        for (String line : lines) {
            JsonNode j = JSON.readTree(line);
            for (String f : new String[]{"fwdMs", "fwdBwdMs", "gemmGflops"})
                assertTrue(j.get(f).asDouble() > 0, f + " in " + line);
            // rates of a problem this small round to 0 when a run hiccups: present and not negative is what holds
            for (String f : new String[]{"fwdGflops", "fwdBwdGflops", "fwdVsGemm", "fwdBwdVsGemm"})
                assertTrue(j.get(f).isNumber() && j.get(f).asDouble() >= 0, f + " in " + line);
            // the ratio is the median of per-run ratios, not the ratio of the medians: close to it, not equal (a
            // unit slip, ms against s or a FLOP count off by the batch, is a factor of 8 or more)
            double ofMedians = j.get("fwdGflops").asDouble() / j.get("gemmGflops").asDouble(), ratio = j.get("fwdVsGemm").asDouble();
            if (ofMedians > 0.01 && ratio > 0.01) assertTrue(ratio / ofMedians < 4 && ofMedians / ratio < 4, line);
            assertTrue(j.get("peakBytes").asLong() >= 0, line);
            assertEquals(org.cottention.kernels.Machine.isa(), j.get("isa").asText(), line);
            assertTrue(j.get("isa").asText().matches("[a-z0-9]+/\\d+"), line);
        }
        JsonNode first = JSON.readTree(lines[0]);
        assertEquals("cosine-causal", first.get("variant").asText());
        assertEquals(40, first.get("seq").asInt());
    }

    @Test
    void vsPlainPairsTheGatedRowWithThePlainKernel() throws Exception {
        Cli.Result r = bench("--variant", "cosine-causal,cosine-gated-causal", "--seq", "96", "--heads", "2",
                "--head-dim", "16", "--chunk", "8", "--threads", "1", "--runs", "3", "--vs-plain", "--json");
        String[] lines = lines(r, 2);
        JsonNode plain = JSON.readTree(lines[0]), gated = JSON.readTree(lines[1]);
        // only the gated row has a plain twin
        for (String f : new String[]{"plainFwdMs", "plainFwdBwdMs", "fwdVsPlain", "fwdBwdVsPlain"}) {
            assertNull(plain.get(f), f + " in " + lines[0]);
            assertTrue(gated.get(f).isNumber() && gated.get(f).asDouble() > 0, f + " in " + lines[1]);
        }
        // the median of per-run ratios lies near the ratio of the medians (a swapped pair or a unit slip does not)
        double ofMedians = gated.get("fwdBwdMs").asDouble() / gated.get("plainFwdBwdMs").asDouble(), ratio = gated.get("fwdBwdVsPlain").asDouble();
        assertTrue(ratio / ofMedians < 3 && ofMedians / ratio < 3, lines[1]);
        // the timed runs reuse their context (as a model's layer does), the memory row does not: the gated row's
        // forward still counts every chunk's incoming state (float32, B*H*chunks*D*D) beyond what the plain one holds
        int states = 4 * 2 * (96 / 8) * 16 * 16;
        assertTrue(gated.get("fwdBytes").asLong() - plain.get("fwdBytes").asLong() >= states, lines[0] + "\n" + lines[1]);
    }

    /** The output's lines, of which there must be {@code expected} (one JSON row each). */
    private static String[] lines(Cli.Result r, int expected) {
        String[] lines = r.out().strip().split("\n");
        assertEquals(expected, lines.length, r.out());
        return lines;
    }

    /** `bench attention ARGS`, which must succeed; the thread count it sets is restored for the other tests. */
    private static Cli.Result bench(String... args) throws Exception {
        int saved = Parallel.threads();
        try {
            String[] all = new String[args.length + 2];
            all[0] = "bench";
            all[1] = "attention";
            System.arraycopy(args, 0, all, 2, args.length);
            Cli.Result r = Cli.run(all);
            assertEquals(0, r.code(), r.err());
            return r;
        } finally {
            Parallel.setThreads(saved);
        }
    }
}
