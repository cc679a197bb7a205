package org.cottention.attention;

/**
 * HF's additive-mask convention for softmax attention, shared by the materialised and the tiled forms so both give
 * identical results even on rows with no visible real key:
 * causally hidden keys get the most negative float ({@code torch.where(causal, s, MIN)}), then padding keys get MIN
 * added: a visible padding key scores s + MIN = MIN, a hidden padding key MIN + MIN = -inf. Gradient flows to s only
 * where the key is causally visible (s + MIN passes it on; the where() does not).
 */
final class SoftmaxMask {
    static final float MIN = -Float.MAX_VALUE;

    private SoftmaxMask() {}

    /** The score of key j for query t, given the scaled dot product s. */
    static float apply(float s, boolean visible, boolean padKey) {
        if (visible) return padKey ? MIN : s;
        return padKey ? Float.NEGATIVE_INFINITY : MIN;
    }
}
