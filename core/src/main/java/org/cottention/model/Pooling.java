package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How a sentence-embedding model is meant to be used, in sentence-transformers' files so that its users' tools read
 * it too: {@code 1_Pooling/config.json} (mean or [CLS] pooling), {@code modules.json} (a Normalize module: unit
 * vectors) and {@code sentence_bert_config.json} ({@code max_seq_length}: tokens per text, [CLS] and [SEP] included;
 * 0 = the model's own limit).
 */
public record Pooling(Mode mode, boolean normalize, int maxSeqLength) {
    public enum Mode {
        MEAN, CLS;

        public static Mode parse(String s) {
            return switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "mean" -> MEAN;
                case "cls" -> CLS;
                default -> throw new IllegalArgumentException("pooling must be mean or cls, got \"" + s + "\"");
            };
        }

        public String configName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The pooling saved in a model folder, or null when it has none. */
    public static Pooling read(Path dir) throws IOException {
        Path cfg = dir.resolve("1_Pooling").resolve("config.json");
        if (!Files.isRegularFile(cfg)) return null;
        JsonNode p = GptJConfig.JSON.readTree(cfg.toFile());
        Mode mode;
        if (p.path("pooling_mode_cls_token").asBoolean(false)) mode = Mode.CLS;
        else if (p.path("pooling_mode_mean_tokens").asBoolean(false)) mode = Mode.MEAN;
        else throw new IOException(cfg + ": only mean or [CLS] pooling is supported");
        boolean normalize = false;
        Path modules = dir.resolve("modules.json");
        if (Files.isRegularFile(modules))
            for (JsonNode m : GptJConfig.JSON.readTree(modules.toFile()))
                normalize |= m.path("type").asText("").endsWith("Normalize");
        int max = 0;
        Path sb = dir.resolve("sentence_bert_config.json");
        if (Files.isRegularFile(sb)) max = GptJConfig.JSON.readTree(sb.toFile()).path("max_seq_length").asInt(0);
        return new Pooling(mode, normalize, max);
    }

    /**
     * The longest input a sentence embedding takes: the folder's max_seq_length when it has one (sentence-transformers'
     * sentence_bert_config.json: 128 for all-MiniLM-L6-v2, where its own tokenizer truncates), else the positions'
     * limit ({@code positions}; 0 for rotary: none). What `embed`, the server and Spark's embedder truncate at.
     */
    public static int inputLimit(Pooling saved, int positions) {
        return saved != null && saved.maxSeqLength() > 0 ? saved.maxSeqLength() : positions;
    }

    /** Writes the three files (each atomically) into dir. */
    public void write(Path dir, int hiddenSize) throws IOException {
        ObjectNode p = GptJConfig.JSON.createObjectNode();
        p.put("word_embedding_dimension", hiddenSize);
        p.put("pooling_mode_cls_token", mode == Mode.CLS);
        p.put("pooling_mode_mean_tokens", mode == Mode.MEAN);
        p.put("pooling_mode_max_tokens", false);
        p.put("pooling_mode_mean_sqrt_len_tokens", false);
        Files.createDirectories(dir.resolve("1_Pooling"));
        AtomicFiles.writeString(dir.resolve("1_Pooling").resolve("config.json"), pretty(p));
        ArrayNode modules = GptJConfig.JSON.createArrayNode();
        modules.addObject().put("idx", 0).put("name", "0").put("path", "").put("type", "sentence_transformers.models.Transformer");
        modules.addObject().put("idx", 1).put("name", "1").put("path", "1_Pooling").put("type", "sentence_transformers.models.Pooling");
        if (normalize) modules.addObject().put("idx", 2).put("name", "2").put("path", "2_Normalize").put("type", "sentence_transformers.models.Normalize");
        AtomicFiles.writeString(dir.resolve("modules.json"), pretty(modules));
        ObjectNode sb = GptJConfig.JSON.createObjectNode();
        sb.put("max_seq_length", maxSeqLength);
        sb.put("do_lower_case", false);
        AtomicFiles.writeString(dir.resolve("sentence_bert_config.json"), pretty(sb));
    }

    private static String pretty(JsonNode n) throws IOException {
        return GptJConfig.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n";
    }

    /**
     * Pools the last hidden state {@code h} [t, E] of one text (no padding): the mean over all its tokens ([CLS] and
     * [SEP] included, as sentence-transformers and langchain4j do) or the [CLS] row; then unit length if asked.
     */
    public float[] pool(float[] h, int t, int e) {
        float[] v = new float[e];
        if (mode == Mode.CLS) System.arraycopy(h, 0, v, 0, e);
        else {
            double[] s = new double[e];
            for (int r = 0; r < t; r++) for (int j = 0; j < e; j++) s[j] += h[r * e + j];
            for (int j = 0; j < e; j++) v[j] = (float) (s[j] / t);
        }
        if (normalize) normalizeInPlace(v);
        return v;
    }

    public static void normalizeInPlace(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        float inv = (float) (1 / Math.max(Math.sqrt(s), 1e-12));
        for (int j = 0; j < v.length; j++) v[j] *= inv;
    }
}
