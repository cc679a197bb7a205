package org.cottention.spark;

import org.apache.spark.SparkFiles;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The models of one executor JVM, keyed by the model folder's path and fingerprint: a folder is opened once per JVM and
 * shared by every task that runs there. A model instance keeps its own activation buffers (a forward is not
 * re-entrant), so the holder keeps one instance per task running at the same time; their weight matrices are views
 * into the same memory-mapped safetensors file, so the weights are in memory once however many tasks run.
 */
public final class ModelHolder {
    private ModelHolder() {}

    /** How a task finds its model: the folder as the driver named it, its fingerprint there, and how to load it. */
    public record ModelRef(String path, String fingerprint, String storage) implements Serializable {
        /** The reference to a folder the driver can read (its fingerprint taken now). */
        public static ModelRef of(String path, String storage) {
            Path p = Path.of(path);
            return new ModelRef(path, Files.isDirectory(p) ? ModelHolder.fingerprint(p) : null, storage);
        }

        /**
         * The folder on this machine: the path itself when it is there (a shared file system, or local mode), else the
         * copy that {@code SparkContext.addFile(path, true)} shipped to this executor.
         */
        public Path resolve() {
            Path p = Path.of(path);
            if (!Files.isDirectory(p)) {
                Path shipped = null;
                try {
                    shipped = Path.of(SparkFiles.get(p.getFileName().toString()));
                } catch (RuntimeException noSparkEnv) {
                    // not inside Spark: only the path itself can be meant
                }
                if (shipped == null || !Files.isDirectory(shipped))
                    throw new IllegalStateException("model folder " + path + " is neither on this machine nor shipped with SparkContext.addFile("
                            + path + ", true)");
                p = shipped;
            }
            if (fingerprint != null) {
                String here = ModelHolder.fingerprint(p);
                if (!here.equals(fingerprint))
                    throw new IllegalStateException("model folder " + p + " differs from the driver's " + path + " (fingerprint " + here
                            + " against " + fingerprint + "): the executors must see the same files");
            }
            return p;
        }
    }

    /** Loads one instance of a model from its folder. */
    @FunctionalInterface
    public interface Loader<T> extends Serializable {
        T load(Path dir, String storage) throws IOException;
    }

    /** A borrowed instance; closing it gives it back for the next task. */
    public static final class Lease<T> implements AutoCloseable {
        private final Pool<T> pool;
        private final T model;

        Lease(Pool<T> pool, T model) {
            this.pool = pool;
            this.model = model;
        }

        public T model() {
            return model;
        }

        @Override
        public void close() {
            pool.idle.push(model);
        }
    }

    private static final class Pool<T> {
        final ConcurrentLinkedDeque<T> idle = new ConcurrentLinkedDeque<>();
        final AtomicInteger loaded = new AtomicInteger();
    }

    private record Key(String id, Class<?> kind) {}

    private static final ConcurrentHashMap<Key, Pool<?>> POOLS = new ConcurrentHashMap<>();

    /** Makes one instance of whatever is held under a key. */
    @FunctionalInterface
    public interface Maker<T> {
        T make() throws IOException;
    }

    /** An instance of the model for this task: an idle one, or a new one when every instance is busy. */
    public static <T> Lease<T> borrow(ModelRef ref, Class<T> kind, Loader<T> loader) {
        return borrow(ref.toString(), kind, () -> loader.load(ref.resolve(), ref.storage()));
    }

    /** An instance held under any key (e.g. a training replica): an idle one, or a new one from maker. */
    @SuppressWarnings("unchecked")
    public static <T> Lease<T> borrow(String id, Class<T> kind, Maker<T> maker) {
        Pool<T> pool = (Pool<T>) POOLS.computeIfAbsent(new Key(id, kind), k -> new Pool<T>());
        T m = pool.idle.poll();
        if (m == null) {
            try {
                m = maker.make();
            } catch (IOException e) {
                throw new UncheckedIOException("loading " + id + ": " + e.getMessage(), e);
            }
            pool.loaded.incrementAndGet();
        }
        return new Lease<>(pool, m);
    }

    /** How many instances of a model this JVM holds (for tests and the job's summary). */
    public static int instances(ModelRef ref, Class<?> kind) {
        Pool<?> p = POOLS.get(new Key(ref.toString(), kind));
        return p == null ? 0 : p.loaded.get();
    }

    /**
     * SHA-256 over a folder's file names and sizes, the whole of each small file (config, vocabulary) and the first and
     * last 64 KiB of each large one (the safetensors header and the tail): cheap for large weights, and unchanged
     * by copying (no modification times), so a shipped copy matches the driver's folder.
     */
    public static String fingerprint(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Path f : s.filter(Files::isRegularFile).sorted().toList()) {
                long size = Files.size(f);
                md.update((dir.relativize(f) + "\0" + size + "\n").getBytes(StandardCharsets.UTF_8));
                try (var ch = java.nio.channels.FileChannel.open(f)) {
                    int part = 64 << 10;
                    var buf = java.nio.ByteBuffer.allocate((int) Math.min(size, 2L * part));
                    if (size <= 2L * part) ch.read(buf, 0);
                    else {
                        ch.read(buf.limit(part), 0);
                        ch.read(buf.limit(2 * part), size - part);
                    }
                    md.update(buf.flip());
                }
            }
            return HexFormat.of().formatHex(md.digest(), 0, 12);
        } catch (IOException e) {
            throw new UncheckedIOException("reading model folder " + dir + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
