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
    void loneSurrogateCannotBeEncoded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Utf8.encode("x\uDC00"));
        assertTrue(e.getMessage().contains("index 1"), e.getMessage());
    }
}
