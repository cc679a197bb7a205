package org.cottention.io;

import org.cottention.testutil.Shared;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The fixtures hold the same weights twice: pytorch_model.bin, read by our unpickler, must equal model.safetensors bit for bit. */
class CheckpointFixturesTest {
    @ParameterizedTest
    @ValueSource(strings = {"gptj_small_s0", "gptj_tiny_grad_s2", "bert_mlm_s0"})
    void pytorchBinEqualsSafetensorsBitForBit(String fixture) throws IOException {
        Path dir = Shared.fixture(fixture);
        try (TensorSource st = Checkpoint.open(dir, Checkpoint.Format.SAFETENSORS);
             TensorSource pt = Checkpoint.open(dir, Checkpoint.Format.PYTORCH)) {
            assertEquals("safetensors", st.format());
            assertEquals("pytorch", pt.format());
            assertEquals("pytorch_model", ((PytorchCheckpoint) pt).archiveName());
            for (String name : st.names()) {
                assertTrue(pt.contains(name), name);
                TensorInfo a = st.info(name), b = pt.info(name);
                assertEquals(a.dtype(), b.dtype(), name);
                assertArrayEquals(a.shape(), b.shape(), name);
                MemorySegment ra = st.raw(name), rb = pt.raw(name);
                assertNotNull(rb, name + " is contiguous in the .bin");
                assertEquals(-1, ra.mismatch(rb), name + " raw bytes");
                float[] fa = st.floats(name), fb = pt.floats(name);
                assertEquals(fa.length, fb.length);
                for (int i = 0; i < fa.length; i++)
                    assertEquals(Float.floatToRawIntBits(fa[i]), Float.floatToRawIntBits(fb[i]), name + "[" + i + "]");
            }
            // torch.save keeps tied weights as views of one storage; safetensors drops the aliases
            Set<String> extra = new HashSet<>(pt.names());
            extra.removeAll(st.names());
            if (fixture.startsWith("bert")) {
                assertEquals(Set.of("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"), extra);
                assertEquals(((PytorchCheckpoint) pt).info("bert.embeddings.word_embeddings.weight").storageKey(),
                        ((PytorchCheckpoint) pt).info("cls.predictions.decoder.weight").storageKey());
                assertEquals(-1, pt.raw("cls.predictions.decoder.bias").mismatch(st.raw("cls.predictions.bias")));
            } else {
                assertEquals(Set.of(), extra);
                assertEquals(st.names().size(), pt.names().size());
            }
            ((PytorchCheckpoint) pt).verifyAll();
            Checkpoint.checkFinite(pt);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gptj_small_s0"})
    void folderPrefersSafetensors(String fixture) throws IOException {
        try (TensorSource s = Checkpoint.open(Shared.fixture(fixture))) {
            assertEquals("safetensors", s.format());
        }
        try (TensorSource s = Checkpoint.open(Shared.fixture(fixture, "pytorch_model.bin"))) {
            assertEquals("pytorch", s.format());
        }
    }
}
