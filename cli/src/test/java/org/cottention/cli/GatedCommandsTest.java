package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** Gated cosine attention through the commands: train, generate, eval, forward, inspect, convert; the options' errors. */
class GatedCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    static Path corpus, model;

    @BeforeAll
    static void trainGated() throws IOException {
        corpus = tmp.resolve("moby.txt");
        Files.writeString(corpus, Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(20_000, 50_000));
        model = tmp.resolve("gated");
        Cli.Result r = Cli.run("train", corpus.toString(), "--vocab-size", "300", "--n-layer", "2", "--n-embd", "32", "--n-head", "2",
                "--context", "32", "--batch", "4", "--steps", "4", "--eval-every", "2", "--val-batches", "1", "--no-progress",
                "--threads", "2", "--cosine-gate", "softplus", "--qkv-conv-size", "2", "--json", "--out", model.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("softplus gate, q/k/v conv 2"), r.err());
    }

    static String ids(int n) {
        return IntStream.range(0, n).mapToObj(i -> Integer.toString((i * 7 + 3) % 290)).collect(Collectors.joining(" "));
    }

    @Test
    void configAndCommandsOnAGatedModel() throws IOException {
        JsonNode cfg = JSON.readTree(model.resolve("config.json").toFile());
        assertEquals("softplus", cfg.get("cosine_gate").asText());
        assertEquals(2, cfg.get("qkv_conv_size").asInt());
        Cli.Result e = Cli.run("eval", "--model", model.toString(), "--data", corpus.toString(), "--context", "32");
        assertEquals(0, e.code(), e.err());
        assertTrue(JSON.readTree(e.out()).get("perplexity").asDouble() > 1);
        Cli.Result i = Cli.run("inspect", "--model", model.toString(), "--json");
        assertEquals(0, i.code(), i.err());
        assertEquals("softplus", JSON.readTree(i.out()).get("config").get("cosine_gate").asText());
        Path conv = tmp.resolve("converted");
        assertEquals(0, Cli.run("convert", "--model", model.toString(), "--out", conv.toString()).code());
        Path in = tmp.resolve("in.json"), o1 = tmp.resolve("o1.safetensors"), o2 = tmp.resolve("o2.safetensors");
        Files.writeString(in, "{\"input_ids\": [[5, 6, 7, 8, 9]], \"attention_mask\": [[1, 1, 1, 1, 1]]}");
        assertEquals(0, Cli.run("forward", "--model", model.toString(), "--inputs", in.toString(), "--out", o1.toString()).code());
        assertEquals(0, Cli.run("forward", "--model", conv.toString(), "--inputs", in.toString(), "--out", o2.toString()).code());
        try (var a = org.cottention.io.SafeTensors.open(o1); var b = org.cottention.io.SafeTensors.open(o2)) {
            for (String n : a.names()) assertArrayEquals(a.floats(n), b.floats(n), n);
        }
    }

    /** The decoder's state is constant in the context: the same stateBytes after 300 and after 3000 prompt tokens. */
    @Test
    void generateStateBytesDoNotGrowWithTheContext() throws IOException {
        long[] bytes = new long[2];
        int[] lengths = {300, 3000};
        for (int k = 0; k < 2; k++) {
            Cli.Result g = Cli.run("generate", "--model", model.toString(), "--ids", ids(lengths[k]), "--max-new-tokens", "3",
                    "--temperature", "0", "--ignore-eos", "--json");
            assertEquals(0, g.code(), g.err());
            JsonNode stats = JSON.readTree(g.out().lines().findFirst().orElseThrow()).get("stats");
            assertEquals(lengths[k], stats.get("prefillTokens").asLong());
            bytes[k] = stats.get("stateBytes").asLong();
        }
        // layers x (S: H D D doubles + count + z: H doubles + conv tail: (w-1) 3E floats)
        assertEquals(2L * (2 * 16 * 16 * 8 + 4 + 2 * 8 + 3 * 32 * 4), bytes[0]);
        assertEquals(bytes[0], bytes[1]);
    }

    /** A plain model run with gating switched on decodes exactly as without (shut gate, identity convolution). */
    @Test
    void plainModelWithGatingOptionsGeneratesTheSame() {
        Path plain = Shared.fixture("gptj_small_s0");
        String prompt = ids(20);
        Cli.Result a = Cli.run("generate", "--model", plain.toString(), "--ids", prompt, "--max-new-tokens", "8", "--temperature", "0", "--ignore-eos", "--json");
        Cli.Result b = Cli.run("generate", "--model", plain.toString(), "--ids", prompt, "--max-new-tokens", "8", "--temperature", "0", "--ignore-eos", "--json",
                "--attention", "cosine", "--cosine-gate", "softplus", "--qkv-conv-size", "2");
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        assertEquals(JSON.valueToTree(a.out().lines().map(l -> l.replaceAll(",\"stats\".*", "")).toList()),
                JSON.valueToTree(b.out().lines().map(l -> l.replaceAll(",\"stats\".*", "")).toList()));
    }

    @Test
    void badGatingOptionsAreOneErrorLine() {
        record Bad(String[] args, String expect) {}
        String m = model.toString(), plain = Shared.fixture("gptj_small_s0").toString();
        for (Bad b : new Bad[]{
                new Bad(new String[]{"generate", "--model", m, "--ids", "1 2", "--cosine-gate", "sigmoid"}, "--cosine-gate must be none or softplus"),
                new Bad(new String[]{"generate", "--model", m, "--ids", "1 2", "--qkv-conv-size", "1"}, "--qkv-conv-size must be 0"),
                new Bad(new String[]{"eval", "--model", m, "--data", corpus.toString(), "--qkv-conv-size", "-3"}, "--qkv-conv-size must be 0"),
                new Bad(new String[]{"generate", "--model", plain, "--ids", "1 2", "--attention", "softmax", "--cosine-gate", "softplus"}, "cosine_gate"),
                new Bad(new String[]{"train", corpus.toString(), "--out", tmp.resolve("bad").toString(), "--attention", "softmax", "--qkv-conv-size", "2",
                        "--vocab-size", "260", "--steps", "1"}, "qkv_conv_size 2 needs attention_type cosine")}) {
            Cli.Result r = Cli.run(b.args);
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().contains(b.expect) && r.err().strip().lines().count() == 1, r.err());
        }
    }
}
