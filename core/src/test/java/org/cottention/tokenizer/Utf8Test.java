package org.cottention.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class Utf8Test {
    @Test
    void decodesValidText() throws IOException {
        String s = "héllo 中文 😀";
        assertEquals(s, Utf8.decode(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), "x"));
    }

    @Test
    void reportsFileAndOffset(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("bad.txt");
        byte[] b = "abc é \u00ff".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] bad = new byte[b.length + 3];
        System.arraycopy(b, 0, bad, 0, b.length);
        bad[b.length] = 'x';
        bad[b.length + 1] = (byte) 0xFF; // never valid in UTF-8
        bad[b.length + 2] = 'y';
        Files.write(f, bad);
        Utf8.InvalidUtf8Exception e = assertThrows(Utf8.InvalidUtf8Exception.class, () -> Utf8.readFile(f));
        assertEquals(b.length + 1, e.offset());
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("byte offset " + (b.length + 1)), e.getMessage());
    }

    @Test
    void truncatedAndOverlongSequences() {
        assertEquals(3, assertThrows(Utf8.InvalidUtf8Exception.class,
                () -> Utf8.decode(new byte[] {'a', 'b', 'c', (byte) 0xE4, (byte) 0xB8}, "t")).offset());
        assertEquals(1, assertThrows(Utf8.InvalidUtf8Exception.class,
                () -> Utf8.decode(new byte[] {'a', (byte) 0xC0, (byte) 0x80}, "t")).offset());
        assertEquals(0, assertThrows(Utf8.InvalidUtf8Exception.class,
                () -> Utf8.decode(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, "t")).offset()); // a surrogate
        assertEquals(17, assertThrows(Utf8.InvalidUtf8Exception.class,
                () -> Utf8.decode(new byte[] {'a', (byte) 0x80}, 0, 2, "t", 16)).offset());
    }

    @Test
    void chunkedDecodingAtCharacterBoundaries() throws IOException {
        String s = "aé中😀b".repeat(50);
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int chunk = 1; chunk <= 7; chunk++) {
            StringBuilder sb = new StringBuilder();
            int pos = 0;
            while (pos < b.length) {
                int len = Math.min(chunk + 3, b.length - pos); // a chunk must hold at least one whole character
                int ok = pos + len == b.length ? len : Utf8.completePrefixLength(b, pos, len);
                sb.append(Utf8.decode(b, pos, ok, "t", pos));
                pos += ok;
            }
            assertEquals(s, sb.toString());
        }
        assertEquals(1, Utf8.completePrefixLength(new byte[] {'a', (byte) 0xF0, (byte) 0x9F, (byte) 0x98}, 0, 4));
        assertEquals(5, Utf8.completePrefixLength(new byte[] {'a', (byte) 0xF0, (byte) 0x9F, (byte) 0x98, (byte) 0x80}, 0, 5));
    }

    @Test
    void loneSurrogateCannotBeEncoded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Utf8.encode("x\uDC00"));
        assertTrue(e.getMessage().contains("index 1"), e.getMessage());
    }
}
