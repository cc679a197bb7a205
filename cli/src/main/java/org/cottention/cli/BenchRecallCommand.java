package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.Charts;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.train.AdamW;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;
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
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code cottention bench recall}: multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"). Each sequence
 * holds n key-value pairs {@code k1 v1 ... kn vn} followed by queries of earlier keys, each followed by its value; a
 * model is trained from scratch per (variant, length, pairs) through the shared {@link Trainer} and scored by argmax
 * accuracy at the answer positions only, on fresh sequences. It measures what a fixed-size state can remember.
 */
@Command(name = "recall", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Multi-query associative recall (MQAR): train small GPT-J models per attention variant, sequence length and",
                "number of key-value pairs; report the accuracy at the answer positions."})
public final class BenchRecallCommand implements Callable<Integer> {
    @Option(names = "--variants", split = ",", description = "Variants (default ${DEFAULT-VALUE}).")
    List<String> variants = BenchQualityCommand.VARIANTS;

    @Option(names = "--seq", split = ",", description = "Sequence lengths (default ${DEFAULT-VALUE}).")
    List<Integer> seqs = List.of(64, 128, 256, 512);

    @Option(names = "--kv-pairs", split = ",", description = "Key-value pairs, one per --seq entry (default ${DEFAULT-VALUE}).")
    List<Integer> pairs = List.of(4, 8, 16, 64);

    @Option(names = "--d-model", description = "Model width (default ${DEFAULT-VALUE}).")
    int dModel = 64;

    @Option(names = "--n-layer", description = "Blocks (default ${DEFAULT-VALUE}).")
    int nLayer = 2;

    @Option(names = "--n-head", description = "Heads (default ${DEFAULT-VALUE}).")
    int nHead = 2;

    @Option(names = "--vocab-size", description = "Tokens: keys from the lower half, values from the upper half (default ${DEFAULT-VALUE}).")
    int vocab = 256;

    @Option(names = "--steps", description = "Training steps per model (default ${DEFAULT-VALUE}).")
    int steps = 300;

    @Option(names = "--batch", description = "Sequences per step (default ${DEFAULT-VALUE}).")
    int batch = 32;

    @Option(names = "--lr", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    float lr = 3e-3f;

    @Option(names = "--eval-batches", description = "Fresh batches scored per model (default ${DEFAULT-VALUE}).")
    int evalBatches = 4;

    @Option(names = "--seed", description = "Seed of data and initialisation (default ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--json", description = "One JSON object per model (default: a table).")
    boolean json;

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Accuracy against sequence length per variant.")
    Path plot;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        for (String v : variants)
            if (!BenchQualityCommand.VARIANTS.contains(v))
                throw new IllegalArgumentException("--variants: unknown variant '" + v + "' (known: " + String.join(", ", BenchQualityCommand.VARIANTS) + ")");
        if (seqs.size() != pairs.size()) throw new IllegalArgumentException("--kv-pairs must give one count per --seq length (" + seqs.size() + "), got " + pairs.size());
        if (vocab < 8) throw new IllegalArgumentException("--vocab-size must be >= 8, got " + vocab);
        for (int i = 0; i < seqs.size(); i++)
            if (pairs.get(i) < 1 || 2 * pairs.get(i) + 2 > seqs.get(i) || pairs.get(i) > vocab / 2 - 1)
                throw new IllegalArgumentException("--kv-pairs " + pairs.get(i) + " does not fit --seq " + seqs.get(i)
                        + " (needs 1 <= pairs, 2*pairs + 2 <= seq, pairs < vocab/2)");
        if (steps < 1 || batch < 1 || dModel % nHead != 0) throw new IllegalArgumentException("--steps, --batch >= 1 and --d-model divisible by --n-head");
        ObjectMapper om = new ObjectMapper();
        if (!json) System.out.printf("%-18s %6s %8s %8s %9s%n", "variant", "seq", "kvPairs", "dModel", "accuracy");
        Map<String, List<double[]>> byVariant = new LinkedHashMap<>();
        Path tmp = Files.createTempDirectory("cottention-recall");
        try {
            for (String v : variants)
                for (int i = 0; i < seqs.size(); i++) {
                    int seq = seqs.get(i), n = pairs.get(i);
                    GptJConfig base = GptJConfig.of(vocab, seq, dModel, nLayer, nHead, 4 * dModel, Math.min(64, dModel / nHead), vocab - 1, AttentionType.COSINE);
                    GptJ model = new GptJ(BenchQualityCommand.config(v, base, 2), 64).initialise(seed);
                    Mqar train = new Mqar(batch, seq, n, vocab, seed), eval = new Mqar(batch, seq, n, vocab, seed ^ 0x5DEECE66DL);
                    Path out = tmp.resolve(v + "-" + seq);
                    var opt = new Trainer.Options(steps, 1, new LrSchedule(lr, lr / 10, Math.max(0, steps / 10), steps, LrSchedule.Decay.COSINE),
                            new AdamW.Config(0.9f, 0.99f, 1e-8f, 0.1f), 1.0, Math.max(1, steps / 10), 0, 0, 1, seed, out, false, false, null, null, false, 0);
                    // a model whose training diverges is scored as it stood after its last good step (the trainer
                    // stops before that step's update) and reported as such; the other models still run
                    Trainer.DivergedException diverged = null;
                    try {
                        new Trainer(model, null, train, null, opt).run();
                    } catch (Trainer.DivergedException e) {
                        diverged = e;
                        System.err.println("bench recall: " + v + " at seq " + seq + ": " + e.getMessage());
                    }
                    double acc = accuracy(model, eval);
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("variant", v);
                    row.put("seq", seq);
                    row.put("kvPairs", n);
                    row.put("dModel", dModel);
                    row.put("accuracy", acc);
                    row.put("nLayer", nLayer);
                    row.put("params", model.parameterCount());
                    row.put("steps", steps);
                    row.put("queriesScored", (long) evalBatches * batch * ((seq - 2 * n) / 2));
                    if (diverged != null) {
                        row.put("stepsDone", diverged.stepsDone);
                        row.put("diverged", diverged.getMessage());
                    }
                    if (json) System.out.println(om.writeValueAsString(row));
                    else System.out.printf("%-18s %6d %8d %8d %9.3f%s%n", v, seq, n, dModel, acc,
                            diverged == null ? "" : "  (diverged after " + diverged.stepsDone + " steps)");
                    System.out.flush();
                    byVariant.computeIfAbsent(v, k -> new ArrayList<>()).add(new double[]{seq, acc});
                }
        } finally {
            try (var w = Files.walk(tmp)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        if (plot != null) {
            List<Charts.Series> series = new ArrayList<>();
            byVariant.forEach((v, pts) -> series.add(new Charts.Series(v, pts.stream().map(p -> p[0]).toList(), pts.stream().map(p -> p[1]).toList())));
            Charts.write(plot, List.of(new Charts.Chart("MQAR accuracy (pairs grow with length)", "sequence length", "accuracy", true, false, series)));
        }
        return 0;
    }

    /** Argmax accuracy at the answer positions over the evaluation batches. */
    private double accuracy(GptJ model, Mqar data) {
        long right = 0, total = 0;
        for (int e = 0; e < evalBatches; e++) {
            Batch b = data.batch(e);
            float[] logits = model.logits(b.size(), b.seqLen(), b.inputIds(), null);
            for (int i = 0; i < b.size() * b.seqLen(); i++) {
                int t = b.targets()[i];
                if (t < 0) continue;
                total++;
                if (org.cottention.generate.Sampler.argmax(java.util.Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab)) == t) right++;
            }
        }
        return total == 0 ? 0 : (double) right / total;
    }

    /**
     * MQAR batches, a pure function of (seed, index): per row n distinct keys from [1, V/2) and values from [V/2, V),
     * the pairs, then (query key, its value) pairs to the end; the target at a query is its value, elsewhere none.
     */
    record Mqar(int batch, int seq, int pairs, int vocab, long seed) implements BatchSource {
        @Override
        public Batch batch(long index) {
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
            int[] ids = new int[batch * seq], targets = new int[batch * seq], mask = new int[batch * seq];
            java.util.Arrays.fill(targets, -1);
            java.util.Arrays.fill(mask, 1);
            int half = vocab / 2;
            for (int b = 0; b < batch; b++) {
                int o = b * seq;
                int[] keys = r.ints(1, half).distinct().limit(pairs).toArray(), values = new int[pairs];
                for (int i = 0; i < pairs; i++) {
                    values[i] = half + r.nextInt(vocab - half);
                    ids[o + 2 * i] = keys[i];
                    ids[o + 2 * i + 1] = values[i];
                }
                for (int p = 2 * pairs; p + 1 < seq; p += 2) {
                    int i = r.nextInt(pairs);
                    ids[o + p] = keys[i];
                    ids[o + p + 1] = values[i];
                    targets[o + p] = values[i];
                }
            }
            return Batch.lm(batch, seq, ids, mask, targets);
        }

        @Override
        public long batchesPerEpoch() {
            return Long.MAX_VALUE;
        }
    }
}
