package org.cottention.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * How the last hidden states of a text become one vector: the mean over its real tokens or the [CLS] state, then
 * optionally scaled to unit L2 norm. One implementation for {@code cottention embed} and the Spark embedder.
 */
public record Pooling(Mode mode, boolean normalize) {
    public enum Mode {
        MEAN, CLS;

        public static Mode parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "mean" -> MEAN;
                case "cls" -> CLS;
                default -> throw new IllegalArgumentException("pooling must be mean or cls, got \"" + s + "\"");
            };
        }
    }

    public static final Pooling DEFAULT = new Pooling(Mode.MEAN, false);

    /**
     * The pooling a model folder asks for: a sentence-transformers layout ({@code 1_Pooling/config.json}, a
     * {@code Normalize} module in {@code modules.json}) says it; otherwise {@link #DEFAULT} (mean, not normalised).
     */
    public static Pooling of(Path modelDir) throws IOException {
        Mode mode = Mode.MEAN;
        boolean norm = false;
        ObjectMapper om = new ObjectMapper();
        Path pool = modelDir.resolve("1_Pooling/config.json");
        if (Files.isRegularFile(pool)) {
            JsonNode n = om.readTree(pool.toFile());
            if (n.path("pooling_mode_cls_token").asBoolean(false)) mode = Mode.CLS;
            else if (!n.path("pooling_mode_mean_tokens").asBoolean(true))
                throw new IOException(pool + ": only mean or [CLS] pooling is supported");
        }
        Path modules = modelDir.resolve("modules.json");
        if (Files.isRegularFile(modules))
            for (JsonNode m : om.readTree(modules.toFile())) norm |= m.path("type").asText("").endsWith(".Normalize");
        return new Pooling(mode, norm);
    }

    /** One vector [e] from the hidden states h [t, e] of one text. */
    public float[] pool(float[] h, int t, int e) {
        float[] v = new float[e];
        if (mode == Mode.CLS) System.arraycopy(h, 0, v, 0, e);
        else {
            for (int r = 0; r < t; r++) for (int j = 0; j < e; j++) v[j] += h[r * e + j];
            for (int j = 0; j < e; j++) v[j] /= t;
        }
        if (normalize) {
            double s = 0;
            for (float x : v) s += x * x;
            float inv = (float) (1 / Math.max(Math.sqrt(s), 1e-12));
            for (int j = 0; j < e; j++) v[j] *= inv;
        }
        return v;
    }

    public String modeName() {
        return mode.name().toLowerCase(Locale.ROOT);
    }
}
