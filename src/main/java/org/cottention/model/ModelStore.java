package org.cottention.model;

import org.cottention.io.Checkpoint;
import org.cottention.io.TensorSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Loads models from HF-layout folders (config.json + model.safetensors / pytorch_model.bin, sharded or not) into our
 * flat parameter buffers. The attention type comes from --attention, else the config's attention_type, else the
 * weights: cosine when {@code norm_const} tensors are present.
 */
public final class ModelStore {
    private ModelStore() {}

    /** A GPT-J model from a folder, weights in whichever format the folder has. */
    public static GptJ loadGptJ(Path dir, AttentionType attention) throws IOException {
        return loadGptJ(dir, attention, Checkpoint.Format.AUTO);
    }

    public static GptJ loadGptJ(Path dir, AttentionType attention, Checkpoint.Format format) throws IOException {
        GptJConfig cfg = GptJConfig.read(dir.resolve("config.json"));
        try (TensorSource src = Checkpoint.open(dir, format)) {
            GptJ m = new GptJ(cfg.withAttention(attentionType(attention, cfg.attentionType(), src)));
            loadWeights(m.params, src);
            return m;
        }
    }

    static AttentionType attentionType(AttentionType override, AttentionType fromConfig, TensorSource src) {
        if (override != null) return override;
        if (fromConfig != null) return fromConfig;
        return src.names().stream().anyMatch(n -> n.endsWith("norm_const")) ? AttentionType.COSINE : AttentionType.SOFTMAX;
    }

    /**
     * Copies every parameter from the source, or fails listing all missing, unexpected and mis-shaped tensors.
     * Names in {@code ignorable} (e.g. buffers HF saves but we derive) may be present without being parameters.
     */
    public static void loadWeights(Params p, TensorSource src, String... ignorable) throws IOException {
        List<String> missing = new ArrayList<>(), shape = new ArrayList<>(), unexpected = new ArrayList<>();
        for (Params.View v : p.views()) {
            if (!src.contains(v.name())) {
                missing.add(v.name());
                continue;
            }
            long[] s = src.info(v.name()).shape();
            if (!Arrays.equals(s, v.shapeLong())) shape.add(v.name() + " is " + Arrays.toString(s) + ", expected " + Arrays.toString(v.shape()));
        }
        outer:
        for (String n : src.names()) {
            if (p.has(n)) continue;
            for (String ig : ignorable) if (n.endsWith(ig)) continue outer;
            unexpected.add(n);
        }
        if (!missing.isEmpty() || !shape.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder("weights in " + src.path() + " do not fit the config:");
            if (!missing.isEmpty()) sb.append(" missing ").append(summary(missing)).append(';');
            if (!shape.isEmpty()) sb.append(" mis-shaped ").append(summary(shape)).append(';');
            if (!unexpected.isEmpty()) sb.append(" unexpected ").append(summary(unexpected)).append(';');
            throw new IOException(sb.substring(0, sb.length() - 1));
        }
        for (Params.View v : p.views()) {
            float[] x = src.floats(v.name());
            for (int i = 0; i < x.length; i++)
                if (!Float.isFinite(x[i]))
                    throw new IOException("weight " + v.name() + " in " + src.path() + " holds a non-finite value (" + x[i] + ") at flat index " + i);
            System.arraycopy(x, 0, p.data, v.offset(), v.size());
        }
    }

    private static String summary(List<String> names) {
        return names.size() <= 12 ? names.toString() : names.subList(0, 12) + " and " + (names.size() - 12) + " more";
    }
}
