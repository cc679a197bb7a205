package org.cottention.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Ops;
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

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** 1 / (2i + 1) for i = 7 down to 1: the series of atanh, in Horner order. */
    private static final float[] ATANH = {1f / 15f, 1f / 13f, 1f / 11f, 1f / 9f, 1f / 7f, 1f / 5f, 1f / 3f};

    // softplus(x) = max(x, 0) + log1p(e^-|x|), and log1p(y) = 2 atanh(t) with t = y / (2 + y): for y = e^-|x| in
    // (0, 1], t is at most 1/3 and the odd series t (1 + t^2/3 + ... + t^14/15) is within 2e-9 relative, with no
    // cancellation for small y (where log1p(y) ~ y). The exponential is Ops.exp, whose vector and scalar forms give
    // the same bits, and so do the two forms here: a prefill (vector lanes and tails) and a decoding step (one
    // element) agree bit for bit. e^-|x| is 0 below |x| = 87.3 (Ops.exp), so a shut gate (bias -1000) decays by
    // exactly 0. Above 20 the result is x itself, as PyTorch's softplus.

    /** softplus(x) = ln(1 + e^x): the scalar twin of the vector lanes of {@link #logDecay}. */
    public static float softplus(float x) {
        float y = Ops.exp(-Math.abs(x)), t = y / (2f + y), t2 = t * t, p = ATANH[0];
        for (int i = 1; i < ATANH.length; i++) p = Math.fma(p, t2, ATANH[i]);
        p = Math.fma(p, t2, 1f);
        float r = Math.max(x, 0f) + 2f * t * p;
        return x > 20f ? x : r;
    }

    /** decay[i] = -softplus(logit[i]) for i < n: the log-decay a <= 0 of the gate's logits. */
    public static void logDecay(float[] logit, float[] decay, int n) {
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            int i = lo;
            for (int up = lo + F.loopBound(hi - lo); i < up; i += F.length()) { // softplus(x) written out: see above
                FloatVector x = FloatVector.fromArray(F, logit, i);
                FloatVector y = Ops.exp(x.abs().neg()), t = y.div(y.add(2f)), t2 = t.mul(t), p = FloatVector.broadcast(F, ATANH[0]);
                for (int j = 1; j < ATANH.length; j++) p = p.fma(t2, FloatVector.broadcast(F, ATANH[j]));
                p = p.fma(t2, FloatVector.broadcast(F, 1f));
                x.max(0f).add(t.mul(2f).mul(p)).blend(x, x.compare(VectorOperators.GT, 20f)).neg().intoArray(decay, i);
            }
            for (; i < hi; i++) decay[i] = -softplus(logit[i]);
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
