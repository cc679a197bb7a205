package org.cottention.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Converts a checkpoint folder (pytorch_model.bin or safetensors, sharded or not) into a safetensors folder:
 * {@code model.safetensors} (or {@code model-0000i-of-0000N.safetensors} + {@code model.safetensors.index.json} above the
 * shard size), {@code config.json} with {@code attention_type} resolved, and the tokenizer files found beside it.
 * <p>
 * Streaming: tensors are copied from the mapping one at a time, verbatim when the dtype already fits, else converted a
 * few KB at a time (only a strided PyTorch view is gathered through one float[]), so a multi-GB checkpoint converts
 * with a small heap. Atomic: everything is written into a
 * staging folder beside the output and moved in only when complete; on failure the staging folder is deleted and an
 * existing output folder is left as it was.
 */
public final class CheckpointConverter {
    private CheckpointConverter() {}

    /** What to write: the float dtype of the output (F32 or BF16), which input format to read, the shard size limit. */
    public record Options(DType dtype, Checkpoint.Format format, long maxShardBytes) {
        public Options {
            if (dtype != DType.F32 && dtype != DType.BF16) throw new IllegalArgumentException("--dtype must be f32 or bf16, got " + dtype);
            if (maxShardBytes < 1) throw new IllegalArgumentException("--max-shard-size must be positive, got " + maxShardBytes);
        }
    }

    /** What a conversion wrote. */
    public record Result(int tensors, int dropped, List<String> files, long weightBytes) {}

    public static final List<String> TOKENIZER_FILES = List.of("vocab.json", "merges.txt", "added_tokens.json",
            "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt");
    static final String INDEX = "model.safetensors.index.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** "4GB" (10^9), "500MB", "2GiB" (2^30), "1024" bytes, as HF's {@code max_shard_size}. */
    public static long parseSize(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        long unit = 1;
        String[][] units = {{"GIB", "1073741824"}, {"MIB", "1048576"}, {"KIB", "1024"}, {"GB", "1000000000"}, {"MB", "1000000"},
                {"KB", "1000"}, {"B", "1"}};
        for (String[] u : units) {
            if (t.endsWith(u[0])) {
                unit = Long.parseLong(u[1]);
                t = t.substring(0, t.length() - u[0].length()).trim();
                break;
            }
        }
        try {
            long v = Math.multiplyExact(Long.parseLong(t), unit);
            if (v < 1) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("--max-shard-size must be a positive size such as 4GB, 500MB or 1048576, got \"" + s + "\"");
        }
    }

    public static Result convert(Path in, Path out, Options opt) throws IOException {
        return convert(in, out, opt, UnaryOperator.identity());
    }

    /** As {@link #convert(Path, Path, Options)}; {@code wrap} wraps each weights file's stream (tests: a failing disk). */
    static Result convert(Path in, Path out, Options opt, UnaryOperator<OutputStream> wrap) throws IOException {
        if (!Files.isDirectory(in)) throw new IOException("model folder " + in + " does not exist");
        Path config = in.resolve("config.json");
        if (!Files.isRegularFile(config)) throw new IOException("no config.json in " + in);
        Path absOut = out.toAbsolutePath().normalize();
        if (absOut.equals(in.toAbsolutePath().normalize())) throw new IOException("--out must differ from --model (" + out + ")");
        checkReplaceable(absOut);
        Path parent = absOut.getParent();
        Files.createDirectories(parent);
        Path staging = Files.createTempDirectory(parent, "." + absOut.getFileName() + ".staging-");
        try {
            Result r;
            try (TensorSource src = Checkpoint.open(in, opt.format())) {
                r = writeWeights(src, staging, opt, wrap);
                writeConfig(config, src, staging.resolve("config.json"));
            }
            List<String> files = new ArrayList<>(r.files());
            files.add("config.json");
            for (String f : TOKENIZER_FILES) {
                Path p = in.resolve(f);
                if (Files.isRegularFile(p)) {
                    Files.copy(p, staging.resolve(f));
                    files.add(f);
                }
            }
            // temp folders are created owner-only; the published folder is an ordinary rwxr-xr-x one
            if (staging.getFileSystem().supportedFileAttributeViews().contains("posix"))
                Files.setPosixFilePermissions(staging, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            publish(staging, absOut);
            return new Result(r.tensors(), r.dropped(), List.copyOf(files), r.weightBytes());
        } finally {
            deleteTree(staging);
        }
    }

    /** An existing output folder may only hold what a conversion writes: never replace a folder of other things. */
    private static void checkReplaceable(Path out) throws IOException {
        if (!Files.exists(out)) return;
        if (!Files.isDirectory(out)) throw new IOException("--out " + out + " exists and is not a folder");
        try (Stream<Path> s = Files.list(out)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                boolean ours = Files.isRegularFile(p) && (n.equals("config.json") || n.equals(INDEX) || TOKENIZER_FILES.contains(n)
                        || n.matches("model(-\\d{5}-of-\\d{5})?\\.safetensors"));
                if (!ours) throw new IOException("--out " + out + " already holds " + n + ", which a conversion does not write; choose an empty or new folder");
            }
        }
    }

    /** Moves the complete staging folder to {@code out}; an old output is renamed aside first and deleted after. */
    private static void publish(Path staging, Path out) throws IOException {
        if (!Files.exists(out)) {
            Files.move(staging, out, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = Files.createTempDirectory(out.getParent(), "." + out.getFileName() + ".old-");
        Files.delete(old);
        Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(staging, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.move(old, out, StandardCopyOption.ATOMIC_MOVE);  // put the old output back
            throw e;
        }
        deleteTree(old);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /**
     * Tensors PyTorch saved twice over one storage (tied weights, e.g. BERT's MLM decoder and the word embeddings):
     * the later names, dropped as HF's safetensors serialisation drops them. Only exact aliases count (same storage,
     * offset, shape and strides); two different views of one storage are both written out.
     */
    static Set<String> tiedDuplicates(TensorSource src) {
        Set<String> dropped = new java.util.LinkedHashSet<>();
        List<TensorSource> sources = src instanceof ShardedSource s ? s.shards() : List.of(src);
        for (TensorSource one : sources) {
            if (!(one instanceof PytorchCheckpoint pt)) continue;
            Map<String, String> first = new LinkedHashMap<>();
            for (String n : pt.names()) {
                PytorchCheckpoint.Tensor t = pt.info(n);
                String key = t.storageKey() + "|" + t.offset() + "|" + java.util.Arrays.toString(t.shape()) + "|" + java.util.Arrays.toString(t.stride());
                if (first.putIfAbsent(key, n) != null) dropped.add(n);
            }
        }
        return dropped;
    }

    private static Result writeWeights(TensorSource src, Path dir, Options opt, UnaryOperator<OutputStream> wrap) throws IOException {
        Set<String> dropped = tiedDuplicates(src);
        List<SafeTensors.Entry> entries = new ArrayList<>();
        long total = 0;
        for (String n : src.names()) {
            if (dropped.contains(n)) continue;
            SafeTensors.Entry e = entry(src, n, opt.dtype());
            entries.add(e);
            total += e.numel() * e.dtype().bytes;
        }
        // HF's rule: start a new shard when the next tensor would take this one past the limit (a tensor larger
        // than the limit gets a shard of its own)
        List<List<SafeTensors.Entry>> shards = new ArrayList<>();
        List<SafeTensors.Entry> cur = new ArrayList<>();
        long curBytes = 0;
        for (SafeTensors.Entry e : entries) {
            long b = e.numel() * e.dtype().bytes;
            if (!cur.isEmpty() && curBytes + b > opt.maxShardBytes()) {
                shards.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(e);
            curBytes += b;
        }
        shards.add(cur);
        Map<String, String> meta = Map.of("format", "pt");
        List<String> files = new ArrayList<>();
        if (shards.size() == 1) {
            writeFile(dir.resolve("model.safetensors"), shards.get(0), meta, wrap);
            files.add("model.safetensors");
        } else {
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < shards.size(); i++) {
                String f = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
                writeFile(dir.resolve(f), shards.get(i), meta, wrap);
                for (SafeTensors.Entry e : shards.get(i)) weightMap.put(e.name(), f);
                files.add(f);
            }
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode wm = index.putObject("weight_map");
            weightMap.forEach(wm::put);
            Files.writeString(dir.resolve(INDEX), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index) + "\n");
            files.add(INDEX);
        }
        return new Result(entries.size(), dropped.size(), files, total);
    }

    /** One output tensor: raw bytes straight from the mapping when no conversion is needed, else converted on demand. */
    private static SafeTensors.Entry entry(TensorSource src, String name, DType target) throws IOException {
        TensorInfo i = src.info(name);
        if (!i.dtype().isFloat()) {
            MemorySegment raw = src.raw(name);
            if (raw == null) throw new IOException("tensor " + Msg.q(name) + " (" + i.dtype() + ") in " + src.path() + " is not contiguous; cannot convert it");
            return new SafeTensors.Entry(name, i.dtype(), i.shape(), raw);
        }
        MemorySegment raw = src.raw(name);
        if (raw != null) return new SafeTensors.Entry(name, target, i.shape(), i.dtype() == target ? raw : new SafeTensors.Converted(raw, i.dtype()));
        return new SafeTensors.Entry(name, target, i.shape(), (SafeTensors.Lazy) () -> src.floats(name));
    }

    private static void writeFile(Path file, List<SafeTensors.Entry> entries, Map<String, String> meta, UnaryOperator<OutputStream> wrap)
            throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE);
             OutputStream out = wrap.apply(new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 20))) {
            SafeTensors.write(out, entries, meta);
            out.flush();
            ch.force(true);
        }
    }

    /** config.json copied, with attention_type resolved as the loader does: the config's, else cosine when norm_const weights exist. */
    private static void writeConfig(Path config, TensorSource src, Path target) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(config.toFile());
        } catch (IOException e) {
            throw new IOException("config.json in " + config.getParent() + " is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (!(root instanceof ObjectNode obj)) throw new IOException(config + " is not a JSON object");
        if (!obj.path("attention_type").isTextual()) {
            boolean cosine = src.names().stream().anyMatch(n -> n.endsWith("norm_const"));
            obj.put("attention_type", cosine ? "cosine" : "softmax");
        }
        Files.writeString(target, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(obj) + "\n");
    }
}
