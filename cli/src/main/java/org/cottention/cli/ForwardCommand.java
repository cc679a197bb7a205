package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.tokenizer.Utf8;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention forward}: logits for HF-style inputs, written to safetensors (to compare with PyTorch). */
@Command(name = "forward", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run a model on {\"input_ids\": [[...]], \"attention_mask\": [[...]], \"token_type_ids\": [[...]]}",
                "(rows may be padded; mask and token types optional; positions 0..T-1 per row as HF does) and write",
                "logits [B,T,V] float32 to a safetensors file (for BERT: the masked-LM logits)."})
public final class ForwardCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE.json")
    Path inputs;

    @Option(names = "--out", required = true, paramLabel = "FILE.safetensors")
    Path out;

    @Mixin
    ThreadsOption threads;

    /** Input ids [B, T] with optional mask and token types, checked rectangular. */
    record Inputs(int b, int t, int[] ids, int[] mask, int[] types) {}

    @Override
    public Integer call() throws Exception {
        threads.apply();
        Inputs in = read(inputs);
        float[] logits;
        int v;
        switch (model.modelType()) {
            case "gptj" -> {
                var m = model.loadGptJ();
                v = m.cfg.vocabSize();
                logits = m.logits(in.b, in.t, in.ids, in.mask);
            }
            case "bert" -> {
                var m = model.loadBert();
                v = m.cfg.vocabSize();
                logits = m.mlmLogits(in.b, in.t, in.ids, in.mask, in.types);
            }
            default -> throw new IllegalArgumentException("model_type \"" + model.modelType() + "\" in " + model.dir + " is not supported by forward");
        }
        SafeTensors.write(out, List.of(new SafeTensors.Entry("logits", DType.F32, new long[]{in.b, in.t, v}, logits)), Map.of("format", "pt"));
        System.err.printf("wrote logits [%d, %d, %d] to %s%n", in.b, in.t, v, out);
        return 0;
    }

    static Inputs read(Path file) throws Exception {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(Utf8.readFile(file));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage());
        }
        int[][] ids = matrix(n, "input_ids", file, null);
        if (ids == null) throw new IllegalArgumentException(file + ": no \"input_ids\"");
        int[][] mask = matrix(n, "attention_mask", file, ids), types = matrix(n, "token_type_ids", file, ids);
        int b = ids.length, t = ids[0].length;
        return new Inputs(b, t, flat(ids), mask == null ? null : flat(mask), types == null ? null : flat(types));
    }

    private static int[][] matrix(JsonNode root, String key, Path file, int[][] like) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isArray() || n.isEmpty()) throw new IllegalArgumentException(file + ": \"" + key + "\" must be a non-empty list of lists");
        int[][] out = new int[n.size()][];
        for (int r = 0; r < n.size(); r++) {
            JsonNode row = n.get(r);
            if (!row.isArray() || row.isEmpty()) throw new IllegalArgumentException(file + ": \"" + key + "\" row " + r + " is not a non-empty list");
            if (row.size() != (like != null ? like[0].length : out[0] != null ? out[0].length : row.size()) || (r > 0 && row.size() != out[0].length))
                throw new IllegalArgumentException(file + ": \"" + key + "\" row " + r + " has " + row.size() + " entries; all rows must have the same length (pad them)");
            out[r] = new int[row.size()];
            for (int c = 0; c < row.size(); c++) {
                if (!row.get(c).canConvertToInt()) throw new IllegalArgumentException(file + ": \"" + key + "\"[" + r + "][" + c + "] is not an integer");
                out[r][c] = row.get(c).asInt();
            }
        }
        if (like != null && out.length != like.length)
            throw new IllegalArgumentException(file + ": \"" + key + "\" has " + out.length + " rows but input_ids has " + like.length);
        return out;
    }

    private static int[] flat(int[][] m) {
        int t = m[0].length;
        int[] out = new int[m.length * t];
        for (int r = 0; r < m.length; r++) System.arraycopy(m[r], 0, out, r * t, t);
        return out;
    }
}
