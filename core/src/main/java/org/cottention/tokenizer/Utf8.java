package org.cottention.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Strict UTF-8 decoding: invalid input is an error naming the source and the byte offset, never a silent U+FFFD.
 * (Tokenizer decoding of arbitrary ids is the one place that substitutes U+FFFD; it does so on purpose, see
 * {@link ByteLevelBpeTokenizer#decode}.)
 */
public final class Utf8 {
    private Utf8() {}

    /** Thrown for bytes that are not valid UTF-8; {@link #offset()} is the index of the first bad byte. */
    public static final class InvalidUtf8Exception extends CharacterCodingException {
        private final String source;
        private final long offset;

        InvalidUtf8Exception(String source, long offset, String what) {
            this.source = source;
            this.offset = offset;
            this.message = source + ": invalid UTF-8 at byte offset " + offset + " (" + what + ")";
        }

        private final String message;

        @Override
        public String getMessage() {
            return message;
        }

        public String source() {
            return source;
        }

        public long offset() {
            return offset;
        }
    }

    /** Reads a whole file as strict UTF-8; the error names the file and the byte offset of the first bad byte. */
    public static String readFile(Path file) throws IOException {
        return decode(Files.readAllBytes(file), file.toString());
    }

    /** Decodes bytes as strict UTF-8; {@code source} names them in the error message (a file name, "stdin", ...). */
    public static String decode(byte[] bytes, String source) throws InvalidUtf8Exception {
        return decode(bytes, 0, bytes.length, source, 0);
    }

    /**
     * Decodes bytes[off, off+len) as strict UTF-8. {@code baseOffset} is added to reported offsets, so a caller that
     * decodes a large file in chunks reports offsets within the file.
     */
    public static String decode(byte[] bytes, int off, int len, String source, long baseOffset) throws InvalidUtf8Exception {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, off, len);
        CharBuffer out = CharBuffer.allocate(len); // UTF-8 never yields more UTF-16 units than bytes
        CoderResult r = dec.decode(in, out, true);
        if (r.isError()) throw new InvalidUtf8Exception(source, baseOffset + (in.position() - off), describe(r));
        r = dec.flush(out);
        if (r.isError()) throw new InvalidUtf8Exception(source, baseOffset + (in.position() - off), describe(r));
        out.flip();
        return out.toString();
    }

    /**
     * For decoding a large file in chunks: the length of the longest prefix of bytes[off, off+len) that does not end
     * inside a multi-byte character (drops at most 3 trailing bytes of a started sequence; the caller carries them
     * into the next chunk). Invalid bytes are left in, for {@link #decode} to report.
     */
    public static int completePrefixLength(byte[] bytes, int off, int len) {
        for (int k = 1; k <= 3 && k <= len; k++) {
            int b = bytes[off + len - k] & 0xFF;
            if ((b & 0xC0) == 0x80) continue; // continuation byte: look further back for the lead byte
            int need = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 1;
            return need > k ? len - k : len;
        }
        return len;
    }

    private static String describe(CoderResult r) {
        return (r.isMalformed() ? "malformed or truncated sequence" : "unmappable sequence") + " of " + r.length() + " byte(s)";
    }

    /** UTF-8 bytes of a string; a lone surrogate (which has no UTF-8 form) is an IllegalArgumentException naming its index. */
    public static byte[] encode(String text) {
        for (int i = 0, n = text.length(); i < n; i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                } else {
                    throw new IllegalArgumentException("text has a lone surrogate U+" + Integer.toHexString(c).toUpperCase()
                            + " at char index " + i + "; it cannot be encoded as UTF-8");
                }
            }
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
