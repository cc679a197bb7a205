package org.cottention.testutil;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared fixtures and data (../shared beside the repository, or -Dcottention.shared). */
public final class Shared {
    private Shared() {}

    public static Path root() {
        String p = System.getProperty("cottention.shared");
        Path root = p != null ? Path.of(p) : Path.of("..", "shared");
        if (!Files.isDirectory(root)) throw new IllegalStateException("shared folder not found at " + root.toAbsolutePath());
        return root;
    }

    public static Path fixture(String first, String... more) {
        return root().resolve("fixtures").resolve(Path.of(first, more));
    }

    public static Path data(String first, String... more) {
        return root().resolve("data").resolve(Path.of(first, more));
    }
}
