package org.cottention.attention;

import org.cottention.kernels.Parallel;

import static org.cottention.attention.BlockMm.FULL;
import static org.cottention.attention.BlockMm.mm;
import static org.cottention.attention.BlockMm.transpose;

/**
 * Bidirectional cosine attention (BERT, math doc §3): padding zeroes q, k, v before normalisation, n = real tokens of
 * the row, {@code O = Qh (Kh^T Vt)} with Vt = mu v / max(n^a, 1). The D x D product Kh^T Vt keeps memory linear in T.
 * Backward ADDS into dq, dk, dv and dm (zero them first), like {@link CosineCausal}.
 */
public final class CosineBidir {
    private static final int C = 64; // rows per block when forming Kh^T Vt and Qh^T dO

    private CosineBidir() {}

    /** What backward needs. */
    public static final class Context {
        AttnShape shape;
        int[] mask, count;    // count[b*T+t] = n_b for every t (the divisor's count)
        float[] a;
        float[] qh, kh, vs;   // [B, H, T, D]
        float[] rq, rk;       // [B, H, T]
        float[] invG;         // [B, H, T] mu_t / max(n^a, 1)
        float[] negLnC;       // [B*T] -ln n where n > 1, else 0
        float[] st;           // [B, H, D(key), D(value)] Kh^T Vt

        public AttnShape shape() {
            return shape;
        }
    }

    /** Forward: out [B,T,H,D] overwritten (0 at padding rows). mask [B*T] or null; m [H] raw stabiliser. */
    public static Context forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out) {
        return forward(null, shape, q, k, v, mask, m, out);
    }

    /** As {@link #forward(AttnShape, Heads, Heads, Heads, int[], float[], Heads)}, reusing reuse's buffers when the sizes match. */
    public static Context forward(Context reuse, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out) {
        shape.checkForward(q, k, v, out, mask);
        shape.checkStabiliser("m", m);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        Context ctx = reuse != null ? reuse : new Context();
        ctx.shape = shape;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.count = new int[B * T];
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int t = 0; t < T; t++) n += mask == null ? 1 : mask[b * T + t];
            java.util.Arrays.fill(ctx.count, b * T, b * T + T, n);
        }
        ctx.negLnC = CosinePrep.negLogCounts(ctx.count, ctx.negLnC);
        ctx.a = new float[H];
        for (int h = 0; h < H; h++) ctx.a[h] = CosinePrep.sigmoid(m[h]);
        int n = B * H * T * D, rows = B * H * T;
        if (ctx.qh == null || ctx.qh.length != n) { ctx.qh = new float[n]; ctx.kh = new float[n]; ctx.vs = new float[n]; }
        if (ctx.rq == null || ctx.rq.length != rows) { ctx.rq = new float[rows]; ctx.rk = new float[rows]; ctx.invG = new float[rows]; }
        if (ctx.st == null || ctx.st.length != B * H * D * D) ctx.st = new float[B * H * D * D];
        // Rows are read whole (all heads at once): one head's slice of every row, read head by head, defeats the
        // hardware prefetcher and costs as much as the products (see CosineCausal).
        Parallel.forRange(B * T, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int b = r / T, t = r % T;
                for (int h = 0; h < H; h++) {
                    int bh = b * H + h, base = bh * T * D;
                    CosinePrep.normalizeRows(shape, q, b, h, ctx.mask, t, t + 1, ctx.qh, base, ctx.rq, bh * T);
                    CosinePrep.normalizeRows(shape, k, b, h, ctx.mask, t, t + 1, ctx.kh, base, ctx.rk, bh * T);
                    CosinePrep.scaleValueRows(shape, v, b, h, ctx.mask, ctx.negLnC, ctx.a[h], t, t + 1, ctx.invG, bh * T, ctx.vs, base);
                }
            }
        });
        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H, base = bh * T * D;
            transposedProduct(T, D, ctx.kh, ctx.vs, base, D, ctx.st, bh * D * D);
            mm(T, D, D, ctx.qh, base, D, ctx.st, bh * D * D, D, out.data(), out.at(T, D, b, 0, h), out.rowStride(), false, FULL);
        });
        return ctx;
    }

    /** dst[D,D] = X^T Y for X [T,D] at xOff (contiguous) and Y [T,D] at xOff with row stride ldy — in float64 blocks. */
    private static void transposedProduct(int T, int D, float[] x, float[] y, int xOff, int ldy, float[] dst, int dOff) {
        transposedProduct(T, D, x, xOff, y, xOff, ldy, dst, dOff);
    }

    private static void transposedProduct(int T, int D, float[] x, int xOff, float[] y, int yOff, int ldy, float[] dst, int dOff) {
        float[] blk = new float[D * D];
        double[] acc = new double[D * D];
        for (int r0 = 0; r0 < T; r0 += C) {
            int cn = Math.min(C, T - r0);
            BlockMm.mmTransA(D, D, cn, x, xOff + r0 * D, D, y, yOff + r0 * ldy, ldy, blk, 0, D, false, FULL);
            for (int i = 0; i < D * D; i++) acc[i] += blk[i];
        }
        for (int i = 0; i < D * D; i++) dst[dOff + i] = (float) acc[i];
    }

    /** Backward: dq, dk, dv [B,T,H,D] and dm [H] get the gradients of sum(out * dOut) added. */
    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        shape.checkStabiliser("dm", dm);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        double[] da = new double[B * H];
        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H, base = bh * T * D;
            int go = dOut.at(T, D, b, 0, h), ldo = dOut.rowStride();
            float[] dst = new float[D * D], dstT = new float[D * D], stT = new float[D * D];
            transposedProduct(T, D, ctx.qh, base, dOut.data(), go, ldo, dst, 0); // dSt = Qh^T dO
            transpose(D, D, dst, 0, D, dstT, 0, D);
            transpose(D, D, ctx.st, bh * D * D, D, stT, 0, D);
            float[] dqh = new float[C * D], dkh = new float[C * D], dvs = new float[C * D];
            double daH = 0;
            for (int r0 = 0; r0 < T; r0 += C) {
                int cn = Math.min(C, T - r0), o = base + r0 * D;
                mm(cn, D, D, dOut.data(), go + r0 * ldo, ldo, stT, 0, D, dqh, 0, D, false, FULL); // dQh = dO St^T
                mm(cn, D, D, ctx.vs, o, D, dstT, 0, D, dkh, 0, D, false, FULL);                  // dKh = Vt dSt^T
                mm(cn, D, D, ctx.kh, o, D, dst, 0, D, dvs, 0, D, false, FULL);                   // dVt = Kh dSt
                CosinePrep.normalizeBackward(shape, b, h, ctx.mask, r0, r0 + cn, dqh, 0, ctx.qh, base, ctx.rq, bh * T, dq);
                CosinePrep.normalizeBackward(shape, b, h, ctx.mask, r0, r0 + cn, dkh, 0, ctx.kh, base, ctx.rk, bh * T, dk);
                daH += CosinePrep.valuesBackward(shape, b, h, ctx.mask, ctx.negLnC, ctx.invG, bh * T, r0, r0 + cn, dvs, 0, ctx.vs, base, dv);
            }
            da[bh] = daH;
        });
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += da[b * H + h];
            float a = ctx.a[h];
            dm[h] += (float) (a * (1.0 - a) * s);
        }
    }
}
