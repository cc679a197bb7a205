package org.cottention.model;

import org.cottention.io.Checkpoint;
import org.cottention.io.TensorSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * Loads models from HF-layout folders (config.json + model.safetensors / pytorch_model.bin, sharded or not) into our
 * flat parameter buffers. The attention type comes from --attention, else the config's attention_type, else the
 * weights: cosine when {@code norm_const} tensors are present.
 */
public final class ModelStore {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ModelStore.class);

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
        loadWeights(p, src, n -> false, n -> {
            for (String ig : ignorable) if (n.endsWith(ig)) return true;
            return false;
        });
    }

    /**
     * Like {@link #loadWeights(Params, TensorSource, String...)}, except that parameters matching {@code optional}
     * may be missing or mis-shaped (they keep their current values: the caller initialised them) and source tensors
     * matching {@code ignorable} are skipped. Returns the optional parameters that were not loaded.
     */
    public static Set<String> loadWeights(Params p, TensorSource src, Predicate<String> optional, Predicate<String> ignorable) throws IOException {
        List<String> missing = new ArrayList<>(), shape = new ArrayList<>(), unexpected = new ArrayList<>();
        Set<String> skipped = new LinkedHashSet<>();
        for (Params.View v : p.views()) {
            if (!src.contains(v.name())) {
                if (optional.test(v.name())) skipped.add(v.name());
                else missing.add(v.name());
                continue;
            }
            long[] s = src.info(v.name()).shape();
            if (!Arrays.equals(s, v.shapeLong())) {
                if (optional.test(v.name())) skipped.add(v.name());
                else shape.add(v.name() + " is " + Arrays.toString(s) + ", expected " + Arrays.toString(v.shape()));
            }
        }
        for (String n : src.names()) {
            if (p.has(n) || ignorable.test(n)) continue;
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
            if (skipped.contains(v.name())) continue;
            float[] x = src.floats(v.name());
            for (int i = 0; i < x.length; i++)
                if (!Float.isFinite(x[i]))
                    throw new IOException("weight " + v.name() + " in " + src.path() + " holds a non-finite value (" + x[i] + ") at flat index " + i);
            System.arraycopy(x, 0, p.data, v.offset(), v.size());
        }
        return skipped;
    }

    // ------------------------------------------------------------------------------------------------ BERT

    /** Tensors HF saves that are not parameters here: position_ids buffers and the tied decoder's aliases. */
    static boolean bertIgnorable(String n) {
        return n.endsWith("position_ids") || n.equals("cls.predictions.decoder.weight") || n.equals("cls.predictions.decoder.bias");
    }

    /** The heads a BERT checkpoint carries. */
    static Bert.HeadSet bertHeadsIn(TensorSource src) {
        boolean mlm = src.contains("cls.predictions.bias"), pooler = src.contains("bert.pooler.dense.weight");
        return new Bert.HeadSet(mlm, pooler, pooler && src.contains("cls.seq_relationship.weight"), pooler && src.contains("classifier.weight"));
    }

    /** A BERT model from a folder with the heads its weights carry; attention from the override, config or weights. */
    public static Bert loadBert(Path dir, AttentionType attention) throws IOException {
        return loadBert(dir, attention, Checkpoint.Format.AUTO);
    }

    /** The same, reading the weights in the given format (safetensors or pytorch_model.bin; AUTO: whichever is there). */
    public static Bert loadBert(Path dir, AttentionType attention, Checkpoint.Format format) throws IOException {
        return loadBert(dir, attention, null, c -> c, 0, format);
    }

    /**
     * A BERT model from a folder with the given heads (null: those in the weights). Head tensors the checkpoint lacks
     * (or has in another shape, e.g. a classifier over other labels) are freshly initialised from seed, with a log
     * line; heads the checkpoint has but that are not wanted are ignored. {@code adjust} edits the config first
     * (e.g. sets the labels of a new classifier). The encoder itself must be complete.
     */
    public static Bert loadBert(Path dir, AttentionType attention, Bert.HeadSet wanted, UnaryOperator<BertConfig> adjust, long seed) throws IOException {
        return loadBert(dir, attention, wanted, adjust, seed, Checkpoint.Format.AUTO);
    }

    static Bert loadBert(Path dir, AttentionType attention, Bert.HeadSet wanted, UnaryOperator<BertConfig> adjust, long seed,
                         Checkpoint.Format format) throws IOException {
        BertConfig cfg = BertConfig.read(dir.resolve("config.json"));
        try (TensorSource src = Checkpoint.open(dir, format)) {
            Bert.HeadSet present = bertHeadsIn(src);
            Bert.HeadSet heads = wanted != null ? wanted : present;
            cfg = adjust.apply(cfg.withAttention(attentionType(attention, cfg.attentionType(), src)));
            Bert m = new Bert(cfg, heads);
            Predicate<String> isHead = n -> !n.startsWith("bert.embeddings.") && !n.startsWith("bert.encoder.");
            Set<String> fresh = loadWeights(m.params, src, isHead, n -> bertIgnorable(n) || (isHead.test(n) && !m.params.has(n)));
            if (!fresh.isEmpty()) {
                m.initialiseOnly(fresh, seed);
                log.info("{}: initialised new head parameters {}", dir, fresh);
            }
            return m;
        }
    }

    private static String summary(List<String> names) {
        return names.size() <= 12 ? names.toString() : names.subList(0, 12) + " and " + (names.size() - 12) + " more";
    }
}
