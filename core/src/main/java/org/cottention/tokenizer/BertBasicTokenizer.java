package org.cottention.tokenizer;

import java.text.Normalizer;
import java.util.function.Consumer;

/**
 * BERT's "basic" tokenisation: HF tokenizers' BertNormalizer followed by BertPreTokenizer, character class
 * definitions as in the Rust implementation (Rust's White_Space set, control = Unicode C* except tab/LF/CR,
 * punctuation = ASCII punctuation or Unicode P*). Immutable.
 *
 * @param cleanText            remove U+0000, U+FFFD and control characters; map every whitespace to ' '
 * @param handleChineseChars   surround CJK ideographs with spaces, so each becomes its own word
 * @param stripAccents         NFD then drop non-spacing marks (Mn)
 * @param lowercase            per-code-point lower-casing
 */
public record BertBasicTokenizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {

    /** The uncased BERT setup: everything on. */
    public static final BertBasicTokenizer UNCASED = new BertBasicTokenizer(true, true, true, true);

    /** BertNormalizer: clean, CJK spacing, accent stripping, then lower-casing (the order HF applies them in). */
    public String normalize(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 16);
        boolean ascii = true;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (cleanText) {
                if (cp == 0 || cp == 0xFFFD || isControl(cp)) continue;
                if (isWhitespace(cp)) cp = ' ';
            }
            if (cp >= 0x80) ascii = false;
            if (handleChineseChars && isChineseChar(cp)) {
                sb.append(' ').appendCodePoint(cp).append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        }
        if (ascii) {   // fast path: NFD and Mn removal are identities on ASCII
            if (lowercase) for (int i = 0; i < sb.length(); i++) {
                char c = sb.charAt(i);
                if (c >= 'A' && c <= 'Z') sb.setCharAt(i, (char) (c + 32));
            }
            return sb.toString();
        }
        String s = sb.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(s, Normalizer.Form.NFD);
            StringBuilder out = new StringBuilder(nfd.length());
            for (int i = 0; i < nfd.length(); ) {
                int cp = nfd.codePointAt(i);
                i += Character.charCount(cp);
                if (Character.getType(cp) != Character.NON_SPACING_MARK || HfUnicodeExceptions.in(HfUnicodeExceptions.KEEP_NON_SPACING_MARK, cp))
                    out.appendCodePoint(cp);
            }
            s = out.toString();
        }
        if (lowercase) {
            // Per code point like Rust's char::to_lowercase (no context-dependent final sigma, unlike
            // String.toLowerCase). The only unconditional multi-char lower-case mapping is U+0130.
            StringBuilder out = new StringBuilder(s.length());
            for (int i = 0; i < s.length(); ) {
                int cp = s.codePointAt(i);
                i += Character.charCount(cp);
                if (cp == 0x130) out.append("i\u0307");
                else out.appendCodePoint(Character.toLowerCase(cp));
            }
            s = out.toString();
        }
        return s;
    }

    /** BertPreTokenizer on already normalized text: split on whitespace (dropped) and isolate each punctuation char. */
    public static void preTokenize(String normalized, Consumer<String> words) {
        int n = normalized.length();
        int start = -1;   // start of the current word, -1 if none
        for (int i = 0; i < n; ) {
            int cp = normalized.codePointAt(i);
            int len = Character.charCount(cp);
            if (isWhitespace(cp)) {
                if (start >= 0) { words.accept(normalized.substring(start, i)); start = -1; }
            } else if (isPunctuation(cp)) {
                if (start >= 0) { words.accept(normalized.substring(start, i)); start = -1; }
                words.accept(normalized.substring(i, i + len));
            } else if (start < 0) {
                start = i;
            }
            i += len;
        }
        if (start >= 0) words.accept(normalized.substring(start));
    }

    /** normalize then preTokenize. */
    public void words(String text, Consumer<String> words) {
        preTokenize(normalize(text), words);
    }

    /** Rust's char::is_whitespace (Unicode White_Space). */
    public static boolean isWhitespace(int cp) {
        if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
        return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
                || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }

    /**
     * HF's is_control: categories Cc, Cf, Cs, Co except tab, LF and CR (which count as whitespace). HF's documentation
     * says Cn too, but probing the Rust implementation over all code points shows it keeps unassigned ones.
     */
    public static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') return false;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.SURROGATE, Character.PRIVATE_USE -> true;
            case Character.FORMAT -> !HfUnicodeExceptions.in(HfUnicodeExceptions.KEEP_CONTROL, cp);
            default -> false;
        };
    }

    /** BERT punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or any Unicode P* category. */
    public static boolean isPunctuation(int cp) {
        if (cp < 0x80) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
        boolean p = switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
        return p != HfUnicodeExceptions.in(HfUnicodeExceptions.FLIP_PUNCTUATION, cp);
    }

    /** The CJK Unified Ideographs blocks as HF tokenizers lists them (not Hangul, Hiragana or Katakana). */
    public static boolean isChineseChar(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }
}
