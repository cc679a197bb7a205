package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.io.Checkpoint;
import org.cottention.io.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.cottention.model.BertFixtureTest.DIR;
import static org.cottention.model.BertFixtureTest.types;
import static org.cottention.model.GptJFixtureTest.JSON;
import static org.cottention.model.GptJFixtureTest.flat;
import static org.cottention.model.GptJFixtureTest.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.*;

/** BERT inference with weight matrices off-heap: memory-mapped f32 reproduces the fixture; bf16 = f32 of the rounded weights. */
class BertOffHeapTest {
    record Group(int b, int t, int[] ids, int[] mask, int[] types) {}

    static Group group(String name) throws IOException {
        JsonNode g = JSON.readTree(DIR.resolve("inputs.json").toFile()).get(name);
        return new Group(g.get("input_ids").size(), g.get("input_ids").get(0).size(), flat(g.get("input_ids")),
                flat(g.get("attention_mask")), types(g));
    }

    @Test
    void mappedF32ReproducesTheFixtureMlmLogits() throws IOException {
        Bert m = ModelStore.loadBert(DIR, null, Checkpoint.Format.SAFETENSORS, WeightStorage.MAPPED);
        assertTrue(m.params.hasOffHeap());
        assertTrue(4L * m.params.data.length < m.params.valueBytes() / 4, "matrices are not on the heap");
        try (SafeTensors exp = SafeTensors.open(DIR.resolve("expected.safetensors"))) {
            for (String name : new String[]{"single", "padded"}) {
                Group g = group(name);
                double d = maxAbsDiff(m.mlmLogits(g.b, g.t, g.ids, g.mask, g.types), exp.doubles(name + ".logits"));
                assertTrue(d <= 1e-4, name + ": logits differ by " + d);
            }
        }
        assertThrows(IllegalStateException.class, () -> m.saveModel(Path.of("unused")), "off-heap models are not saved");
    }

    @ParameterizedTest
    @EnumSource(value = Checkpoint.Format.class, names = {"SAFETENSORS", "PYTORCH"})
    void bf16MatchesAnF32ModelOfTheRoundedWeights(Checkpoint.Format format) throws IOException {
        Bert bf = ModelStore.loadBert(DIR, null, format, WeightStorage.BF16), ref = ModelStore.loadBert(DIR, null);
        for (Params.View v : ref.params.views()) {
            if (v.shape().length != 2) continue;
            for (int i = v.offset(); i < v.offset() + v.size(); i++)
                ref.params.data[i] = Float.intBitsToFloat((SafeTensors.toBf16(ref.params.data[i]) & 0xffff) << 16);
        }
        for (String name : new String[]{"single", "padded"}) {
            Group g = group(name);
            double d = GptJOffHeapTest.maxAbsDiff(bf.mlmLogits(g.b, g.t, g.ids, g.mask, g.types), ref.mlmLogits(g.b, g.t, g.ids, g.mask, g.types));
            assertTrue(d <= 1e-4, name + ": bf16 logits differ from the rounded f32 model by " + d);
        }
    }

    @Test
    void newHeadsCannotBeInitialisedOffHeap() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ModelStore.loadBert(DIR, null, Bert.HeadSet.CLASSIFIER,
                c -> c.withTask(java.util.List.of("a", "b"), false), 1, Checkpoint.Format.AUTO, WeightStorage.BF16));
        assertTrue(e.getMessage().contains("off-heap"), e.getMessage());
    }
}
