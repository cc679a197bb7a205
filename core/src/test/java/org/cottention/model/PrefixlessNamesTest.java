package org.cottention.model;

import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoints saved from HF {@code BertModel} / {@code GPTJModel} name their tensors without {@code bert.} /
 * {@code transformer.}: they load into the same model, giving the same outputs; a checkpoint holding both spellings
 * of one tensor is refused.
 */
class PrefixlessNamesTest {
    /** The fixture's weights rewritten under renamed tensor names, with its config. */
    static Path renamed(Path fixture, Path tmp, UnaryOperator<String> rename, boolean keepOriginal) throws IOException {
        List<SafeTensors.Entry> out = new ArrayList<>();
        try (SafeTensors st = SafeTensors.open(fixture.resolve("model.safetensors"))) {
            for (String n : st.names()) {
                var i = st.info(n);
                out.add(new SafeTensors.Entry(rename.apply(n), DType.F32, i.shape(), st.floats(n)));
                if (keepOriginal && n.startsWith("bert.encoder.")) out.add(new SafeTensors.Entry(n, DType.F32, i.shape(), st.floats(n)));
            }
        }
        SafeTensors.write(tmp.resolve("model.safetensors"), out, Map.of("format", "pt"));
        Files.copy(fixture.resolve("config.json"), tmp.resolve("config.json"));
        return tmp;
    }

    @Test
    void bertModelNamesWithoutPrefix(@TempDir Path tmp) throws IOException {
        Path fx = Shared.fixture("bert_mlm_s0");
        Path dir = renamed(fx, tmp, n -> n.startsWith("bert.") ? n.substring(5) : n, false);
        Bert want = ModelStore.loadBert(fx, null), got = ModelStore.loadBert(dir, null);
        assertEquals(want.params.size(), got.params.size());
        assertArrayEquals(want.params.data, got.params.data);
        int[] ids = {1, 5, 9, 12, 2};
        assertArrayEquals(want.encode(1, 5, ids, null, null), got.encode(1, 5, ids, null, null));
    }

    @Test
    void gptJModelNamesWithoutPrefix(@TempDir Path tmp) throws IOException {
        Path fx = Shared.fixture("gptj_small_s0");
        Path dir = renamed(fx, tmp, n -> n.startsWith("transformer.") ? n.substring(12) : n, false);
        GptJ want = ModelStore.loadGptJ(fx, null), got = ModelStore.loadGptJ(dir, null);
        assertArrayEquals(want.params.data, got.params.data);
    }

    @Test
    void bothSpellingsOfOneTensorAreRefused(@TempDir Path tmp) throws IOException {
        Path fx = Shared.fixture("bert_mlm_s0");
        Path dir = renamed(fx, tmp, n -> n.startsWith("bert.") ? n.substring(5) : n, true);
        IOException e = assertThrows(IOException.class, () -> ModelStore.loadBert(dir, null));
        assertTrue(e.getMessage().contains("both"), e.getMessage());
    }
}
