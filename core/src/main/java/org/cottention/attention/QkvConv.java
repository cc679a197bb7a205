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
        Parallel.forRange((ch + BLOCK - 1) / BLOCK, 1, (lo, hi) -> {
            for (int blk = lo; blk < hi; blk++) {
                int c0 = blk * BLOCK, c1 = Math.min(ch, c0 + BLOCK);
                for (int b = 0; b < B; b++) {
                    int[] rows = real[b];
                    for (int t = 0; t < T; t++)
                        if (mask != null && mask[b * T + t] == 0) java.util.Arrays.fill(out, oOff + (b * T + t) * ldo + c0, oOff + (b * T + t) * ldo + c1, 0f);
                    for (int j = 0; j < rows.length; j++) {
                        int o = oOff + (b * T + rows[j]) * ldo;
                        for (int c = c0; c < c1; ) {
                            int n = Math.min(F.length(), c1 - c);
                            if (n == F.length()) {
                                FloatVector acc = FloatVector.zero(F);
                                for (int i = 0; i < w; i++) {
                                    int src = j - (w - 1) + i;
                                    FloatVector x = src >= 0 ? FloatVector.fromArray(F, u, uOff + (b * T + rows[src]) * ldu + c)
                                            : tailIn == null ? null : FloatVector.fromArray(F, tailIn, ((b * (w - 1)) + w - 1 + src) * ch + c);
                                    if (x != null) acc = x.fma(FloatVector.fromArray(F, wt, i * ch + c), acc);
                                }
                                acc.intoArray(out, o + c);
                            } else
                                for (int cc = c; cc < c + n; cc++) {
                                    float acc = 0;
                                    for (int i = 0; i < w; i++) {
                                        int src = j - (w - 1) + i;
                                        float x = src >= 0 ? u[uOff + (b * T + rows[src]) * ldu + cc]
                                                : tailIn == null ? 0f : tailIn[((b * (w - 1)) + w - 1 + src) * ch + cc];
                                        acc = Math.fma(x, wt[i * ch + cc], acc);
                                    }
                                    out[o + cc] = acc;
                                }
                            c += n;
                        }
                    }
                    if (newTail != null)
                        for (int r = 0; r < w - 1; r++) {
                            int src = rows.length - (w - 1) + r, d = (b * (w - 1) + r) * ch;
                            if (src >= 0) System.arraycopy(u, uOff + (b * T + rows[src]) * ldu + c0, newTail, d + c0, c1 - c0);
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
        Parallel.forRange((ch + BLOCK - 1) / BLOCK, 1, (lo, hi) -> {
            float[] dw = new float[w * BLOCK];
            for (int blk = lo; blk < hi; blk++) {
                int c0 = blk * BLOCK, c1 = Math.min(ch, c0 + BLOCK);
                java.util.Arrays.fill(dw, 0f);
                for (int b = 0; b < B; b++) {
                    int[] rows = real[b];
                    for (int j = 0; j < rows.length; j++) {
                        int g = dOff + (b * T + rows[j]) * ldd;
                        for (int i = 0; i < w; i++) {
                            int src = j - (w - 1) + i;
                            float[] x = src >= 0 ? u : tailIn;
                            if (x == null) continue;
                            int xo = src >= 0 ? uOff + (b * T + rows[src]) * ldu : ((b * (w - 1)) + w - 1 + src) * ch;
                            int c = c0;
                            for (; c + F.length() <= c1; c += F.length()) {
                                FloatVector gv = FloatVector.fromArray(F, dOut, g + c);
                                int k = i * BLOCK + c - c0;
                                gv.fma(FloatVector.fromArray(F, x, xo + c), FloatVector.fromArray(F, dw, k)).intoArray(dw, k);
                                if (src >= 0) {
                                    int d = duOff + (b * T + rows[src]) * lddu + c;
                                    gv.fma(FloatVector.fromArray(F, wt, i * ch + c), FloatVector.fromArray(F, dU, d)).intoArray(dU, d);
                                }
                            }
                            for (; c < c1; c++) {
                                float gs = dOut[g + c];
                                dw[i * BLOCK + c - c0] = Math.fma(gs, x[xo + c], dw[i * BLOCK + c - c0]);
                                if (src >= 0) {
                                    int d = duOff + (b * T + rows[src]) * lddu + c;
                                    dU[d] = Math.fma(gs, wt[i * ch + c], dU[d]);
                                }
                            }
                        }
                    }
                }
                for (int c = c0; c < c1; c++)
                    for (int i = 0; i < w; i++) dWeight[dwOff + c * w + i] += dw[i * BLOCK + c - c0];
            }
        });
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

    /** Per batch row, the positions of its real tokens in order. */
    private static int[][] realRows(int B, int T, int[] mask) {
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
