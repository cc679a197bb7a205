package org.cottention.cli;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallenv15.BgeSmallEnV15EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.e5smallv2.E5SmallV2EmbeddingModel;
import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.cottention.cli.BertCommandsTest.JSON;
import static org.cottention.cli.BertCommandsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * `import` of the real sentence-embedding models langchain4j ships on Maven Central, checked against langchain4j
 * itself (ONNX Runtime and HF tokenizers, test scope only): our softmax BERT on the imported weights, through
 * `embed` with no flags, gives AllMiniLmL6V2EmbeddingModel's vectors to 1e-5 per component on a few hundred texts of
 * every length up to the tokenizer's truncation and beyond, and our WordPiece gives its tokenizer's ids. Hostile
 * inputs get one error line, exit 2, and leave nothing behind.
 */
class ImportCommandTest {
    @TempDir
    static Path tmp;
    static Path miniLm;

    static Path jarOf(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    @BeforeAll
    static void importMiniLm() throws Exception {
        miniLm = tmp.resolve("minilm");
        Cli.Result r = run("import", jarOf(AllMiniLmL6V2EmbeddingModel.class).toString(), "--out", miniLm.toString());
        assertEquals(0, r.code(), r.err());
    }

    private static final java.util.Map<Class<?>, Path> imported = new java.util.HashMap<>();

    /** The model folder imported from the jar of a langchain4j model class (once per class run). */
    static synchronized Path imported(Class<?> model, String pooling) throws Exception {
        Path dir = imported.get(model);
        if (dir != null) return dir;
        dir = tmp.resolve(model.getSimpleName());
        Cli.Result r = run("import", jarOf(model).toString(), "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains(pooling + " pooling"), r.err());
        imported.put(model, dir);
        return dir;
    }

    /** Real sentences and paragraphs of every token length, Unicode, punctuation-only lines. */
    static List<String> texts() throws IOException {
        List<String> out = new ArrayList<>();
        String sotu = Files.readString(Shared.data("corpus", "sotu.txt")), moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        String[] words = (sotu.substring(0, 200_000) + " " + moby.substring(100_000, 200_000)).split("\\s+");
        int at = 0;
        for (int n = 1; n <= 130; n++) {              // 1 .. 130 words: token lengths from 3 to past the 128 cut
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < n; k++) sb.append(k == 0 ? "" : " ").append(words[(at + k) % words.length]);
            out.add(sb.toString());
            at += n;
        }
        for (String s : sotu.split("(?<=[.!?])\\s+")) if (out.size() < 190 && s.length() > 20 && s.length() < 400) out.add(s.strip());
        for (String line : Files.readAllLines(Shared.data("classify", "spam", "dev.tsv")).subList(1, 6)) out.add(line.split("\t")[0]);
        out.addAll(List.of("Café naïve façade — ½ ☃ déjà vu", "日本語のテキストと漢字", "Ελληνικά и русский текст", "emoji 😀👍🏽 and ZWJ 👩‍👩‍👧",
                "!!!", "...", "?!?!", "--- *** ---", "(((", "$%^&", "¿¡", "\"''\"", "…", "  spaced   out  ", "TAB\tinside",
                "ALL CAPS SHOUTING", "MiXeD CaSe WoRdS", "e-mail: someone@example.com, url https://example.org/a?b=c",
                "numbers 3.14159 2,718 1e-9 42%", "accents: Ångström, Øre, Łódź, Straße"));
        return out;
    }

    static float[][] embedWithCli(Path model, List<String> texts, Path dir, String... extra) throws IOException {
        Path in = dir.resolve("texts-" + model.getFileName() + ".txt"), out = dir.resolve("emb-" + model.getFileName() + ".jsonl");
        Files.writeString(in, String.join("\n", texts.stream().map(t -> t.replace('\t', ' ')).toList()) + "\n");
        List<String> args = new ArrayList<>(List.of("embed", "--model", model.toString(), "--input", in.toString(), "--out", out.toString()));
        args.addAll(List.of(extra));
        Cli.Result r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(texts.size(), lines.size());
        float[][] v = new float[lines.size()][];
        for (int i = 0; i < v.length; i++) {
            JsonNode e = JSON.readTree(lines.get(i)).get("embedding");
            v[i] = new float[e.size()];
            for (int j = 0; j < v[i].length; j++) v[i][j] = (float) e.get(j).asDouble();
        }
        return v;
    }

    static double maxDiff(EmbeddingModel ref, List<String> texts, float[][] ours) {
        double worst = 0;
        for (int i = 0; i < texts.size(); i++) {
            float[] want = ref.embed(texts.get(i).replace('\t', ' ')).content().vector();
            assertEquals(want.length, ours[i].length);
            for (int j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(want[j] - ours[i][j]));
        }
        return worst;
    }

    @Test
    void miniLmEmbeddingsEqualLangchain4j() throws Exception {
        JsonNode cfg = JSON.readTree(miniLm.resolve("config.json").toFile());
        assertEquals(6, cfg.get("num_hidden_layers").asInt());
        assertEquals(12, cfg.get("num_attention_heads").asInt());
        assertEquals(1536, cfg.get("intermediate_size").asInt());
        assertEquals("softmax", cfg.get("attention_type").asText());
        List<String> texts = texts();
        assertTrue(texts.size() >= 200, "texts: " + texts.size());
        float[][] ours = embedWithCli(miniLm, texts, tmp);
        double d = maxDiff(new AllMiniLmL6V2EmbeddingModel(), texts, ours);
        System.out.printf("MiniLM: %d texts, max |ours - langchain4j| per component %.3g%n", texts.size(), d);
        assertTrue(d <= 1e-5, "embeddings differ by " + d);
    }

    @Test
    void wordPieceGivesTheShippedTokenizersIds() throws Exception {
        WordPieceTokenizer ours = (WordPieceTokenizer) Tokenizers.load(miniLm);
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(miniLm.resolve("tokenizer.json"))) {
            int checked = 0;
            for (String t : texts()) {
                long[] want = hf.encode(t).getIds();
                int[] got = ours.encode(t, null, 128, org.cottention.tokenizer.Truncation.LONGEST_FIRST, false).inputIds();
                assertEquals(want.length, got.length, t);
                for (int i = 0; i < got.length; i++) assertEquals(want[i], got[i], "token " + i + " of " + t);
                checked++;
            }
            assertTrue(checked >= 200);
        }
    }

    @Test
    void bgeAndE5ImportAndEmbed() throws Exception {
        List<String> texts = List.of(texts().get(125), texts().get(7), texts().get(196), texts().get(199));   // long, short, Unicode, punctuation
        for (var c : List.of(new Object[]{BgeSmallEnV15EmbeddingModel.class, "bge", "cls"}, new Object[]{E5SmallV2EmbeddingModel.class, "e5", "mean"})) {
            Path dir = imported((Class<?>) c[0], (String) c[2]);
            assertEquals(12, JSON.readTree(dir.resolve("config.json").toFile()).get("num_hidden_layers").asInt());
            float[][] ours = embedWithCli(dir, texts, tmp);
            EmbeddingModel ref = (EmbeddingModel) ((Class<?>) c[0]).getConstructor().newInstance();
            double d = maxDiff(ref, texts, ours);
            System.out.printf("%s: max |ours - langchain4j| %.3g%n", c[1], d);
            assertTrue(d <= 1e-5, c[1] + " embeddings differ by " + d);
        }
    }

    /**
     * Past 512 tokens (bge's tokenizer.json does not truncate): langchain4j's tokenizer (DJL) still caps a text at the
     * model's 512 tokens before its 510-piece partitioning, so one window is ever embedded; `embed --max-length 512`
     * gives the same vector, and `--windows 510` (the partitioned average, which langchain4j's code intends) differs.
     */
    @Test
    void longTextsAsLangchain4jEmbedsThem() throws Exception {
        Path dir = imported(BgeSmallEnV15EmbeddingModel.class, "cls");
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        List<String> text = List.of(moby.substring(300_000, 304_000).replaceAll("\\s+", " "));   // about 900 tokens
        EmbeddingModel ref = new BgeSmallEnV15EmbeddingModel();
        double truncated = maxDiff(ref, text, embedWithCli(dir, text, tmp, "--max-length", "512"));
        double windowed = maxDiff(ref, text, embedWithCli(dir, text, tmp, "--windows", "510"));
        System.out.printf("bge, 900 tokens: truncated at 512 %.3g, windows of 510 %.3g%n", truncated, windowed);
        assertTrue(truncated <= 1e-5, "truncated differs by " + truncated);
        assertTrue(windowed > 1e-3, "windows should differ: " + windowed);
    }

    // ------------------------------------------------------------------------------------------------ hostile inputs

    static byte[] miniLmOnnx() throws Exception {
        try (ZipFile z = new ZipFile(jarOf(AllMiniLmL6V2EmbeddingModel.class).toFile()); InputStream in = z.getInputStream(z.getEntry("all-minilm-l6-v2.onnx"))) {
            return in.readAllBytes();
        }
    }

    /** Runs import expecting failure: exit 2, one error line naming the problem, no output and no staging left. */
    static void refused(Path source, Path dir, String expect) throws IOException {
        Path out = dir.resolve("out-" + source.getFileName());
        Cli.Result r = run("import", source.toString(), "--out", out.toString());
        assertEquals(2, r.code(), r.err());
        List<String> errs = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errs.size(), r.err());
        assertTrue(errs.getFirst().contains(expect), errs.getFirst());
        assertFalse(Files.exists(out), "nothing may be written");
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().contains(".import-")), "staging folder left behind");
        }
    }

    /** A protobuf field: tag, then a length-delimited payload. */
    static void field(ByteArrayOutputStream o, int f, byte[] payload) {
        varint(o, (long) f << 3 | 2);
        varint(o, payload.length);
        o.writeBytes(payload);
    }

    static void varint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7fL) != 0) {
            o.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        o.write((int) v);
    }

    /** A minimal ModelProto with one node of the given op type (and the given name). */
    static byte[] graphWith(String op, String nodeName) {
        ByteArrayOutputStream node = new ByteArrayOutputStream(), graph = new ByteArrayOutputStream(), model = new ByteArrayOutputStream();
        field(node, 1, "x".getBytes(StandardCharsets.UTF_8));
        field(node, 2, "y".getBytes(StandardCharsets.UTF_8));
        field(node, 3, nodeName.getBytes(StandardCharsets.UTF_8));
        field(node, 4, op.getBytes(StandardCharsets.UTF_8));
        field(graph, 1, node.toByteArray());
        varint(model, 1 << 3);
        varint(model, 6);
        field(model, 7, graph.toByteArray());
        return model.toByteArray();
    }

    @Test
    void hostileInputsAreRefusedAndNothingIsWritten(@TempDir Path dir) throws Exception {
        byte[] onnx = miniLmOnnx();
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, java.util.Arrays.copyOf(onnx, onnx.length / 2));
        refused(truncated, dir, "truncated.onnx");
        Path garbage = dir.resolve("garbage.onnx");
        byte[] g = new byte[4096];
        new java.util.Random(7).nextBytes(g);
        Files.write(garbage, g);
        refused(garbage, dir, "garbage.onnx");
        Path notZip = dir.resolve("model.jar");
        Files.write(notZip, g);
        refused(notZip, dir, "neither an .onnx file nor a readable jar/zip");
        Path empty = dir.resolve("empty.zip");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(empty))) {
            z.putNextEntry(new ZipEntry("README"));
            z.write("no model here".getBytes(StandardCharsets.UTF_8));
        }
        refused(empty, dir, "no .onnx file");
        Path quant = dir.resolve("all-minilm-l6-v2-q.onnx");
        Files.write(quant, graphWith("MatMulInteger", "/encoder/layer.0/attention/self/query/MatMul_quant"));
        refused(quant, dir, "all-minilm-l6-v2.onnx");
        Path dq = dir.resolve("model-q.onnx");
        Files.write(dq, graphWith("DynamicQuantizeLinear", "q"));
        refused(dq, dir, "quantised (int8)");
        Path lstm = dir.resolve("lstm.onnx");
        Files.write(lstm, graphWith("LSTM", "rnn"));
        refused(lstm, dir, "unsupported graph: operators [LSTM]");
        Path noTok = dir.resolve("alone").resolve("model.onnx");
        Files.createDirectories(noTok.getParent());
        Files.write(noTok, onnx);
        refused(noTok, dir, "no tokenizer.json");
        // an existing, non-empty output folder is left alone
        Path taken = dir.resolve("taken");
        Files.createDirectories(taken);
        Files.writeString(taken.resolve("keep.txt"), "mine");
        Cli.Result r = run("import", noTok.toString(), "--out", taken.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("already exists"), r.err());
        assertEquals("mine", Files.readString(taken.resolve("keep.txt")));
    }
}
