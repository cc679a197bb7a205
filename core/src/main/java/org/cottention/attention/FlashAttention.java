package org.cottention.attention;

import org.cottention.kernels.Parallel;

import static org.cottention.attention.BlockMm.FULL;
import static org.cottention.attention.BlockMm.mm;
import static org.cottention.attention.BlockMm.transpose;

/**
 * Softmax attention tiled with the online softmax (FlashAttention-2 style): the T x T scores are never stored; forward
 * keeps per row the running maximum and normaliser (O(T) memory), backward recomputes each tile's probabilities from
 * them. Causal or bidirectional; same results and mask convention as {@link SoftmaxAttention} ({@link SoftmaxMask}),
 * including rows with no visible real key. Backward ADDS into dq, dk, dv. The context keeps references to q, k, v and
 * out: leave them unchanged until backward.
 */
public final class FlashAttention {
    static final int TILE = 64;

    private FlashAttention() {}

    public static final class Context {
        AttnShape shape;
        boolean causal;
        int[] mask;
        Heads q, k, v, out;
        float[] rowMax, rowSum; // [B, H, T]: softmax row i = exp(s - rowMax[i]) / rowSum[i]

        public AttnShape shape() {
            return shape;
        }
    }

    /** Per-head scratch, allocated once per (batch, head) task. */
    private static final class Tiles {
        final float[] qs, kt, s, pt, vt, acc, dk, dv;
        final float[] rm, rl;

        Tiles(int D) {
            qs = new float[TILE * D];
            kt = new float[D * TILE];
            s = new float[TILE * TILE];
            pt = new float[TILE * TILE];
            vt = new float[D * TILE];
            acc = new float[TILE * D];
            dk = new float[TILE * D];
            dv = new float[TILE * D];
            rm = new float[TILE];
            rl = new float[TILE];
        }
    }

    public static Context forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, boolean causal, Heads out) {
        shape.checkForward(q, k, v, out, mask);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        Context ctx = new Context();
        ctx.shape = shape;
        ctx.causal = causal;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.q = q;
        ctx.k = k;
        ctx.v = v;
        ctx.out = out;
        ctx.rowMax = new float[B * H * T];
        ctx.rowSum = new float[B * H * T];
        final float scale = (float) (1.0 / Math.sqrt(D));
        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H;
            Tiles w = new Tiles(D);
            int firstReal = firstReal(ctx.mask, b, T);
            for (int i0 = 0; i0 < T; i0 += TILE) {
                int br = Math.min(TILE, T - i0);
                loadScaled(q, T, D, b, h, i0, br, scale, w.qs);
                java.util.Arrays.fill(w.acc, 0f);
                java.util.Arrays.fill(w.rm, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(w.rl, 0f);
                int jEnd = keyTileEnd(causal, i0, br, T, firstReal);
                for (int j0 = 0; j0 < jEnd; j0 += TILE) {
                    int bc = Math.min(TILE, T - j0);
                    scores(ctx, w, T, D, b, h, i0, br, j0, bc);
                    for (int r = 0; r < br; r++) {
                        int so = r * TILE;
                        float mx = w.rm[r];
                        for (int c = 0; c < bc; c++) mx = Math.max(mx, w.s[so + c]);
                        if (mx == Float.NEGATIVE_INFINITY) { // nothing visible yet in this row
                            java.util.Arrays.fill(w.s, so, so + bc, 0f);
                            continue;
                        }
                        float alpha = (float) Math.exp(w.rm[r] - mx), sum = 0f;
                        for (int c = 0; c < bc; c++) {
                            float e = (float) Math.exp(w.s[so + c] - mx);
                            w.s[so + c] = e;
                            sum += e;
                        }
                        w.rl[r] = w.rl[r] * alpha + sum;
                        w.rm[r] = mx;
                        if (alpha != 1f) for (int d = 0; d < D; d++) w.acc[r * D + d] *= alpha;
                    }
                    mm(br, D, bc, w.s, 0, TILE, v.data(), v.at(T, D, b, j0, h), v.rowStride(), w.acc, 0, D, true, FULL);
                }
                for (int r = 0; r < br; r++) {
                    float inv = 1f / w.rl[r];
                    int oo = out.at(T, D, b, i0 + r, h);
                    for (int d = 0; d < D; d++) out.data()[oo + d] = w.acc[r * D + d] * inv;
                    ctx.rowMax[bh * T + i0 + r] = w.rm[r];
                    ctx.rowSum[bh * T + i0 + r] = w.rl[r];
                }
            }
        });
        return ctx;
    }

    /** Index of the first real token of row b (T if none). */
    private static int firstReal(int[] mask, int b, int T) {
        if (mask == null) return 0;
        for (int t = 0; t < T; t++) if (mask[b * T + t] == 1) return t;
        return T;
    }

    /**
     * Key tiles a query tile must visit: all of them when bidirectional; up to the diagonal when causal — unless the
     * tile holds a row that sees no real key (before the first real token), whose HF softmax spreads over the hidden
     * keys too (all at MIN): then all tiles.
     */
    private static int keyTileEnd(boolean causal, int i0, int br, int T, int firstReal) {
        if (!causal || i0 < firstReal) return T;
        return i0 + br;
    }

    private static void loadScaled(Heads x, int T, int D, int b, int h, int t0, int rows, float scale, float[] dst) {
        for (int r = 0; r < rows; r++) {
            int o = x.at(T, D, b, t0 + r, h);
            for (int d = 0; d < D; d++) dst[r * D + d] = x.data()[o + d] * scale;
        }
    }

    /** w.s[br, bc] (row stride TILE) = masked scaled scores of query rows i0.. against key rows j0..; leaves K^T in w.kt. */
    private static void scores(Context ctx, Tiles w, int T, int D, int b, int h, int i0, int br, int j0, int bc) {
        Heads k = ctx.k;
        transpose(bc, D, k.data(), k.at(T, D, b, j0, h), k.rowStride(), w.kt, 0, TILE);
        mm(br, bc, D, w.qs, 0, D, w.kt, 0, TILE, w.s, 0, TILE, false, FULL);
        boolean diagOrBeyond = ctx.causal && j0 + bc - 1 > i0;
        boolean anyPad = false;
        if (ctx.mask != null) for (int c = 0; c < bc && !anyPad; c++) anyPad = ctx.mask[b * T + j0 + c] == 0;
        if (!diagOrBeyond && !anyPad) return;
        for (int r = 0; r < br; r++)
            for (int c = 0; c < bc; c++) {
                boolean visible = !ctx.causal || j0 + c <= i0 + r;
                boolean pad = ctx.mask != null && ctx.mask[b * T + j0 + c] == 0;
                if (visible && !pad) continue;
                w.s[r * TILE + c] = SoftmaxMask.apply(w.s[r * TILE + c], visible, pad);
            }
    }

    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        final float scale = (float) (1.0 / Math.sqrt(D));
        final boolean causal = ctx.causal;
        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H;
            Tiles w = new Tiles(D);
            int firstReal = firstReal(ctx.mask, b, T);
            // delta_t = dO_t . O_t (the softmax backward's row sums)
            float[] delta = new float[T];
            for (int t = 0; t < T; t++) {
                int go = dOut.at(T, D, b, t, h), oo = ctx.out.at(T, D, b, t, h);
                float s = 0f;
                for (int d = 0; d < D; d++) s += dOut.data()[go + d] * ctx.out.data()[oo + d];
                delta[t] = s;
            }
            for (int j0 = 0; j0 < T; j0 += TILE) {
                int bc = Math.min(TILE, T - j0);
                java.util.Arrays.fill(w.dk, 0f);
                java.util.Arrays.fill(w.dv, 0f);
                transpose(bc, D, ctx.v.data(), ctx.v.at(T, D, b, j0, h), ctx.v.rowStride(), w.vt, 0, TILE);
                for (int i0 = 0; i0 < T; i0 += TILE) {
                    int br = Math.min(TILE, T - i0);
                    if (j0 >= keyTileEnd(causal, i0, br, T, firstReal)) continue;
                    loadScaled(ctx.q, T, D, b, h, i0, br, scale, w.qs);
                    scores(ctx, w, T, D, b, h, i0, br, j0, bc);
                    for (int r = 0; r < br; r++) {
                        float mx = ctx.rowMax[bh * T + i0 + r], inv = 1f / ctx.rowSum[bh * T + i0 + r];
                        for (int c = 0; c < bc; c++) w.s[r * TILE + c] = (float) Math.exp(w.s[r * TILE + c] - mx) * inv;
                    }
                    int go = dOut.at(T, D, b, i0, h), ldo = dOut.rowStride();
                    // dV_j += P^T dO_i
                    BlockMm.mmTransA(bc, D, br, w.s, 0, TILE, dOut.data(), go, ldo, w.dv, 0, D, true, FULL);
                    // dS = P .* (dO V^T - delta) * scale, zero where the key is causally hidden (no gradient there)
                    mm(br, bc, D, dOut.data(), go, ldo, w.vt, 0, TILE, w.pt, 0, TILE, false, FULL);
                    for (int r = 0; r < br; r++)
                        for (int c = 0; c < bc; c++) {
                            int x = r * TILE + c;
                            boolean visible = !causal || j0 + c <= i0 + r;
                            w.s[x] = visible ? w.s[x] * (w.pt[x] - delta[i0 + r]) * scale : 0f;
                        }
                    // dQ_i += dS K_j ; dK_j += dS^T Q_i
                    mm(br, D, bc, w.s, 0, TILE, ctx.k.data(), ctx.k.at(T, D, b, j0, h), ctx.k.rowStride(),
                            dq.data(), dq.at(T, D, b, i0, h), dq.rowStride(), true, FULL);
                    BlockMm.mmTransA(bc, D, br, w.s, 0, TILE, ctx.q.data(), ctx.q.at(T, D, b, i0, h), ctx.q.rowStride(), w.dk, 0, D, true, FULL);
                }
                for (int c = 0; c < bc; c++) {
                    int ko = dk.at(T, D, b, j0 + c, h), vo = dv.at(T, D, b, j0 + c, h);
                    for (int d = 0; d < D; d++) {
                        dk.data()[ko + d] += w.dk[c * D + d];
                        dv.data()[vo + d] += w.dv[c * D + d];
                    }
                }
            }
        });
    }
}
