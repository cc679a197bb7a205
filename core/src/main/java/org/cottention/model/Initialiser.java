package org.cottention.model;

import java.util.SplittableRandom;

/** Initial weights for a new model, deterministic by seed, following HF's conventions by parameter name. */
final class Initialiser {
    /** The cosine stabiliser m (norm_const) starts at 0.5 (math doc §1). */
    static final float NORM_CONST = 0.5f;

    private Initialiser() {}

    /**
     * Matrices and embeddings ~ N(0, std); biases 0; LayerNorm weights 1; {@code norm_const} (cosine stabiliser) =
     * normConst. Each tensor draws from its own stream (seed, index), so adding a layer does not shift the others.
     */
    static void standard(Params p, long seed, float std, float normConst) {
        if (p.hasOffHeap()) throw new IllegalStateException("cannot initialise a model whose weights are off-heap (loaded with --dtype bf16 or --mmap)");
        int idx = 0;
        for (Params.View v : p.views()) {
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + idx++);
            String n = v.name();
            float fill;
            if (n.endsWith("norm_const")) fill = normConst;
            else if (isLayerNorm(n) && n.endsWith(".weight")) fill = 1f;
            else if (n.endsWith(".bias")) fill = 0f;
            else {
                for (int i = 0; i < v.size(); i++) p.data[v.offset() + i] = (float) (r.nextGaussian() * std);
                continue;
            }
            java.util.Arrays.fill(p.data, v.offset(), v.offset() + v.size(), fill);
        }
    }

    static boolean isLayerNorm(String name) {
        return name.contains("ln_") || name.contains("LayerNorm");
    }
}
