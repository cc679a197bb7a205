package org.cottention.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code cottention quickstart}: the README's first command. Trains a small cosine-attention GPT on the shipped
 * public-domain corpus (Moby-Dick) for a few minutes, then generates from it with the recurrent decoder and prints the
 * constant-memory decoding statistics. Each step is an ordinary subcommand, echoed so it can be rerun by hand.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a small cosine-attention model on the bundled Moby-Dick for a few minutes, then generate from it.")
public final class QuickstartCommand implements Callable<Integer> {
    @Option(names = "--out", description = "Run folder (default ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "quickstart");

    @Option(names = "--steps", description = "Training steps (default ${DEFAULT-VALUE}: a few minutes on 2 cores).")
    int steps = 400;

    @Option(names = "--attention", description = "cosine or softmax (default ${DEFAULT-VALUE}).")
    String attention = "cosine";

    @Option(names = "--threads", description = "Threads (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(out);
        Path corpus = out.resolve("moby-dick.txt");
        try (InputStream in = QuickstartCommand.class.getResourceAsStream("/org/cottention/demo/moby-dick.txt")) {
            if (in == null) throw new IllegalStateException("the bundled corpus is missing from the jar");
            Files.copy(in, corpus, StandardCopyOption.REPLACE_EXISTING);
        }
        Path model = out.resolve("model");
        List<String> train = new ArrayList<>(List.of("train", corpus.toString(), "--vocab-size", "4096", "--n-layer", "4", "--n-embd", "256",
                "--n-head", "4", "--context", "128", "--batch", "16", "--steps", Integer.toString(steps), "--lr", "2e-3",
                "--eval-every", "100", "--save-every", "200", "--log-every", "10", "--attention", attention,
                "--out", model.toString(), "--plot", out.resolve("loss.png").toString()));
        List<String> gen = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "Call me Ishmael. Some years ago",
                "--max-new-tokens", "120", "--temperature", "0.7", "--top-k", "40", "--seed", "1"));
        if (threads != null) {
            train.addAll(List.of("--threads", threads.toString()));
            gen.addAll(List.of("--threads", threads.toString()));
        }
        if (Files.isDirectory(model) && Files.list(model).anyMatch(p -> p.getFileName().toString().startsWith("checkpoint-"))) {
            train.add("--resume");  // a second quickstart continues (or, when finished, only generates)
        }
        CommandLine root = spec.root().commandLine();
        int code = 0;
        if (!train.contains("--resume") || !finished(model)) {
            System.err.println("$ ./cottention " + shellWords(train));
            code = root.execute(train.toArray(String[]::new));
            if (code != 0) return code;
        }
        System.err.println("$ ./cottention " + shellWords(gen));
        return root.execute(gen.toArray(String[]::new));
    }

    /** The arguments as a shell would need them typed (quoted where they hold spaces). */
    static String shellWords(List<String> args) {
        return String.join(" ", args.stream().map(a -> a.matches("[\\w./:=,+-]+") ? a : "'" + a.replace("'", "'\\''") + "'").toList());
    }

    private boolean finished(Path model) throws Exception {
        Path state = model.resolve(String.format("checkpoint-%06d", steps)).resolve("trainer_state.json");
        return Files.isRegularFile(state);
    }
}
