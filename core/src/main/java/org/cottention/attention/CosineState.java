package org.cottention.attention;

import java.util.Arrays;

/**
 * Recurrent state of causal cosine attention for B rows and H heads, kept in float64 (as the reference decoder does),
 * so that millions of rank-1 updates lose nothing measurable.
 * <ul>
 *   <li>{@code s} [B, H, D, D]: S[b,h,i,j] = sum_s v'[s,i] k'[s,j] — value index first (the fixture's layout);
 *       v' = mu v / max(c^a, 1), k' = mu N(k).</li>
 *   <li>{@code count} [B]: real tokens seen so far per batch row (the same for every head: c_t of math doc §2).</li>
 * </ul>
 */
public final class CosineState {
    public final int batch, heads, headDim;
    public final double[] s;
    public final int[] count;
    /** Per-(b,h) scratch of the recurrent step (normalised q, k and scaled v), so a step allocates nothing. */
    final float[] work;
    final double[] dwork;

    public CosineState(int batch, int heads, int headDim) {
        if (batch < 1 || heads < 1 || headDim < 1)
            throw new IllegalArgumentException("CosineState: batch, heads, headDim must be >= 1, got " + batch + ", " + heads + ", " + headDim);
        this.batch = batch;
        this.heads = heads;
        this.headDim = headDim;
        this.s = new double[batch * heads * headDim * headDim];
        this.count = new int[batch];
        this.work = new float[batch * heads * 3 * headDim];
        this.dwork = new double[batch * heads * 2 * headDim];
    }

    /** Back to the empty state (zeros, count 0). */
    public void reset() {
        Arrays.fill(s, 0.0);
        Arrays.fill(count, 0);
    }

    public CosineState copy() {
        CosineState c = new CosineState(batch, heads, headDim);
        System.arraycopy(s, 0, c.s, 0, s.length);
        System.arraycopy(count, 0, c.count, 0, count.length);
        return c;
    }

    void checkMatches(String name, AttnShape shape) {
        if (batch != shape.batch() || heads != shape.heads() || headDim != shape.headDim())
            throw new IllegalArgumentException(name + ": state is [B=" + batch + ", H=" + heads + ", D=" + headDim
                    + "] but the attention call is [B=" + shape.batch() + ", H=" + shape.heads() + ", D=" + shape.headDim() + "]");
    }
}
