package org.cottention.attention;

/**
 * Double-precision references for the tests: causal and bidirectional cosine attention in the quadratic form (math
 * doc §2, §3) and softmax attention with HF's mask convention, on plain [B, T, H, D] arrays. Gradients of these are
 * taken by central finite differences in the tests.
 */
final class CosineRef {
    private CosineRef() {}

    static double sigmoid(double m) {
        return 1 / (1 + Math.exp(-m));
    }

    /** Causal cosine attention; c0 = carried-in count per batch row (may be null); s0 [B,H,D,D] value-first (may be null). */
    static double[] causal(int B, int T, int H, int D, double[] q, double[] k, double[] v, int[] mask, double[] m,
                           int[] c0, double[] s0) {
        double[] out = new double[B * T * H * D];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                double a = sigmoid(m[h]);
                double[][] qh = new double[T][], kh = new double[T][], vs = new double[T][];
                int c = c0 == null ? 0 : c0[b];
                for (int t = 0; t < T; t++) {
                    int mu = mask == null ? 1 : mask[b * T + t];
                    c += mu;
                    int o = ((b * T + t) * H + h) * D;
                    qh[t] = norm(q, o, D, mu);
                    kh[t] = norm(k, o, D, mu);
                    double g = Math.max(Math.pow(c, a), 1);
                    vs[t] = new double[D];
                    for (int d = 0; d < D; d++) vs[t][d] = mu * v[o + d] / g;
                }
                for (int t = 0; t < T; t++) {
                    int o = ((b * T + t) * H + h) * D;
                    for (int j = 0; j <= t; j++) {
                        double w = dot(qh[t], kh[j]);
                        for (int d = 0; d < D; d++) out[o + d] += w * vs[j][d];
                    }
                    if (s0 != null)
                        for (int i = 0; i < D; i++) {
                            double x = 0;
                            for (int j = 0; j < D; j++) x += s0[((b * H + h) * D + i) * D + j] * qh[t][j];
                            out[o + i] += x;
                        }
                }
            }
        return out;
    }

    /**
     * Gated causal cosine attention (math doc §8.5-8.6) in the quadratic form
     * o_t = sum_{s<=t} exp(A_t - A_s) (qh_t . kh_s) vt_s, with the decayed count z_t = e^{a_t} z_{t-1} + mu_t and
     * vt = mu v / max(z, 1)^sigmoid(m); a [B*T*H] (ignored at padding); z0 [B*H] and s0 [B,H,D,D] (value-first) the
     * carried-in state (may be null). Written from the formula, independently of the chunked kernel.
     */
    static double[] gated(int B, int T, int H, int D, double[] q, double[] k, double[] v, int[] mask, double[] m,
                          double[] a, double[] z0, double[] s0) {
        double[] out = new double[B * T * H * D];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                double al = sigmoid(m[h]);
                double[][] qh = new double[T][], kh = new double[T][], vs = new double[T][];
                double[] A = new double[T];
                double z = z0 == null ? 0 : z0[b * H + h], cum = 0;
                for (int t = 0; t < T; t++) {
                    int mu = mask == null ? 1 : mask[b * T + t];
                    double at = mu == 0 ? 0 : a[(b * T + t) * H + h];
                    cum += at;
                    A[t] = cum;
                    z = Math.exp(at) * z + mu;
                    int o = ((b * T + t) * H + h) * D;
                    qh[t] = norm(q, o, D, mu);
                    kh[t] = norm(k, o, D, mu);
                    double g = Math.pow(Math.max(z, 1), al);
                    vs[t] = new double[D];
                    for (int d = 0; d < D; d++) vs[t][d] = mu * v[o + d] / g;
                }
                for (int t = 0; t < T; t++) {
                    int o = ((b * T + t) * H + h) * D;
                    for (int j = 0; j <= t; j++) {
                        double w = dot(qh[t], kh[j]) * Math.exp(A[t] - A[j]);
                        for (int d = 0; d < D; d++) out[o + d] += w * vs[j][d];
                    }
                    if (s0 != null)
                        for (int i = 0; i < D; i++) {
                            double x = 0;
                            for (int j = 0; j < D; j++) x += s0[((b * H + h) * D + i) * D + j] * qh[t][j];
                            out[o + i] += Math.exp(A[t]) * x;
                        }
                }
            }
        return out;
    }

    /**
     * The depthwise causal convolution of §8.2 with padding invisible (over each row's real tokens; 0 at padding):
     * u [B*T, ch], weight [ch, w]; tail [B, w-1, ch] (oldest first) or null.
     */
    static double[] conv(int B, int T, int ch, int w, double[] u, double[] weight, int[] mask, double[] tail) {
        double[] out = new double[B * T * ch];
        for (int b = 0; b < B; b++) {
            java.util.List<double[]> hist = new java.util.ArrayList<>();
            for (int r = 0; r < w - 1; r++) {
                double[] row = new double[ch];
                if (tail != null) System.arraycopy(tail, (b * (w - 1) + r) * ch, row, 0, ch);
                hist.add(row);
            }
            for (int t = 0; t < T; t++) {
                if (mask != null && mask[b * T + t] == 0) continue;
                double[] cur = java.util.Arrays.copyOfRange(u, (b * T + t) * ch, (b * T + t + 1) * ch);
                hist.add(cur);
                int n = hist.size();
                for (int c = 0; c < ch; c++) {
                    double s = 0;
                    for (int i = 0; i < w; i++) s += weight[c * w + i] * hist.get(n - w + i)[c];
                    out[(b * T + t) * ch + c] = s;
                }
            }
        }
        return out;
    }

    /** Bidirectional cosine attention (BERT): padding zeroes q, k, v before normalisation; n = real tokens. */
    static double[] bidir(int B, int T, int H, int D, double[] q, double[] k, double[] v, int[] mask, double[] m) {
        double[] out = new double[B * T * H * D];
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int t = 0; t < T; t++) n += mask == null ? 1 : mask[b * T + t];
            for (int h = 0; h < H; h++) {
                double g = Math.max(Math.pow(n, sigmoid(m[h])), 1);
                double[][] qh = new double[T][], kh = new double[T][];
                for (int t = 0; t < T; t++) {
                    int mu = mask == null ? 1 : mask[b * T + t];
                    int o = ((b * T + t) * H + h) * D;
                    qh[t] = norm(q, o, D, mu);
                    kh[t] = norm(k, o, D, mu);
                }
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < T; j++) {
                        int mu = mask == null ? 1 : mask[b * T + j];
                        double w = dot(qh[t], kh[j]) * mu / g;
                        int o = ((b * T + t) * H + h) * D, oj = ((b * T + j) * H + h) * D;
                        for (int d = 0; d < D; d++) out[o + d] += w * v[oj + d];
                    }
            }
        }
        return out;
    }

    /** Softmax attention, 1/sqrt(D) scale, HF mask convention (causal: where(allowed, s, MIN); then + (1-mu_key) MIN). */
    static double[] softmax(int B, int T, int H, int D, double[] q, double[] k, double[] v, int[] mask, boolean causal) {
        double[] out = new double[B * T * H * D];
        double min = -Double.MAX_VALUE, scale = 1 / Math.sqrt(D);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++) {
                    double[] s = new double[T];
                    double mx = Double.NEGATIVE_INFINITY;
                    int o = ((b * T + t) * H + h) * D;
                    for (int j = 0; j < T; j++) {
                        int oj = ((b * T + j) * H + h) * D;
                        double x = 0;
                        for (int d = 0; d < D; d++) x += q[o + d] * k[oj + d];
                        x *= scale;
                        if (causal && j > t) x = min;
                        if (mask != null && mask[b * T + j] == 0) x = x == min ? Double.NEGATIVE_INFINITY : min;
                        s[j] = x;
                        mx = Math.max(mx, x);
                    }
                    double sum = 0;
                    for (int j = 0; j < T; j++) sum += s[j] = Math.exp(s[j] - mx);
                    for (int j = 0; j < T; j++) {
                        int oj = ((b * T + j) * H + h) * D;
                        for (int d = 0; d < D; d++) out[o + d] += s[j] / sum * v[oj + d];
                    }
                }
        return out;
    }

    static double[] norm(double[] x, int o, int D, int mu) {
        double r = 0;
        for (int d = 0; d < D; d++) r += x[o + d] * x[o + d];
        r = Math.max(Math.sqrt(r), 1e-12);
        double[] y = new double[D];
        for (int d = 0; d < D; d++) y[d] = mu * x[o + d] / r;
        return y;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
