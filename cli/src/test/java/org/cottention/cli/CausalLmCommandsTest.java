package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** train / generate / eval / forward end to end on small data, and their errors on bad input. */
class CausalLmCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    static Path corpus;

    @BeforeAll
    static void corpus() throws IOException {
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        corpus = tmp.resolve("moby.txt");
        Files.writeString(corpus, moby.substring(20_000, 60_000));
    }

    static String[] train(Path out, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of("train", corpus.toString(), "--vocab-size", "300", "--n-layer", "2", "--n-embd", "32",
                "--n-head", "2", "--context", "32", "--batch", "4", "--steps", "6", "--eval-every", "3", "--save-every", "3",
                "--log-every", "1", "--val-batches", "2", "--no-progress", "--threads", "2", "--out", out.toString()));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void trainsEvaluatesAndGenerates() throws IOException {
        Path out = tmp.resolve("run");
        Cli.Result r = Cli.run(train(out, "--json", "--plot", tmp.resolve("loss.png").toString()));
        assertEquals(0, r.code(), r.err());
        JsonNode summary = JSON.readTree(r.out());
        assertEquals(6, summary.get("step").asInt());
        assertTrue(summary.get("valLoss").asDouble() < Math.log(300) + 0.5, r.out());
        List<String> rows = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(6, rows.size());
        JsonNode row3 = JSON.readTree(rows.get(2));
        for (String f : new String[]{"step", "loss", "lr", "tokensPerSec", "valLoss"}) assertTrue(row3.has(f), "metrics row lacks " + f + ": " + row3);
        assertTrue(Files.size(tmp.resolve("loss.png")) > 1000);
        for (String f : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer.json"})
            assertTrue(Files.isRegularFile(out.resolve(f)), f);

        Cli.Result g = Cli.run("generate", "--model", out.toString(), "--prompt", "The whale", "--prompt", "Ahab",
                "--max-new-tokens", "5", "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, g.code(), g.err());
        List<String> lines = g.out().lines().toList();
        assertEquals(2, lines.size(), g.out());
        JsonNode first = JSON.readTree(lines.get(0));
        assertEquals(5, first.get("ids").size());
        for (String f : new String[]{"prefillTokens", "prefillMs", "decodeTokens", "decodeMs", "stateBytes", "peakHeapBytes"})
            assertTrue(first.get("stats").has(f), "stats lacks " + f);
        assertEquals(2L * 2 * 2 * 16 * 16 * 8 + 2 * 2 * 4, first.get("stats").get("stateBytes").asLong(), "cosine state: layers x rows x heads x D x D doubles + counts");

        Cli.Result e = Cli.run("eval", "--model", out.toString(), "--data", corpus.toString(), "--context", "32");
        assertEquals(0, e.code(), e.err());
        JsonNode ev = JSON.readTree(e.out());
        assertTrue(ev.get("perplexity").asDouble() > 1 && ev.get("perplexity").asDouble() < 300, e.out());
    }

    @Test
    void resumeIsBitIdenticalToAnUninterruptedRun() throws IOException {
        Path full = tmp.resolve("full"), split = tmp.resolve("split");
        assertEquals(0, Cli.run(train(full)).code());
        Cli.Result first = Cli.run(train(split, "--stop-after", "4"));
        assertEquals(130, first.code(), "an interrupted run exits 130: " + first.err());
        assertTrue(Files.isDirectory(split.resolve("checkpoint-000004")));
        assertEquals(0, Cli.run(train(split, "--resume")).code());
        assertArrayEquals(Files.readAllBytes(full.resolve("model.safetensors")), Files.readAllBytes(split.resolve("model.safetensors")));
        assertEquals(Files.readAllLines(full.resolve("metrics.jsonl")).size(), Files.readAllLines(split.resolve("metrics.jsonl")).size());
    }

    @Test
    void forwardAndGenerateReproduceTheFixture() throws IOException {
        Path dir = Shared.fixture("gptj_small_s0");
        JsonNode in = JSON.readTree(dir.resolve("inputs.json").toFile());
        Path inputs = tmp.resolve("inputs.json"), out = tmp.resolve("logits.safetensors");
        Files.writeString(inputs, JSON.writeValueAsString(in.get("padded_left")));
        Cli.Result r = Cli.run("forward", "--model", dir.toString(), "--inputs", inputs.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            float[] a = got.floats("logits");
            double[] b = exp.doubles("padded_left.logits");
            for (int i = 0; i < b.length; i++) assertEquals(b[i], a[i], 1e-4);
        }
        StringBuilder ids = new StringBuilder();
        for (JsonNode t : in.get("generate").get("prompt")) ids.append(t.asInt()).append(' ');
        Cli.Result g = Cli.run("generate", "--model", dir.toString(), "--weights", "pytorch", "--ids", ids.toString().trim(),
                "--max-new-tokens", "20", "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, g.code(), g.err());
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            long[] want = exp.longs("generate.tokens");
            JsonNode got = JSON.readTree(g.out()).get("ids");
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got.get(i).asLong(), "token " + i);
        }
    }

    @Test
    void evalOverTokenIdsMatchesTheFixtureLogProbs() throws IOException {
        Path dir = Shared.fixture("gptj_small_s0");
        JsonNode ids = JSON.readTree(dir.resolve("inputs.json").toFile()).get("long").get("input_ids");
        Path file = tmp.resolve("ids.json");
        Files.writeString(file, JSON.writeValueAsString(ids));
        Cli.Result r = Cli.run("eval", "--model", dir.toString(), "--ids", file.toString(), "--context", "128");
        assertEquals(0, r.code(), r.err());
        JsonNode ev = JSON.readTree(r.out());
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            double[] lp = exp.doubles("long.next_token_logprobs");
            double nll = 0;
            for (double x : lp) nll -= x;
            assertEquals(lp.length, ev.get("tokens").asInt());
            assertEquals(nll / lp.length, ev.get("loss").asDouble(), 1e-5, "mean negative log-likelihood");
        }
    }

    @Test
    void badInputGetsOneClearLine() throws IOException {
        Path empty = Files.writeString(tmp.resolve("empty.txt"), "");
        Cli.Result r = Cli.run("train", empty.toString(), "--tokenizer", Shared.data("tokenizers", "gpt2").toString(), "--out", tmp.resolve("e").toString(),
                "--steps", "1", "--no-progress");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("empty") || r.err().contains("no text"), r.err());

        Path bad = tmp.resolve("bad.txt");
        Files.write(bad, new byte[]{'o', 'k', ' ', (byte) 0xff, 'x'});
        r = Cli.run("train", bad.toString(), "--vocab-size", "300", "--out", tmp.resolve("b").toString(), "--no-progress");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("bad.txt") && r.err().contains("byte offset 3"), r.err());

        r = Cli.run(train(tmp.resolve("z"), "--steps", "0"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("steps"), r.err());

        Path fixture = Shared.fixture("gptj_small_s0");
        r = Cli.run("generate", "--model", fixture.toString(), "--ids", "1 2 300", "--max-new-tokens", "2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("300") && r.err().contains("vocabulary"), r.err());

        // a config that does not fit the weights, and a half-written checkpoint
        Path broken = tmp.resolve("broken");
        Files.createDirectories(broken);
        Files.writeString(broken.resolve("config.json"), Files.readString(fixture.resolve("config.json")).replace("\"n_inner\": 256", "\"n_inner\": 128"));
        Files.copy(fixture.resolve("model.safetensors"), broken.resolve("model.safetensors"));
        r = Cli.run("generate", "--model", broken.toString(), "--ids", "1 2", "--max-new-tokens", "2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("mis-shaped") && r.err().contains("fc_in"), r.err());
        byte[] whole = Files.readAllBytes(fixture.resolve("model.safetensors"));
        Files.write(broken.resolve("model.safetensors"), java.util.Arrays.copyOf(whole, whole.length / 2));
        Files.copy(fixture.resolve("config.json"), broken.resolve("config.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        r = Cli.run("generate", "--model", broken.toString(), "--ids", "1 2", "--max-new-tokens", "2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("model.safetensors"), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.startsWith("error:")).count(), r.err());
    }
}
