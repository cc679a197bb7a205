package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.model.AttentionType;
import org.cottention.model.Linearize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code cottention linearize}: a softmax model converted to cosine attention by distillation (logic in {@link Linearize}). */
@Command(name = "linearize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Convert a softmax BERT encoder (e.g. one made by `import`) or GPT-J causal LM into a cosine-attention model that keeps its behaviour.",
                "The student starts as a copy of the teacher. Stage 1 (attention transfer) trains each layer's q/k/v projections and "
                        + "norm_const so that its cosine attention reproduces the teacher's softmax attention output on the teacher's "
                        + "hidden states (MSE), the rest frozen; stage 2 distils the whole model on unlabeled text (final hidden states "
                        + "and pooled embeddings; for a causal LM, KL on the next-token distributions). Both on the shared trainer: progress, metrics.jsonl and checkpoints in OUT/stage1 and "
                        + "OUT/stage2, --resume, Ctrl-C. Prints (and writes to OUT/linearize.json) the fidelity on held-out texts: "
                        + "meanCosine, spearman, top10Overlap for the unconverted swap and after each stage."})
public final class LinearizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The softmax teacher (a model folder).")
    Path model;

    @Option(names = "--data", required = true, arity = "1..*", paramLabel = "TEXT", description = "Unlabeled text: files, folders or JSONL; 1 paragraph in 10 is held out for the report.")
    List<Path> data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder: the cosine model, linearize.json, stage1/ and stage2/ runs.")
    Path out;

    @Option(names = "--attention", paramLabel = "TYPE", description = "Attention of the student (default ${DEFAULT-VALUE}).")
    String attention = "cosine";

    @Option(names = "--steps", description = "Optimizer steps of both stages together (default ${DEFAULT-VALUE}); ignored with --minutes.")
    int steps = 400;

    @Option(names = "--minutes", description = "Wall-time budget of the whole run instead of --steps (stage 1 sized from timed probe steps, stage 2 when it starts, from the time left).")
    double minutes;

    @Option(names = "--stage1-fraction", description = "Share of the budget for attention transfer (default ${DEFAULT-VALUE}).")
    double stage1Fraction = 0.3;

    @Option(names = "--max-length", description = "Longest training sequence in tokens (default ${DEFAULT-VALUE}; lengths vary from 8 up to it).")
    int maxLength = 128;

    @Option(names = "--batch", description = "Sequences per step (default ${DEFAULT-VALUE}).")
    int batch = 16;

    @Option(names = "--micro-batch", paramLabel = "M", description = "Sequences per forward/backward; --batch / M micro-batches are accumulated "
            + "into each step (same update, less memory: activations scale with M x --max-length). Default: --batch.")
    Integer microBatch;

    @Option(names = "--lr", description = "Peak learning rate of stage 1 (default ${DEFAULT-VALUE}).")
    float lr = 1e-3f;

    @Option(names = "--stage2-lr", description = "Peak learning rate of stage 2 (default ${DEFAULT-VALUE}).")
    float lr2 = 2e-4f;

    @Option(names = "--pooled-weight", description = "Weight of the pooled-embedding cosine loss in stage 2 (default ${DEFAULT-VALUE}).")
    double pooledWeight = 1.0;

    @Option(names = "--layer-weight", description = "Weight of the inner layers' hidden-state MSE in stage 2 of a BERT encoder "
            + "(0: the final hidden states and pooled embedding only; default ${DEFAULT-VALUE}).")
    double layerWeight = 0;

    @Option(names = "--eval-texts", description = "Held-out texts in the fidelity report (default ${DEFAULT-VALUE}).")
    int evalTexts = 200;

    @Option(names = "--eval-every", description = "Fidelity every N steps in metrics.jsonl, 0 = at the end of each stage (default ${DEFAULT-VALUE}).")
    int evalEvery = 0;

    @Option(names = "--save-every", description = "Checkpoint every N steps (default ${DEFAULT-VALUE}).")
    int saveEvery = 100;

    @Option(names = "--seed", description = "Seed of the training spans (default ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--resume", description = "Continue from the newest checkpoint in OUT (stage 1 or 2).")
    boolean resume;

    @Option(names = "--json", description = "Print the report as one JSON object on stdout.")
    boolean json;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--stop-after", hidden = true, description = "Stop (saving) after this step of the current stage, as Ctrl-C would.")
    int stopAfter;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (!Files.isDirectory(model)) throw new IllegalArgumentException("model folder " + model + " does not exist");
        var o = new Linearize.Options(AttentionType.parse(attention), steps, minutes, stage1Fraction, maxLength, batch, lr, lr2, pooledWeight,
                evalTexts, evalEvery, saveEvery, seed, resume, !noProgress, stopAfter, microBatch != null ? microBatch : batch, layerWeight);
        long t0 = System.nanoTime();
        String type = Files.isRegularFile(model.resolve("config.json"))
                ? new ObjectMapper().readTree(model.resolve("config.json").toFile()).path("model_type").asText("gptj") : "gptj";
        Linearize.Report r = type.equals("bert") ? Linearize.bert(model, data, out, o, System.err::println)
                : Linearize.gptJ(model, data, out, o, System.err::println);
        var m = new java.util.LinkedHashMap<>(r.toMap());
        m.put("wallSeconds", (System.nanoTime() - t0) / 1e9);
        if (json) System.out.println(new ObjectMapper().writeValueAsString(m));
        if (r.interrupted()) {
            System.err.println("linearize stopped before the end; continue with --resume");
            return 130;
        }
        System.err.printf("linearized %s -> %s in %.1f min%n", model, out, (System.nanoTime() - t0) / 6e10);
        return 0;
    }
}
