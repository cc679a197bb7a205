package org.cottention.model;

import java.util.Locale;

/**
 * Where a model keeps its weight matrices. HEAP: f32 in the flat {@link Params} buffer (training and inference).
 * MAPPED: f32 read in place from a memory-mapped safetensors file (no heap copy). BF16: bfloat16, mapped in place
 * from a BF16 safetensors file or converted once off-heap — half the bytes. The off-heap kinds compute in f32 and
 * serve inference only. Small tensors (biases, LayerNorms, norm_const) always live on the heap in f32.
 */
public enum WeightStorage {
    HEAP, MAPPED, BF16;

    /** {@code --dtype f32|bf16} with {@code --mmap}: f32 is HEAP, or MAPPED when mapping is asked; bf16 is always off-heap. */
    public static WeightStorage of(String dtype, boolean mmap) {
        return switch (dtype.trim().toLowerCase(Locale.ROOT)) {
            case "f32", "float32" -> mmap ? MAPPED : HEAP;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("--dtype must be f32 or bf16, got \"" + dtype + "\"");
        };
    }
}
