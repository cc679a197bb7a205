package org.cottention.train;

/**
 * One micro-batch of {@code size} sequences of {@code seqLen} tokens, row-major [size, seqLen].
 * {@code attentionMask} and {@code tokenTypeIds} may be null (all tokens real / all type 0).
 * {@code targets}: per token for language modelling ([size*seqLen], -100 = ignored), or per sequence for
 * classification ([size]); for BERT masked-LM with next-sentence prediction, the [size*seqLen] MLM targets followed by
 * [size] NSP labels; {@code values}: per-sequence regression targets, else null.
 */
public record Batch(int size, int seqLen, int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int[] targets, float[] values) {
    public Batch {
        if (size < 1 || seqLen < 1) throw new IllegalArgumentException("batch needs size >= 1 and seqLen >= 1, got " + size + "x" + seqLen);
        int n = size * seqLen;
        if (inputIds == null || inputIds.length != n) throw new IllegalArgumentException("inputIds must hold " + n + " ids");
        if (attentionMask != null && attentionMask.length != n) throw new IllegalArgumentException("attentionMask must hold " + n + " entries");
        if (tokenTypeIds != null && tokenTypeIds.length != n) throw new IllegalArgumentException("tokenTypeIds must hold " + n + " entries");
    }

    /** Language-model batch: inputs and per-token targets. */
    public static Batch lm(int size, int seqLen, int[] inputIds, int[] attentionMask, int[] targets) {
        return new Batch(size, seqLen, inputIds, attentionMask, null, targets, null);
    }

    /** Number of real (unpadded) input tokens, for throughput. */
    public int realTokens() {
        if (attentionMask == null) return size * seqLen;
        int c = 0;
        for (int m : attentionMask) c += m != 0 ? 1 : 0;
        return c;
    }
}
