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

    /** g = max(c^a, 1): the value divisor for count c (c = 0 only at padding, where the value is zeroed anyway). */
    static float divisor(int c, float a) {
        if (c <= 1) return 1f;
        return (float) Math.max(Math.exp(a * Math.log(c)), 1.0);
    }

    /**
     * Copies head h of batch row b of x (a [B,T,H,D] view) into dst [T, D] (contiguous), normalised and masked:
     * dst_t = mu_t N(x_t); norms[t] = ||x_t|| (0 at padding).
     */
    static void normalizeHead(AttnShape s, Heads x, int b, int h, int[] mask, float[] dst, int dstOff, float[] norms, int normOff) {
        int T = s.seq(), D = s.headDim();
        for (int t = 0; t < T; t++) {
            int o = dstOff + t * D;
            if (mask != null && mask[b * T + t] == 0) {
                java.util.Arrays.fill(dst, o, o + D, 0f);
                norms[normOff + t] = 0f;
            } else {
                norms[normOff + t] = L2Norm.forward(x.data(), x.at(T, D, b, t, h), dst, o, D, 1f);
            }
        }
    }

    /** dst_t = mu_t v_t / g_t for head h of batch row b, with g_t = max(count[b*T+t]^a, 1). */
    static void scaleValues(AttnShape s, Heads v, int b, int h, int[] mask, int[] count, float a, float[] dst, int dstOff) {
        int T = s.seq(), D = s.headDim();
        for (int t = 0; t < T; t++) {
            int o = dstOff + t * D;
            if (mask != null && mask[b * T + t] == 0) {
                java.util.Arrays.fill(dst, o, o + D, 0f);
                continue;
            }
            float inv = 1f / divisor(count[b * T + t], a);
            int src = v.at(T, D, b, t, h);
            for (int d = 0; d < D; d++) dst[o + d] = v.data()[src + d] * inv;
        }
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
     * dv_t += mu_t dvs_t / g_t and returns sum_t [c_t^a > 1] (-ln c_t) (dvs_t . vs_t), the part of dL/da of this head
     * (multiply by a(1-a) for dL/dm).
     */
    static double valuesBackward(AttnShape s, int b, int h, int[] mask, int[] count, float a, int t0, int t1,
                                 float[] dvs, int dvsOff, float[] vs, int vsOff, Heads dv) {
        int T = s.seq(), D = s.headDim();
        double da = 0;
        for (int t = t0; t < t1; t++) {
            if (mask != null && mask[b * T + t] == 0) continue;
            int c = count[b * T + t];
            float inv = 1f / divisor(c, a);
            int o = dvsOff + (t - t0) * D, dst = dv.at(T, D, b, t, h);
            float dot = 0f;
            for (int d = 0; d < D; d++) {
                float g = dvs[o + d];
                dv.data()[dst + d] += g * inv;
                dot += g * vs[vsOff + t * D + d];
            }
            if (c > 1) da += -Math.log(c) * dot;
        }
        return da;
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
