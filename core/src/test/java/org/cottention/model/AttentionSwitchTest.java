package org.cottention.model;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** An explicit attention type that differs from the checkpoint's: the same weights, norm_const dropped or started at 0.5. */
class AttentionSwitchTest {
    @Test
    void cosineWeightsLoadIntoASoftmaxModelAndBack(@TempDir Path tmp) throws IOException {
        Path dir = Shared.fixture("gptj_small_s0");
        GptJ cosine = ModelStore.loadGptJ(dir, null);
        assertEquals(AttentionType.COSINE, cosine.cfg.attentionType());
        GptJ softmax = ModelStore.loadGptJ(dir, AttentionType.SOFTMAX);
        assertEquals(AttentionType.SOFTMAX, softmax.cfg.attentionType());
        for (Params.View v : softmax.params.views()) // every softmax parameter is the checkpoint's
            assertArrayEquals(slice(cosine.params, cosine.params.view(v.name())), slice(softmax.params, v), v.name());
        assertTrue(cosine.params.views().stream().anyMatch(v -> v.name().endsWith("norm_const")));
        assertFalse(softmax.params.views().stream().anyMatch(v -> v.name().endsWith("norm_const")));

        // saved as a softmax model, then loaded as cosine: norm_const starts at 0.5, the rest is unchanged
        Path saved = Files.createDirectories(tmp.resolve("softmax"));
        softmax.saveModel(saved);
        GptJ back = ModelStore.loadGptJ(saved, AttentionType.COSINE);
        assertEquals(AttentionType.COSINE, back.cfg.attentionType());
        for (Params.View v : back.params.views()) {
            float[] got = slice(back.params, v);
            if (v.name().endsWith("norm_const")) {
                float[] half = new float[got.length];
                Arrays.fill(half, Initialiser.NORM_CONST);
                assertArrayEquals(half, got, v.name());
            } else {
                assertArrayEquals(slice(cosine.params, cosine.params.view(v.name())), got, v.name());
            }
        }
        // without the override the saved model is softmax again (its config says so)
        assertEquals(AttentionType.SOFTMAX, ModelStore.loadGptJ(saved, null).cfg.attentionType());
        // but a checkpoint whose own config says cosine and that lacks norm_const is an error, not a silent switch
        Path broken = Files.createDirectories(tmp.resolve("broken"));
        softmax.saveModel(broken);
        String cfg = Files.readString(broken.resolve("config.json")).replace("\"softmax\"", "\"cosine\"");
        Files.writeString(broken.resolve("config.json"), cfg);
        IOException e = assertThrows(IOException.class, () -> ModelStore.loadGptJ(broken, null));
        assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("norm_const"), e.getMessage());
    }

    private static float[] slice(Params p, Params.View v) {
        return Arrays.copyOfRange(p.data, v.offset(), v.offset() + v.size());
    }
}
