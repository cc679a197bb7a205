package org.cottention.attention;

import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;
import org.cottention.kernels.Softmax;

/**
 * Standard softmax attention with the T x T probabilities materialised (what the paper compares against):
 * {@code O = softmax(Q K^T / sqrt(D) + mask) V}, causal or bidirectional, HF mask convention ({@link SoftmaxMask}).
 * Memory O(B H T^2). Backward ADDS into dq, dk, dv. The context keeps references to q, k, v: leave them unchanged
 * until backward.
 */
public final class SoftmaxAttention {
    private SoftmaxAttention() {}

    public static final class Context {
        AttnShape shape;
        boolean causal;
        int[] mask;
        Heads q, k, v;
        float[][] p; // [B*H][T*T] probabilities

        public AttnShape shape() {
            return shape;
        }
    }

    /** Bytes the materialised probabilities need: the benchmark checks this against the heap before running. */
    public static long probabilityBytes(AttnShape s) {
        return 4L * s.batch() * s.heads() * s.seq() * s.seq();
    }

    public static Context forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, boolean causal, Heads out) {
        shape.checkForward(q, k, v, out, mask);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        if ((long) T * T > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("seq " + T + " too long for materialised softmax attention (T*T > 2^31)");
        Context ctx = new Context();
        ctx.shape = shape;
        ctx.causal = causal;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.q = q;
        ctx.k = k;
        ctx.v = v;
        ctx.p = new float[B * H][];
        final float scale = (float) (1.0 / Math.sqrt(D));
        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H;
            float[] p = new float[T * T];
            Gemm.sgemm(false, true, T, T, D, scale, q.data(), q.at(T, D, b, 0, h), q.rowStride(),
                    k.data(), k.at(T, D, b, 0, h), k.rowStride(), 0f, p, 0, T);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < T; j++) {
                    boolean visible = !causal || j <= t, pad = ctx.mask != null && ctx.mask[b * T + j] == 0;
                    if (visible && !pad) continue;
                    p[t * T + j] = SoftmaxMask.apply(p[t * T + j], visible, pad);
                }
                Softmax.forward(p, t * T, T);
            }
            Gemm.sgemm(false, false, T, D, T, 1f, p, 0, T, v.data(), v.at(T, D, b, 0, h), v.rowStride(),
                    0f, out.data(), out.at(T, D, b, 0, h), out.rowStride());
            ctx.p[bh] = p;
        });
        return ctx;
    }

    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        final float scale = (float) (1.0 / Math.sqrt(D));
        final Heads q = ctx.q, k = ctx.k, v = ctx.v;
        // one dS scratch per thread, not per head: the measured allocation then equals the peak need
        Parallel.forRange(B * H, 1, (lo, hi) -> {
          float[] ds = new float[T * T];
          for (int bh = lo; bh < hi; bh++) {
            int b = bh / H, h = bh % H;
            float[] p = ctx.p[bh];
            int go = dOut.at(T, D, b, 0, h), ldo = dOut.rowStride();
            // dV += P^T dO
            Gemm.sgemm(true, false, T, D, T, 1f, p, 0, T, dOut.data(), go, ldo, 1f, dv.data(), dv.at(T, D, b, 0, h), dv.rowStride());
            // dP = dO V^T, then dS = P .* (dP - rowsum(dP .* P)), zero where the key is causally hidden
            Gemm.sgemm(false, true, T, T, D, 1f, dOut.data(), go, ldo, v.data(), v.at(T, D, b, 0, h), v.rowStride(), 0f, ds, 0, T);
            for (int t = 0; t < T; t++) {
                Softmax.backward(p, t * T, ds, t * T, ds, t * T, T, false);
                if (ctx.causal) java.util.Arrays.fill(ds, t * T + t + 1, t * T + T, 0f);
            }
            // dQ += scale dS K ; dK += scale dS^T Q
            Gemm.sgemm(false, false, T, D, T, scale, ds, 0, T, k.data(), k.at(T, D, b, 0, h), k.rowStride(),
                    1f, dq.data(), dq.at(T, D, b, 0, h), dq.rowStride());
            Gemm.sgemm(true, false, T, D, T, scale, ds, 0, T, q.data(), q.at(T, D, b, 0, h), q.rowStride(),
                    1f, dk.data(), dk.at(T, D, b, 0, h), dk.rowStride());
          }
        });
    }
}
