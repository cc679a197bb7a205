package org.cottention.generate;

/**
 * Incremental decoding of a batch of sequences by a causal model: a cosine model keeps a D x D state per head and
 * layer (constant in the tokens seen), a softmax model a growing key/value cache.
 */
public interface DecodeSession {
    int vocabSize();

    /** Feeds the prompts (row r = prompts[r], lengths may differ, each >= 1); returns next-token logits [B, V]. */
    float[] prefill(int[][] prompts);

    /** Feeds one token per row; returns next-token logits [B, V]. */
    float[] step(int[] tokens);

    /** Bytes of the recurrent state or key/value cache held now. */
    long stateBytes();
}
