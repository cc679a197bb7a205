package org.cottention.attention;

import java.util.Arrays;

/**
 * Recurrent state of causal cosine attention for B rows and H heads, kept in float64 (as the reference decoder does),
 * so that millions of rank-1 updates lose nothing measurable.
 * <ul>
 *   <li>{@code s} [B, H, D, D]: S[b,h,i,j] = sum_s v'[s,i] k'[s,j] — value index first (the fixture's layout);
 *       v' = mu v / max(c^a, 1), k' = mu N(k).</li>
 *   <li>{@code count} [B]: real tokens seen so far per batch row (the same for every head: c_t of math doc §2).</li>
 *   <li>{@code z} [B, H]: the decayed count of gated attention (math doc §8.5), {@code z = e^a z + mu}; equal to
 *       count where there is no decay.</li>
 *   <li>{@code convTail} [B, w-1, 3E]: with a q/k/v convolution of width w, the last w-1 real rows of its input
 *       (oldest first; zeros before the first token), see {@link QkvConv}. Empty without a convolution.</li>
 * </ul>
 * All of it is constant in the context length.
 */
public final class CosineState {
    public final int batch, heads, headDim, convWidth;
    public final double[] s;
    public final int[] count;
    public final double[] z;
    public final float[] convTail;
    /** Per-(b,h) scratch of the recurrent step (normalised q, k and scaled v), so a step allocates nothing. */
    final float[] work;
    final double[] dwork;

    public CosineState(int batch, int heads, int headDim) {
        this(batch, heads, headDim, 0);
    }

    /** @param convWidth width w of the q/k/v convolution the state carries a tail for (0 = none) */
    public CosineState(int batch, int heads, int headDim, int convWidth) {
        if (batch < 1 || heads < 1 || headDim < 1)
            throw new IllegalArgumentException("CosineState: batch, heads, headDim must be >= 1, got " + batch + ", " + heads + ", " + headDim);
        if (convWidth < 0 || convWidth == 1)
            throw new IllegalArgumentException("CosineState: convolution width must be 0 (none) or >= 2, got " + convWidth);
        this.batch = batch;
        this.heads = heads;
        this.headDim = headDim;
        this.convWidth = convWidth;
        this.s = new double[batch * heads * headDim * headDim];
        this.count = new int[batch];
        this.z = new double[batch * heads];
        this.convTail = new float[convWidth == 0 ? 0 : batch * (convWidth - 1) * 3 * heads * headDim];
        this.work = new float[batch * heads * 3 * headDim];
        this.dwork = new double[batch * heads * 2 * headDim];
    }

    /** Back to the empty state (zeros, count 0). */
    public void reset() {
        Arrays.fill(s, 0.0);
        Arrays.fill(count, 0);
        Arrays.fill(z, 0.0);
        Arrays.fill(convTail, 0f);
    }

    public CosineState copy() {
        CosineState c = new CosineState(batch, heads, headDim, convWidth);
        System.arraycopy(s, 0, c.s, 0, s.length);
        System.arraycopy(count, 0, c.count, 0, count.length);
        System.arraycopy(z, 0, c.z, 0, z.length);
        System.arraycopy(convTail, 0, c.convTail, 0, convTail.length);
        return c;
    }

    /** A detached single-row copy of row b (S, count, z and the convolution tail). */
    public CosineState row(int b) {
        CosineState d = new CosineState(1, heads, headDim, convWidth);
        d.copyRow(0, this, b);
        return d;
    }

    /** Row dst of this state becomes a copy of row srcRow of src (same heads, head dim and convolution width). */
    public void copyRow(int dst, CosineState src, int srcRow) {
        if (src.heads != heads || src.headDim != headDim || src.convWidth != convWidth)
            throw new IllegalArgumentException("CosineState: row of [H=" + src.heads + ", D=" + src.headDim + ", w=" + src.convWidth
                    + "] does not fit [H=" + heads + ", D=" + headDim + ", w=" + convWidth + "]");
        int n = heads * headDim * headDim, tail = convTail.length / batch;
        System.arraycopy(src.s, srcRow * n, s, dst * n, n);
        count[dst] = src.count[srcRow];
        System.arraycopy(src.z, srcRow * heads, z, dst * heads, heads);
        System.arraycopy(src.convTail, srcRow * tail, convTail, dst * tail, tail);
    }

    /** Bytes of the state proper (S, counts, decayed counts, convolution tail), not the step's scratch. */
    public long bytes() {
        return 8L * s.length + 4L * count.length + 8L * z.length + 4L * convTail.length;
    }

    void checkMatches(String name, AttnShape shape) {
        if (batch != shape.batch() || heads != shape.heads() || headDim != shape.headDim())
            throw new IllegalArgumentException(name + ": state is [B=" + batch + ", H=" + heads + ", D=" + headDim
                    + "] but the attention call is [B=" + shape.batch() + ", H=" + shape.heads() + ", D=" + shape.headDim() + "]");
    }
}
