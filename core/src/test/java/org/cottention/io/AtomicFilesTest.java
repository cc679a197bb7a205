package org.cottention.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class AtomicFilesTest {
    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporaries(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("model.safetensors");
        AtomicFiles.writeString(target, "old complete content");
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, out -> {
            out.write(new byte[100_000]);
            throw new IOException("No space left on device");
        }));
        assertEquals("No space left on device", e.getMessage());
        assertEquals("old complete content", Files.readString(target));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(1, s.count(), "the temporary file is removed");
        }
    }

    @Test
    void publishedFilesAreReadableByOthers(@TempDir Path dir) throws IOException {
        Path p = dir.resolve("config.json");
        AtomicFiles.writeString(p, "{}");
        if (p.getFileSystem().supportedFileAttributeViews().contains("posix"))
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
    }
}
