package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.data.TextSources;
import org.cottention.io.AtomicFiles;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.Bert;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.Truncation;
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

    @Option(names = "--pooling", description = "mean or cls (default ${DEFAULT-VALUE}).")
    String pooling = "mean";

    @Option(names = "--normalize", description = "Scale each vector to unit L2 norm.")
    boolean normalize;

    @Option(names = "--out", required = true, description = "Output: FILE.jsonl or FILE.safetensors (tensor \"embeddings\" [N, hidden]).")
    Path out;

    @Option(names = "--no-truncate", description = "With absolute positions: error on texts longer than max_position_embeddings instead of truncating.")
    boolean noTruncate;

    @Option(names = "--report-memory", description = "Print tokens, seconds and peak heap for each text on stderr (and in the JSONL).")
    boolean reportMemory;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (!pooling.equals("mean") && !pooling.equals("cls")) throw new IllegalArgumentException("--pooling must be mean or cls, got \"" + pooling + "\"");
        String name = out.getFileName().toString();
        boolean jsonl = name.endsWith(".jsonl");
        if (!jsonl && !name.endsWith(".safetensors")) throw new IllegalArgumentException("--out must end in .jsonl or .safetensors, got " + out);
        WordPieceTokenizer tok = BertModelOptions.wordPiece(model.dir);
        Bert bert = model.loadBert();
        List<String> texts = texts();
        int e = bert.cfg.hiddenSize();
        int limit = bert.cfg.rotary() ? 0 : bert.cfg.maxPositionEmbeddings();
        float[] all = new float[Math.multiplyExact(texts.size(), e)];
        ObjectMapper om = new ObjectMapper();
        StringBuilder lines = new StringBuilder();
        int truncated = 0;
        for (int i = 0; i < texts.size(); i++) {
            Encoding enc = tok.encode(texts.get(i), null, 0, Truncation.LONGEST_FIRST, false);
            int full = enc.length();
            if (limit > 0 && full > limit) {
                if (noTruncate)
                    throw new IllegalArgumentException("text " + (i + 1) + " has " + full + " tokens, more than max_position_embeddings "
                            + limit + " of this model (absolute positions); drop --no-truncate to truncate, or use a rotary model");
                truncated++;
                System.err.printf("warning: text %d has %,d tokens; truncated to max_position_embeddings %d (absolute positions)%n", i + 1, full, limit);
                enc = tok.encode(texts.get(i), null, limit, Truncation.LONGEST_FIRST, false);
            }
            int t = enc.length();
            long base = reportMemory ? resetPeaks() : 0;
            long t0 = System.nanoTime();
            float[] h;
            try {
                h = bert.encode(1, t, enc.inputIds(), null, null);
            } catch (OutOfMemoryError oom) {
                h = null;
                System.gc();
                throw new IllegalStateException("out of memory encoding text " + (i + 1) + " (" + String.format("%,d", t) + " tokens, "
                        + bert.cfg.attentionType().configName() + " attention) with a " + (Runtime.getRuntime().maxMemory() >> 20)
                        + " MB heap; raise it (COTTENTION_JAVA_OPTS=-Xmx...) or embed shorter texts");
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            float[] v = org.cottention.serve.InferenceEngine.pool(h, t, e, pooling.equals("cls"), normalize);
            System.arraycopy(v, 0, all, i * e, e);
            h = null;
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
                Map.of("pooling", pooling, "normalized", Boolean.toString(normalize), "model", model.dir.toString()));
        System.err.printf("wrote %d embedding(s) of %d dims to %s%s%n", texts.size(), e, out, truncated > 0 ? " (" + truncated + " truncated)" : "");
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
