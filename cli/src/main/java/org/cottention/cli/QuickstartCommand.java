package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.TrainBench;
import org.cottention.kernels.Machine;
import org.cottention.kernels.Parallel;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code cottention quickstart}: the README's first command. Trains a small cosine-attention GPT on the shipped
 * public-domain corpus (Moby-Dick) for about {@code --minutes} whatever the machine, then generates from it with the
 * recurrent decoder and prints what it measured. The number of steps comes from a few timed training steps of the same
 * model on random tokens (so the learning-rate schedule runs to its end within the budget) and is kept in the run
 * folder, so a second quickstart resumes the same run. Each step is an ordinary subcommand, echoed so it can be rerun
 * by hand.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a small cosine-attention model on the bundled Moby-Dick for a few minutes, then generate from it.")
public final class QuickstartCommand implements Callable<Integer> {
    // the model and batch: 4 x 256, 4 heads, context 128, 16 sequences per step
    private static final int VOCAB = 4096, LAYERS = 4, EMBD = 256, HEADS = 4, CONTEXT = 128, BATCH = 16;
    /** Validation passes in a run (each 20 batches, forward only), counted in the budget. */
    private static final int EVALS = 4;

    @Option(names = "--out", description = "Run folder (default ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "quickstart");

    @Option(names = "--minutes", description = "Training time budget in minutes (default ${DEFAULT-VALUE}); the steps follow from this machine's measured speed.")
    double minutes = 3;

    @Option(names = "--steps", description = "Training steps (default: as many as fit in --minutes).")
    Integer steps;

    @Option(names = "--attention", description = "cosine or softmax (default ${DEFAULT-VALUE}).")
    String attention = "cosine";

    @Option(names = "--threads", description = "Threads (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (steps != null && steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (!(minutes > 0)) throw new IllegalArgumentException("--minutes must be > 0, got " + minutes);
        if (threads != null) Parallel.setThreads(threads);
        Files.createDirectories(out);
        Path corpus = out.resolve("moby-dick.txt");
        try (InputStream in = QuickstartCommand.class.getResourceAsStream("/org/cottention/demo/moby-dick.txt")) {
            if (in == null) throw new IllegalStateException("the bundled corpus is missing from the jar");
            Files.copy(in, corpus, StandardCopyOption.REPLACE_EXISTING);
        }
        Path model = out.resolve("model"), plan = out.resolve("quickstart.json"), stats = out.resolve("generate-stats.json");
        boolean resume = Files.isDirectory(model) && Files.list(model).anyMatch(p -> p.getFileName().toString().startsWith("checkpoint-"));
        ObjectMapper json = new ObjectMapper();
        int total;
        if (steps != null) total = steps;
        else if (resume && Files.isRegularFile(plan)) total = json.readTree(plan.toFile()).get("steps").asInt(); // the run's own plan
        else total = plannedSteps();
        Files.writeString(plan, json.writeValueAsString(Map.of("steps", total, "minutes", minutes, "isa", Machine.isa())));
        int evalEvery = Math.max(10, (total + EVALS - 1) / EVALS / 10 * 10);
        List<String> train = new ArrayList<>(List.of("train", corpus.toString(), "--vocab-size", Integer.toString(VOCAB),
                "--n-layer", Integer.toString(LAYERS), "--n-embd", Integer.toString(EMBD), "--n-head", Integer.toString(HEADS),
                "--context", Integer.toString(CONTEXT), "--batch", Integer.toString(BATCH), "--steps", Integer.toString(total), "--lr", "2e-3",
                "--eval-every", Integer.toString(evalEvery), "--save-every", Integer.toString(Math.max(evalEvery, total / 2)),
                "--log-every", "10", "--attention", attention, "--out", model.toString(), "--plot", out.resolve("loss.png").toString()));
        List<String> gen = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "Call me Ishmael. Some years ago",
                "--max-new-tokens", "120", "--temperature", "0.7", "--top-k", "40", "--seed", "1", "--stats", stats.toString()));
        if (threads != null) {
            train.addAll(List.of("--threads", threads.toString()));
            gen.addAll(List.of("--threads", threads.toString()));
        }
        if (resume) train.add("--resume");  // a second quickstart continues (or, when finished, only generates)
        CommandLine root = spec.root().commandLine();
        int code;
        if (!resume || !finished(model, total)) {
            System.err.println("$ ./cottention " + shellWords(train));
            code = root.execute(train.toArray(String[]::new));
            if (code != 0) return code;
        }
        System.err.println("$ ./cottention " + shellWords(gen));
        code = root.execute(gen.toArray(String[]::new));
        if (code == 0) summary(model.resolve("metrics.jsonl"), stats);
        return code;
    }

    /**
     * Steps that fit the budget on this machine: the median of a few timed steps of the same model and batch on
     * random tokens (forward, backward, AdamW), with the validation passes counted (each about a third of 20 steps).
     */
    private int plannedSteps() {
        GptJ m = new GptJ(GptJConfig.of(VOCAB, CONTEXT, EMBD, LAYERS, HEADS, 4 * EMBD, Math.min(64, EMBD / HEADS), VOCAB - 1,
                AttentionType.parse(attention))).initialise(1);
        double stepMs = TrainBench.run(m, CONTEXT, BATCH, 5, 1).medianStepMs();
        // 10% for tokenising, checkpoints and the loop's own work
        int n = (int) (0.9 * minutes * 60e3 / stepMs) - EVALS * 20 / 3;
        int planned = Math.max(20, n / 10 * 10);
        System.err.printf("quickstart: %s, %d threads: one training step takes %.0f ms here, so %d steps fit in %s minutes%n",
                Machine.isa(), Parallel.threads(), stepMs, planned, minutes);
        return planned;
    }

    /** What the run measured: training speed, steps, validation perplexity; decoding speed and state size. */
    private static void summary(Path metrics, Path stats) throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode last = null, lastVal = null;
        for (String line : Files.readAllLines(metrics)) {
            if (line.isBlank()) continue;
            last = json.readTree(line);
            if (last.has("valLoss")) lastVal = last;
        }
        if (last == null) return;
        StringBuilder sb = new StringBuilder(String.format("quickstart: %s, %d threads; trained %d steps in %.1f min (%,.0f tokens/s)",
                Machine.isa(), Parallel.threads(), last.get("step").asLong(), last.get("elapsedSec").asDouble() / 60,
                last.get("tokensSeen").asDouble() / Math.max(1e-9, last.get("elapsedSec").asDouble())));
        if (lastVal != null) sb.append(String.format(", validation perplexity %.1f", Math.exp(lastVal.get("valLoss").asDouble())));
        if (Files.isRegularFile(stats)) {
            JsonNode s = json.readTree(stats.toFile());
            sb.append(String.format("; decoding %.1f ms/token, state %,d bytes (the same at any context length)",
                    s.get("decodeMs").asDouble() / Math.max(1, s.get("decodeTokens").asInt()), s.get("stateBytes").asLong()));
        }
        System.err.println(sb);
    }

    /** The arguments as a shell would need them typed (quoted where they hold spaces). */
    static String shellWords(List<String> args) {
        return String.join(" ", args.stream().map(a -> a.matches("[\\w./:=,+-]+") ? a : "'" + a.replace("'", "'\\''") + "'").toList());
    }

    private static boolean finished(Path model, int steps) {
        Path state = model.resolve(String.format("checkpoint-%06d", steps)).resolve("trainer_state.json");
        return Files.isRegularFile(state);
    }
}
