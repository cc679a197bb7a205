package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.data.TextSources;
import org.cottention.io.AtomicFiles;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.Bert;
import org.cottention.model.Embedder;
import org.cottention.model.Pooling;
import org.cottention.tokenizer.WordPieceTokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code cottention embed}: one vector per text (mean of the last hidden states over real tokens, or the [CLS] state),
 * optionally L2-normalised. Texts are encoded one at a time with the inference forward, which keeps one layer's
 * activations alive at a time: with cosine attention and rotary positions memory grows linearly with the length.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Embed texts with a BERT encoder: mean-pooled or [CLS] vectors, written as JSONL or safetensors.",
                "Texts of any length with rotary positions; absolute positions truncate at max_position_embeddings."})
public final class EmbedCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    static final class Input {
        @Option(names = "--input", description = "Texts, one per line (.jsonl: a \"text\" field per line).")
        Path file;

        @Option(names = "--document", description = "A whole file as one text (repeatable).")
        List<Path> documents;

        @Option(names = "--text", description = "One text given on the command line (repeatable).")
        List<String> texts;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--pooling", description = "mean or cls (default: the model folder's 1_Pooling, as `import` writes it; else mean).")
    String pooling;

    @Option(names = "--normalize", negatable = true, description = "Scale each vector to unit L2 norm (default: the model folder's modules.json; else off).")
    Boolean normalize;

    @Option(names = "--max-length", paramLabel = "N", description = "Tokens per text, [CLS]/[SEP] included (default: the folder's max_seq_length, "
            + "e.g. 128 for all-MiniLM-L6-v2 as its tokenizer truncates; else max_position_embeddings; rotary: no limit). 0 = the model's limit.")
    Integer maxLength;

    @Option(names = "--windows", paramLabel = "N", description = "Texts longer than N+2 tokens: cut into windows of N word pieces and average "
            + "their vectors weighted by length, as langchain4j does (510 for a 512-position BERT), instead of truncating; "
            + "--max-length, when given, then caps the whole text.")
    int windows;

    @Option(names = "--out", required = true, description = "Output: FILE.jsonl or FILE.safetensors (tensor \"embeddings\" [N, hidden]).")
    Path out;

    @Option(names = "--long-positions", paramLabel = "MODE", description = "Absolute-position models: embed texts past max_position_embeddings in one pass, "
            + "positions cycled (position p mod P) or interpolated into the table; none = truncate (default ${DEFAULT-VALUE}). Meant for cosine (linearized) models, "
            + "whose memory and time grow linearly with the length.")
    String longPositions = "none";

    @Option(names = "--stabiliser-length", paramLabel = "N", description = "Cosine models: for texts longer than N tokens, hold the stabiliser's "
            + "output scale at N tokens (its exponent a = sigmoid(norm_const) becomes 1 - (1-a) ln N / ln T), so that attention outputs do not grow "
            + "with the length past what the model was trained on; use the longest length it was linearized on (128 for MiniLM). 0 = off (default).")
    int stabiliserLength;

    @Option(names = "--no-truncate", description = "With absolute positions: error on texts longer than max_position_embeddings instead of truncating.")
    boolean noTruncate;

    @Option(names = "--report-memory", description = "Print tokens, seconds and peak heap for each text on stderr (and in the JSONL).")
    boolean reportMemory;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        String name = out.getFileName().toString();
        boolean jsonl = name.endsWith(".jsonl");
        if (!jsonl && !name.endsWith(".safetensors")) throw new IllegalArgumentException("--out must end in .jsonl or .safetensors, got " + out);
        WordPieceTokenizer tok = BertModelOptions.wordPiece(model.dir);
        Bert bert = model.loadBert();
        Bert.LongPositions lp = switch (longPositions) {
            case "none" -> Bert.LongPositions.NONE;
            case "cycle" -> Bert.LongPositions.CYCLE;
            case "interpolate" -> Bert.LongPositions.INTERPOLATE;
            default -> throw new IllegalArgumentException("--long-positions must be none, cycle or interpolate, got \"" + longPositions + "\"");
        };
        bert.longPositions(lp);
        bert.stabiliserLength(stabiliserLength);
        Pooling saved = Pooling.read(model.dir);
        Pooling pool = new Pooling(pooling != null ? Pooling.Mode.parse(pooling) : saved != null ? saved.mode() : Pooling.Mode.MEAN,
                normalize != null ? normalize : saved != null && saved.normalize(), 0);
        Embedder embedder = new Embedder(bert, tok, pool);
        List<String> texts = texts();
        int e = bert.cfg.hiddenSize();
        int positions = bert.cfg.rotary() || lp != Bert.LongPositions.NONE ? 0 : bert.cfg.maxPositionEmbeddings();
        int limit = maxLength != null ? (maxLength == 0 ? positions : maxLength)
                : lp != Bert.LongPositions.NONE ? 0 : Pooling.inputLimit(saved, positions);
        // with --windows, --max-length caps the whole text (each window is within the positions)
        if (windows == 0 && positions > 0 && limit > positions) throw new IllegalArgumentException("--max-length " + limit + " exceeds max_position_embeddings " + positions);
        if (windows < 0 || (positions > 0 && windows > positions - 2)) throw new IllegalArgumentException("--windows must be in [1, " + (positions - 2) + "], got " + windows);
        float[] all = new float[Math.multiplyExact(texts.size(), e)];
        ObjectMapper om = new ObjectMapper();
        StringBuilder lines = new StringBuilder();
        int truncated = 0, windowed = 0;
        for (int i = 0; i < texts.size(); i++) {
            int[] ids = embedder.ids(texts.get(i), windows > 0 && maxLength != null ? maxLength : 0);
            int full = ids.length;
            boolean cut = windows == 0 && limit > 0 && full > limit;
            if (cut) {
                if (noTruncate)
                    throw new IllegalArgumentException("text " + (i + 1) + " has " + full + " tokens, more than "
                            + (limit == positions ? "max_position_embeddings " + limit + " of this model (absolute positions)" : "the limit of " + limit + " tokens (--max-length or the folder's max_seq_length)")
                            + "; drop --no-truncate to truncate, or use --windows, --long-positions or a rotary model");
                truncated++;
                if (positions > 0 && limit == positions)
                    System.err.printf("warning: text %d has %,d tokens; truncated to max_position_embeddings %d (absolute positions)%n", i + 1, full, limit);
                ids = embedder.ids(texts.get(i), limit);
            }
            boolean win = windows > 0 && full > windows + 2;
            if (win) windowed++;
            int t = ids.length;
            long base = reportMemory ? resetPeaks() : 0;
            long t0 = System.nanoTime();
            float[] v;
            try {
                v = win ? embedder.embedWindows(Arrays.copyOfRange(ids, 1, ids.length - 1), windows) : embedder.embedIds(ids);
            } catch (OutOfMemoryError oom) {
                System.gc();
                throw new IllegalStateException("out of memory encoding text " + (i + 1) + " (" + String.format("%,d", t) + " tokens, "
                        + bert.cfg.attentionType().configName() + " attention) with a " + (Runtime.getRuntime().maxMemory() >> 20)
                        + " MB heap; raise it (COTTENTION_JAVA_OPTS=-Xmx...) or embed shorter texts");
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            System.arraycopy(v, 0, all, i * e, e);
            ObjectNode row = om.createObjectNode();
            row.put("index", i);
            row.put("tokens", t);
            if (reportMemory) {
                long peak = peakHeap();
                row.put("seconds", secs);
                row.put("peakHeapMB", peak / 1048576.0);
                row.put("heapBeforeMB", base / 1048576.0);
                System.err.printf("text %d: %,d tokens, %.2f s, peak heap %.1f MB (%.1f MB before the forward)%n", i + 1, t, secs,
                        peak / 1048576.0, base / 1048576.0);
            }
            if (jsonl) {
                ArrayNode a = row.putArray("embedding");
                for (float x : v) a.add(x);
                lines.append(om.writeValueAsString(row)).append('\n');
            }
        }
        if (jsonl) AtomicFiles.writeString(out, lines.toString());
        else SafeTensors.write(out, List.of(new SafeTensors.Entry("embeddings", DType.F32, new long[]{texts.size(), e}, all)),
                Map.of("pooling", pool.mode().configName(), "normalized", Boolean.toString(pool.normalize()), "model", model.dir.toString()));
        System.err.printf("wrote %d embedding(s) of %d dims to %s%s%s%n", texts.size(), e, out, truncated > 0 ? " (" + truncated + " truncated to " + limit + " tokens)" : "",
                windowed > 0 ? " (" + windowed + " in windows of " + windows + ")" : "");
        return 0;
    }

    private List<String> texts() throws java.io.IOException {
        List<String> t = new ArrayList<>();
        if (input.texts != null) t.addAll(input.texts);
        else if (input.documents != null) for (Path p : input.documents) t.add(org.cottention.tokenizer.Utf8.readFile(p));
        else if (input.file.getFileName().toString().endsWith(".jsonl")) TextSources.documents(List.of(input.file), t::add);
        else {
            String[] lines = org.cottention.tokenizer.Utf8.readFile(input.file).split("\r?\n", -1);
            int empty = 0;
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) {
                    if (i < lines.length - 1) empty++;
                    continue;
                }
                t.add(lines[i]);
            }
            if (empty > 0) System.err.printf("warning: skipped %d empty line(s) in %s%n", empty, input.file);
        }
        if (t.isEmpty()) throw new IllegalArgumentException("no texts to embed");
        return t;
    }

    /** Collects garbage, resets the heap pools' peaks and returns the heap in use now. */
    private static long resetPeaks() {
        System.gc();
        long used = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() != MemoryType.HEAP) continue;
            p.resetPeakUsage();
            used += p.getUsage().getUsed();
        }
        return used;
    }

    /** Sum of the heap pools' peak use since the last reset (an upper bound of the live peak: garbage included). */
    private static long peakHeap() {
        long s = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP) s += p.getPeakUsage().getUsed();
        return s;
    }
}
