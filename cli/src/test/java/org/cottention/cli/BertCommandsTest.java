package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The BERT commands end to end on tiny models: finetune, predict, pretrain-mlm (incl. bit-identical resume), embed, bad input. */
class BertCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /** The CLI in this JVM, its output captured. */
    static Cli.Result run(String... args) {
        return Cli.run(args);
    }

    static final String[] POS = {"great", "lovely", "wonderful", "superb", "happy"}, NEG = {"awful", "terrible", "horrid", "sad", "bad"};
    static final String[] FILL = {"the", "movie", "was", "quite", "a", "film", "plot", "really", "and", "so"};

    /** A separable toy sentiment task: label 1 iff the sentence holds a positive word. */
    static Path toyTask(Path dir, int train, int dev) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom r = new SplittableRandom(3);
        for (var f : List.of(List.of("train.tsv", train), List.of("dev.tsv", dev))) {
            StringBuilder sb = new StringBuilder("sentence\tlabel\n");
            for (int i = 0; i < (int) f.get(1); i++) {
                boolean pos = r.nextBoolean();
                List<String> w = new ArrayList<>();
                for (int j = 0; j < 4 + r.nextInt(4); j++) w.add(FILL[r.nextInt(FILL.length)]);
                w.add(r.nextInt(w.size()), (pos ? POS : NEG)[r.nextInt(5)]);
                sb.append(String.join(" ", w)).append('\t').append(pos ? 1 : 0).append('\n');
            }
            Files.writeString(dir.resolve((String) f.get(0)), sb.toString());
        }
        return dir;
    }

    static final String[] TINY = {"--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--max-length", "16", "--threads", "1", "--no-progress"};

    /** The subcommand, the tiny-model flags, then the rest. */
    static String[] cmd(String name, String... rest) {
        return args(args(new String[]{name}, TINY), rest);
    }

    static String[] args(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void finetuneFromScratchThenPredict(@TempDir Path tmp) throws IOException {
        Path task = toyTask(tmp.resolve("task"), 200, 40);
        Cli.Result r = run(cmd("finetune", "--train-dir", task.toString(), "--vocab-size", "150", "--epochs", "3", "--batch", "8",
                "--lr", "1e-2", "--attention", "softmax", "--out", tmp.resolve("run").toString(), "--json"));
        assertEquals(0, r.code(), r.err());
        List<JsonNode> evals = r.out().lines().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (IOException e) {
                throw new AssertionError(l, e);
            }
        }).toList();
        assertEquals(3, evals.size(), r.out());
        for (JsonNode e : evals) for (String k : new String[]{"epoch", "accuracy", "f1", "mcc", "valLoss"}) assertTrue(e.has(k), k + " in " + e);
        assertEquals(3.0, evals.get(2).get("epoch").asDouble());
        assertTrue(evals.get(2).get("accuracy").asDouble() >= 0.9, "the toy task is learnt: " + evals.get(2));
        JsonNode cfg = JSON.readTree(tmp.resolve("run/best/config.json").toFile());
        assertEquals("1", cfg.get("id2label").get("1").asText());
        assertEquals("BertForSequenceClassification", cfg.get("architectures").get(0).asText());
        assertTrue(Files.isRegularFile(tmp.resolve("run/best/vocab.txt")));

        Cli.Result p = run("predict", "--model", tmp.resolve("run/best").toString(), "--input", task.resolve("dev.tsv").toString(), "--json", "--threads", "1");
        assertEquals(0, p.code(), p.err());
        List<String> lines = p.out().lines().toList();
        assertEquals(40, lines.size());
        JsonNode first = JSON.readTree(lines.get(0));
        assertEquals(2, first.get("line").asInt());
        double sum = first.get("probabilities").get("0").asDouble() + first.get("probabilities").get("1").asDouble();
        assertEquals(1.0, sum, 1e-9);
        assertTrue(p.err().contains("accuracy against the label column"), p.err());

        Path texts = tmp.resolve("texts.txt");
        Files.writeString(texts, "a great film\n\nthe plot was awful\n");
        Cli.Result q = run("predict", "--model", tmp.resolve("run/best").toString(), "--text-file", texts.toString(), "--threads", "1");
        assertEquals(0, q.code(), q.err());
        assertEquals(List.of("1", "3"), q.out().lines().map(l -> l.split("\t")[0]).toList(), "input line numbers kept");
        assertTrue(q.err().contains("skipped 1 empty line"), q.err());
        // the same (softmax) weights run with cosine attention: other probabilities, same shape of output
        Cli.Result c = run("predict", "--model", tmp.resolve("run/best").toString(), "--input", task.resolve("dev.tsv").toString(),
                "--json", "--threads", "1", "--attention", "cosine");
        assertEquals(0, c.code(), c.err());
        assertEquals(40, c.out().lines().count());
        assertNotEquals(p.out(), c.out());

        // fine-tuning the fine-tuned model again (e.g. on more data) reuses its classifier; resume continues the run
        Cli.Result again = run(cmd("finetune", "--train-dir", task.toString(), "--model", tmp.resolve("run/best").toString(),
                "--epochs", "1", "--batch", "8", "--out", tmp.resolve("run2").toString()));
        assertEquals(0, again.code(), again.err());
        assertEquals("softmax", JSON.readTree(tmp.resolve("run2/best/config.json").toFile()).get("attention_type").asText(),
                "a loaded model keeps its attention");
        // --attention switches a loaded model's attention (the weights are the same; cosine adds norm_const)
        Cli.Result switched = run(cmd("finetune", "--train-dir", task.toString(), "--model", tmp.resolve("run/best").toString(),
                "--attention", "cosine", "--epochs", "1", "--batch", "8", "--out", tmp.resolve("run3").toString()));
        assertEquals(0, switched.code(), switched.err());
        assertEquals("cosine", JSON.readTree(tmp.resolve("run3/best/config.json").toFile()).get("attention_type").asText());
    }

    @Test
    void regression(@TempDir Path tmp) throws IOException {
        Path task = tmp.resolve("reg");
        Files.createDirectories(task);
        StringBuilder tr = new StringBuilder(), dv = new StringBuilder();
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 60; i++) {
            int k = r.nextInt(5);
            String line = "x" + "\t" + String.join(" ", java.util.Collections.nCopies(k + 1, "great")) + "\t" + k + "\n";
            (i < 48 ? tr : dv).append(line);
        }
        Files.writeString(task.resolve("train.tsv"), tr.toString());
        Files.writeString(task.resolve("dev.tsv"), dv.toString());
        // no header: columns by number
        Cli.Result run = run(cmd("finetune", "--train-dir", task.toString(), "--vocab-size", "40", "--regression", "--text-column", "1",
                "--label-column", "2", "--epochs", "2", "--batch", "8", "--out", tmp.resolve("out").toString(), "--json"));
        assertEquals(0, run.code(), run.err());
        JsonNode last = JSON.readTree(run.out().lines().reduce((a, b) -> b).orElseThrow());
        assertTrue(last.has("pearson") && last.has("spearman"), last.toString());
        assertEquals("regression", JSON.readTree(tmp.resolve("out/best/config.json").toFile()).get("problem_type").asText());
    }

    @Test
    void badInputIsNamed(@TempDir Path tmp) throws IOException {
        Path task = toyTask(tmp.resolve("task"), 30, 10);
        String[] base = cmd("finetune", "--train-dir", task.toString(), "--vocab-size", "150", "--epochs", "1", "--out", tmp.resolve("o").toString());

        Files.writeString(task.resolve("dev.tsv"), "sentence\tlabel\na fine film\t1\nno label here\n");
        Cli.Result r = run(base);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("dev.tsv line 3: column 'label' (#1) is missing"), r.err());

        Files.writeString(task.resolve("dev.tsv"), "sentence\tlabel\na fine film\t1\n\nodd one\tmaybe\n");
        r = run(base);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("dev.tsv line 4: label 'maybe' does not occur in the training data"), r.err());
        assertTrue(r.err().contains("skipped 1 empty line"), r.err());

        Files.writeString(task.resolve("dev.tsv"), "text\tlabel\nhello\t1\n");
        r = run(base);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("has no header row naming the column 'sentence'"), r.err());

        Files.writeString(task.resolve("dev.tsv"), "sentence\tlabel\n" + "the movie was great ".repeat(10) + "\t1\n");
        r = run(args(base, "--no-truncate"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("dev.tsv line 2: the text has") && r.err().contains("more than 16"), r.err());
        r = run(base);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("1 of 1 texts in " + task.resolve("dev.tsv") + " are longer than 16 tokens"), r.err());
    }

    static Path corpus(Path tmp) throws IOException {
        SplittableRandom r = new SplittableRandom(9);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            List<String> w = new ArrayList<>();
            for (int j = 0; j < 3 + r.nextInt(8); j++) w.add((r.nextBoolean() ? POS : FILL)[r.nextInt(5)]);
            sb.append(String.join(" ", w)).append(".\n");
        }
        Path f = tmp.resolve("corpus.txt");
        Files.writeString(f, sb.toString());
        return f;
    }

    @Test
    void pretrainMlmResumesBitIdentically(@TempDir Path tmp) throws IOException {
        Path c = corpus(tmp);
        String[] base = cmd("pretrain-mlm", c.toString(), "--vocab-size", "50", "--nsp", "--position", "rotary", "--steps", "6",
                "--batch", "4", "--save-every", "3", "--keep-checkpoints", "5", "--eval-every", "3", "--val-batches", "2");
        Cli.Result a = run(args(base, "--out", tmp.resolve("a").toString()));
        assertEquals(0, a.code(), a.err());
        List<String> metrics = Files.readAllLines(tmp.resolve("a/metrics.jsonl"));
        JsonNode last = JSON.readTree(metrics.get(metrics.size() - 1));
        for (String k : new String[]{"valLoss", "valAccuracy", "valNspAccuracy"}) assertTrue(last.has(k), k + " in " + last);
        // a run stopped after step 3, resumed: the same final weights, bit for bit
        copyTree(tmp.resolve("a/checkpoint-000003"), tmp.resolve("b/checkpoint-000003"));
        Cli.Result b = run(args(base, "--out", tmp.resolve("b").toString(), "--resume"));
        assertEquals(0, b.code(), b.err());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/model.safetensors")), Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        assertEquals("BertForPreTraining", JSON.readTree(tmp.resolve("a/config.json").toFile()).get("architectures").get(0).asText());

        // embed with the rotary model: any length, JSONL and safetensors, normalised vectors
        Path emb = tmp.resolve("e.jsonl");
        Cli.Result e = run("embed", "--model", tmp.resolve("a").toString(), "--text", "great movie", "--text", Files.readString(c),
                "--normalize", "--out", emb.toString(), "--report-memory", "--threads", "1");
        assertEquals(0, e.code(), e.err());
        List<String> rows = Files.readAllLines(emb);
        assertEquals(2, rows.size());
        JsonNode row = JSON.readTree(rows.get(1));
        assertTrue(row.get("tokens").asInt() > 1000, "the whole corpus as one text, untruncated: " + row.get("tokens"));
        double s = 0;
        for (JsonNode x : row.get("embedding")) s += x.asDouble() * x.asDouble();
        assertEquals(1.0, s, 1e-4);
        assertTrue(row.has("peakHeapMB"));
        Path st = tmp.resolve("e.safetensors");
        assertEquals(0, run("embed", "--model", tmp.resolve("a").toString(), "--input", c.toString(), "--pooling", "cls",
                "--out", st.toString(), "--threads", "1").code());
        try (SafeTensors t = SafeTensors.open(st)) {
            assertArrayEquals(new long[]{300, 32}, t.info("embeddings").shape());
        }
        // the same with the matrices memory-mapped and with bf16 weights: the same vectors, to f32 / bf16 rounding
        Path mapped = tmp.resolve("mapped.jsonl"), bf16 = tmp.resolve("bf16.jsonl");
        assertEquals(0, run("embed", "--model", tmp.resolve("a").toString(), "--text", "great movie", "--normalize",
                "--mmap", "--out", mapped.toString(), "--threads", "1").code());
        assertEquals(0, run("embed", "--model", tmp.resolve("a").toString(), "--text", "great movie", "--normalize",
                "--dtype", "bf16", "--out", bf16.toString(), "--threads", "1").code());
        JsonNode f32Row = JSON.readTree(rows.get(0)).get("embedding");
        JsonNode mappedRow = JSON.readTree(Files.readAllLines(mapped).get(0)).get("embedding");
        JsonNode bf16Row = JSON.readTree(Files.readAllLines(bf16).get(0)).get("embedding");
        double dm = 0, db = 0;
        for (int i = 0; i < f32Row.size(); i++) {
            dm = Math.max(dm, Math.abs(f32Row.get(i).asDouble() - mappedRow.get(i).asDouble()));
            db = Math.max(db, Math.abs(f32Row.get(i).asDouble() - bf16Row.get(i).asDouble()));
        }
        assertTrue(dm <= 1e-5, "mapped f32 embedding differs by " + dm);
        assertTrue(db > 0 && db <= 5e-2, "bf16 embedding differs by " + db);
    }

    @Test
    void embedWithAbsolutePositionsTruncatesOrRefuses(@TempDir Path tmp) throws IOException {
        Path c = corpus(tmp);
        Cli.Result a = run(cmd("pretrain-mlm", c.toString(), "--vocab-size", "50", "--steps", "1", "--batch", "2", "--out", tmp.resolve("m").toString()));
        assertEquals(0, a.code(), a.err());
        Path emb = tmp.resolve("e.jsonl");
        Cli.Result e = run("embed", "--model", tmp.resolve("m").toString(), "--document", c.toString(), "--out", emb.toString(), "--threads", "1");
        assertEquals(0, e.code(), e.err());
        assertTrue(e.err().contains("truncated to max_position_embeddings 16"), e.err());
        assertEquals(16, JSON.readTree(Files.readAllLines(emb).get(0)).get("tokens").asInt());
        Cli.Result refused = run("embed", "--model", tmp.resolve("m").toString(), "--document", c.toString(), "--out", emb.toString(), "--no-truncate");
        assertEquals(2, refused.code());
        assertTrue(refused.err().contains("more than max_position_embeddings 16"), refused.err());
        // windows of 14 pieces: --max-length caps the whole text and may exceed the positions; without windows it may not
        Cli.Result windowed = run("embed", "--model", tmp.resolve("m").toString(), "--document", c.toString(), "--windows", "14",
                "--max-length", "40", "--out", emb.toString(), "--threads", "1");
        assertEquals(0, windowed.code(), windowed.err());
        assertEquals(40, JSON.readTree(Files.readAllLines(emb).get(0)).get("tokens").asInt());
        Cli.Result tooLong = run("embed", "--model", tmp.resolve("m").toString(), "--document", c.toString(), "--max-length", "40", "--out", emb.toString());
        assertEquals(2, tooLong.code());
        assertTrue(tooLong.err().contains("--max-length 40 exceeds max_position_embeddings 16"), tooLong.err());
    }

    @Test
    void forwardGivesTheFixtureMlmLogits(@TempDir Path tmp) throws IOException {
        Path fx = org.cottention.testutil.Shared.fixture("bert_mlm_s0");
        JsonNode padded = JSON.readTree(fx.resolve("inputs.json").toFile()).get("padded");
        Path in = tmp.resolve("in.json");
        com.fasterxml.jackson.databind.node.ObjectNode o = JSON.createObjectNode();
        for (String k : new String[]{"input_ids", "attention_mask", "token_type_ids"}) o.set(k, padded.get(k));
        Files.writeString(in, o.toString());
        Path out = tmp.resolve("logits.safetensors");
        Cli.Result r = run("forward", "--model", fx.toString(), "--inputs", in.toString(), "--out", out.toString(), "--threads", "1");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors exp = SafeTensors.open(fx.resolve("expected.safetensors"))) {
            float[] g = got.floats("logits");
            double[] e = exp.doubles("padded.logits");
            assertEquals(e.length, g.length);
            for (int i = 0; i < g.length; i++) assertEquals(e[i], g[i], 1e-4, "logit " + i);
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path f : s.toList()) Files.copy(f, to.resolve(f.getFileName()));
        }
    }
}
