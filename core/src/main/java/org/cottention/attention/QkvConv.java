package org.cottention.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Parallel;

/**
 * The depthwise causal convolution over time of gated cosine attention (math doc §8.2): per channel c of u = [q|k|v]
 * [B, T, ch], {@code u'_t[c] = sum_{i<w} W[c, i] u_{t-w+1+i}[c]} (PyTorch {@code Conv1d(ch, ch, w, groups=ch)} after
 * w-1 zeros of left padding: tap w-1 is the current token). The weight is [ch, 1, w] (index c*w + i).
 *
 * <p>Padding is invisible, as it is to the attention state (S and z pass a padding token through unchanged): the
 * convolution runs over each row's real tokens in order, so a token after a gap sees the real tokens before the gap;
 * rows at padding get 0. For left or right padding this is exactly §8.2's zero-padded convolution; for padding inside
 * a row it is what the recurrent form does, and what lets a right-padded prefill hand over to the decoder. The state
 * between segments is the last w-1 real input rows of each batch row (oldest first; zeros before the first token), in
 * {@link CosineState#convTail}.
 *
 * <p>Threads split the channels, so the weight gradient is summed in the same order whatever the thread count.
 */
public final class QkvConv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Channels per work item. */
    private static final int BLOCK = 64;

    private QkvConv() {}

    /**
     * out = conv(u). u and out are [B*T, ch] row views (row r at off + r*ld; they must not overlap); tailIn [B, w-1, ch]
     * (null: zeros) is the carried-in history; tailOut (may be tailIn, or null) receives each row's last w-1 real
     * input rows.
     */
    public static void forward(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                               int[] mask, float[] tailIn, float[] out, int oOff, int ldo, float[] tailOut) {
        check(B, T, ch, w, mask, tailIn, tailOut);
        float[] wt = transposed(weight, wOff, ch, w);
        int[][] real = realRows(B, T, mask);
        float[] newTail = tailOut == null ? null : new float[B * (w - 1) * ch];
        Parallel.forRange((ch + BLOCK - 1) / BLOCK, grain(B, T, w), (lo, hi) -> {
            for (int blk = lo; blk < hi; blk++) {
                int c0 = blk * BLOCK, c1 = Math.min(ch, c0 + BLOCK);
                for (int b = 0; b < B; b++) {
                    int nr = real == null ? T : real[b].length;
                    if (real != null)
                        for (int t = 0; t < T; t++)
                            if (mask[b * T + t] == 0) java.util.Arrays.fill(out, oOff + (b * T + t) * ldo + c0, oOff + (b * T + t) * ldo + c1, 0f);
                    for (int j = 0; j < nr; j++) {
                        int o = oOff + (b * T + row(real, b, j)) * ldo;
                        java.util.Arrays.fill(out, o + c0, o + c1, 0f);
                        for (int i = 0; i < w; i++) { // out += W[:, i] * (the row i - w + 1 real tokens back)
                            int src = j - (w - 1) + i;
                            if (src < 0 && tailIn == null) continue; // zeros before the first token
                            float[] x = src >= 0 ? u : tailIn;
                            int xo = src >= 0 ? uOff + (b * T + row(real, b, src)) * ldu : (b * (w - 1) + w - 1 + src) * ch;
                            fmaRow(x, xo, wt, i * ch, out, o, c0, c1);
                        }
                    }
                    if (newTail != null)
                        for (int r = 0; r < w - 1; r++) {
                            int src = nr - (w - 1) + r, d = (b * (w - 1) + r) * ch;
                            if (src >= 0) System.arraycopy(u, uOff + (b * T + row(real, b, src)) * ldu + c0, newTail, d + c0, c1 - c0);
                            else if (tailIn != null) System.arraycopy(tailIn, (b * (w - 1) + w - 1 + src) * ch + c0, newTail, d + c0, c1 - c0);
                            else java.util.Arrays.fill(newTail, d + c0, d + c1, 0f);
                        }
                }
            }
        });
        if (tailOut != null) System.arraycopy(newTail, 0, tailOut, 0, newTail.length);
    }

    /**
     * Given dOut [B*T, ch]: dU += conv^T(dOut) (0 at padding rows), dWeight [ch, 1, w] += sum over real rows of
     * dOut_t[c] u_{t-w+1+i}[c] (the carried-in tail included). No gradient flows into tailIn.
     */
    public static void backward(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                                int[] mask, float[] tailIn, float[] dOut, int dOff, int ldd, float[] dU, int duOff, int lddu,
                                float[] dWeight, int dwOff) {
        check(B, T, ch, w, mask, tailIn, null);
        float[] wt = transposed(weight, wOff, ch, w);
        int[][] real = realRows(B, T, mask);
        Parallel.forRange((ch + BLOCK - 1) / BLOCK, grain(B, T, w), (lo, hi) -> {
            float[] dw = new float[w * BLOCK];
            for (int blk = lo; blk < hi; blk++) {
                int c0 = blk * BLOCK, c1 = Math.min(ch, c0 + BLOCK);
                java.util.Arrays.fill(dw, 0f);
                for (int b = 0; b < B; b++) {
                    int nr = real == null ? T : real[b].length;
                    for (int j = 0; j < nr; j++) {
                        int g = dOff + (b * T + row(real, b, j)) * ldd;
                        for (int i = 0; i < w; i++) {
                            int src = j - (w - 1) + i;
                            if (src < 0 && tailIn == null) continue;
                            float[] x = src >= 0 ? u : tailIn;
                            int xo = src >= 0 ? uOff + (b * T + row(real, b, src)) * ldu : (b * (w - 1) + w - 1 + src) * ch;
                            fmaRow(dOut, g, x, xo, dw, i * BLOCK - c0, c0, c1);// dW[:, i] += dOut_t * x
                            if (src >= 0) fmaRow(dOut, g, wt, i * ch, dU, duOff + (b * T + row(real, b, src)) * lddu, c0, c1); // dU += W[:, i] dOut_t
                        }
                    }
                }
                for (int c = c0; c < c1; c++)
                    for (int i = 0; i < w; i++) dWeight[dwOff + c * w + i] += dw[i * BLOCK + c - c0];
            }
        });
    }

    /** y[yOff + c] += a[aOff + c] * b[bOff + c] for c in [c0, c1), fused multiply-adds in the same order as the tail. */
    private static void fmaRow(float[] a, int aOff, float[] b, int bOff, float[] y, int yOff, int c0, int c1) {
        int c = c0;
        for (; c + F.length() <= c1; c += F.length())
            FloatVector.fromArray(F, a, aOff + c).fma(FloatVector.fromArray(F, b, bOff + c), FloatVector.fromArray(F, y, yOff + c))
                    .intoArray(y, yOff + c);
        for (; c < c1; c++) y[yOff + c] = Math.fma(a[aOff + c], b[bOff + c], y[yOff + c]);
    }

    /** Position of batch row b's j-th real token. */
    private static int row(int[][] real, int b, int j) {
        return real == null ? j : real[b][j];
    }

    /** Channel blocks per work item: enough that a tiny call (one decoding step) runs on the calling thread. */
    private static int grain(int B, int T, int w) {
        return Math.max(1, (1 << 16) / (B * T * BLOCK * w));
    }

    private static void check(int B, int T, int ch, int w, int[] mask, float[] tailIn, float[] tailOut) {
        if (w < 2) throw new IllegalArgumentException("convolution width must be >= 2, got " + w);
        if (mask != null && mask.length != B * T) throw new IllegalArgumentException("mask: length " + mask.length + " != B*T = " + B * T);
        int tail = B * (w - 1) * ch;
        if (tailIn != null && tailIn.length != tail) throw new IllegalArgumentException("conv tail: length " + tailIn.length + " != B*(w-1)*ch = " + tail);
        if (tailOut != null && tailOut.length != tail) throw new IllegalArgumentException("conv tail: length " + tailOut.length + " != B*(w-1)*ch = " + tail);
    }

    /** wt[i, c] = weight[c, 0, i]: taps as rows, so each tap's weights are contiguous over the channels. */
    private static float[] transposed(float[] weight, int wOff, int ch, int w) {
        float[] wt = new float[w * ch];
        for (int c = 0; c < ch; c++)
            for (int i = 0; i < w; i++) wt[i * ch + c] = weight[wOff + c * w + i];
        return wt;
    }

    /** Per batch row, the positions of its real tokens in order; null without a mask (every position). */
    private static int[][] realRows(int B, int T, int[] mask) {
        if (mask == null) return null;
        int[][] r = new int[B][];
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int t = 0; t < T; t++) if (mask == null || mask[b * T + t] != 0) n++;
            r[b] = new int[n];
            n = 0;
            for (int t = 0; t < T; t++) if (mask == null || mask[b * T + t] != 0) r[b][n++] = t;
        }
        return r;
    }
}
