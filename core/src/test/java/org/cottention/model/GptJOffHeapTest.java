package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.io.Checkpoint;
import org.cottention.io.CheckpointConverter;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.cottention.train.Batch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Inference with weight matrices off-heap: memory-mapped f32 and bf16 (mapped from a bf16 file or converted once). */
class GptJOffHeapTest {
    @TempDir
    Path tmp;

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    /** The fixture's "long" group: ids, mask and shape. */
    record Group(int b, int t, int[] ids, int[] mask) {}

    static Group group(Path dir, String name) throws IOException {
        JsonNode g = GptJFixtureTest.JSON.readTree(dir.resolve("inputs.json").toFile()).get(name);
        return new Group(g.get("input_ids").size(), g.get("input_ids").get(0).size(), GptJFixtureTest.flat(g.get("input_ids")),
                GptJFixtureTest.flat(g.get("attention_mask")));
    }

    /** An f32 heap model whose matrices hold exactly the bf16-rounded weights: what a bf16 model computes, in f32. */
    static GptJ roundedReference(Path dir) throws IOException {
        GptJ ref = ModelStore.loadGptJ(dir, null);
        for (Params.View v : ref.params.views()) {
            if (v.shape().length != 2) continue;
            for (int i = v.offset(); i < v.offset() + v.size(); i++)
                ref.params.data[i] = Float.intBitsToFloat((SafeTensors.toBf16(ref.params.data[i]) & 0xffff) << 16);
        }
        return ref;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gptj_small_s0", "gptj_tiny_grad_s2"})
    void mappedF32ReproducesTheFixtureLogits(String name) throws IOException {
        Path dir = Shared.fixture(name);
        GptJ m = ModelStore.loadGptJ(dir, null, Checkpoint.Format.SAFETENSORS, WeightStorage.MAPPED);
        assertTrue(m.params.hasOffHeap());
        assertTrue(4L * m.params.data.length < m.params.valueBytes() / 4, "matrices are not on the heap");
        Group g = group(dir, "long");
        try (SafeTensors exp = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            double d = GptJFixtureTest.maxAbsDiff(m.logits(g.b, g.t, g.ids, g.mask), exp.doubles("long.logits"));
            assertTrue(d <= 1e-4, "logits differ by " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"SAFETENSORS", "PYTORCH"})
    void bf16MatchesAnF32ModelOfTheRoundedWeights(Checkpoint.Format format) throws IOException {
        Path dir = Shared.fixture("gptj_small_s0");
        GptJ bf = ModelStore.loadGptJ(dir, null, format, WeightStorage.BF16), ref = roundedReference(dir);
        for (String group : new String[]{"single", "long", "padded_left"}) {
            Group g = group(dir, group);
            double d = maxAbsDiff(bf.logits(g.b, g.t, g.ids, g.mask), ref.logits(g.b, g.t, g.ids, g.mask));
            assertTrue(d <= 1e-4, group + ": bf16 logits differ from the rounded f32 model by " + d);
        }
        // and decoding one token at a time (the matvec path) agrees with the rounded model's session
        GptJSession a = new GptJSession(bf, 3), b = new GptJSession(ref, 3);
        int[] prompt = {5, 17, 200, 3, 9, 11};
        float[] la = a.prefill(new int[][]{prompt}), lb = b.prefill(new int[][]{prompt});
        for (int step = 0; step < 8; step++) {
            assertTrue(maxAbsDiff(la, lb) <= 1e-4, "step " + step);
            int next = org.cottention.generate.Sampler.argmax(lb);
            assertEquals(next, org.cottention.generate.Sampler.argmax(la), "greedy token " + step);
            la = a.step(new int[]{next});
            lb = b.step(new int[]{next});
        }
    }

    @Test
    void bf16FileIsMappedAndGivesTheSameLogitsAsConvertingOnLoad() throws IOException {
        Path dir = Shared.fixture("gptj_tiny_grad_s2"), bfDir = tmp.resolve("bf16");
        CheckpointConverter.convert(dir, bfDir, new CheckpointConverter.Options(DType.BF16, Checkpoint.Format.SAFETENSORS, 1L << 40));
        GptJ mapped = ModelStore.loadGptJ(bfDir, null, Checkpoint.Format.AUTO, WeightStorage.BF16);
        // the same bf16 file widened onto the heap: every weight (small ones too) holds the same value
        GptJ heap = ModelStore.loadGptJ(bfDir, null, Checkpoint.Format.AUTO, WeightStorage.HEAP);
        Group g = group(dir, "long");
        double d = maxAbsDiff(mapped.logits(g.b, g.t, g.ids, g.mask), heap.logits(g.b, g.t, g.ids, g.mask));
        assertTrue(d <= 1e-4, "mapped bf16 vs widened: " + d);
        // half the bytes of the f32 matrices
        GptJ f32 = ModelStore.loadGptJ(dir, null);
        long matrices = 0;
        for (Params.View v : f32.params.views()) if (v.shape().length == 2) matrices += v.size();
        assertEquals(2 * matrices + 4L * (f32.params.size() - matrices), mapped.params.valueBytes());
        assertEquals(2 * matrices, mapped.params.valueBytes() - 4L * mapped.params.data.length);
    }

    @Test
    void trainingOrSavingOffHeapWeightsFailsClearly() throws IOException {
        Path dir = Shared.fixture("gptj_tiny_grad_s2");
        GptJ m = ModelStore.loadGptJ(dir, null, Checkpoint.Format.AUTO, WeightStorage.BF16);
        Group g = group(dir, "long");
        int n = g.b * g.t;
        int[] labels = new int[n];
        Batch batch = Batch.lm(g.b, g.t, g.ids, g.mask, labels);
        var e = assertThrows(IllegalStateException.class, () -> m.trainStep(batch, 1f));
        assertTrue(e.getMessage().contains("--dtype bf16"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> m.saveModel(tmp.resolve("x")));
        assertTrue(Double.isFinite(m.evaluate(batch).mean()) || m.evaluate(batch).count() == 0);
    }
}
