package org.cottention.model;

import org.cottention.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Loads models from HF-layout folders (config.json + weights) into our flat parameter buffers. */
public final class ModelStore {
    private ModelStore() {}

    /** A GPT-J model from a folder; {@code attention} overrides the config's attention_type when not null. */
    public static GptJ loadGptJ(Path dir, AttentionType attention) throws IOException {
        GptJConfig cfg = GptJConfig.read(dir.resolve("config.json"));
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            AttentionType a = attention != null ? attention : cfg.attentionType() != null ? cfg.attentionType()
                    : st.names().stream().anyMatch(n -> n.endsWith("norm_const")) ? AttentionType.COSINE : AttentionType.SOFTMAX;
            GptJ m = new GptJ(cfg.withAttention(a));
            loadWeights(m.params, st, dir.toString());
            return m;
        }
    }

    /** Copies every parameter from the file, or fails listing all missing, unexpected and mis-shaped tensors. */
    static void loadWeights(Params p, SafeTensors st, String where) throws IOException {
        List<String> missing = new ArrayList<>(), shape = new ArrayList<>(), unexpected = new ArrayList<>();
        for (Params.View v : p.views()) {
            if (!st.contains(v.name())) {
                missing.add(v.name());
                continue;
            }
            long[] s = st.info(v.name()).shape();
            if (!Arrays.equals(s, v.shapeLong())) shape.add(v.name() + " is " + Arrays.toString(s) + ", expected " + Arrays.toString(v.shape()));
        }
        for (String n : st.names()) if (!p.has(n)) unexpected.add(n);
        if (!missing.isEmpty() || !shape.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder("weights in " + where + " do not fit the config:");
            if (!missing.isEmpty()) sb.append(" missing ").append(missing).append(';');
            if (!shape.isEmpty()) sb.append(" mis-shaped ").append(shape).append(';');
            if (!unexpected.isEmpty()) sb.append(" unexpected ").append(unexpected).append(';');
            throw new IOException(sb.substring(0, sb.length() - 1));
        }
        for (Params.View v : p.views()) System.arraycopy(st.floats(v.name()), 0, p.data, v.offset(), v.size());
    }
}
