package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.io.Checkpoint;
import org.cottention.io.SafeTensors;
import org.cottention.io.TensorSource;
import org.cottention.testutil.Shared;
import org.cottention.train.Batch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.cottention.model.GptJFixtureTest.JSON;
import static org.cottention.model.GptJFixtureTest.flat;
import static org.cottention.model.GptJFixtureTest.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The BERT masked-LM fixture (authors' formulation, PyTorch) reproduced from model.safetensors and from
 * pytorch_model.bin: MLM logits, hidden states, the grad_batch loss (mean MLM cross-entropy over labels != -100, no
 * NSP: inputs.json says nsp_labels null) and every parameter gradient.
 */
class BertFixtureTest {
    static final Path DIR = Shared.fixture("bert_mlm_s0");

    /** The fixture folder holding only one of the two weight files. */
    static Bert load(Checkpoint.Format format, Path tmp) throws IOException {
        if (format == Checkpoint.Format.AUTO) return ModelStore.loadBert(DIR, null);
        String file = format == Checkpoint.Format.SAFETENSORS ? "model.safetensors" : "pytorch_model.bin";
        Files.copy(DIR.resolve("config.json"), tmp.resolve("config.json"));
        Files.createSymbolicLink(tmp.resolve(file), DIR.resolve(file).toAbsolutePath());
        return ModelStore.loadBert(tmp, null);
    }

    static int[] types(JsonNode g) {
        return flat(g.get("token_type_ids"));
    }

    @ParameterizedTest
    @EnumSource(value = Checkpoint.Format.class, names = {"SAFETENSORS", "PYTORCH"})
    void logitsHiddenStatesLossAndGradients(Checkpoint.Format format, @org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Bert m = load(format, tmp);
        assertEquals(AttentionType.COSINE, m.cfg.attentionType());
        assertEquals(Bert.HeadSet.MASKED_LM, m.heads);
        JsonNode in = JSON.readTree(DIR.resolve("inputs.json").toFile());
        try (SafeTensors exp = SafeTensors.open(DIR.resolve("expected.safetensors"));
             SafeTensors grads = SafeTensors.open(DIR.resolve("grads_f64.safetensors"))) {
            for (String group : new String[]{"single", "padded"}) {
                JsonNode g = in.get(group);
                int b = g.get("input_ids").size(), t = g.get("input_ids").get(0).size();
                float[] logits = m.mlmLogits(b, t, flat(g.get("input_ids")), flat(g.get("attention_mask")), types(g));
                double d = maxAbsDiff(logits, exp.doubles(group + ".logits"));
                System.out.printf("%s %s logits max abs error %.3g%n", format, group, d);
                assertTrue(d <= 1e-4, group + " logits differ by " + d);
                if (group.equals("single")) {
                    for (int l = 0; l <= m.cfg.numHiddenLayers(); l++) {
                        double dh = maxAbsDiff(m.hidden(l), exp.doubles("single.hidden." + l));
                        assertTrue(dh <= 1e-4, "hidden " + l + " differs by " + dh);
                    }
                }
            }
            JsonNode gb = in.get("grad_batch");
            assertTrue(gb.get("nsp_labels").isNull(), "the fixture's loss is MLM only");
            JsonNode g = in.get(gb.get("uses").asText());
            int b = g.get("input_ids").size(), t = g.get("input_ids").get(0).size();
            Batch batch = new Batch(b, t, flat(g.get("input_ids")), flat(g.get("attention_mask")), types(g), flat(g.get("mlm_labels")), null);
            m.params.zeroGrad();
            double loss = m.mlmObjective().trainStep(batch, 1f).mean();
            assertEquals(exp.doubles("grad_batch.loss")[0], loss, 1e-5, "loss");
            assertEquals(exp.doubles("grad_batch.loss")[0], m.mlmObjective().evaluate(batch).mean(), 1e-5, "evaluated loss");
            double worst = 0;
            for (Params.View v : m.params.views()) {
                double[] want = grads.doubles(v.name());
                double scale = 0, err = 0;
                for (int i = 0; i < want.length; i++) {
                    scale = Math.max(scale, Math.abs(want[i]));
                    err = Math.max(err, Math.abs(m.params.grad()[v.offset() + i] - want[i]));
                }
                worst = Math.max(worst, err / Math.max(scale, 1e-3));
                assertTrue(err <= 1e-4 * Math.max(scale, 1e-3), v.name() + ": max error " + err + " against max |grad| " + scale);
            }
            System.out.printf("%s loss error %.3g, worst relative gradient error %.3g%n", format, Math.abs(loss - exp.doubles("grad_batch.loss")[0]), worst);
        }
    }

    @Test
    void bothWeightFilesHoldTheSameParameters() throws IOException {
        try (TensorSource a = Checkpoint.open(DIR, Checkpoint.Format.SAFETENSORS);
             TensorSource b = Checkpoint.open(DIR, Checkpoint.Format.PYTORCH)) {
            for (String n : a.names()) assertArrayEquals(a.floats(n), b.floats(n), n);
        }
    }
}
