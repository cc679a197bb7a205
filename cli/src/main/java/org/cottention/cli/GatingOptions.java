package org.cottention.cli;

import org.cottention.model.CosineGate;
import org.cottention.model.GptJConfig;
import picocli.CommandLine.Option;

/**
 * Gated cosine attention's options (math doc §8), shared by the commands that build or load a GPT-J model (a picocli
 * mixin): {@code --cosine-gate none|softplus} and {@code --qkv-conv-size W}. Unset, a loaded model keeps its config's;
 * set on a plain checkpoint, the new parameters start neutral (shut gate, identity convolution), so the model starts
 * equal to its source.
 */
public final class GatingOptions {
    @Option(names = "--cosine-gate", paramLabel = "GATE",
            description = "Decay gate of cosine attention: none or softplus (math doc §8; default: the model's config, none for a new model).")
    String gate;

    @Option(names = "--qkv-conv-size", paramLabel = "W",
            description = "Width of the causal convolution on q, k, v: 0 = none, or >= 2 (default: the model's config, 0 for a new model).")
    Integer convSize;

    /** The gate asked for, or null (keep the config's); an error naming the option for an unknown value. */
    public CosineGate gate() {
        if (gate == null) return null;
        try {
            return CosineGate.parse(gate);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--cosine-gate must be none or softplus, got \"" + gate + "\"");
        }
    }

    /** The convolution width asked for, or null (keep the config's); an error naming the option for 1 or negative. */
    public Integer convSize() {
        if (convSize != null && (convSize < 0 || convSize == 1))
            throw new IllegalArgumentException("--qkv-conv-size must be 0 (none) or a width >= 2, got " + convSize);
        return convSize;
    }

    /** True when either option was given. */
    public boolean given() {
        return gate != null || convSize != null;
    }

    /** cfg with the options applied (unset ones keep cfg's values). */
    public GptJConfig apply(GptJConfig cfg) {
        if (!given()) return cfg;
        CosineGate g = gate();
        Integer w = convSize();
        return cfg.withGating(g != null ? g : cfg.cosineGate(), w != null ? w : cfg.qkvConvSize());
    }
}
