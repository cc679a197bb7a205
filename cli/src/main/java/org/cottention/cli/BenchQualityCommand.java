package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.data.LmWindows;
import org.cottention.data.TextSources;
import org.cottention.data.TokenFile;
import org.cottention.io.AtomicFiles;
import org.cottention.io.Charts;
import org.cottention.model.AttentionType;
import org.cottention.model.CosineGate;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.BpeTrainer;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.train.AdamW;
import org.cottention.train.Batch;
import org.cottention.train.Checkpoints;
import org.cottention.train.LrSchedule;
import org.cottention.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code cottention bench quality}: the same small GPT-J trained with each attention variant — softmax, cosine, and
 * gated cosine with the decay, the convolution or both (math doc §8) — on the same tokens, split, steps, batch,
 * learning-rate schedule and seed, through the shared {@link Trainer}; each evaluated on the same held-out windows.
 * One JSON line per variant; a finished variant (its result.json in --out) is kept, an interrupted one resumes from
 * its last checkpoint.
 */
@Command(name = "quality", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train the same GPT-J with each attention variant on the same data and budget; compare validation loss.",
                "Variants: softmax, cosine, cosine-gate (decay), cosine-conv (q/k/v convolution), cosine-gate-conv (both)."})
public final class BenchQualityCommand implements Callable<Integer> {
    static final List<String> VARIANTS = List.of("softmax", "cosine", "cosine-gate", "cosine-conv", "cosine-gate-conv");

    @Option(names = "--data", arity = "1..*", required = true, paramLabel = "FILE", description = "Text files, folders or .jsonl files.")
    List<Path> data;

    @Option(names = "--variants", split = ",", description = "Variants to train, in order (default ${DEFAULT-VALUE}).")
    List<String> variants = VARIANTS;

    @Option(names = "--steps", description = "Optimizer steps per variant (default ${DEFAULT-VALUE}).")
    int steps = 500;

    @Option(names = "--batch", description = "Sequences per step (default ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--context", description = "Training context length (default ${DEFAULT-VALUE}).")
    int context = 256;

    @Option(names = "--n-layer", description = "Blocks (default ${DEFAULT-VALUE}).")
    int nLayer = 4;

    @Option(names = "--n-embd", description = "Width (default ${DEFAULT-VALUE}).")
    int nEmbd = 256;

    @Option(names = "--n-head", description = "Heads (default ${DEFAULT-VALUE}).")
    int nHead = 4;

    @Option(names = "--vocab-size", description = "Byte-level BPE vocabulary trained on the data once, shared by all variants (default ${DEFAULT-VALUE}).")
    int vocabSize = 4096;

    @Option(names = "--conv-size", description = "Width of the q/k/v convolution of the -conv variants (default ${DEFAULT-VALUE}).")
    int convSize = 2;

    @Option(names = "--lr", description = "Peak learning rate; warmup 5%, cosine decay to lr/10 (default ${DEFAULT-VALUE}).")
    float lr = 1e-3f;

    @Option(names = "--seed", description = "Seed of initialisation and batch order, the same for every variant (default ${DEFAULT-VALUE}).")
    long seed = 1;

    @Mixin
    ValidationOptions validation;

    @Option(names = "--eval-every", description = "Validation curve resolution in steps (default: steps/10).")
    Integer evalEvery;

    @Option(names = "--out", description = "Run folder: tokenizer, token cache, one sub-folder per variant (default ${DEFAULT-VALUE}).")
    Path out = Path.of("bench-quality");

    @Option(names = "--json", description = "One JSON object per variant (default: a table).")
    boolean json;

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Validation loss against training tokens, every variant.")
    Path plot;

    @Option(names = "--progress", description = "Show a progress bar per variant.")
    boolean progress;

    @Mixin
    ThreadsOption threads;

    static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        threads.apply();
        for (String v : variants)
            if (!VARIANTS.contains(v)) throw new IllegalArgumentException("--variants: unknown variant '" + v + "' (known: " + String.join(", ", VARIANTS) + ")");
        if (steps < 1 || batch < 1 || context < 2) throw new IllegalArgumentException("--steps and --batch must be >= 1 and --context >= 2");
        if (nHead < 1 || nEmbd % nHead != 0) throw new IllegalArgumentException("--n-embd " + nEmbd + " must be divisible by --n-head " + nHead);
        if (convSize < 2) throw new IllegalArgumentException("--conv-size must be >= 2, got " + convSize);
        List<Path> files = TextSources.files(data);
        Files.createDirectories(out);
        Tokenizer tok = tokenizer(files);
        int eos = TrainCommand.eosId(tok);
        TokenFile tokens = TokenFile.build(files, tok, eos, out.resolve("cache"));
        LmWindows windows = new LmWindows(tokens, context, batch, validation.fraction, seed);
        List<Batch> val = windows.validation(validation.batches);
        if (val.isEmpty()) throw new IllegalArgumentException("the corpus leaves no validation window of " + context + " tokens; give more data or a larger --val-fraction");
        System.err.printf("corpus: %,d tokens, %,d training / %,d validation windows of %d; %,d training tokens per variant%n",
                tokens.size(), windows.trainWindows(), windows.valWindows(), context, (long) steps * batch * context);
        if (!json) System.out.printf("%-18s %10s %8s %12s %9s %12s %14s%n", "variant", "params", "steps", "tokens", "valLoss", "valPerplexity", "trainTok/s");
        List<Charts.Series> curves = new ArrayList<>();
        for (String v : variants) {
            Map<String, Object> row = runVariant(v, tok, eos, windows, val);
            if (json) System.out.println(JSON.writeValueAsString(row));
            else System.out.printf("%-18s %,10d %8d %,12d %9.4f %12.2f %,14.0f%n", v, row.get("params"), row.get("steps"), row.get("tokens"),
                    row.get("valLoss"), row.get("valPerplexity"), row.get("trainTokensPerSec"));
            System.out.flush();
            curves.add(curve(v, out.resolve(v).resolve("metrics.jsonl")));
        }
        if (plot != null)
            Charts.write(plot, List.of(new Charts.Chart("Validation loss (same data, budget and seed)", "training tokens", "validation loss", false, false, curves)));
        return 0;
    }

    /** The tokenizer of the run: trained on the data the first time, then read back (every variant and resume share it). */
    private Tokenizer tokenizer(List<Path> files) throws Exception {
        Path dir = out.resolve("tokenizer");
        if (Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("vocab.json"))) return Tokenizers.load(dir);
        System.err.printf("training a byte-level BPE tokenizer of %d tokens...%n", vocabSize);
        BpeTrainer bt = new BpeTrainer(vocabSize);
        TextSources.pieces(files, (piece, last) -> bt.addText(piece));
        Tokenizer tok = bt.train();
        Path staging = Files.createTempDirectory(out, "tokenizer.tmp"); // saved whole, then renamed: never half a tokenizer
        tok.save(staging);
        if (Files.isDirectory(dir)) try (var old = Files.list(dir)) {
            for (Path p : old.toList()) Files.delete(p);
        }
        Files.deleteIfExists(dir);
        Files.move(staging, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return tok;
    }

    static GptJConfig config(String variant, GptJConfig base, int convSize) {
        return switch (variant) {
            case "softmax" -> base.withAttention(AttentionType.SOFTMAX);
            case "cosine" -> base;
            case "cosine-gate" -> base.withGating(CosineGate.SOFTPLUS, 0);
            case "cosine-conv" -> base.withGating(CosineGate.NONE, convSize);
            case "cosine-gate-conv" -> base.withGating(CosineGate.SOFTPLUS, convSize);
            default -> throw new IllegalArgumentException("unknown variant " + variant);
        };
    }

    /** Trains (or resumes, or just reads back) one variant and returns its result row. */
    private Map<String, Object> runVariant(String v, Tokenizer tok, int eos, LmWindows windows, List<Batch> val) throws Exception {
        Path dir = out.resolve(v), result = dir.resolve("result.json");
        if (Files.isRegularFile(result)) {
            System.err.println(v + ": kept the finished result in " + result);
            @SuppressWarnings("unchecked") Map<String, Object> kept = JSON.readValue(result.toFile(), LinkedHashMap.class);
            return kept;
        }
        Files.createDirectories(dir);
        boolean resume = hasCheckpoint(dir);
        GptJ model;
        if (resume) {
            model = ModelStore.loadGptJ(Checkpoints.latest(dir), null);
            System.err.println(v + ": resuming from " + Checkpoints.latest(dir));
        } else {
            GptJConfig base = GptJConfig.of(tok.vocabSize(), context, nEmbd, nLayer, nHead, 4 * nEmbd, Math.min(64, nEmbd / nHead), eos, AttentionType.COSINE);
            model = new GptJ(config(v, base, convSize), 64).initialise(seed);
        }
        int every = evalEvery != null ? evalEvery : Math.max(1, steps / 10);
        Trainer.Evaluator eval = step -> model.validation(val);
        var options = new Trainer.Options(steps, 1, new LrSchedule(lr, lr / 10, Math.max(0, steps / 20), steps, LrSchedule.Decay.COSINE),
                new AdamW.Config(0.9f, 0.99f, 1e-8f, 0.1f), 1.0, Math.max(1, Math.min(10, every)), every, every, 1, seed, dir, resume,
                progress, null, null, false, 0);
        Trainer.Result r = new Trainer(model, tok, windows, eval, options).run();
        if (r.interrupted()) throw new IllegalStateException(v + ": interrupted at step " + r.step() + "; run the same command again to resume");
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("variant", v);
        row.put("attention", model.cfg.attentionType().configName());
        row.put("cosineGate", model.cfg.cosineGate().configName());
        row.put("qkvConvSize", model.cfg.qkvConvSize());
        row.put("params", model.parameterCount());
        row.put("steps", r.step());
        row.put("tokens", r.step() * batch * context);
        row.put("valLoss", r.lastEval().get("valLoss"));
        row.put("valPerplexity", r.lastEval().get("valPerplexity"));
        row.put("valTokens", val.stream().mapToLong(b -> (long) b.size() * b.seqLen()).sum());
        row.put("trainTokensPerSec", medianTokensPerSec(dir.resolve("metrics.jsonl")));
        row.put("nLayer", nLayer);
        row.put("nEmbd", nEmbd);
        row.put("nHead", nHead);
        row.put("context", context);
        row.put("batch", batch);
        row.put("seed", seed);
        row.put("threads", threads.threads());
        AtomicFiles.writeString(result, JSON.writeValueAsString(row) + "\n");
        return row;
    }

    private static boolean hasCheckpoint(Path dir) {
        try {
            Checkpoints.latest(dir);
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static double medianTokensPerSec(Path metrics) throws java.io.IOException {
        double[] x = Files.readAllLines(metrics).stream().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).filter(n -> n.has("tokensPerSec")).mapToDouble(n -> n.get("tokensPerSec").asDouble()).sorted().toArray();
        return x.length == 0 ? 0 : x[x.length / 2];
    }

    /** The validation curve of a variant from its metrics.jsonl: validation loss against tokens seen. */
    private static Charts.Series curve(String v, Path metrics) throws java.io.IOException {
        List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
        if (Files.isRegularFile(metrics))
            for (String l : Files.readAllLines(metrics)) {
                JsonNode n = JSON.readTree(l);
                if (n.has("valLoss")) {
                    xs.add(n.get("tokensSeen").asDouble());
                    ys.add(n.get("valLoss").asDouble());
                }
            }
        return new Charts.Series(v, xs, ys);
    }
}
