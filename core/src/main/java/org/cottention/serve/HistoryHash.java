package org.cottention.serve;

/**
 * A 128-bit hash of a token sequence, extended one token at a time, so a session keeps only the hash of everything it
 * has seen (not the tokens) and a new prompt is checked against it in one pass over its first tokens. Two 64-bit
 * lanes with different seeds, each mixed by the SplitMix64 finaliser; not a cryptographic hash: it guards against
 * accidental mismatch (a client resending edited history), not against an adversary holding the same session id.
 */
public record HistoryHash(long a, long b) {
    public static final HistoryHash EMPTY = new HistoryHash(0x243F6A8885A308D3L, 0x13198A2E03707344L);

    public HistoryHash extend(int token) {
        return new HistoryHash(mix(a ^ (token * 0x9E3779B97F4A7C15L)), mix(b + (token + 1L) * 0xC2B2AE3D27D4EB4FL));
    }

    public HistoryHash extend(int[] tokens, int from, int to) {
        long x = a, y = b;
        for (int i = from; i < to; i++) {
            x = mix(x ^ (tokens[i] * 0x9E3779B97F4A7C15L));
            y = mix(y + (tokens[i] + 1L) * 0xC2B2AE3D27D4EB4FL);
        }
        return new HistoryHash(x, y);
    }

    /** Extended by the characters of text[from, to) (UTF-16 units), for a session's text. */
    public HistoryHash extend(CharSequence text, int from, int to) {
        long x = a, y = b;
        for (int i = from; i < to; i++) {
            char c = text.charAt(i);
            x = mix(x ^ (c * 0x9E3779B97F4A7C15L));
            y = mix(y + (c + 1L) * 0xC2B2AE3D27D4EB4FL);
        }
        return new HistoryHash(x, y);
    }

    public HistoryHash extend(CharSequence text) {
        return extend(text, 0, text.length());
    }

    public static HistoryHash of(int[] tokens, int count) {
        return EMPTY.extend(tokens, 0, count);
    }

    /** 32 hex digits. */
    public String hex() {
        return String.format("%016x%016x", a, b);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
