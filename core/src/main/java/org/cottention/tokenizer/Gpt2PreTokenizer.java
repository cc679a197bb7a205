package org.cottention.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2's pre-tokenization: splits text into the pieces that BPE then encodes one by one, exactly as the regex
 * <pre>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</pre>
 * does in the reference implementations (HF tokenizers / tiktoken, Unicode semantics: \p{L} letters, \p{N} numbers,
 * \s the Unicode White_Space property — not Java's default ASCII \s, and not JavaScript's \s, which differs at U+0085
 * and U+FEFF).
 *
 * <p>Hand-written rather than java.util.regex for speed (several times faster, no backtracking); the tests check it
 * against {@link #REGEX} (java.util.regex with UNICODE_CHARACTER_CLASS) on random and real text. Works on code points,
 * so supplementary characters (emoji, rare CJK) are never split between surrogates.
 */
public final class Gpt2PreTokenizer {
    private Gpt2PreTokenizer() {}

    /** The GPT-2 pattern as written in HF tokenizer.json / tiktoken. */
    public static final String PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** The same pattern compiled with Unicode semantics: the reference the hand-written splitter is tested against. */
    public static final java.util.regex.Pattern REGEX =
            java.util.regex.Pattern.compile(PATTERN, java.util.regex.Pattern.UNICODE_CHARACTER_CLASS);

    @FunctionalInterface
    public interface PieceConsumer {
        /** One piece: text[start, end) (char indices). */
        void accept(int start, int end);
    }

    /** The pieces of text as strings (convenience; the tokenizer uses {@link #split(String, int, int, PieceConsumer)}). */
    public static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        split(text, 0, text.length(), (s, e) -> out.add(text.substring(s, e)));
        return out;
    }

    /** Splits text[from, to) into pieces, in order; they tile the range exactly. */
    public static void split(String text, int from, int to, PieceConsumer sink) {
        int i = from;
        while (i < to) {
            int end = next(text, i, to);
            sink.accept(i, end);
            i = end;
        }
    }

    // Character classes of the pattern: the three are disjoint and cover every code point.
    private static final int LETTER = 0, NUMBER = 1, SPACE = 2, OTHER = 3;

    static int classOf(int cp) {
        if (cp < 128) return ASCII_CLASS[cp];
        if (isWhiteSpace(cp)) return SPACE;
        return switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            default -> OTHER;
        };
    }

    private static final byte[] ASCII_CLASS = new byte[128];

    static {
        for (int c = 0; c < 128; c++) {
            ASCII_CLASS[c] = (byte) (Character.isLetter(c) ? LETTER : Character.isDigit(c) ? NUMBER
                    : isWhiteSpace(c) ? SPACE : OTHER);
        }
    }

    /** Unicode White_Space (what \s means in HF's Oniguruma and in Rust's regex). */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /** End (exclusive) of the piece that starts at i; tries the pattern's alternatives in order, as a regex engine does. */
    private static int next(String s, int i, int to) {
        int c = s.codePointAt(i);
        // 1. contractions: 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2)
        if (c == '\'' && i + 1 < to) {
            char a = s.charAt(i + 1);
            if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
            if (i + 2 < to) {
                char b = s.charAt(i + 2);
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
            }
        }
        int cls = classOf(c);
        int start = i;
        // 2-4. " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional single U+0020 then a run of one class
        if (c == ' ' && i + 1 < to) {
            int d = s.codePointAt(i + 1);
            int dcls = classOf(d);
            if (dcls != SPACE) return runEnd(s, i + 1, to, dcls);
        }
        if (cls != SPACE) return runEnd(s, start, to, cls);
        // 5. "\s+(?!\S)": the whitespace run, minus its last char if a non-space follows (that char then starts the
        //    next piece, so " word" keeps its space); 6. "\s+" when the run is a single char before a non-space.
        int end = runEnd(s, start, to, SPACE);
        if (end == to) return end;
        int last = s.offsetByCodePoints(end, -1);
        return last > start ? last : end;
    }

    /** End of the run of code points of class cls starting at i. */
    private static int runEnd(String s, int i, int to, int cls) {
        while (i < to) {
            char ch = s.charAt(i);
            if (ch < 128) {
                if (ASCII_CLASS[ch] != cls) break;
                i++;
            } else {
                int cp = s.codePointAt(i);
                if (classOf(cp) != cls) break;
                i += Character.charCount(cp);
            }
        }
        return i;
    }
}
