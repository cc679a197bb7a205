package org.cottention.bench;

import org.cottention.io.Checkpoint;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.ModelStore;
import org.cottention.model.WeightStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The scale benchmark's pieces on a small model: the streamed random checkpoint loads and the report adds up. */
class ScaleBenchTest {
    @TempDir
    Path tmp;

    @Test
    void paperConfigs() {
        GptJConfig c300 = ScaleBench.config("300m"), c12 = ScaleBench.config("1.2b");
        assertEquals(1024, c300.nEmbd());
        assertEquals(3072, c300.nInner());
        assertEquals(2048, c12.nEmbd());
        assertEquals(8192, c12.nInner());
        assertThrows(IllegalArgumentException.class, () -> ScaleBench.config("7b"));
    }

    @Test
    void smallModelRunsEndToEnd() throws IOException {
        GptJConfig cfg = GptJConfig.of(500, 128, 64, 2, 4, 256, 16, 499, AttentionType.COSINE);
        ScaleBench.Result r = ScaleBench.run("test", cfg, DType.BF16, tmp.resolve("m"), 16, 4, 8 << 20);
        try (SafeTensors st = SafeTensors.open(tmp.resolve("m/model.safetensors"))) {
            assertEquals(DType.BF16, st.info("lm_head.weight").dtype());
            assertEquals(r.fileBytes(), java.nio.file.Files.size(tmp.resolve("m/model.safetensors")));
        }
        GptJ heap = ModelStore.loadGptJ(tmp.resolve("m"), null, Checkpoint.Format.AUTO, WeightStorage.HEAP);
        assertEquals(heap.parameterCount(), r.parameters());
        // bytes per token: every matrix once (bf16) except the embedding table (one row), plus the small f32 tensors
        long small = 0, mats = 0;
        for (var v : heap.params.views()) if (v.shape().length == 2) mats += v.size(); else small += v.size();
        assertEquals(2 * (mats - 500L * 64 + 64) + 4 * small, r.weightBytesPerToken());
        assertTrue(r.measuredReadBandwidth() > 0 && r.decodeTokensPerSec() > 0 && r.prefillTokensPerSec() > 0);
        assertEquals(r.measuredReadBandwidth() / r.weightBytesPerToken(), r.boundTokensPerSec(), 1e-9 * r.boundTokensPerSec());
        // the paired figures (a tiny model's few steps are no measure of speed: only that they were taken)
        for (double v : new double[]{r.decodeStepMsMedian(), r.readBandwidthPaired(), r.fractionOfBoundPaired()})
            assertTrue(v > 0 && Double.isFinite(v), r.toString());
    }
}
