package org.cottention.attention;

import org.cottention.kernels.L2Norm;

/**
 * The cosine preprocessing shared by the causal, bidirectional and recurrent forms (math doc §2 step 4, §3, §5):
 * qh = mu N(q), kh = mu N(k), vs = mu v / max(c^a, 1) with a = sigmoid(m), and the backward of each.
 */
final class CosinePrep {
    private CosinePrep() {}

    static float sigmoid(float m) {
        return (float) (1.0 / (1.0 + Math.exp(-(double) m)));
    }

    /**
     * Copies head h of batch row b of x (a [B,T,H,D] view) into dst [T, D] (contiguous), normalised and masked:
     * dst_t = mu_t N(x_t); norms[t] = ||x_t|| (0 at padding).
     */
    static void normalizeHead(AttnShape s, Heads x, int b, int h, int[] mask, float[] dst, int dstOff, float[] norms, int normOff) {
        normalizeRows(s, x, b, h, mask, 0, s.seq(), dst, dstOff, norms, normOff);
    }

    /** {@link #normalizeHead} for rows t in [t0, t1) only (dst row t still at dstOff + t * D). */
    static void normalizeRows(AttnShape s, Heads x, int b, int h, int[] mask, int t0, int t1, float[] dst, int dstOff,
                              float[] norms, int normOff) {
        int T = s.seq(), D = s.headDim();
        for (int t = t0; t < t1; t++)
            norms[normOff + t] = normalizeRow(s, x, b, t, h, mask != null && mask[b * T + t] == 0, dst, dstOff + t * D);
    }

    /** One row: dst[o, o + D) = mu N(x[b, t, h]) (zeros at padding); returns ||x[b, t, h]|| (0 at padding). */
    static float normalizeRow(AttnShape s, Heads x, int b, int t, int h, boolean pad, float[] dst, int o) {
        int D = s.headDim();
        if (pad) {
            java.util.Arrays.fill(dst, o, o + D, 0f);
            return 0f;
        }
        return L2Norm.forward(x.data(), x.at(s.seq(), D, b, t, h), dst, o, D, 1f);
    }

    /**
     * Per (b, t): -ln c_t where c_t > 1, else 0 (the factor of dL/da; at c <= 1 the divisor max(c^a, 1) is flat).
     */
    static float[] negLogCounts(int[] count, float[] reuse) {
        float[] r = reuse != null && reuse.length == count.length ? reuse : new float[count.length];
        for (int i = 0; i < count.length; i++) r[i] = negLogCount(count[i]);
        return r;
    }

    static float negLogCount(int c) {
        return c > 1 ? (float) -Math.log(c) : 0f;
    }

    /** 1 / max(c^a, 1) = exp(-a ln c) for c >= 1 (given -ln c, or 0 for c <= 1). */
    static float invDivisor(float negLnC, float a) {
        return (float) Math.exp(a * (double) negLnC);
    }

    /**
     * For head h of batch row b: invG[t] = mu_t / max(c_t^a, 1) (0 at padding) into invG[invOff + t], and
     * dst_t = invG[t] v_t.
     */
    static void scaleValues(AttnShape s, Heads v, int b, int h, int[] mask, float[] negLnC, float a,
                            float[] invG, int invOff, float[] dst, int dstOff) {
        scaleValueRows(s, v, b, h, mask, negLnC, a, 0, s.seq(), invG, invOff, dst, dstOff);
    }

    /** {@link #scaleValues} for rows t in [t0, t1) only. */
    static void scaleValueRows(AttnShape s, Heads v, int b, int h, int[] mask, float[] negLnC, float a, int t0, int t1,
                               float[] invG, int invOff, float[] dst, int dstOff) {
        int T = s.seq(), D = s.headDim();
        for (int t = t0; t < t1; t++)
            invG[invOff + t] = scaleValueRow(s, v, b, t, h, mask != null && mask[b * T + t] == 0, negLnC[b * T + t], a, dst, dstOff + t * D);
    }

    /** One row: dst[o, o + D) = mu v[b, t, h] / max(c^a, 1) (zeros at padding); returns the factor (0 at padding). */
    static float scaleValueRow(AttnShape s, Heads v, int b, int t, int h, boolean pad, float negLnC, float a, float[] dst, int o) {
        int D = s.headDim();
        if (pad) {
            java.util.Arrays.fill(dst, o, o + D, 0f);
            return 0f;
        }
        // c^a = exp(a ln c) >= 1 for c >= 1, so 1 / max(c^a, 1) = exp(-a ln c) (= 1 for c <= 1)
        float inv = invDivisor(negLnC, a);
        scale(v.data(), v.at(s.seq(), D, b, t, h), inv, dst, o, D);
        return inv;
    }

    /**
     * dx_t += mu_t dN(x_t)^T dxh_t for t in [t0, t1) of head h of batch row b, given u_t = N(x_t) (stored [T, D] at uOff,
     * zero at padding) and norms; dxh row t is at dxhOff + (t - t0) * D.
     */
    static void normalizeBackward(AttnShape s, int b, int h, int[] mask, int t0, int t1, float[] dxh, int dxhOff,
                                  float[] u, int uOff, float[] norms, int normOff, Heads dx) {
        int T = s.seq(), D = s.headDim();
        for (int t = t0; t < t1; t++) {
            if (mask != null && mask[b * T + t] == 0) continue;
            L2Norm.backward(dxh, dxhOff + (t - t0) * D, u, uOff + t * D, norms[normOff + t], dx.data(), dx.at(T, D, b, t, h), D, 1f);
        }
    }

    /**
     * For t in [t0, t1) (dvs row t at dvsOff + (t - t0) * D, vs row t at vsOff + t * D):
     * dv_t += invG_t dvs_t and returns sum_t negLnC_t (dvs_t . vs_t), this head's part of dL/da
     * (multiply by a(1-a) for dL/dm). Padding rows have invG = 0 and vs = 0, so they add nothing.
     */
    static double valuesBackward(AttnShape s, int b, int h, int[] mask, float[] negLnC, float[] invG, int invOff,
                                 int t0, int t1, float[] dvs, int dvsOff, float[] vs, int vsOff, Heads dv) {
        int T = s.seq(), D = s.headDim();
        double da = 0;
        for (int t = t0; t < t1; t++) {
            if (mask != null && mask[b * T + t] == 0) continue;
            da += valueRowBackward(s, b, t, h, negLnC[b * T + t], invG[invOff + t], dvs, dvsOff + (t - t0) * D, vs, vsOff + t * D, dv, true);
        }
        return da;
    }

    /**
     * One (real) row: dv[b, t, h] += invG dvs[o..] (add = false: =, the bits of adding into zeros) and returns its
     * term of dL/da, -ln c (dvs . vs) (0 where c <= 1).
     */
    static double valueRowBackward(AttnShape s, int b, int t, int h, float negLnC, float invG, float[] dvs, int o,
                                   float[] vs, int vo, Heads dv, boolean add) {
        int D = s.headDim();
        axpy(invG, dvs, o, dv.data(), dv.at(s.seq(), D, b, t, h), D, add);
        return negLnC != 0f ? negLnC * (double) L2Norm.dot(dvs, o, vs, vo, D) : 0.0;
    }

    /** {@link #valueRowBackward} returning the plain dot dvs . vs (gated attention needs it for dL/dz as well). */
    static double valueRowBackwardDot(AttnShape s, int b, int t, int h, float invG, float[] dvs, int o, float[] vs, int vo, Heads dv,
                                      boolean add) {
        int D = s.headDim();
        axpy(invG, dvs, o, dv.data(), dv.at(s.seq(), D, b, t, h), D, add);
        return L2Norm.dot(dvs, o, vs, vo, D);
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> F = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;

    /** y[0..n) = f * x. */
    static void scale(float[] x, int xOff, float f, float[] y, int yOff, int n) {
        int j = 0;
        for (int up = F.loopBound(n); j < up; j += F.length())
            jdk.incubator.vector.FloatVector.fromArray(F, x, xOff + j).mul(f).intoArray(y, yOff + j);
        for (; j < n; j++) y[yOff + j] = f * x[xOff + j];
    }

    /** y[0..n) += f * x. */
    static void axpy(float f, float[] x, int xOff, float[] y, int yOff, int n) {
        axpy(f, x, xOff, y, yOff, n, true);
    }

    /** y[0..n) += f * x, or with add = false y = f * x as adding into zeros gives it (y is not read). */
    static void axpy(float f, float[] x, int xOff, float[] y, int yOff, int n, boolean add) {
        int j = 0;
        var vf = jdk.incubator.vector.FloatVector.broadcast(F, f);
        var zero = jdk.incubator.vector.FloatVector.zero(F);
        for (int up = F.loopBound(n); j < up; j += F.length())
            jdk.incubator.vector.FloatVector.fromArray(F, x, xOff + j).fma(vf, add ? jdk.incubator.vector.FloatVector.fromArray(F, y, yOff + j) : zero)
                    .intoArray(y, yOff + j);
        for (; j < n; j++) y[yOff + j] = (add ? y[yOff + j] : 0f) + f * x[xOff + j];
    }

    /** count[b*T+t] = c0[b] + number of real tokens in row b up to and including t. */
    static int[] causalCounts(AttnShape s, int[] mask, int[] c0, int[] reuse) {
        int B = s.batch(), T = s.seq();
        int[] cnt = reuse != null && reuse.length >= B * T ? reuse : new int[B * T];
        for (int b = 0; b < B; b++) {
            int c = c0 == null ? 0 : c0[b];
            for (int t = 0; t < T; t++) {
                c += mask == null ? 1 : mask[b * T + t];
                cnt[b * T + t] = c;
            }
        }
        return cnt;
    }
}
