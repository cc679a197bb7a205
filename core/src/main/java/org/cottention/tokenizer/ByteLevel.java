package org.cottention.tokenizer;

/**
 * GPT-2's reversible byte ↔ printable-character mapping. Byte-level BPE works on bytes, but vocabulary files store
 * tokens as strings; GPT-2 maps every byte to a visible Unicode character (printable Latin-1 bytes to themselves,
 * the other 68 bytes — controls, space, soft hyphen... — to U+0100 onwards, in byte order), so a space is 'Ġ' (U+0120)
 * and a newline 'Ċ' (U+010A).
 */
public final class ByteLevel {
    private ByteLevel() {}

    /** BYTE_TO_CHAR[b] is the character that stands for byte b (0..255). */
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** CHAR_TO_BYTE[c] is the byte a character stands for, or -1; indexed by char up to U+0143. */
    private static final short[] CHAR_TO_BYTE = new short[0x144];
    /** The 256 bytes in GPT-2's vocabulary order: printable ones first (so vocab id i of GPT-2 is byte ORDER[i]). */
    private static final int[] ORDER = new int[256];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int k = 0;
        for (int b = 0; b < 256; b++) {
            if (printable(b)) {
                BYTE_TO_CHAR[b] = (char) b;
                ORDER[k++] = b;
            }
        }
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            if (!printable(b)) {
                BYTE_TO_CHAR[b] = (char) (256 + extra++);
                ORDER[k++] = b;
            }
        }
        for (int b = 0; b < 256; b++) CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = (short) b;
    }

    /** The bytes GPT-2 keeps as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'. */
    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    public static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a vocabulary character stands for, or -1 if the character is not one of the 256. */
    public static int charToByte(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The i-th byte in GPT-2 base-vocabulary order (i in 0..255). */
    public static int byteAtRank(int i) {
        return ORDER[i];
    }

    /** Vocabulary form of raw bytes: one mapped character per byte. */
    public static String toVocabString(byte[] bytes, int off, int len) {
        char[] cs = new char[len];
        for (int i = 0; i < len; i++) cs[i] = BYTE_TO_CHAR[bytes[off + i] & 0xFF];
        return new String(cs);
    }

    /**
     * Raw bytes of a vocabulary string, or null if some character is not a byte character (e.g. an added token
     * such as "<|endoftext|>" is all ASCII and maps fine; "€" would not).
     */
    public static byte[] fromVocabString(String s) {
        byte[] out = new byte[s.length()];
        for (int i = 0; i < s.length(); i++) {
            int b = charToByte(s.charAt(i));
            if (b < 0) return null;
            out[i] = (byte) b;
        }
        return out;
    }
}
