package org.cottention.tokenizer;

/** How a sequence (pair) longer than the maximum length is shortened, with HF tokenizers' semantics. */
public enum Truncation {
    /** Shorten the longer sequence first (HF: both are cut to balanced lengths, the longer keeping the extra). */
    LONGEST_FIRST,
    /** Only the first sequence is shortened; error if that is not enough. */
    ONLY_FIRST,
    /** Only the second sequence is shortened; error if there is none or that is not enough. */
    ONLY_SECOND,
    /** Never shorten; error if the result is too long. */
    DO_NOT_TRUNCATE;

    /** Parses "longest-first", "only_first", "ONLY-SECOND", "none"/"do-not-truncate". */
    public static Truncation parse(String s) {
        String k = s.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        if (k.equals("NONE")) return DO_NOT_TRUNCATE;
        try {
            return valueOf(k);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("truncation strategy: unknown '" + s
                    + "' (expected longest-first, only-first, only-second or none)");
        }
    }
}
