package org.cottention.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.Checkpoint;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.cottention.train.Batch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Gated cosine attention in GPT-J (math doc §8): config, conversion of plain checkpoints, bad input, initialisation. */
class GatedGptJTest {

    static GptJConfig tiny(CosineGate gate, int conv) {
        return GptJConfig.of(97, 64, 32, 2, 4, 64, 4, 96, AttentionType.COSINE).withGating(gate, conv);
    }

    @Test
    void configWritesAndReadsTheGatedFields(@TempDir Path dir) throws IOException {
        GptJConfig c = tiny(CosineGate.SOFTPLUS, 3);
        c.write(dir.resolve("config.json"));
        String json = Files.readString(dir.resolve("config.json"));
        assertTrue(json.contains("\"cosine_gate\" : \"softplus\"") && json.contains("\"qkv_conv_size\" : 3"), json);
        assertEquals(c, GptJConfig.read(dir.resolve("config.json")));
        // a plain config stays as it was: no gated fields written
        tiny(CosineGate.NONE, 0).write(dir.resolve("config.json"));
        assertFalse(Files.readString(dir.resolve("config.json")).contains("cosine_gate"));
        assertFalse(GptJConfig.read(dir.resolve("config.json")).gated());
    }

    @Test
    void badGatedConfigsNameTheField(@TempDir Path dir) throws IOException {
        ObjectNode base = tiny(CosineGate.NONE, 0).toJson();
        record Bad(String field, Object value, String attention, String expect) {}
        for (Bad b : List.of(new Bad("cosine_gate", "sigmoid", "cosine", "cosine_gate must be none or softplus"),
                new Bad("qkv_conv_size", 1, "cosine", "qkv_conv_size must be 0"),
                new Bad("qkv_conv_size", -2, "cosine", "qkv_conv_size must be 0"),
                new Bad("qkv_conv_size", "two", "cosine", "qkv_conv_size must be an integer"),
                new Bad("cosine_gate", "softplus", "softmax", "cosine_gate \"softplus\" needs attention_type cosine"),
                new Bad("qkv_conv_size", 2, "softmax", "qkv_conv_size 2 needs attention_type cosine"))) {
            ObjectNode n = base.deepCopy();
            n.put("attention_type", b.attention);
            if (b.value instanceof Integer i) n.put(b.field, i);
            else n.put(b.field, (String) b.value);
            Path f = dir.resolve("config.json");
            Files.writeString(f, n.toString());
            var e = assertThrows(IllegalArgumentException.class, () -> GptJConfig.read(f));
            assertTrue(e.getMessage().contains(b.expect) && e.getMessage().contains(f.toString()), e.getMessage());
        }
    }

    /** A plain checkpoint loaded with gating switched on computes exactly what it did: logits and greedy decoding. */
    @Test
    void plainCheckpointLoadedGatedEqualsItsSource() throws IOException {
        Path dir = Shared.fixture("gptj_small_s0");
        GptJ plain = ModelStore.loadGptJ(dir, null);
        GptJ gated = ModelStore.loadGptJ(dir, AttentionType.COSINE, Checkpoint.Format.AUTO, WeightStorage.HEAP, CosineGate.SOFTPLUS, 2);
        assertTrue(gated.cfg.gated());
        assertEquals(CosineGate.SOFTPLUS, gated.cfg.cosineGate());
        assertTrue(gated.params.has("transformer.h.0.attn.gate_proj.weight") && gated.params.has("transformer.h.1.attn.qkv_conv.weight"));
        int b = 2, t = 37, v = plain.cfg.vocabSize();
        int[] ids = new int[b * t], mask = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 31 + 7) % v;
            mask[i] = i % t < (i / t == 0 ? t : 20) ? 1 : 0;
        }
        assertArrayEquals(plain.logits(b, t, ids, mask), gated.logits(b, t, ids, mask), 0f, "logits");
        GptJSession s1 = new GptJSession(plain, 5), s2 = new GptJSession(gated, 5);
        float[] l1 = s1.prefill(new int[][]{{3, 1, 4, 1, 5, 9, 2, 6, 5}}), l2 = s2.prefill(new int[][]{{3, 1, 4, 1, 5, 9, 2, 6, 5}});
        for (int i = 0; i < 10; i++) {
            assertArrayEquals(l1, l2, 0f, "step " + i);
            int next = org.cottention.generate.Sampler.argmax(l1);
            l1 = s1.step(new int[]{next});
            l2 = s2.step(new int[]{next});
        }
        // and it trains: one step moves the (open) convolution; the shut gate stays shut
        Batch batch = Batch.lm(b, t, ids, mask, ids);
        gated.params.zeroGrad();
        gated.trainStep(batch, 1f);
        var conv = gated.params.view("transformer.h.0.attn.qkv_conv.weight");
        double g = 0;
        for (int i = 0; i < conv.size(); i++) g += Math.abs(gated.params.grad()[conv.offset() + i]);
        assertTrue(g > 0, "the convolution gets a gradient");
    }

    @Test
    void wrongShapedGatingTensorsAreNamed(@TempDir Path tmp) throws IOException {
        Path src = Shared.fixture("gptj_gated_s3");
        for (String bad : new String[]{"transformer.h.1.attn.gate_proj.bias", "transformer.h.0.attn.qkv_conv.weight"}) {
            Path dir = Files.createDirectories(tmp.resolve(bad.replace('.', '_')));
            Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
            List<SafeTensors.Entry> entries = new ArrayList<>();
            try (SafeTensors st = SafeTensors.open(src.resolve("model.safetensors"))) {
                for (String n : st.names()) {
                    float[] x = st.floats(n);
                    long[] shape = st.info(n).shape();
                    if (n.equals(bad)) { // one element short in the last dimension
                        shape = shape.clone();
                        shape[shape.length - 1]--;
                        x = java.util.Arrays.copyOf(x, (int) (x.length / (shape[shape.length - 1] + 1) * shape[shape.length - 1]));
                    }
                    entries.add(new SafeTensors.Entry(n, DType.F32, shape, x));
                }
            }
            SafeTensors.write(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
            var e = assertThrows(IOException.class, () -> ModelStore.loadGptJ(dir, null));
            assertTrue(e.getMessage().contains("mis-shaped") && e.getMessage().contains(bad), e.getMessage());
            // also when gating is given explicitly (a mis-shaped tensor is never taken for a missing one)
            var e2 = assertThrows(IOException.class, () -> ModelStore.loadGptJ(dir, AttentionType.COSINE, Checkpoint.Format.AUTO,
                    WeightStorage.HEAP, CosineGate.SOFTPLUS, 2));
            assertTrue(e2.getMessage().contains(bad), e2.getMessage());
        }
    }

    @Test
    void gatedSoftmaxIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> ModelStore.loadGptJ(Shared.fixture("gptj_small_s0"), AttentionType.SOFTMAX,
                Checkpoint.Format.AUTO, WeightStorage.HEAP, CosineGate.SOFTPLUS, null));
        assertTrue(e.getMessage().contains("cosine_gate") && e.getMessage().contains("softmax"), e.getMessage());
    }

    /** From scratch: decays log-spaced over the heads from 1e-3 to 1e-1 per token, identity convolution, training lowers the loss. */
    @Test
    void freshGatedModelStartsWithSpreadDecaysAndLearns() {
        GptJ m = new GptJ(tiny(CosineGate.SOFTPLUS, 2)).initialise(5);
        float[] bias = m.params.copyOf("transformer.h.1.attn.gate_proj.bias");
        assertEquals(1e-3, CosineGate.softplus(bias[0]), 1e-6);
        assertEquals(1e-1, CosineGate.softplus(bias[3]), 1e-5);
        assertTrue(CosineGate.softplus(bias[1]) > 1e-3 && CosineGate.softplus(bias[2]) < 1e-1);
        float[] conv = m.params.copyOf("transformer.h.0.attn.qkv_conv.weight");
        for (int c = 0; c < conv.length / 2; c++) {
            assertEquals(0f, conv[2 * c]);
            assertEquals(1f, conv[2 * c + 1]);
        }
        // the shared tensors start as in the plain model of the same seed (gated parameters come last)
        GptJ plain = new GptJ(tiny(CosineGate.NONE, 0)).initialise(5);
        assertArrayEquals(plain.params.copyOf("transformer.h.1.attn.q_proj.weight"), m.params.copyOf("transformer.h.1.attn.q_proj.weight"));
        int b = 2, t = 24;
        int[] ids = new int[b * t], mask = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i % 12) * 7 % 97;
            mask[i] = 1;
        }
        Batch batch = Batch.lm(b, t, ids, mask, ids);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++) {
            m.params.zeroGrad();
            double loss = m.trainStep(batch, 1f).mean();
            if (step == 0) first = loss;
            last = loss;
            float[] w = m.params.data, g = m.params.grad();
            for (int i = 0; i < w.length; i++) w[i] -= 0.05f * g[i];
        }
        assertTrue(last < first - 0.1, "loss " + first + " -> " + last);
    }

    /**
     * Training a gated model makes q|k|v inside the attention kernel (convolution and rotary row by row); any other
     * caller of the blocks gets them materialised. Both give the same bits: hidden states, and through the training
     * forward's backward the gradients match the fixture (GptJFixtureTest's gated case).
     */
    @Test
    void rowsOnDemandInTrainingGiveTheMaterialisedBits() {
        for (int conv : new int[]{2, 3}) {
            GptJ m = new GptJ(tiny(CosineGate.SOFTPLUS, conv)).initialise(9);
            java.util.SplittableRandom r = new java.util.SplittableRandom(4);
            for (int l = 0; l < m.blocks.length; l++) { // a convolution that mixes the two rows, not the identity
                Params.View v = m.blocks[l].conv();
                for (int i = v.offset(); i < v.offset() + v.size(); i++) m.params.data[i] = (float) r.nextGaussian();
            }
            int b = 3, t = 70, n = b * t;
            int[] ids = new int[n], mask = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = r.nextInt(97);
                int row = i / t, pos = i % t;
                mask[i] = row == 1 && pos >= 50 || row == 2 && pos % 9 == 4 ? 0 : 1;   // right padding, inner gaps
            }
            float[] fused = m.forward(b, t, ids, mask).lnf.clone();
            GptJ.Acts a = new GptJ.Acts(m.cfg, n, true);
            float[] stored = m.forward(b, t, ids, mask, a, GptJ.Positions.FROM_ZERO,
                    (l, shape, q, k, v, msk, mm, decay, out) -> m.blocks[l].attention().forward(shape, q, k, v, msk, mm, decay, out)).lnf;
            assertArrayEquals(stored, fused, "conv width " + conv);
            for (float[] qkv : m.forward(b, t, ids, mask).qkv) assertNull(qkv, "training keeps no q|k|v after the convolution");
        }
    }
}
