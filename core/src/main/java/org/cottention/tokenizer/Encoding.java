package org.cottention.tokenizer;

/**
 * Model inputs for one sequence (or sequence pair): all arrays have the same length.
 *
 * @param inputIds      token ids, e.g. [CLS] A [SEP] B [SEP] [PAD]...
 * @param tokenTypeIds  0 for [CLS], A and its [SEP]; 1 for B and its [SEP]; 0 for padding
 * @param attentionMask 1 for real tokens, 0 for padding
 */
public record Encoding(int[] inputIds, int[] tokenTypeIds, int[] attentionMask) {
    public Encoding {
        if (tokenTypeIds.length != inputIds.length || attentionMask.length != inputIds.length)
            throw new IllegalArgumentException("encoding arrays differ in length: " + inputIds.length + ", "
                    + tokenTypeIds.length + ", " + attentionMask.length);
    }

    public int length() { return inputIds.length; }

    /** Number of non-padding tokens. */
    public int realLength() {
        int n = 0;
        for (int m : attentionMask) n += m;
        return n;
    }
}
