package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.io.SafeTensors;
import org.cottention.io.onnx.OnnxBert;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.Utf8;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * {@code cottention import}: a pretrained encoder from an ONNX export ({@code .onnx}, or a jar/zip holding one with its
 * {@code tokenizer.json}, as langchain4j's embedding jars are) or an HF folder, written as our checkpoint folder:
 * {@code config.json} (softmax attention, derived from the graph), {@code model.safetensors}, the tokenizer files
 * and the pooling the model is meant to be used with ({@link Pooling}). Everything is staged in a temporary folder
 * beside the output and renamed into place at the end: on any error nothing is written.
 */
public final class ModelImport {
    /**
     * @param pooling    null: the source's own (an HF folder's 1_Pooling), else the known model's default
     *                   (bge: [CLS]; MiniLM, e5 and others: mean)
     * @param normalize  unit-length embeddings (langchain4j normalises every model's embeddings)
     */
    public record Options(Pooling.Mode pooling, boolean normalize) {}

    /** What was imported. */
    public record Result(Path out, String kind, BertConfig config, Pooling pooling, String producer) {}

    private ModelImport() {}

    public static Result run(Path source, Path out, Options opt) throws IOException {
        if (!Files.exists(source)) throw new IOException("import source " + source + " does not exist");
        if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out)))
            throw new IOException("output " + out + " already exists and is not an empty folder; choose another --out");
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path staging = Files.createTempDirectory(parent, "." + out.getFileName() + ".import-");
        try {
            Result r = Files.isDirectory(source) ? fromFolder(source, staging, opt) : fromFile(source, staging, opt);
            if (Files.isDirectory(out)) Files.delete(out);
            Files.move(staging, out, StandardCopyOption.ATOMIC_MOVE);
            return new Result(out, r.kind, r.config, r.pooling, r.producer);
        } finally {
            org.cottention.train.Checkpoints.deleteTree(staging);
        }
    }

    private static Result fromFile(Path source, Path staging, Options opt) throws IOException {
        String name = source.getFileName().toString();
        if (name.toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            Path tok = besideOnnx(source);
            try (FileChannel ch = FileChannel.open(source, StandardOpenOption.READ)) {
                if (ch.size() > Integer.MAX_VALUE) throw new IOException(source + " is larger than 2 GB; such ONNX files keep external data, which is not supported");
                ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
                if (tok != null) Files.copy(tok, staging.resolve("tokenizer.json"));
                return writeOnnx(b, source.toString(), name, staging, opt, "onnx");
            }
        }
        try (ZipFile zip = openZip(source)) {
            List<ZipEntry> onnx = new ArrayList<>(), toks = new ArrayList<>();
            zip.stream().filter(e -> !e.isDirectory()).forEach(e -> {
                String n = e.getName().toLowerCase(Locale.ROOT);
                if (n.endsWith(".onnx")) onnx.add(e);
                else if (n.endsWith("tokenizer.json")) toks.add(e);
            });
            if (onnx.size() != 1)
                throw new IOException(source + " holds " + (onnx.isEmpty() ? "no .onnx file" : onnx.size() + " .onnx files " + onnx.stream().map(ZipEntry::getName).toList())
                        + "; import one .onnx file (extract it) instead");
            if (toks.size() > 1) throw new IOException(source + " holds several tokenizer.json files " + toks.stream().map(ZipEntry::getName).toList());
            ZipEntry e = onnx.getFirst();
            if (e.getSize() > Integer.MAX_VALUE) throw new IOException(e.getName() + " in " + source + " is larger than 2 GB");
            byte[] bytes;
            try (InputStream in = zip.getInputStream(e)) {
                bytes = in.readAllBytes();
            }
            if (!toks.isEmpty())
                try (InputStream in = zip.getInputStream(toks.getFirst())) {
                    Files.copy(in, staging.resolve("tokenizer.json"));
                }
            String entry = Path.of(e.getName()).getFileName().toString();
            return writeOnnx(ByteBuffer.wrap(bytes), source + "!" + e.getName(), entry, staging, opt, "onnx in " + source.getFileName());
        }
    }

    private static ZipFile openZip(Path source) throws IOException {
        try {
            return new ZipFile(source.toFile());
        } catch (java.util.zip.ZipException e) {
            throw new IOException(source + " is neither an .onnx file nor a readable jar/zip (" + e.getMessage() + ")");
        }
    }

    /** tokenizer.json or NAME-tokenizer.json beside NAME.onnx. */
    private static Path besideOnnx(Path onnx) {
        Path dir = onnx.toAbsolutePath().getParent();
        String stem = onnx.getFileName().toString().replaceFirst("(?i)\\.onnx$", "");
        for (Path p : new Path[]{dir.resolve(stem + "-tokenizer.json"), dir.resolve("tokenizer.json")})
            if (Files.isRegularFile(p)) return p;
        return null;
    }

    private static Result writeOnnx(ByteBuffer bytes, String what, String fileName, Path staging, Options opt, String kind) throws IOException {
        String fp32 = fileName.replaceFirst("(?i)[-_]q(uantized)?\\.onnx$", ".onnx");
        OnnxBert.Imported m = OnnxBert.read(bytes, what, fp32.equals(fileName) ? null : fp32);
        if (!Files.isRegularFile(staging.resolve("tokenizer.json")))
            throw new IOException(what + ": no tokenizer.json found with the model (beside the .onnx file, or in the jar)");
        checkTokenizer(staging, m.config(), what);
        BertConfig cfg = m.config();
        cfg.write(staging.resolve("config.json"), Bert.HeadSet.ENCODER.architecture());
        SafeTensors.write(staging.resolve("model.safetensors"), m.tensors(), Map.of("format", "pt", "source", fileName,
                "producer", m.producer(), "opset", Long.toString(m.opset())));
        Pooling p = new Pooling(opt.pooling() != null ? opt.pooling() : knownPooling(fileName), opt.normalize(), truncation(staging.resolve("tokenizer.json")));
        p.write(staging, cfg.hiddenSize());
        return new Result(null, kind, cfg, p, m.producer() + " opset " + m.opset());
    }

    /** An HF folder (config.json + weights + tokenizer files), or a folder holding one .onnx export and its tokenizer. */
    private static Result fromFolder(Path dir, Path staging, Options opt) throws IOException {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            List<Path> onnx;
            try (Stream<Path> s = Files.walk(dir, 2)) {
                onnx = s.filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")).toList();
            }
            if (onnx.size() != 1) throw new IOException(dir + " has no config.json and " + (onnx.isEmpty() ? "no" : onnx.size()) + " .onnx files: not a model folder");
            return fromFile(onnx.getFirst(), staging, opt);
        }
        Bert bert = ModelStore.loadBert(dir, null);
        copyTokenizerFiles(dir, staging);
        checkTokenizer(staging, bert.cfg, dir.toString());
        bert.saveModel(staging);
        Pooling own = Pooling.read(dir);
        int max = own != null ? own.maxSeqLength() : Files.isRegularFile(staging.resolve("tokenizer.json")) ? truncation(staging.resolve("tokenizer.json")) : 0;
        Pooling.Mode mode = opt.pooling() != null ? opt.pooling() : own != null ? own.mode() : knownPooling(dir.getFileName().toString());
        Pooling p = new Pooling(mode, own != null && opt.pooling() == null ? own.normalize() : opt.normalize(), max);
        p.write(staging, bert.cfg.hiddenSize());
        return new Result(null, "HF folder", bert.cfg, p, "config.json");
    }

    private static void copyTokenizerFiles(Path dir, Path staging) throws IOException {
        boolean any = false;
        for (String f : new String[]{"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"})
            if (Files.isRegularFile(dir.resolve(f))) {
                Files.copy(dir.resolve(f), staging.resolve(f));
                any = true;
            }
        if (!any) throw new IOException(dir + " has no tokenizer files (tokenizer.json or vocab.txt)");
    }

    /** The tokenizer must load and cover the model's vocabulary (same size). */
    private static void checkTokenizer(Path staging, BertConfig cfg, String what) throws IOException {
        Tokenizer t = Tokenizers.load(staging);
        if (t.vocabSize() != cfg.vocabSize())
            throw new IOException(what + ": the tokenizer has " + t.vocabSize() + " tokens but the model's vocabulary has " + cfg.vocabSize());
    }

    /** tokenizer.json's truncation.max_length (0 when it does not truncate). */
    static int truncation(Path tokenizerJson) throws IOException {
        JsonNode n = GptJConfig.JSON.readTree(Utf8.readFile(tokenizerJson)).path("truncation");
        return n.isObject() ? n.path("max_length").asInt(0) : 0;
    }

    /** Defaults of the models users import most: bge uses [CLS], MiniLM and e5 (and the rest) mean pooling. */
    static Pooling.Mode knownPooling(String fileName) {
        return fileName.toLowerCase(Locale.ROOT).contains("bge") ? Pooling.Mode.CLS : Pooling.Mode.MEAN;
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }
}
