package org.cottention.model;

import org.cottention.kernels.Parallel;

/**
 * The decay gate of gated cosine attention (math doc §8.4), config field {@code cosine_gate}: none (no decay, the
 * paper's attention) or softplus ({@code a_t = -softplus(x_t W_g^T + b_g)} per head).
 */
public enum CosineGate {
    NONE, SOFTPLUS;

    public static CosineGate parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "none" -> NONE;
            case "softplus" -> SOFTPLUS;
            default -> throw new IllegalArgumentException("cosine_gate must be none or softplus, got \"" + s + "\"");
        };
    }

    public String configName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** softplus(x) = ln(1 + e^x), PyTorch's (x itself above 20); exactly 0 where e^x underflows (x below about -745). */
    public static float softplus(float x) {
        return x > 20f ? x : (float) Math.log1p(Math.exp(x));
    }

    /** decay[i] = -softplus(logit[i]) for i < n: the log-decay a <= 0 of the gate's logits. */
    public static void logDecay(float[] logit, float[] decay, int n) {
        // an exp and a log1p per entry: serial, a few ms per layer at 16K tokens x 8 heads; split over the threads
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) decay[i] = -softplus(logit[i]);
        });
    }

    /** Entries per part of the element-wise loops (a call of one decoding step stays on the calling thread). */
    private static final int GRAIN = 1 << 13;

    /** In place: d[i] = dL/dlogit[i] = -sigmoid(logit[i]) dL/da[i], given dL/da in d. */
    public static void logitGradient(float[] logit, float[] d, int n) {
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) d[i] = (float) (-d[i] / (1 + Math.exp(-(double) logit[i])));
        });
    }
}
