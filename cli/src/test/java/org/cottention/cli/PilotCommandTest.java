package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.cottention.cli.BertCommandsTest.args;
import static org.cottention.cli.BertCommandsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** `cottention pilot` end to end on tiny models and data (seconds): report files and their numbers, resume, Ctrl-C, bad input. */
class PilotCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    /** A tiny model, few steps, short lengths: what keeps each pilot to seconds. */
    static final String[] TINY = {"--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--steps", "6", "--batch", "8", "--lengths", "256,1024",
            "--threads", "1", "--no-progress", "--decode-tokens", "4"};

    static String[] pilot(String... rest) {
        return args(args(new String[]{"pilot"}, TINY), rest);
    }

    @Test
    void classificationPilotWritesAConsistentReport(@TempDir Path tmp) throws Exception {
        Path task = BertCommandsTest.toyTask(tmp.resolve("task"), 160, 40);
        Path out = tmp.resolve("out");
        Cli.Result r = run(pilot("--train-dir", task.toString(), "--out", out.toString(), "--vocab-size", "200", "--max-length", "16", "--json"));
        assertEquals(0, r.code(), r.err());
        for (String f : List.of("report.html", "report.md", "report.json", "pilot.json", "quality.png", "training.png", "time.png", "memory.png"))
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        JsonNode rep = JSON.readTree(out.resolve("report.json").toFile());
        assertEquals("classify", rep.get("task").asText());
        assertTrue(rep.get("command").asText().startsWith("./cottention pilot --n-layer 1 "), rep.get("command").asText());
        assertTrue(rep.path("machine").has("isa") && rep.path("machine").has("cpu") && rep.path("machine").has("jdk"));
        JsonNode len = rep.get("lengths");
        assertTrue(len.get("median").asInt() <= len.get("p90").asInt() && len.get("p90").asInt() <= len.get("max").asInt());
        assertEquals(200, len.get("documents").asInt(), "train + dev texts");
        List<String> names = new ArrayList<>();
        for (JsonNode v : rep.get("variants")) {
            String name = v.get("variant").asText();
            names.add(name);
            assertEquals(name, v.get("attention").asText());
            JsonNode saved = JSON.readTree(out.resolve("variants").resolve(name).resolve("result.json").toFile());
            assertEquals(saved.get("quality"), v.get("quality"), "report.json holds the variant's own numbers");
            double acc = v.at("/quality/accuracy").asDouble();
            assertTrue(acc >= 0 && acc <= 1, "accuracy " + acc);
            JsonNode tr = v.get("training");
            assertEquals(6, tr.get("steps").asInt());
            // seconds are written to 0.01 s and a tiny training takes a tenth of one: allow that rounding, and the 0.1 of tokens/s's own
            double tokens = tr.get("tokens").asDouble(), secs = tr.get("seconds").asDouble(), tps = tr.get("tokensPerSec").asDouble();
            assertTrue(secs > 0.005 && tps >= tokens / (secs + 0.005) - 0.05 && tps <= tokens / (secs - 0.005) + 0.05, tr.toString());
            assertTrue(tr.get("peakBytes").asLong() >= 16L * v.get("parameters").asLong());
            JsonNode last = v.get("curve").get(v.get("curve").size() - 1);
            assertEquals(6, last.get("step").asInt());
            assertEquals(last.get("accuracy").asDouble(), acc, 1e-9, "the last curve point is the final model");
            List<Integer> lengths = new ArrayList<>();
            for (JsonNode p : v.get("usage")) {
                lengths.add(p.get("length").asInt());
                assertTrue(p.get("ms").asDouble() > 0 && p.get("bytes").asLong() > 0, p.toString());
            }
            assertTrue(lengths.containsAll(List.of(256, 1024, len.get("median").asInt(), len.get("p90").asInt(), len.get("max").asInt())), lengths.toString());
        }
        assertEquals(List.of("softmax", "cosine"), names);
        String html = Files.readString(out.resolve("report.html")), md = Files.readString(out.resolve("report.md"));
        assertFalse(html.matches("(?s).*(src|href)=\"(?!data:|#).*"), "report.html references nothing outside itself");
        assertFalse(html.contains("<script"));
        assertEquals(4, html.split("src=\"data:image/png;base64,", -1).length - 1, "four charts inline");
        JsonNode summary = rep.get("summary");
        assertTrue(summary.get(0).asText().startsWith("At your p90 length of "), summary.toString());
        for (JsonNode s : summary) {
            assertTrue(md.contains(s.asText()), "report.md has the summary: " + s);
            assertTrue(html.contains(PilotReportText.esc(s.asText())), "report.html has the summary: " + s);
        }
        assertTrue(r.out().contains("\"summary\""), "--json prints the summary on stdout");
        assertTrue(r.err().contains("softmax") && r.err().contains("cosine (2/2)"), "progress names the variant and stage");

        // run again: nothing is trained again, the results stay as they were
        String before = Files.readString(out.resolve("variants/cosine/result.json"));
        Cli.Result again = run(pilot("--train-dir", task.toString(), "--out", out.toString(), "--vocab-size", "200", "--max-length", "16"));
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("finished earlier"), again.err());
        assertFalse(again.err().contains("training 6 steps"), again.err());
        assertEquals(before, Files.readString(out.resolve("variants/cosine/result.json")));
        assertTrue(again.out().contains("variant") && again.out().contains("cosine"), "the summary table at the end");

        // another pilot into the same folder: refused, nothing lost
        String report = Files.readString(out.resolve("report.json"));
        Cli.Result other = run(pilot("--train-dir", task.toString(), "--out", out.toString(), "--seed", "9"));
        assertOneError(other, "another pilot's results");
        assertEquals(report, Files.readString(out.resolve("report.json")));

        // from an existing softmax model: the original as it is (it already classifies over these labels), cosine by linearization + fine-tuning;
        // stopped during the linearization, then continued
        Path fromModel = tmp.resolve("from-model"), bigger = BertCommandsTest.toyTask(tmp.resolve("task400"), 400, 40);  // enough text to distil on
        String[] fromArgs = {"--train-dir", bigger.toString(), "--out", fromModel.toString(), "--model", out.resolve("variants/softmax").toString(), "--max-length", "16"};
        Cli.Result stopped = run(pilot(args(fromArgs, "--stop-after", "1")));
        assertEquals(130, stopped.code(), stopped.err());
        assertTrue(Files.isDirectory(fromModel.resolve("variants/cosine/linearize/stage1")), "the linearization's own run folder");
        assertFalse(Files.exists(fromModel.resolve("variants/cosine/result.json")));
        Cli.Result m = run(pilot(fromArgs));
        assertEquals(0, m.code(), m.err());
        assertTrue(m.err().contains("linearizing") && m.err().contains("(continuing)"), m.err());
        JsonNode mr = JSON.readTree(fromModel.resolve("report.json").toFile());
        assertEquals("original, as it is", mr.at("/variants/0/training/method").asText());
        assertEquals(0, mr.at("/variants/0/training/steps").asInt());
        assertEquals("linearize + fine-tune", mr.at("/variants/1/training/method").asText());
        assertEquals("cosine", mr.at("/variants/1/attention").asText());
        assertEquals(6, mr.at("/variants/1/training/steps").asInt());
        JsonNode lin = mr.at("/variants/1/training/linearization");
        assertEquals(6, lin.get("stage1Steps").asInt() + lin.get("stage2Steps").asInt(), lin.toString());
        assertFalse(lin.get("interrupted").asBoolean());
        for (String stage : List.of("swap", "afterStage1", "afterStage2")) {
            double c = lin.at("/" + stage + "/meanCosine").asDouble(Double.NaN);
            assertTrue(c > -1 && c <= 1, stage + " meanCosine " + c);
        }
        assertEquals(lin.get("stage1Seconds").asDouble() + lin.get("stage2Seconds").asDouble(), mr.at("/variants/1/training/conversionSeconds").asDouble(), 1e-3);
        assertTrue(Files.isRegularFile(fromModel.resolve("variants/cosine/linearize/model.safetensors")), "the linearized model is kept");
        String fromMd = Files.readString(fromModel.resolve("report.md"));
        assertTrue(fromMd.contains("Conversion by linearization") && fromMd.contains("was linearized from the original in"), fromMd);

        // the report renders in a real browser (when one is installed)
        Path script = Path.of("..", "scripts", "check-report-html.sh").toAbsolutePath();
        boolean chromium = new ProcessBuilder("sh", "-c", "command -v chromium || command -v chromium-browser").start().waitFor() == 0;
        Assumptions.assumeTrue(chromium, "chromium not installed: the browser check of report.html is skipped (apt-get install -y chromium)");
        Process p = new ProcessBuilder(script.toString(), out.resolve("report.html").toString(), tmp.resolve("shot.png").toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), log);
    }

    @Test
    void lmPilotStopsAndContinues(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("text.txt");
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(0, 90_000).replaceAll("\\s+", " ");
        Files.writeString(text, moby.substring(0, 60_000) + "\n\n" + moby.substring(60_000));
        Path out = tmp.resolve("out");
        String[] common = {"--text", text.toString(), "--out", out.toString(), "--vocab-size", "300", "--context", "32",
                "--variants", "softmax,cosine,cosine-gate-conv"};
        Cli.Result stopped = run(pilot(args(common, "--stop-after", "3")));
        assertEquals(130, stopped.code(), stopped.err());
        assertFalse(Files.exists(out.resolve("variants/softmax/result.json")), "an interrupted variant is not finished");
        assertTrue(Files.isDirectory(out.resolve("variants/softmax/checkpoint-000003")));

        Cli.Result r = run(pilot(common));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("continuing from step 3"), r.err());
        JsonNode rep = JSON.readTree(out.resolve("report.json").toFile());
        assertEquals("lm", rep.get("task").asText());
        assertEquals(2, rep.at("/lengths/documents").asInt(), "two blank-line-separated documents");
        assertTrue(Files.size(out.resolve("decode.png")) > 0);
        JsonNode soft = rep.get("variants").get(0), cos = rep.get("variants").get(1);
        assertEquals(6, soft.at("/training/steps").asInt());
        assertEquals(6, soft.get("curve").get(soft.get("curve").size() - 1).get("step").asInt());
        double ppl = cos.at("/quality/valPerplexity").asDouble();
        assertEquals(Math.exp(cos.at("/quality/valLoss").asDouble()), ppl, 1e-6 * ppl);
        assertTrue(ppl > 1 && ppl < 300 * 1.5, "perplexity " + ppl);
        JsonNode sl = soft.get("usage"), cl = cos.get("usage");
        int n = sl.size();
        long kv = sl.get(n - 1).get("stateBytes").asLong(), kvShort = sl.get(0).get("stateBytes").asLong();
        assertTrue(kv > kvShort, "the KV cache grows with the context");
        assertEquals(cl.get(0).get("stateBytes").asLong(), cl.get(n - 1).get("stateBytes").asLong(), "the cosine state does not");
        assertTrue(cl.get(n - 1).get("decodeMsPerToken").asDouble() > 0);
        JsonNode gated = rep.get("variants").get(2), gl = gated.get("usage");
        assertEquals("cosine-gate-conv", gated.get("variant").asText(), gated.toString());
        assertTrue(gated.get("parameters").asLong() > cos.get("parameters").asLong(), "the gate and the convolution add parameters");
        assertEquals(gl.get(0).get("stateBytes").asLong(), gl.get(gl.size() - 1).get("stateBytes").asLong(), "the gated state does not grow either");
        assertTrue(gl.get(0).get("stateBytes").asLong() > cl.get(0).get("stateBytes").asLong(), "it carries z and the convolution tail");
    }

    @Test
    void badInputIsOneErrorLine(@TempDir Path tmp) throws Exception {
        Path empty = Files.writeString(tmp.resolve("empty.txt"), "");
        assertOneError(run(pilot("--text", empty.toString(), "--out", tmp.resolve("o1").toString())), "holds no text");
        assertOneError(run(pilot("--text", tmp.resolve("missing.txt").toString(), "--out", tmp.resolve("o2").toString())), "not found");
        assertFalse(Files.exists(tmp.resolve("o1")), "nothing is written for bad input");

        Path nolabels = Files.createDirectories(tmp.resolve("nolabels"));
        for (String f : List.of("train.tsv", "dev.tsv")) Files.writeString(nolabels.resolve(f), "sentence\nsome text\nmore text\n");
        assertOneError(run(pilot("--train-dir", nolabels.toString(), "--out", tmp.resolve("o3").toString())), "label");

        Path task = BertCommandsTest.toyTask(tmp.resolve("task"), 40, 10);
        Path bert = Files.createDirectories(tmp.resolve("bert")), gpt = Files.createDirectories(tmp.resolve("gpt"));
        Files.writeString(bert.resolve("config.json"), "{\"model_type\": \"bert\"}");
        Files.writeString(gpt.resolve("config.json"), "{\"model_type\": \"gptj\"}");
        Path text = Files.writeString(tmp.resolve("t.txt"), "some text to model\n".repeat(200));
        assertOneError(run(pilot("--text", text.toString(), "--model", bert.toString(), "--out", tmp.resolve("o4").toString())), "is a bert model");
        assertOneError(run(pilot("--train-dir", task.toString(), "--model", gpt.toString(), "--out", tmp.resolve("o5").toString())), "is a gptj model");

        Cli.Result tiny = run("pilot", "--train-dir", task.toString(), "--out", tmp.resolve("o6").toString(), "--budget-minutes", "0.0001",
                "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--vocab-size", "120", "--threads", "1", "--no-progress");
        assertOneError(tiny, "too small");
        assertTrue(tiny.err().contains("--budget-minutes") && tiny.err().contains("or --steps N"), "the error says the fix");

        Path busy = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(busy.resolve("keep.txt"), "mine");
        assertOneError(run(pilot("--train-dir", task.toString(), "--out", busy.toString())), "holds no pilot");
        assertEquals("mine", Files.readString(busy.resolve("keep.txt")));
        assertOneError(run(pilot("--train-dir", task.toString(), "--text", text.toString(), "--out", tmp.resolve("o7").toString())), "exactly one of");
        assertOneError(run(pilot("--train-dir", task.toString(), "--out", tmp.resolve("o8").toString(), "--variants", "cosine,flash")), "unknown variant 'flash'");
    }

    static void assertOneError(Cli.Result r, String needle) {
        assertEquals(2, r.code(), r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), r.err());
        assertTrue(errors.get(0).contains(needle), errors.get(0));
    }

    /** The HTML escaping of the report, for comparing its text. */
    static final class PilotReportText {
        static String esc(String s) {
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
        }
    }
}
