package org.cottention.server;

import org.cottention.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * Sessions as files {@code DIR/ID.state}, written to a temporary file, forced to disk and renamed over the old one
 * ({@link AtomicFiles}): a crash or a kill while writing leaves the previous file whole (and a temporary file, swept
 * when the store next opens).
 */
final class FileSessionStore implements SessionStore {
    private final Path dir;

    FileSessionStore(Path dir) throws IOException {
        Files.createDirectories(dir);
        if (!Files.isWritable(dir)) throw new IOException("sessions folder " + dir + " is not writable");
        this.dir = dir;
        // temporary files of writes a crash interrupted (the state files themselves are whole)
        try (var files = Files.newDirectoryStream(dir, ".*.state.*.tmp")) {
            for (Path f : files) Files.deleteIfExists(f);
        }
    }

    Path file(String id) {
        return dir.resolve(id + ".state");
    }

    @Override
    public Optional<byte[]> load(String id) throws IOException {
        try {
            return Optional.of(Files.readAllBytes(file(id)));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public void save(String id, byte[] state) throws IOException {
        AtomicFiles.write(file(id), out -> out.write(state));
    }

    @Override
    public boolean delete(String id) throws IOException {
        return Files.deleteIfExists(file(id));
    }

    @Override
    public Optional<byte[]> version(String id) throws IOException {
        return load(id).filter(b -> b.length >= 68).map(b -> Arrays.copyOfRange(b, 44, 68));
    }

    @Override
    public boolean shared() {
        return false;
    }

    @Override
    public String describe() {
        return "folder " + dir;
    }
}
