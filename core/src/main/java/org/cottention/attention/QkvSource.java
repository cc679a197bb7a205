package org.cottention.attention;

/**
 * The fused q|k|v rows of an attention layer, [3E] per token (q, then k, then v, each [H, D]), produced on demand for
 * a kernel that reads every row where it prepares it ({@link CosineCausal}) instead of from a materialised
 * [B*T, 3E] buffer. Gated attention's convolution (and the model's rotary after it) then never writes q, k and v out:
 * one [B*T, 3E] activation less per layer, and one pass over it less each way.
 *
 * <p>A source must give the same row, bit for bit, every time it is asked (the backward asks again), its inputs must
 * not change between forward and backward, and it is called from several threads at once. Rows at padding may hold
 * anything: the kernel does not read them.
 */
@FunctionalInterface
public interface QkvSource {
    /** Writes token (b, t)'s q|k|v row into dst[off, off + 3E). */
    void row(int b, int t, float[] dst, int off);
}
