package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.Checkpoint;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.cottention.train.Batch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The GPT-J fixtures (authors' formulation, PyTorch) reproduced from model.safetensors alone and from pytorch_model.bin
 * alone (issue 5 §4): logits, hidden states, gradients, greedy continuation.
 */
class GptJFixtureTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static int[] flat(JsonNode rows) {
        int b = rows.size(), t = rows.get(0).size();
        int[] out = new int[b * t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) out[i * t + j] = rows.get(i).get(j).asInt();
        return out;
    }

    static double maxAbsDiff(float[] got, double[] want) {
        assertEquals(want.length, got.length, "length");
        double m = 0;
        for (int i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
        return m;
    }

    @ParameterizedTest
    @CsvSource({"gptj_small_s0,SAFETENSORS", "gptj_small_s0,PYTORCH", "gptj_tiny_grad_s2,SAFETENSORS", "gptj_tiny_grad_s2,PYTORCH",
            "gptj_gated_s3,SAFETENSORS", "gptj_gated_s3,PYTORCH"})
    void logitsAndHiddenStates(String name, Checkpoint.Format format) throws IOException {
        Path dir = Shared.fixture(name);
        GptJ m = ModelStore.loadGptJ(dir, null, format);
        assertEquals(AttentionType.COSINE, m.cfg.attentionType());
        JsonNode in = JSON.readTree(dir.resolve("inputs.json").toFile());
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            for (String group : new String[]{"single", "long", "padded_right", "padded_left"}) {
                JsonNode g = in.get(group);
                int b = g.get("input_ids").size(), t = g.get("input_ids").get(0).size();
                float[] logits = m.logits(b, t, flat(g.get("input_ids")), flat(g.get("attention_mask")));
                double d = maxAbsDiff(logits, exp.doubles(group + ".logits"));
                assertTrue(d <= 1e-4, name + " " + group + " logits differ by " + d);
                if (group.equals("single")) {
                    for (int l = 0; l <= m.cfg.nLayer(); l++) {
                        double dh = maxAbsDiff(m.hidden(l), exp.doubles("single.hidden." + l));
                        assertTrue(dh <= 1e-4, "hidden " + l + " differs by " + dh);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"gptj_small_s0,SAFETENSORS", "gptj_small_s0,PYTORCH", "gptj_tiny_grad_s2,SAFETENSORS", "gptj_tiny_grad_s2,PYTORCH",
            "gptj_gated_s3,SAFETENSORS", "gptj_gated_s3,PYTORCH"})
    void lossAndEveryParameterGradient(String name, Checkpoint.Format format) throws IOException {
        Path dir = Shared.fixture(name);
        GptJ m = ModelStore.loadGptJ(dir, null, format);
        JsonNode g = JSON.readTree(dir.resolve("inputs.json").toFile()).get("grad_batch");
        int b = g.get("input_ids").size(), t = g.get("input_ids").get(0).size();
        Batch batch = Batch.lm(b, t, flat(g.get("input_ids")), flat(g.get("attention_mask")), flat(g.get("labels")));
        m.params.zeroGrad();
        double loss = m.trainStep(batch, 1f).mean();
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"));
             SafeTensors grads = SafeTensors.open(dir.resolve("grads_f64.safetensors"))) {
            assertEquals(exp.doubles("grad_batch.loss")[0], loss, 1e-5, "loss");
            assertEquals(exp.doubles("grad_batch.loss")[0], m.evaluate(batch).mean(), 1e-5, "evaluated loss");
            for (Params.View v : m.params.views()) {
                double[] want = grads.doubles(v.name());
                double scale = 0, err = 0;
                for (int i = 0; i < want.length; i++) {
                    scale = Math.max(scale, Math.abs(want[i]));
                    err = Math.max(err, Math.abs(m.params.grad()[v.offset() + i] - want[i]));
                }
                assertTrue(err <= 1e-4 * Math.max(scale, 1e-3), v.name() + ": max error " + err + " against max |grad| " + scale);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"gptj_small_s0,1,SAFETENSORS", "gptj_small_s0,3,SAFETENSORS", "gptj_small_s0,64,SAFETENSORS", "gptj_small_s0,1,PYTORCH",
            "gptj_small_s0,64,PYTORCH", "gptj_gated_s3,1,SAFETENSORS", "gptj_gated_s3,3,SAFETENSORS", "gptj_gated_s3,5,PYTORCH",
            "gptj_gated_s3,64,SAFETENSORS"})
    void greedyGenerationThroughStateHandOver(String name, int segment, Checkpoint.Format format) throws IOException {
        Path dir = Shared.fixture(name);
        GptJ m = ModelStore.loadGptJ(dir, null, format);
        JsonNode g = JSON.readTree(dir.resolve("inputs.json").toFile()).get("generate");
        int[] prompt = new int[g.get("prompt").size()];
        for (int i = 0; i < prompt.length; i++) prompt[i] = g.get("prompt").get(i).asInt();
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            long[] tokens = exp.longs("generate.tokens");
            double[] stepLogits = exp.doubles("generate.step_logits");
            int v = m.cfg.vocabSize();
            GptJSession s = new GptJSession(m, segment);
            float[] logits = s.prefill(new int[][]{prompt});
            for (int i = 0; i < tokens.length; i++) {
                double err = 0;
                for (int j = 0; j < v; j++) err = Math.max(err, Math.abs(logits[j] - stepLogits[i * v + j]));
                assertTrue(err <= 1e-4, "step " + i + " logits differ by " + err);
                int next = org.cottention.generate.Sampler.argmax(logits);
                assertEquals((int) tokens[i], next, "token " + i);
                logits = s.step(new int[]{next});
            }
            assertEquals(prompt.length + tokens.length, s.position(0));
        }
    }
}
