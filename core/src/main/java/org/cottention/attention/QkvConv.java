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
 * <p>Threads split the rows into fixed blocks, streaming whole rows; the weight gradient's per-block partial sums are
 * added in block order, so the result is the same whatever the thread count.
 */
public final class QkvConv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Real rows per work item (fixed, so the weight gradient's partial sums do not depend on the thread count). */
    private static final int ROWS = 64;

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
        int[] items = items(B, T, real);
        if (real != null)
            for (int i = 0; i < B * T; i++) if (mask[i] == 0) java.util.Arrays.fill(out, oOff + i * ldo, oOff + i * ldo + ch, 0f);
        Parallel.forRange(items.length / 3, grain(ch, w), (lo, hi) -> {
            for (int it = lo; it < hi; it++) {
                int b = items[3 * it], j0 = items[3 * it + 1], j1 = items[3 * it + 2];
                for (int j = j0; j < j1; j++) forwardRow(u, uOff, ldu, real, b, T, ch, w, j, tailIn, wt, out, oOff + (b * T + row(real, b, j)) * ldo);
            }
        });
        if (tailOut == null) return;
        float[] newTail = new float[B * (w - 1) * ch]; // tailOut may be tailIn: build it aside
        for (int b = 0; b < B; b++) {
            int nr = real == null ? T : real[b].length;
            for (int r = 0; r < w - 1; r++) {
                int src = nr - (w - 1) + r;
                if (src >= 0 || tailIn != null)
                    System.arraycopy((src >= 0 ? u : tailIn), inputOffset(uOff, ldu, real, b, T, ch, w, src),
                            newTail, (b * (w - 1) + r) * ch, ch);
            }
        }
        System.arraycopy(newTail, 0, tailOut, 0, newTail.length);
    }

    /** Row j (a real index) of batch row b of conv(u) into out[o, o + ch): what {@link #forward} and {@link #rows} compute. */
    private static void forwardRow(float[] u, int uOff, int ldu, int[][] real, int b, int T, int ch, int w, int j,
                                   float[] tailIn, float[] wt, float[] out, int o) {
        if (w == 2 && j > 0) { // the common width, both inputs real: one pass (the same operations in order)
            conv2Row(u, inputOffset(uOff, ldu, real, b, T, ch, w, j - 1), u, inputOffset(uOff, ldu, real, b, T, ch, w, j), wt, out, o, ch);
            return;
        }
        boolean first = true;
        for (int i = 0; i < w; i++) { // out (+)= W[:, i] * (the real row w-1-i back)
            int src = j - (w - 1) + i;
            if (src < 0 && tailIn == null) continue; // zeros before the first token
            float[] x = (src >= 0 ? u : tailIn);
            int xo = inputOffset(uOff, ldu, real, b, T, ch, w, src);
            if (first) mulRow(x, xo, wt, i * ch, out, o, ch);
            else fmaRow(x, xo, wt, i * ch, out, o, ch);
            first = false;
        }
    }

    /**
     * conv(u) as a {@link QkvSource}: each row computed when the attention kernel asks for it, the same bits as
     * {@link #forward} writes (the carried-out tail is not produced: a training forward, which starts fresh, has
     * none). u is read at every call, so it must not change until the backward is done; the weights are copied here.
     */
    public static QkvSource rows(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                                 int[] mask, float[] tailIn) {
        check(B, T, ch, w, mask, tailIn, null);
        float[] wt = transposed(weight, wOff, ch, w);
        int[][] real = realRows(B, T, mask);
        int[] index = null; // (b, t) -> its real index j, -1 at padding
        if (real != null) {
            index = new int[B * T];
            java.util.Arrays.fill(index, -1);
            for (int b = 0; b < B; b++) for (int j = 0; j < real[b].length; j++) index[b * T + real[b][j]] = j;
        }
        final int[] idx = index;
        return (b, t, dst, off) -> {
            int j = idx == null ? t : idx[b * T + t];
            if (j < 0) java.util.Arrays.fill(dst, off, off + ch, 0f);
            else forwardRow(u, uOff, ldu, real, b, T, ch, w, j, tailIn, wt, dst, off);
        };
    }

    /**
     * Given dOut [B*T, ch]: dU += conv^T(dOut) (0 at padding rows), dWeight [ch, 1, w] += sum over real rows of
     * dOut_t[c] u_{t-w+1+i}[c] (the carried-in tail included). No gradient flows into tailIn.
     */
    public static void backward(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                                int[] mask, float[] tailIn, float[] dOut, int dOff, int ldd, float[] dU, int duOff, int lddu,
                                float[] dWeight, int dwOff) {
        if (dU == dOut && duOff == dOff) throw new IllegalArgumentException("conv backward: dU is dOut; use backwardInPlace");
        backward(B, T, ch, w, u, uOff, ldu, weight, wOff, mask, tailIn, dOut, dOff, ldd, dU, duOff, lddu, false, dWeight, dwOff);
    }

    /**
     * {@link #backward} with dU written over dOut: on return dOut holds dU (0 at padding rows), the same bits that
     * backward adds into a zeroed dU, and dWeight gets the same sum added. A gated layer needs no second [B*T, ch]
     * buffer for dU, and dU is neither zeroed nor read.
     */
    public static void backwardInPlace(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                                       int[] mask, float[] tailIn, float[] dOut, int dOff, int ldd, float[] dWeight, int dwOff) {
        backward(B, T, ch, w, u, uOff, ldu, weight, wOff, mask, tailIn, dOut, dOff, ldd, dOut, dOff, ldd, true, dWeight, dwOff);
    }

    /**
     * Row j's dU reads dOut of rows j .. j+w-1 and row j's dW terms read dOut_j, so walking each item's rows in order,
     * row j can be overwritten once it is done; only the first w-1 rows of the next item (same batch row), which
     * another thread may overwrite first, are read from a copy taken before the pass.
     */
    private static void backward(int B, int T, int ch, int w, float[] u, int uOff, int ldu, float[] weight, int wOff,
                                 int[] mask, float[] tailIn, float[] dOut, int dOff, int ldd, float[] dU, int duOff, int lddu,
                                 boolean inPlace, float[] dWeight, int dwOff) {
        check(B, T, ch, w, mask, tailIn, null);
        float[] wt = transposed(weight, wOff, ch, w);
        int[][] real = realRows(B, T, mask);
        int[] items = items(B, T, real);
        int n = items.length / 3;
        // in place: item it's first w-1 rows of dOut, for item it-1 (null: no item before it in its batch row)
        float[][] head = inPlace ? new float[n][] : null;
        if (inPlace)
            for (int it = 1; it < n; it++) {
                int b = items[3 * it], j0 = items[3 * it + 1], j1 = items[3 * it + 2];
                if (items[3 * (it - 1)] != b) continue;
                int rows = Math.min(w - 1, j1 - j0);
                head[it] = new float[rows * ch];
                for (int r = 0; r < rows; r++) System.arraycopy(dOut, dOff + (b * T + row(real, b, j0 + r)) * ldd, head[it], r * ch, ch);
            }
        float[][] partial = new float[n][]; // dW [w, ch] per item, summed in item order: the same bits for any thread count
        Parallel.forRange(n, grain(ch, w), (lo, hi) -> {
            float[] acc = inPlace ? new float[ch] : null;   // in place: row j's dU until row j is done
            for (int it = lo; it < hi; it++) {
                int b = items[3 * it], j0 = items[3 * it + 1], j1 = items[3 * it + 2], nr = real == null ? T : real[b].length;
                float[] dw = partial[it] = new float[w * ch], after = inPlace && it + 1 < n ? head[it + 1] : null;
                for (int j = j0; j < j1; j++) {
                    int g = dOff + (b * T + row(real, b, j)) * ldd, du = duOff + (b * T + row(real, b, j)) * lddu;
                    if (w == 2 && j > 0 && j + 1 < nr) { // the common width, away from the ends: one pass, same order
                        int prev = inputOffset(uOff, ldu, real, b, T, ch, w, j - 1), cur = inputOffset(uOff, ldu, real, b, T, ch, w, j);
                        if (!inPlace) conv2RowBackward(dOut, g, dOff + (b * T + row(real, b, j + 1)) * ldd, u, prev, cur, wt, dw, dU, du, ch);
                        else if (j + 2 < nr && j + 1 < j1) { // rows j and j+1 together (j+2's dOut: this item's, or the next one's copy)
                            int g1 = dOff + (b * T + row(real, b, j + 1)) * ldd;
                            float[] third = j + 2 < j1 ? dOut : after;
                            int g2 = j + 2 < j1 ? dOff + (b * T + row(real, b, j + 2)) * ldd : 0;
                            conv2RowsBackwardInPlace(dOut, g, g1, third, g2, u, prev, cur, inputOffset(uOff, ldu, real, b, T, ch, w, j + 1), wt, dw, ch);
                            j++;
                        }
                        else if (j + 1 < j1) conv2RowBackwardInPlace(dOut, g, dOut, dOff + (b * T + row(real, b, j + 1)) * ldd, u, prev, cur, wt, dw, ch);
                        else conv2RowBackwardInPlace(dOut, g, after, 0, u, prev, cur, wt, dw, ch);
                        continue;
                    }
                    float[] y = inPlace ? acc : dU;
                    int yo = inPlace ? 0 : du;
                    if (inPlace) java.util.Arrays.fill(acc, 0f);
                    for (int i = 0; i < w; i++) {
                        int src = j - (w - 1) + i, next = j + (w - 1 - i);
                        if (src >= 0 || tailIn != null) // dW[:, i] += dOut_j * (input w-1-i rows before j)
                            fmaRow(dOut, g, (src >= 0 ? u : tailIn), inputOffset(uOff, ldu, real, b, T, ch, w, src), dw, i * ch, ch);
                        if (next >= nr) continue;
                        // dU_j += W[:, i] * dOut of the row that reads j through tap i (in place: past this item, its copy)
                        if (inPlace && next >= j1) fmaRow(after, (next - j1) * ch, wt, i * ch, y, yo, ch);
                        else fmaRow(dOut, dOff + (b * T + row(real, b, next)) * ldd, wt, i * ch, y, yo, ch);
                    }
                    if (inPlace) System.arraycopy(acc, 0, dOut, g, ch);
                }
            }
        });
        if (inPlace && real != null)
            for (int i = 0; i < B * T; i++) if (mask[i] == 0) java.util.Arrays.fill(dOut, dOff + i * ldd, dOff + i * ldd + ch, 0f);
        for (float[] dw : partial)
            for (int c = 0; c < ch; c++)
                for (int i = 0; i < w; i++) dWeight[dwOff + c * w + i] += dw[i * ch + c];
    }

    /** Work items of about ROWS real rows of one batch row each, as (b, first real index, end) triples. */
    private static int[] items(int B, int T, int[][] real) {
        java.util.List<int[]> list = new java.util.ArrayList<>();
        for (int b = 0; b < B; b++) {
            int nr = real == null ? T : real[b].length;
            for (int j = 0; j < nr; j += ROWS) list.add(new int[]{b, j, Math.min(nr, j + ROWS)});
        }
        int[] r = new int[3 * list.size()];
        for (int i = 0; i < list.size(); i++) System.arraycopy(list.get(i), 0, r, 3 * i, 3);
        return r;
    }

    /** Offset of input row src (a real index of batch row b; negative: a row of the carried-in tail). */
    private static int inputOffset(int uOff, int ldu, int[][] real, int b, int T, int ch, int w, int src) {
        return src >= 0 ? uOff + (b * T + row(real, b, src)) * ldu : (b * (w - 1) + w - 1 + src) * ch;
    }

    /** y[yOff + c] = a[aOff + c] * b[bOff + c] for c < n (the first tap: 0 * x + u = u exactly for the identity). */
    private static void mulRow(float[] a, int aOff, float[] b, int bOff, float[] y, int yOff, int n) {
        int c = 0;
        for (; c + F.length() <= n; c += F.length())
            FloatVector.fromArray(F, a, aOff + c).mul(FloatVector.fromArray(F, b, bOff + c)).intoArray(y, yOff + c);
        for (; c < n; c++) y[yOff + c] = a[aOff + c] * b[bOff + c];
    }

    /** y[yOff + c] += a[aOff + c] * b[bOff + c] for c < n (fused multiply-adds, the tail in the same order). */
    private static void fmaRow(float[] a, int aOff, float[] b, int bOff, float[] y, int yOff, int n) {
        int c = 0;
        for (; c + F.length() <= n; c += F.length())
            FloatVector.fromArray(F, a, aOff + c).fma(FloatVector.fromArray(F, b, bOff + c), FloatVector.fromArray(F, y, yOff + c))
                    .intoArray(y, yOff + c);
        for (; c < n; c++) y[yOff + c] = Math.fma(a[aOff + c], b[bOff + c], y[yOff + c]);
    }

    /** Width 2: y = W[:, 1] * cur + (W[:, 0] * prev), as the general loop's two taps compute it (mul, then fma). */
    private static void conv2Row(float[] p, int pOff, float[] x, int xOff, float[] wt, float[] y, int yOff, int n) {
        int c = 0;
        for (; c + F.length() <= n; c += F.length()) {
            FloatVector first = FloatVector.fromArray(F, p, pOff + c).mul(FloatVector.fromArray(F, wt, c));
            FloatVector.fromArray(F, x, xOff + c).fma(FloatVector.fromArray(F, wt, n + c), first).intoArray(y, yOff + c);
        }
        for (; c < n; c++) y[yOff + c] = Math.fma(x[xOff + c], wt[n + c], p[pOff + c] * wt[c]);
    }

    /**
     * Width 2, row j with rows j-1 and j+1 real: dW[0] += dOut_j u_{j-1}, dW[1] += dOut_j u_j, dU_j += W[:, 0] dOut_{j+1}
     * then += W[:, 1] dOut_j: the general loop's operations in its order, in one pass over the row.
     */
    private static void conv2RowBackward(float[] dOut, int g, int gNext, float[] u, int prev, int cur, float[] wt, float[] dw,
                                         float[] dU, int du, int n) {
        int c = 0;
        for (; c + F.length() <= n; c += F.length()) {
            FloatVector gv = FloatVector.fromArray(F, dOut, g + c);
            gv.fma(FloatVector.fromArray(F, u, prev + c), FloatVector.fromArray(F, dw, c)).intoArray(dw, c);
            gv.fma(FloatVector.fromArray(F, u, cur + c), FloatVector.fromArray(F, dw, n + c)).intoArray(dw, n + c);
            FloatVector d = FloatVector.fromArray(F, dOut, gNext + c).fma(FloatVector.fromArray(F, wt, c), FloatVector.fromArray(F, dU, du + c));
            gv.fma(FloatVector.fromArray(F, wt, n + c), d).intoArray(dU, du + c);
        }
        for (; c < n; c++) {
            dw[c] = Math.fma(dOut[g + c], u[prev + c], dw[c]);
            dw[n + c] = Math.fma(dOut[g + c], u[cur + c], dw[n + c]);
            dU[du + c] = Math.fma(dOut[g + c], wt[n + c], Math.fma(dOut[gNext + c], wt[c], dU[du + c]));
        }
    }

    /**
     * {@link #conv2RowBackward} into a zero dU written over dOut_j (the same operations: the first multiply-add onto
     * 0); the next row's dOut at next[gNext ..] (dOut itself, or the next item's copy).
     */
    private static void conv2RowBackwardInPlace(float[] dOut, int g, float[] next, int gNext, float[] u, int prev, int cur, float[] wt,
                                                float[] dw, int n) {
        int c = 0;
        FloatVector zero = FloatVector.zero(F);
        for (; c + F.length() <= n; c += F.length()) {
            FloatVector gv = FloatVector.fromArray(F, dOut, g + c);
            gv.fma(FloatVector.fromArray(F, u, prev + c), FloatVector.fromArray(F, dw, c)).intoArray(dw, c);
            gv.fma(FloatVector.fromArray(F, u, cur + c), FloatVector.fromArray(F, dw, n + c)).intoArray(dw, n + c);
            FloatVector d = FloatVector.fromArray(F, next, gNext + c).fma(FloatVector.fromArray(F, wt, c), zero);
            gv.fma(FloatVector.fromArray(F, wt, n + c), d).intoArray(dOut, g + c);
        }
        for (; c < n; c++) {
            float gs = dOut[g + c];
            dw[c] = Math.fma(gs, u[prev + c], dw[c]);
            dw[n + c] = Math.fma(gs, u[cur + c], dw[n + c]);
            dOut[g + c] = Math.fma(gs, wt[n + c], Math.fma(next[gNext + c], wt[c], 0f));
        }
    }

    /**
     * {@link #conv2RowBackwardInPlace} for rows j and j+1 in one pass (both with real rows on either side): a row's
     * dOut is loaded once for the two rows that read it, and each of u_j and the weight gradients once for two rows:
     * 10 loads and 4 stores per vector of channels instead of 16 and 6. The same operations per element in the same
     * order, so the same bits:
     * dW[0] += dOut_j u_{j-1}, then += dOut_{j+1} u_j (dW[1] likewise with u_j, u_{j+1}); dOut_j and dOut_{j+1} are
     * overwritten only after both are loaded. Row j+2's dOut at next[g2 ..].
     */
    private static void conv2RowsBackwardInPlace(float[] dOut, int g0, int g1, float[] next, int g2, float[] u, int um, int u0, int u1,
                                                 float[] wt, float[] dw, int n) {
        int c = 0;
        FloatVector zero = FloatVector.zero(F);
        for (; c + F.length() <= n; c += F.length()) {
            FloatVector a = FloatVector.fromArray(F, dOut, g0 + c), b = FloatVector.fromArray(F, dOut, g1 + c), e = FloatVector.fromArray(F, next, g2 + c);
            FloatVector x = FloatVector.fromArray(F, u, u0 + c), w0 = FloatVector.fromArray(F, wt, c), w1 = FloatVector.fromArray(F, wt, n + c);
            FloatVector d0 = a.fma(FloatVector.fromArray(F, u, um + c), FloatVector.fromArray(F, dw, c));
            FloatVector d1 = a.fma(x, FloatVector.fromArray(F, dw, n + c));
            b.fma(x, d0).intoArray(dw, c);
            b.fma(FloatVector.fromArray(F, u, u1 + c), d1).intoArray(dw, n + c);
            a.fma(w1, b.fma(w0, zero)).intoArray(dOut, g0 + c);
            b.fma(w1, e.fma(w0, zero)).intoArray(dOut, g1 + c);
        }
        for (; c < n; c++) {
            float ga = dOut[g0 + c], gb = dOut[g1 + c];
            dw[c] = Math.fma(gb, u[u0 + c], Math.fma(ga, u[um + c], dw[c]));
            dw[n + c] = Math.fma(gb, u[u1 + c], Math.fma(ga, u[u0 + c], dw[n + c]));
            dOut[g0 + c] = Math.fma(ga, wt[n + c], Math.fma(gb, wt[c], 0f));
            dOut[g1 + c] = Math.fma(gb, wt[n + c], Math.fma(next[g2 + c], wt[c], 0f));
        }
    }

    /** Position of batch row b's j-th real token. */
    private static int row(int[][] real, int b, int j) {
        return real == null ? j : real[b][j];
    }

    /** Items per part: enough that a tiny call (one decoding step) runs on the calling thread. */
    private static int grain(int ch, int w) {
        return Math.max(1, (1 << 16) / (ROWS * ch * w));
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
