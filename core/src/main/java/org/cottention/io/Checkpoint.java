package org.cottention.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Opens a checkpoint — a HF {@code save_pretrained} folder or one file — as a {@link TensorSource}. In a folder it
 * takes the first of {@code model.safetensors}, {@code model.safetensors.index.json}, {@code pytorch_model.bin},
 * {@code pytorch_model.bin.index.json} (safetensors first: it needs no unpickling), unless a format is forced.
 */
public final class Checkpoint {
    private Checkpoint() {}

    /** Which weights file to read ({@code --weights auto|safetensors|pytorch}). */
    public enum Format {
        AUTO, SAFETENSORS, PYTORCH;

        public static Format parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--weights must be auto, safetensors or pytorch, got \"" + s + "\"");
            }
        }
    }

    static final List<String> SAFETENSORS_FILES = List.of("model.safetensors", "model.safetensors.index.json");
    static final List<String> PYTORCH_FILES = List.of("pytorch_model.bin", "pytorch_model.bin.index.json");

    public static TensorSource open(Path dirOrFile) throws IOException {
        return open(dirOrFile, Format.AUTO);
    }

    public static TensorSource open(Path dirOrFile, Format format) throws IOException {
        Path file = locate(dirOrFile, format);
        String name = file.getFileName().toString();
        if (name.endsWith(".index.json")) {
            Format f = format != Format.AUTO ? format : formatOfIndex(file);
            return f == Format.SAFETENSORS ? ShardedSource.open(file, "safetensors", SafeTensors::open)
                    : ShardedSource.open(file, "pytorch", PytorchCheckpoint::open);
        }
        Format f = format != Format.AUTO ? format : sniff(file);
        return f == Format.SAFETENSORS ? SafeTensors.open(file) : PytorchCheckpoint.open(file);
    }

    /** The weights file (or index) that {@link #open} would read. */
    public static Path locate(Path dirOrFile, Format format) throws IOException {
        if (Files.isRegularFile(dirOrFile)) return dirOrFile;
        if (!Files.isDirectory(dirOrFile)) throw new IOException("checkpoint " + dirOrFile + " does not exist");
        List<String> candidates = switch (format) {
            case SAFETENSORS -> SAFETENSORS_FILES;
            case PYTORCH -> PYTORCH_FILES;
            case AUTO -> List.of(SAFETENSORS_FILES.get(0), SAFETENSORS_FILES.get(1), PYTORCH_FILES.get(0), PYTORCH_FILES.get(1));
        };
        for (String c : candidates) {
            Path p = dirOrFile.resolve(c);
            if (Files.isRegularFile(p)) return p;
        }
        throw new IOException("no " + (format == Format.AUTO ? "" : format.name().toLowerCase(Locale.ROOT) + " ") + "weights in "
                + dirOrFile + " (looked for " + String.join(", ", candidates) + ")");
    }

    private static Format formatOfIndex(Path index) throws IOException {
        String n = index.getFileName().toString();
        if (n.contains(".safetensors")) return Format.SAFETENSORS;
        if (n.contains(".bin")) return Format.PYTORCH;
        var shards = ShardedSource.weightMap(index).values();
        if (shards.stream().allMatch(s -> s.endsWith(".safetensors"))) return Format.SAFETENSORS;
        if (shards.stream().allMatch(s -> s.endsWith(".bin") || s.endsWith(".pt") || s.endsWith(".pth"))) return Format.PYTORCH;
        throw new IOException("cannot tell the format of the shards in " + index + ": pass --weights safetensors|pytorch");
    }

    /**
     * Safetensors when the 8-byte header length fits the file and the header starts with '{'; PyTorch for a zip or
     * a pickle (the legacy format, which PytorchCheckpoint then refuses clearly); else by the file name's extension.
     */
    private static Format sniff(Path file) throws IOException {
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        }
        if (n == 9 && head[8] == '{') {
            long len = java.nio.ByteBuffer.wrap(head, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            if (len >= 2 && len <= Files.size(file) - 8) return Format.SAFETENSORS;
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return Format.PYTORCH;
        if (n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 1 && head[1] <= 5) return Format.PYTORCH;
        String name = file.getFileName().toString();
        if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth")) return Format.PYTORCH;
        return Format.SAFETENSORS;
    }

    /** Throws an IOException naming the first NaN or infinity among the float tensors of a source. */
    public static void checkFinite(TensorSource source) throws IOException {
        for (String name : source.names()) {
            TensorInfo i = source.info(name);
            if (i.dtype().isFloat()) checkFinite(name, i.shape(), source.floats(name));
        }
    }

    /** Throws an IOException naming the tensor, flat index and multi-index of the first non-finite value. */
    public static void checkFinite(String name, long[] shape, float[] x) throws IOException {
        for (int j = 0; j < x.length; j++) {
            if (!Float.isFinite(x[j])) {
                long[] idx = new long[shape.length];
                long rest = j;
                for (int d = shape.length - 1; d >= 0; d--) {
                    if (shape[d] == 0) break;
                    idx[d] = rest % shape[d];
                    rest /= shape[d];
                }
                throw new IOException("tensor \"" + name + "\" holds " + x[j] + " at index " + j + " (element " + Arrays.toString(idx)
                        + " of shape " + Arrays.toString(shape) + ")");
            }
        }
    }
}
