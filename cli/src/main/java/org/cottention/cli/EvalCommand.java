package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.data.TextSources;
import org.cottention.inference.LmScoring;
import org.cottention.model.GptJ;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Utf8;
import org.cottention.train.TrainableModel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention eval}: perplexity of a causal LM on held-out text or token ids. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Perplexity of a causal LM on text (documents separated by end-of-text, as in training) or on token ids.",
                "Every token after the first of each window of --context tokens is scored; prints one JSON object."})
public final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--data", arity = "1..*", paramLabel = "PATH", description = "Text files, folders or .jsonl files.")
        List<Path> data;

        @Option(names = "--ids", paramLabel = "FILE", description = "Token ids: whitespace-separated, or a JSON array of ids or of arrays.")
        Path ids;
    }

    @Option(names = "--context", description = "Window length (default: the model's n_positions).")
    Integer context;

    @Option(names = "--batch", description = "Windows per forward pass (default ${DEFAULT-VALUE}).")
    int batch = 8;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        long t0 = System.nanoTime();
        GptJ m = model.loadGptJ();
        int[] tokens;
        if (input.data != null) {
            Tokenizer tok = model.tokenizer();
            List<Path> files = TextSources.files(input.data);
            IntBuf buf = new IntBuf();
            TextSources.documents(files, doc -> {
                buf.addAll(tok.encode(doc));
                buf.add(m.cfg.eosTokenId());
            });
            tokens = buf.toArray();
        } else {
            tokens = readIds(input.ids);
        }
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= m.cfg.vocabSize())
                throw new IllegalArgumentException("token id " + tokens[i] + " at position " + i + " is outside the vocabulary of " + m.cfg.vocabSize());
        if (tokens.length < 2) throw new IllegalArgumentException("need at least 2 tokens to evaluate, got " + tokens.length);
        int t = context != null ? context : m.cfg.nPositions();
        if (t < 1 || batch < 1) throw new IllegalArgumentException("--context and --batch must be >= 1");
        LmScoring.Result scored = LmScoring.score(m, tokens, t, batch);
        TrainableModel.Loss total = scored.loss();
        int windows = scored.windows();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("tokens", total.count());
        r.put("windows", windows);
        r.put("context", t);
        r.put("loss", total.mean());
        r.put("perplexity", Math.exp(total.mean()));
        r.put("bitsPerToken", total.mean() / Math.log(2));
        r.put("seconds", (System.nanoTime() - t0) / 1e9);
        System.out.println(new ObjectMapper().writeValueAsString(r));
        return 0;
    }

    static int[] readIds(Path file) throws Exception {
        String s = Utf8.readFile(file).trim();
        IntBuf buf = new IntBuf();
        if (s.startsWith("[")) {
            JsonNode n = new ObjectMapper().readTree(s);
            for (JsonNode e : n) {
                if (e.isArray()) for (JsonNode x : e) buf.add(idOf(x, file));
                else buf.add(idOf(e, file));
            }
        } else if (!s.isEmpty()) {
            for (String p : s.split("\\s+")) {
                try {
                    buf.add(Integer.parseInt(p));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + ": '" + p + "' is not a token id");
                }
            }
        }
        return buf.toArray();
    }

    private static int idOf(JsonNode x, Path file) {
        if (!x.canConvertToInt()) throw new IllegalArgumentException(file + ": " + x + " is not a token id");
        return x.asInt();
    }

    /** Growable int buffer. */
    static final class IntBuf {
        int[] a = new int[1024];
        int n;

        void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, 2 * n);
            a[n++] = v;
        }

        void addAll(int[] v) {
            for (int x : v) add(x);
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
