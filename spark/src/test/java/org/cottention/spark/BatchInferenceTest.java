package org.cottention.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.cottention.model.Pooling;
import org.cottention.testutil.Cli;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.HashMap;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** The Spark jobs and Transformers in local[2] give what the CLI's embed, predict and eval give on the same inputs. */
class BatchInferenceTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String[] TEXTS = {"the movie was great", "a really awful film", "the whale and the ship",
            "captain of the sea sailing to the whale ship and so the plot was really quite lovely",
            "sad", "happy happy films", "the plot", "so terrible and sad, really."};

    @TempDir
    static Path tmp;
    static Path bert, gpt;

    @BeforeAll
    static void models() throws IOException {
        bert = TinyModels.bertClassifier(tmp.resolve("bert"));
        gpt = TinyModels.gpt(tmp.resolve("gpt"));
    }

    /** The CLI in this JVM, its output captured. */
    static Cli.Result cli(String... args) {
        return Cli.run(args);
    }

    /** The texts as a text file, with a blank line and a line that is not UTF-8 (line 4) among them. */
    static Path textsWithABadLine(Path file) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < TEXTS.length; i++) {
            b.writeBytes((TEXTS[i] + "\n").getBytes(StandardCharsets.UTF_8));
            if (i == 1) b.writeBytes("\n".getBytes(StandardCharsets.UTF_8));
            if (i == 1) b.writeBytes(new byte[]{'b', 'a', 'd', ' ', (byte) 0xC3, (byte) 0x28, '\n'});
        }
        Files.write(file, b.toByteArray());
        return file;
    }

    /** Output rows by id (ids of text input are line numbers). */
    static Map<String, Row> byId(SparkSession s, Path out) {
        Map<String, Row> m = new HashMap<>();
        for (Row r : s.read().parquet(out.toString()).collectAsList()) m.put(r.getString(0), r);
        return m;
    }

    /** Line number of each good text in textsWithABadLine. */
    static String line(int i) {
        return Integer.toString(i < 2 ? i + 1 : i + 3);
    }

    @Test
    void embedMatchesTheCliAndReportsTheBadLine() throws Exception {
        SparkSession s = SharedSpark.get();
        Path in = textsWithABadLine(tmp.resolve("embed.txt")), good = tmp.resolve("embed-good.txt"), cliOut = tmp.resolve("embed-cli.jsonl");
        Files.writeString(good, String.join("\n", TEXTS) + "\n");
        Cli.Result c = cli("embed", "--model", bert.toString(), "--input", good.toString(), "--out", cliOut.toString(), "--normalize", "--threads", "1");
        assertEquals(0, c.code(), c.err());
        List<JsonNode> want = Files.readAllLines(cliOut).stream().map(BatchInferenceTest::json).toList();
        Path out = tmp.resolve("embed-out");
        assertEquals(0, SparkJob.run(s, "embed", "--model", bert.toString(), "--input", in.toString(), "--output", out.toString(),
                "--normalize", "true", "--partitions", "2", "--batch", "3"));
        Map<String, Row> got = byId(s, out);
        assertEquals(TEXTS.length + 1, got.size(), "every good line and the bad one: " + got.keySet());
        Row bad = got.get("4");
        assertTrue(bad.isNullAt(1));
        assertEquals("line 4: invalid UTF-8 at byte 4 of the line", bad.getString(2));
        for (int i = 0; i < TEXTS.length; i++) {
            Row r = got.get(line(i));
            assertTrue(r.isNullAt(2), r.toString());
            List<Float> v = r.getList(1);
            JsonNode w = want.get(i).get("embedding");
            assertEquals(w.size(), v.size());
            for (int j = 0; j < v.size(); j++) assertEquals(w.get(j).asDouble(), v.get(j), 1e-6, "text " + i + " dim " + j);
        }
        // the transform is deterministic: a second run (what a retried task does) writes the same bits
        Path again = tmp.resolve("embed-again");
        SparkJob.run(s, "embed", "--model", bert.toString(), "--input", in.toString(), "--output", again.toString(), "--normalize", "true",
                "--partitions", "3", "--batch", "2");
        assertEquals(new TreeMap<>(got).toString(), new TreeMap<>(byId(s, again)).toString());
        int instances = ModelHolder.instances(ModelHolder.ModelRef.of(bert.toString(), "mmap"), BertModels.class);
        assertTrue(instances >= 1 && instances <= 2, "one instance per concurrently running task, not per task or batch: " + instances);
    }

    /**
     * A folder saved as a sentence-transformers model (1_Pooling, modules.json, sentence_bert_config.json: what
     * {@code import} writes for all-MiniLM-L6-v2, whose tokenizer cuts at 128 of its 512 positions) is embedded the
     * way {@code embed} embeds it: cut at the folder's max_seq_length, with its pooling and normalisation.
     */
    @Test
    void embedCutsAtTheFoldersMaxSeqLengthAsTheCliDoes() throws Exception {
        SparkSession s = SharedSpark.get();
        Path st = tmp.resolve("bert-st");
        Files.createDirectories(st);
        try (var files = Files.list(bert)) {
            for (Path f : files.toList()) if (Files.isRegularFile(f)) Files.copy(f, st.resolve(f.getFileName()));
        }
        new Pooling(Pooling.Mode.MEAN, true, 6).write(st, 32);
        Path good = tmp.resolve("st-good.txt"), cliOut = tmp.resolve("st-cli.jsonl"), full = tmp.resolve("st-full.jsonl");
        Files.writeString(good, String.join("\n", TEXTS) + "\n");
        Cli.Result c = cli("embed", "--model", st.toString(), "--input", good.toString(), "--out", cliOut.toString(), "--threads", "1");
        assertEquals(0, c.code(), c.err());
        assertEquals(0, cli("embed", "--model", st.toString(), "--input", good.toString(), "--out", full.toString(), "--max-length", "24",
                "--threads", "1").code());
        List<JsonNode> want = Files.readAllLines(cliOut).stream().map(BatchInferenceTest::json).toList();
        List<JsonNode> uncut = Files.readAllLines(full).stream().map(BatchInferenceTest::json).toList();
        Path out = tmp.resolve("st-out");
        assertEquals(0, SparkJob.run(s, "embed", "--model", st.toString(), "--input", good.toString(), "--output", out.toString(),
                "--partitions", "2", "--batch", "3"));
        Map<String, Row> got = byId(s, out);
        int cut = 0;
        for (int i = 0; i < TEXTS.length; i++) {
            List<Float> v = got.get(Integer.toString(i + 1)).getList(1);
            JsonNode w = want.get(i).get("embedding"), u = uncut.get(i).get("embedding");
            double diffFromUncut = 0;
            for (int j = 0; j < v.size(); j++) {
                assertEquals(w.get(j).asDouble(), v.get(j), 1e-6, "text " + i + " dim " + j);
                diffFromUncut = Math.max(diffFromUncut, Math.abs(u.get(j).asDouble() - v.get(j)));
            }
            if (want.get(i).get("tokens").asInt() == 6 && uncut.get(i).get("tokens").asInt() > 6) {
                cut++;
                assertTrue(diffFromUncut > 1e-3, "text " + i + " was embedded whole, not cut at 6 tokens");
            }
        }
        assertTrue(cut >= 2, "the texts longer than 6 tokens: " + cut);
    }

    @Test
    void predictMatchesTheCli() throws Exception {
        SparkSession s = SharedSpark.get();
        Path good = tmp.resolve("predict.txt");
        Files.writeString(good, String.join("\n", TEXTS) + "\n");
        Cli.Result c = cli("predict", "--model", bert.toString(), "--text-file", good.toString(), "--json", "--threads", "1", "--batch", "4");
        assertEquals(0, c.code(), c.err());
        List<JsonNode> want = c.out().lines().map(BatchInferenceTest::json).toList();
        assertEquals(TEXTS.length, want.size());
        Path out = tmp.resolve("predict-out");
        assertEquals(0, SparkJob.run(s, "predict", "--model", bert.toString(), "--input", good.toString(), "--output", out.toString(),
                "--batch", "4", "--format", "jsonl"));
        List<JsonNode> got = new ArrayList<>();
        try (var files = Files.list(out)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith("part-")).sorted().toList())
                for (String l : Files.readAllLines(f)) got.add(json(l));
        }
        got.sort(Comparator.comparingInt(n -> n.get("id").asInt()));
        assertEquals(TEXTS.length, got.size());
        for (int i = 0; i < TEXTS.length; i++) {
            JsonNode w = want.get(i), g = got.get(i);
            assertEquals(w.get("line").asInt(), g.get("id").asInt());
            assertEquals(w.get("label").asText(), g.get("label").asText());
            assertEquals(w.get("probabilities").get("neg").asDouble(), g.get("probabilities").get(0).asDouble(), 1e-6);
            assertEquals(w.get("probabilities").get("pos").asDouble(), g.get("probabilities").get(1).asDouble(), 1e-6);
            assertFalse(g.has("error") && !g.get("error").isNull(), g.toString());
        }
    }

    @Test
    void scoreMatchesTheCliEvalOfEachDocument() throws Exception {
        SparkSession s = SharedSpark.get();
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < TEXTS.length; i++) jsonl.append(JSON.writeValueAsString(Map.of("id", "doc" + i, "text", TEXTS[i]))).append('\n');
        jsonl.append("{\"id\": \"broken\", \"text\": \n");  // not JSON: reported by line, the rest scored
        jsonl.append("{\"id\": \"empty\", \"text\": \"\"}\n");  // only end-of-text: nothing to score
        Path in = tmp.resolve("docs.jsonl");
        Files.writeString(in, jsonl);
        Path out = tmp.resolve("score-out");
        assertEquals(0, SparkJob.run(s, "score", "--model", gpt.toString(), "--input", in.toString(), "--output", out.toString(), "--partitions", "2"));
        Map<String, Row> got = byId(s, out);
        for (int i = 0; i < TEXTS.length; i++) {
            Path doc = tmp.resolve("doc" + i + ".jsonl");
            Files.writeString(doc, JSON.writeValueAsString(Map.of("text", TEXTS[i])) + "\n");
            Cli.Result c = cli("eval", "--model", gpt.toString(), "--data", doc.toString(), "--threads", "1");
            assertEquals(0, c.code(), c.err());
            JsonNode w = json(c.out().strip());
            Row g = got.get("doc" + i);
            assertEquals(w.get("tokens").asLong(), g.getLong(1));
            assertEquals(-w.get("loss").asDouble() * w.get("tokens").asLong(), g.getDouble(2), 1e-6 * Math.abs(g.getDouble(2)));
            assertEquals(w.get("perplexity").asDouble(), g.getDouble(3), 1e-6 * w.get("perplexity").asDouble());
        }
        List<Row> errors = s.read().parquet(out.toString()).filter("error is not null").collectAsList();
        assertEquals(2, errors.size(), errors.toString());
        assertTrue(errors.stream().anyMatch(r -> r.isNullAt(0) && r.getString(4).startsWith("line 9: not JSON")), errors.toString());
        assertTrue(errors.stream().anyMatch(r -> "empty".equals(r.getString(0)) && r.getString(4).contains("need at least 2 tokens")), errors.toString());
    }

    @Test
    void transformersWorkInAPipelineAndFromSql() throws Exception {
        SparkSession s = SharedSpark.get();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < TEXTS.length; i++) rows.add(RowFactory.create((long) i, TEXTS[i]));
        rows.add(RowFactory.create(99L, null));
        Dataset<Row> df = s.createDataFrame(rows, new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType)).repartition(2);
        Pipeline p = new Pipeline().setStages(new PipelineStage[]{
                new CottentionEmbedder().setModelPath(bert.toString()).setBatchSize(3),
                new CottentionClassifier().setModelPath(bert.toString()).setErrorCol("classifierError")});
        Path saved = tmp.resolve("pipeline");
        PipelineModel m = p.fit(df);
        m.write().save(saved.toString());
        Dataset<Row> out = PipelineModel.load(saved.toString()).transform(df);
        out.createOrReplaceTempView("scored");
        List<Row> r = s.sql("SELECT id, label, embedding, error FROM scored ORDER BY id").collectAsList();
        assertEquals(TEXTS.length + 1, r.size());
        for (int i = 0; i < TEXTS.length; i++) {
            assertTrue(List.of("neg", "pos").contains(r.get(i).getString(1)));
            assertEquals(32, ((Vector) r.get(i).get(2)).size());
        }
        assertEquals("no text", r.get(TEXTS.length).getString(3));
        assertThrows(IllegalArgumentException.class, () -> new CottentionEmbedder().setModelPath(bert.toString()).setInputCol("nope").transform(df));
    }

    static JsonNode json(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new AssertionError(s, e);
        }
    }
}
