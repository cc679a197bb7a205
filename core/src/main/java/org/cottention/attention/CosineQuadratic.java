package org.cottention.attention;

import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;

/**
 * Causal cosine attention in the quadratic form {@code O = ((Qh Kh^T) .* M) Vt} with the T x T matrix materialised per
 * head — the reference the chunkwise and recurrent forms are tested against (and the memory baseline in the
 * benchmark). Same preprocessing, padding and stabiliser as {@link CosineCausal}; backward ADDS into dq, dk, dv, dm.
 * Independent of the chunkwise kernel: the products go through {@link Gemm#sgemm}.
 */
public final class CosineQuadratic {
    private CosineQuadratic() {}

    /** What backward needs (the T x T matrix is recomputed, not kept). */
    public static final class Context {
        AttnShape shape;
        int[] mask, count;
        float[] a, qh, kh, vs, rq, rk, invG, negLnC;

        public AttnShape shape() {
            return shape;
        }
    }

    public static Context forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out) {
        shape.checkForward(q, k, v, out, mask);
        shape.checkStabiliser("m", m);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        Context ctx = new Context();
        ctx.shape = shape;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.count = CosinePrep.causalCounts(shape, mask, null, null);
        ctx.negLnC = CosinePrep.negLogCounts(ctx.count, null);
        ctx.invG = new float[B * H * T];
        ctx.a = new float[H];
        for (int h = 0; h < H; h++) ctx.a[h] = CosinePrep.sigmoid(m[h]);
        int n = B * H * T * D;
        ctx.qh = new float[n];
        ctx.kh = new float[n];
        ctx.vs = new float[n];
        ctx.rq = new float[B * H * T];
        ctx.rk = new float[B * H * T];
        Parallel.forRange(B * H, 1, (lo, hi) -> {
          float[] att = new float[T * T]; // per thread, reused across heads
          for (int bh = lo; bh < hi; bh++) {
            int b = bh / H, h = bh % H, base = bh * T * D;
            CosinePrep.normalizeHead(shape, q, b, h, ctx.mask, ctx.qh, base, ctx.rq, bh * T);
            CosinePrep.normalizeHead(shape, k, b, h, ctx.mask, ctx.kh, base, ctx.rk, bh * T);
            CosinePrep.scaleValues(shape, v, b, h, ctx.mask, ctx.negLnC, ctx.a[h], ctx.invG, bh * T, ctx.vs, base);
            scores(T, D, ctx.qh, ctx.kh, base, att);
            Gemm.sgemm(false, false, T, D, T, 1f, att, 0, T, ctx.vs, base, D, 0f, out.data(), out.at(T, D, b, 0, h), out.rowStride());
          }
        });
        return ctx;
    }

    /** A = (Qh Kh^T) .* M, [T, T]. */
    private static void scores(int T, int D, float[] qh, float[] kh, int base, float[] att) {
        Gemm.sgemm(false, true, T, T, D, 1f, qh, base, D, kh, base, D, 0f, att, 0, T);
        BlockMm.keepLower(T, att, 0, T);
    }

    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        shape.checkStabiliser("dm", dm);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        double[] da = new double[B * H];
        Parallel.forRange(B * H, 1, (lo, hi) -> {
          float[] att = new float[T * T], datt = new float[T * T]; // per thread, reused across heads
          float[] dqh = new float[T * D], dkh = new float[T * D], dvs = new float[T * D];
          for (int bh = lo; bh < hi; bh++) {
            int b = bh / H, h = bh % H, base = bh * T * D;
            int go = dOut.at(T, D, b, 0, h), ldo = dOut.rowStride();
            scores(T, D, ctx.qh, ctx.kh, base, att);
            Gemm.sgemm(false, true, T, T, D, 1f, dOut.data(), go, ldo, ctx.vs, base, D, 0f, datt, 0, T); // dA = dO Vt^T
            BlockMm.keepLower(T, datt, 0, T);
            Gemm.sgemm(false, false, T, D, T, 1f, datt, 0, T, ctx.kh, base, D, 0f, dqh, 0, D);          // dQh = dA Kh
            Gemm.sgemm(true, false, T, D, T, 1f, datt, 0, T, ctx.qh, base, D, 0f, dkh, 0, D);           // dKh = dA^T Qh
            Gemm.sgemm(true, false, T, D, T, 1f, att, 0, T, dOut.data(), go, ldo, 0f, dvs, 0, D);       // dVt = A^T dO
            CosinePrep.normalizeBackward(shape, b, h, ctx.mask, 0, T, dqh, 0, ctx.qh, base, ctx.rq, bh * T, dq);
            CosinePrep.normalizeBackward(shape, b, h, ctx.mask, 0, T, dkh, 0, ctx.kh, base, ctx.rk, bh * T, dk);
            da[bh] = CosinePrep.valuesBackward(shape, b, h, ctx.mask, ctx.negLnC, ctx.invG, bh * T, 0, T, dvs, 0, ctx.vs, base, dv);
          }
        });
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += da[b * H + h];
            float a = ctx.a[h];
            dm[h] += (float) (a * (1.0 - a) * s);
        }
    }
}
