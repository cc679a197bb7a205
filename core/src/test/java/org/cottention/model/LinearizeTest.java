package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.cottention.tokenizer.Tokenizers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Linearize on a tiny softmax BERT: stage 1 moves only the attention projections and norm_const, both stages lower
 * their loss, the report holds the three fidelity rows, and an interrupted run resumed gives the same weights as an
 * uninterrupted one.
 */
class LinearizeTest {
    @TempDir
    static Path tmp;
    static Path teacher, data;

    @BeforeAll
    static void tinyTeacher() throws IOException {
        teacher = tmp.resolve("teacher");
        Files.createDirectories(teacher);
        var tok = Tokenizers.load(Shared.data("tokenizers", "bert-base-uncased"));
        Bert m = new Bert(BertConfig.of(tok.vocabSize(), 32, 2, 2, 64, 64, 0, AttentionType.SOFTMAX, false), Bert.HeadSet.ENCODER).initialise(3);
        // sharper and stronger attention than the N(0, 0.02) init gives, so the swap to cosine changes something
        for (Params.View v : m.params.views())
            if (v.name().contains("attention.self.") && v.name().endsWith(".weight") || v.name().contains("attention.output.dense.weight"))
                for (int i = v.offset(); i < v.offset() + v.size(); i++) m.params.data[i] *= 15;
        m.saveModel(teacher);
        tok.save(teacher);
        new Pooling(Pooling.Mode.MEAN, true, 0).write(teacher, 32);
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        data = tmp.resolve("data.txt");
        Files.writeString(data, moby.substring(20_000, 80_000));
    }

    static Linearize.Options opts(int stopAfter, boolean resume) {
        return new Linearize.Options(AttentionType.COSINE, 10, 0, 0.5, 32, 4, 3e-3f, 1e-3f, 1.0, 12, 0, 4, 5, resume, false, stopAfter);
    }

    static float[] weights(Path dir) throws IOException {
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            int n = 0;
            for (String s : st.names()) n += (int) st.info(s).numel();
            float[] all = new float[n];
            int at = 0;
            for (String s : st.names()) {
                float[] x = st.floats(s);
                System.arraycopy(x, 0, all, at, x.length);
                at += x.length;
            }
            return all;
        }
    }

    static List<Double> losses(Path run) throws IOException {
        return Files.readAllLines(run.resolve("metrics.jsonl")).stream().map(l -> {
            try {
                return GptJConfig.JSON.readTree(l).get("loss").asDouble();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }).toList();
    }

    @Test
    void stagesFreezeWhatTheyShouldLowerTheirLossAndResumeExactly() throws IOException {
        Path out = tmp.resolve("full");
        Linearize.Report r = Linearize.bert(teacher, List.of(data), out, opts(0, false), s -> {});
        assertFalse(r.interrupted());
        assertEquals(5, r.stage1Steps());
        assertEquals(5, r.stage2Steps());
        assertNotNull(r.swap());
        assertNotNull(r.afterStage1());
        assertNotNull(r.afterStage2());
        assertTrue(r.swap().meanCosine() < 0.995, "the swap should change the embeddings: " + r.swap());
        JsonNode rep = GptJConfig.JSON.readTree(out.resolve("linearize.json").toFile());
        for (String k : new String[]{"meanCosine", "spearman", "top10Overlap"}) assertTrue(rep.get(k).isNumber(), k);
        assertEquals("cosine", GptJConfig.JSON.readTree(out.resolve("config.json").toFile()).get("attention_type").asText());
        assertNotNull(Pooling.read(out));

        // stage 1 changes only the attention's q/k/v and norm_const
        Bert t = ModelStore.loadBert(teacher, null), s1 = ModelStore.loadBert(out.resolve("stage1"), null);
        int changed = 0;
        for (Params.View v : t.params.views()) {
            boolean same = java.util.Arrays.equals(java.util.Arrays.copyOfRange(t.params.data, v.offset(), v.offset() + v.size()),
                    java.util.Arrays.copyOfRange(s1.params.data, s1.params.view(v.name()).offset(), s1.params.view(v.name()).offset() + v.size()));
            if (v.name().contains(".attention.self.")) changed += same ? 0 : 1;
            else assertTrue(same, v.name() + " changed in stage 1");
        }
        assertEquals(12, changed, "q/k/v weights and biases of both layers");
        for (Path run : new Path[]{out.resolve("stage1"), out.resolve("stage2")}) {
            List<Double> l = losses(run);
            assertTrue(l.getLast() < l.getFirst(), run + " loss did not fall: " + l);
        }

        // interrupted in stage 1, resumed: the same final weights
        Path cut = tmp.resolve("cut");
        assertTrue(Linearize.bert(teacher, List.of(data), cut, opts(2, false), s -> {}).interrupted());
        Linearize.Report again = Linearize.bert(teacher, List.of(data), cut, opts(0, true), s -> {});
        assertFalse(again.interrupted());
        assertArrayEquals(weights(out), weights(cut));
    }

    /**
     * --minutes: stage 1's steps come from probes up front, stage 2's when it starts (from the time left, and again
     * every 100 steps from its own pace); the plan is saved each time, so the report, the plan file and the stage-2 run
     * agree, and a resume keeps the plan.
     */
    @Test
    void aMinutesBudgetPlansStage2WhenItStarts() throws IOException {
        Path out = tmp.resolve("minutes");
        List<String> log = new java.util.ArrayList<>();
        var o = new Linearize.Options(AttentionType.COSINE, 0, 0.1, 0.3, 32, 4, 3e-3f, 1e-3f, 1.0, 12, 0, 1000, 5, false, false, 0);
        Linearize.Report r = Linearize.bert(teacher, List.of(data), out, o, log::add);
        assertFalse(r.interrupted());
        assertTrue(log.stream().anyMatch(l -> l.startsWith("budget 0.1 min: stage 1 ")), log.toString());
        assertTrue(log.stream().anyMatch(l -> l.startsWith("stage 2: ") && l.endsWith(" steps")), log.toString());
        JsonNode plan = GptJConfig.JSON.readTree(out.resolve("linearize-plan.json").toFile());
        assertTrue(plan.get("stage2Planned").asBoolean());
        assertEquals(r.stage1Steps(), plan.get("stage1Steps").asLong());
        assertEquals(r.stage2Steps(), plan.get("stage2Steps").asLong());
        // how many steps fit depends on the machine (on a loaded one, 1): the run, the report and the plan agree on them
        assertEquals(r.stage2Steps(), GptJConfig.JSON.readTree(Files.readAllLines(out.resolve("stage2/metrics.jsonl")).getLast()).get("step").asLong());
    }

    /** The step-cost fit and the plan over the spans' own lengths (what --minutes sizes the stages with). */
    @Test
    void stepCostFitAndPlanFollowTheSpansLengths() {
        var c = Linearize.StepCost.fit(new double[]{100, 300, 200, 400}, new double[]{0.2 + 100e-3, 0.2 + 300e-3, 0.2 + 200e-3, 0.2 + 400e-3});
        assertEquals(0.2, c.fixed(), 1e-9);
        assertEquals(1e-3, c.perToken(), 1e-12);
        var noisy = Linearize.StepCost.fit(new double[]{100, 300}, new double[]{0.5, 0.3});   // longer and faster: all per token
        assertEquals(0, noisy.fixed());
        assertEquals(0.8 / 400, noisy.perToken(), 1e-12);
        int[] tokens = new int[5000];
        var spans = new Linearize.Spans(tokens, 1, 2, 4, 128, 7);
        for (int micro : new int[]{1, 3}) {
            long steps = Linearize.stepsWithin(100, new Linearize.StepCost(0.05, 1e-3), spans, micro);
            double t = 0, next = 0;
            for (long s = 0; s <= steps; s++) {
                long tok = 0;
                for (int k = 0; k < micro; k++) tok += spans.tokens(s * micro + k);
                if (s < steps) t += 0.05 + 1e-3 * tok;
                else next = 0.05 + 1e-3 * tok;
            }
            assertTrue(t <= 100 && t + next > 100, steps + " steps take " + t + " s");
            assertEquals(spans.batch(3).realTokens(), spans.tokens(3));
        }
        // span lengths independent from one batch to the next, with the log-uniform mean (6 to 126: 120 / ln 21 = 39.4)
        int n = 2000;
        double[] len = new double[n];
        double mean = 0;
        for (int i = 0; i < n; i++) mean += (len[i] = spans.tokens(i) / 4.0 - 2) / n;
        double c0 = 0, c1 = 0;
        for (int i = 0; i < n; i++) c0 += (len[i] - mean) * (len[i] - mean);
        for (int i = 0; i + 1 < n; i++) c1 += (len[i] - mean) * (len[i + 1] - mean);
        assertEquals(120 / Math.log(21), mean, 3, "mean span length");
        assertTrue(Math.abs(c1 / c0) < 0.1, "lag-1 correlation of span lengths " + c1 / c0);
    }

    /**
     * Micro-batches of 2 accumulated into steps of 4 (stage 2 with the inner-layer term); a run killed in stage 2
     * resumes from its checkpoint to the same weights.
     */
    @Test
    void microBatchesAndResumeInStage2() throws IOException {
        java.util.function.BiFunction<Integer, Boolean, Linearize.Options> o = (stop, resume) -> new Linearize.Options(AttentionType.COSINE, 10, 0, 0.2, 32, 4,
                3e-3f, 1e-3f, 1.0, 12, 0, 3, 5, resume, false, stop, 2, 0.5);
        Path out = tmp.resolve("micro"), cut = tmp.resolve("micro-cut");
        Linearize.Report r = Linearize.bert(teacher, List.of(data), out, o.apply(0, false), s -> {});
        assertFalse(r.interrupted());
        assertEquals(2, r.stage1Steps());
        assertEquals(8, r.stage2Steps());
        assertTrue(Linearize.bert(teacher, List.of(data), cut, o.apply(5, false), s -> {}).interrupted());   // stage 1 done, stage 2 stopped at 5
        assertTrue(Files.isDirectory(cut.resolve("stage2")));
        Linearize.Report resumed = Linearize.bert(teacher, List.of(data), cut, o.apply(0, true), s -> {});
        assertFalse(resumed.interrupted());
        assertArrayEquals(weights(out), weights(cut));
        // stage 1's report and time survive the resume in stage 2 (the resumed run used to write them over with nothing)
        assertNotNull(resumed.afterStage1());
        assertEquals(r.afterStage1().meanCosine(), resumed.afterStage1().meanCosine(), 1e-12);
        assertTrue(resumed.stage1Seconds() > 0);
        assertTrue(GptJConfig.JSON.readTree(cut.resolve("linearize.json").toFile()).get("afterStage1").isObject());
        assertThrows(IllegalArgumentException.class, () -> new Linearize.Options(AttentionType.COSINE, 10, 0, 0.2, 32, 4, 3e-3f, 1e-3f, 1.0, 12, 0, 3, 5,
                false, false, 0, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> new Linearize.Options(AttentionType.COSINE, 10, 0, 0.2, 32, 4, 3e-3f, 1e-3f, 1.0, 12, 0, 3, 5,
                false, false, 0, 2, -1));
    }

    /**
     * The held stabiliser: nothing changes up to N tokens; past N the exponent a' satisfies T^a' = T^a (T/N)^(1-a), so
     * the output of uniform attention (every key the same) keeps its scale at N; training refuses it.
     */
    @Test
    void heldStabiliserKeepsTheScaleOfNTokens() throws IOException {
        Bert plain = ModelStore.loadBert(teacher, AttentionType.COSINE), held = ModelStore.loadBert(teacher, AttentionType.COSINE).stabiliserLength(16);
        int[] ids = new int[12];
        for (int i = 0; i < ids.length; i++) ids[i] = 1000 + 37 * i;
        assertArrayEquals(plain.encode(1, 12, ids, null, null), held.encode(1, 12, ids, null, null));
        float[] m = plain.normConst(plain.layers[0]), m2 = held.heldNormConst(m, 4096);
        for (int h = 0; h < m.length; h++) {
            double a = 1 / (1 + Math.exp(-m[h])), a2 = 1 / (1 + Math.exp(-m2[h]));
            assertEquals(a * Math.log(4096) + (1 - a) * (Math.log(4096) - Math.log(16)), a2 * Math.log(4096), 1e-4);
        }
        assertThrows(IllegalStateException.class, () -> held.forward(1, 12, ids, null, null));
    }

    @Test
    void causalLmPath() throws IOException {
        Path gpt = tmp.resolve("gpt");
        Files.createDirectories(gpt);
        var tok = Tokenizers.load(Shared.data("tokenizers", "gpt2"));
        GptJ m = new GptJ(GptJConfig.of(tok.vocabSize(), 64, 32, 1, 2, 64, 8, tok.vocabSize() - 1, AttentionType.SOFTMAX)).initialise(4);
        for (Params.View v : m.params.views())
            if (v.name().contains(".attn.")) for (int i = v.offset(); i < v.offset() + v.size(); i++) m.params.data[i] *= 15;
        m.saveModel(gpt);
        tok.save(gpt);
        Path out = tmp.resolve("gpt-cos");
        Linearize.Report r = Linearize.gptJ(gpt, List.of(data), out, new Linearize.Options(AttentionType.COSINE, 24, 0, 0.5, 24, 2, 3e-3f, 1e-3f, 1.0,
                12, 0, 0, 5, false, false, 0), s -> {});
        assertFalse(r.interrupted());
        assertNotNull(r.afterStage2());
        GptJ student = ModelStore.loadGptJ(out, null);
        assertEquals(AttentionType.COSINE, student.cfg.attentionType());
        // each stage lowers its own objective on the same held batches (the training losses are of batches of every
        // span length, too noisy to compare over 12 steps)
        int[] ids = tok.encode(Files.readString(data).substring(0, 20_000));
        var held = new Linearize.Spans(ids, -1, -1, 4, 26, 99);
        GptJ teacherModel = ModelStore.loadGptJ(gpt, null), swap = ModelStore.loadGptJ(gpt, AttentionType.COSINE);
        GptJ afterStage1 = ModelStore.loadGptJ(out.resolve("stage1"), null);
        double[] s1 = new double[2], s2 = new double[2];
        for (int i = 0; i < 4; i++) {
            var b = held.batch(1000 + i);
            s1[0] += GptJDistillation.attentionTransfer(teacherModel, swap).evaluate(b).mean();
            s1[1] += GptJDistillation.attentionTransfer(teacherModel, afterStage1).evaluate(b).mean();
            s2[0] += GptJDistillation.endToEnd(teacherModel, afterStage1).evaluate(b).mean();
            s2[1] += GptJDistillation.endToEnd(teacherModel, student).evaluate(b).mean();
        }
        assertTrue(s1[1] < s1[0], "stage 1 objective: swap " + s1[0] + ", after stage 1 " + s1[1]);
        assertTrue(s2[1] < s2[0], "stage 2 objective: after stage 1 " + s2[0] + ", after stage 2 " + s2[1]);
    }
}
