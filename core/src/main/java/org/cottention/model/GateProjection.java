package org.cottention.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Ops;
import org.cottention.kernels.Parallel;

/**
 * The decay gate's projection, logit = x W_g^T + b_g (x [n, E], W_g [H, E], b_g [H]): a few heads (H = 8) against a
 * wide input, which the general GEMM handles poorly (its tiles want many output columns). Here each row is one pass
 * over x: per head a dot product vectorised over E, four heads at a time; the backward reads x and writes dx in one
 * pass, accumulating dW_g and db_g per fixed block of rows, summed in block order; lanes are summed in a fixed order
 * ({@link Ops#sumLanes}), so the same bits for any thread count and before or after the JIT compiles it.
 */
public final class GateProjection {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Rows per work item of the backward (fixed, so the weight gradient's partial sums do not depend on threads). */
    private static final int ROWS = 256;

    private GateProjection() {}

    /** logit[r*H + h] = b[bOff + h] + x_r . W[wOff + h*E ..] for r < n (x rows at xOff + r*ldx). */
    public static void forward(float[] x, int xOff, int ldx, float[] w, int wOff, int bOff, float[] logit, int n, int E, int H) {
        Parallel.forRange(n, Math.max(1, (1 << 15) / (E * H)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int xo = xOff + r * ldx;
                int h = 0;
                for (; h + 4 <= H; h += 4) dot4(x, xo, w, wOff + h * E, E, w, bOff + h, logit, r * H + h);
                for (; h < H; h++) logit[r * H + h] = w[bOff + h] + dot(x, xo, w, wOff + h * E, E);
            }
        });
    }

    /**
     * Given d = dL/dlogit [n, H]: dx[r] += sum_h d[r, h] W_h (dx rows at dxOff + r*lddx), dW[h] += sum_r d[r, h] x_r,
     * db[h] += sum_r d[r, h] (dW at g[wOff ..], db at g[bOff ..]).
     */
    public static void backward(float[] x, int xOff, int ldx, float[] w, int wOff, float[] d, float[] dx, int dxOff, int lddx,
                         float[] g, int wgOff, int bgOff, int n, int E, int H) {
        int items = (n + ROWS - 1) / ROWS;
        float[][] partial = new float[items][];
        Parallel.forRange(items, 1, (lo, hi) -> {
            for (int it = lo; it < hi; it++) {
                float[] p = partial[it] = new float[H * E + H]; // dW [H, E], then db [H]
                int r = it * ROWS, end = Math.min(n, r + ROWS);
                for (; r + 4 <= end; r += 4) rows4(x, xOff, ldx, w, wOff, d, dx, dxOff, lddx, p, r, E, H);
                for (; r < end; r++) rows(x, xOff, ldx, w, wOff, d, dx, dxOff, lddx, p, r, r + 1, 0, E, H);
            }
        });
        for (float[] p : partial) {
            for (int i = 0; i < H * E; i++) g[wgOff + i] += p[i];
            for (int h = 0; h < H; h++) g[bgOff + h] += p[H * E + h];
        }
    }

    /**
     * Rows r..r+3 of the backward: each W_h vector and each dW_h vector loaded once for four rows (one row at a time
     * loads and stores dW_h again for every row). The same operations in the same order as {@link #rows} row by row:
     * the same bits.
     */
    private static void rows4(float[] x, int xOff, int ldx, float[] w, int wOff, float[] d, float[] dx, int dxOff, int lddx,
                              float[] p, int r, int E, int H) {
        int x0 = xOff + r * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx;
        int y0 = dxOff + r * lddx, y1 = y0 + lddx, y2 = y1 + lddx, y3 = y2 + lddx, c = 0;
        for (; c + F.length() <= E; c += F.length()) {
            FloatVector xv0 = FloatVector.fromArray(F, x, x0 + c), xv1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector xv2 = FloatVector.fromArray(F, x, x2 + c), xv3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector dx0 = FloatVector.fromArray(F, dx, y0 + c), dx1 = FloatVector.fromArray(F, dx, y1 + c);
            FloatVector dx2 = FloatVector.fromArray(F, dx, y2 + c), dx3 = FloatVector.fromArray(F, dx, y3 + c);
            for (int h = 0; h < H; h++) {
                FloatVector wv = FloatVector.fromArray(F, w, wOff + h * E + c);
                FloatVector d0 = FloatVector.broadcast(F, d[r * H + h]), d1 = FloatVector.broadcast(F, d[(r + 1) * H + h]);
                FloatVector d2 = FloatVector.broadcast(F, d[(r + 2) * H + h]), d3 = FloatVector.broadcast(F, d[(r + 3) * H + h]);
                dx0 = d0.fma(wv, dx0);
                dx1 = d1.fma(wv, dx1);
                dx2 = d2.fma(wv, dx2);
                dx3 = d3.fma(wv, dx3);
                d3.fma(xv3, d2.fma(xv2, d1.fma(xv1, d0.fma(xv0, FloatVector.fromArray(F, p, h * E + c))))).intoArray(p, h * E + c);
            }
            dx0.intoArray(dx, y0 + c);
            dx1.intoArray(dx, y1 + c);
            dx2.intoArray(dx, y2 + c);
            dx3.intoArray(dx, y3 + c);
        }
        rows(x, xOff, ldx, w, wOff, d, dx, dxOff, lddx, p, r, r + 4, c, E, H);
    }

    /**
     * Rows [r0, r1) of the backward, one at a time, from column c0 (the columns before it done by the caller): dx_r
     * += sum_h d[r, h] W_h, dW_h += d[r, h] x_r, db_h += d[r, h].
     */
    private static void rows(float[] x, int xOff, int ldx, float[] w, int wOff, float[] d, float[] dx, int dxOff, int lddx,
                             float[] p, int r0, int r1, int c0, int E, int H) {
        for (int r = r0; r < r1; r++) {
            int xo = xOff + r * ldx, dxo = dxOff + r * lddx, c = c0;
            for (; c + F.length() <= E; c += F.length()) {
                FloatVector xv = FloatVector.fromArray(F, x, xo + c), dxv = FloatVector.fromArray(F, dx, dxo + c);
                for (int h = 0; h < H; h++) {
                    FloatVector dh = FloatVector.broadcast(F, d[r * H + h]);
                    dxv = dh.fma(FloatVector.fromArray(F, w, wOff + h * E + c), dxv);
                    dh.fma(xv, FloatVector.fromArray(F, p, h * E + c)).intoArray(p, h * E + c);
                }
                dxv.intoArray(dx, dxo + c);
            }
            for (; c < E; c++) {
                float dxs = dx[dxo + c];
                for (int h = 0; h < H; h++) {
                    dxs = Math.fma(d[r * H + h], w[wOff + h * E + c], dxs);
                    p[h * E + c] = Math.fma(d[r * H + h], x[xo + c], p[h * E + c]);
                }
                dx[dxo + c] = dxs;
            }
            for (int h = 0; h < H; h++) p[H * E + h] += d[r * H + h];
        }
    }

    /** Four heads' logits at once: one load of x per step for four weight rows (4 accumulators). */
    private static void dot4(float[] x, int xo, float[] w, int wo, int E, float[] b, int bo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c + F.length() <= E; c += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + c);
            a0 = xv.fma(FloatVector.fromArray(F, w, wo + c), a0);
            a1 = xv.fma(FloatVector.fromArray(F, w, wo + E + c), a1);
            a2 = xv.fma(FloatVector.fromArray(F, w, wo + 2 * E + c), a2);
            a3 = xv.fma(FloatVector.fromArray(F, w, wo + 3 * E + c), a3);
        }
        float s0 = Ops.sumLanes(a0), s1 = Ops.sumLanes(a1);
        float s2 = Ops.sumLanes(a2), s3 = Ops.sumLanes(a3);
        for (; c < E; c++) {
            s0 = Math.fma(x[xo + c], w[wo + c], s0);
            s1 = Math.fma(x[xo + c], w[wo + E + c], s1);
            s2 = Math.fma(x[xo + c], w[wo + 2 * E + c], s2);
            s3 = Math.fma(x[xo + c], w[wo + 3 * E + c], s3);
        }
        y[yo] = b[bo] + s0;
        y[yo + 1] = b[bo + 1] + s1;
        y[yo + 2] = b[bo + 2] + s2;
        y[yo + 3] = b[bo + 3] + s3;
    }

    private static float dot(float[] x, int xo, float[] w, int wo, int E) {
        FloatVector a = FloatVector.zero(F);
        int c = 0;
        for (; c + F.length() <= E; c += F.length()) a = FloatVector.fromArray(F, x, xo + c).fma(FloatVector.fromArray(F, w, wo + c), a);
        float s = Ops.sumLanes(a);
        for (; c < E; c++) s = Math.fma(x[xo + c], w[wo + c], s);
        return s;
    }
}
