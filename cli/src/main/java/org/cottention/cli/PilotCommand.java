package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.pilot.Pilot;
import org.cottention.pilot.PilotOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention pilot}: cosine against softmax on the user's data, one command, one report (org.cottention.pilot). */
@Command(name = "pilot", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Cosine against softmax attention on your own data: every variant trained (or, with --model, made from",
                "your softmax model) with the same tokenizer, split, steps, schedule and seed; quality, the cost of getting",
                "there, and the cost of use at your documents' lengths and at 4K/16K/64K tokens; report.html, report.md,",
                "report.json and PNG charts in --out. Run it again with the same arguments to continue: finished variants",
                "are not run again (Ctrl-C keeps them; training continues from its last checkpoint)."})
public final class PilotCommand implements Callable<Integer> {
    @Option(names = "--text", arity = "1..*", paramLabel = "DATA", description = "Causal language modelling (validation perplexity) on text files, folders or JSONL.")
    List<Path> text;

    @Option(names = "--train-dir", paramLabel = "TSVDIR", description = "GLUE-style classification (dev accuracy, F1, MCC): a folder with train.tsv and dev.tsv.")
    Path trainDir;

    @Option(names = "--model", paramLabel = "DIR", description = {"An existing softmax model (GPT-J for --text, BERT for --train-dir): the original is",
            "evaluated as it is (fine-tuned first when it has no classifier for the labels); cosine is made from it by linearization",
            "(attention transfer, then distillation from the original on the pilot's training texts), the gated variants by swapping",
            "the attention with neutral gating; then each is fine-tuned or trained the same steps."})
    Path model;

    @Option(names = "--variants", paramLabel = "LIST", description = {"Comma-separated variants: softmax, cosine, and for --text cosine-gate, cosine-conv, cosine-gate-conv",
            "(default: all that apply)."})
    String variants;

    @Option(names = "--budget-minutes", paramLabel = "M", description = "Wall-clock budget of the whole pilot: the steps are chosen to fit it (instead of --steps).")
    Double budgetMinutes;

    @Option(names = "--json", description = "Print the summary as one JSON object on stdout (the table goes to stderr).")
    boolean json;

    @Option(names = "--n-layer", description = "Layers of models trained from scratch (default: 4 for --text, 2 for --train-dir).")
    Integer nLayer;

    @Option(names = "--n-embd", description = "Width (default: 256 for --text, 128 for --train-dir).")
    Integer nEmbd;

    @Option(names = "--n-head", description = "Attention heads (default 4).")
    Integer nHead;

    @Option(names = {"--context", "--max-length"}, description = "Training length in tokens: LM context, or the longest classification input (default 256).")
    Integer length;

    @Option(names = "--vocab-size", description = "Tokenizer trained on the data (default: 4096 BPE for --text, 8192 WordPiece for --train-dir).")
    Integer vocabSize;

    @Option(names = "--position", description = "BERT positions from scratch: rotary (any length; default) or absolute.")
    String position;

    @Mixin
    ColumnsOption columns;

    @Option(names = "--lengths", split = ",", paramLabel = "N", description = "Fixed lengths the cost of use is measured at, besides your data's (default 4096,16384,65536).")
    List<Integer> lengths;

    @Option(names = "--cutoff-seconds", description = "A document estimated to take longer than this is not run, reported as too slow (default: from the budget, else 60).")
    Double cutoffSeconds;

    @Option(names = "--decode-tokens", description = "Generated tokens timed per context length (--text; default ${DEFAULT-VALUE}).")
    int decodeTokens = 32;

    @Mixin
    TrainingOptions train;

    @Mixin
    ThreadsOption threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        var parsed = spec.commandLine().getParseResult();
        Integer steps = parsed.hasMatchedOption("--steps") ? train.steps : null;
        StringBuilder cmd = new StringBuilder("./cottention pilot");
        List<String> given = parsed.originalArgs();
        int from = given.indexOf("pilot") + 1;   // the top-level parse's arguments start with the subcommand's name
        for (String a : given.subList(from, given.size())) cmd.append(' ').append(a.matches("[\\w./:=,@+-]+") ? a : "'" + a.replace("'", "'\\''") + "'");
        PilotOptions.Training tr = new PilotOptions.Training(train.batch, train.accumulation, parsed.hasMatchedOption("--lr") ? train.lr : null, train.minLr,
                train.warmup, train.decay, train.weightDecay, train.beta2, train.clip, train.logEvery,
                parsed.hasMatchedOption("--eval-every") ? train.evalEvery : null, train.stopAfter, !train.noProgress);
        PilotOptions opt = new PilotOptions(text, trainDir, train.out, model, variants, steps, budgetMinutes, train.seed,
                new PilotOptions.Shape(nLayer, nEmbd, nHead, length, vocabSize, position), tr,
                columns.columns(), lengths, cutoffSeconds, decodeTokens, cmd.toString());
        Pilot.Outcome o = Pilot.run(opt);
        if (o.report() == null) return o.exitCode();
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("report", train.out.resolve("report.html").toString());
            m.put("summary", o.report().get("summary"));
            List<Map<String, Object>> vs = new java.util.ArrayList<>();
            for (Object v : (List<?>) o.report().get("variants")) {
                Map<String, Object> x = new LinkedHashMap<>((Map<String, Object>) v);
                x.remove("curve");
                vs.add(x);
            }
            m.put("variants", vs);
            System.err.print(o.table());
            System.out.println(new ObjectMapper().writeValueAsString(m));
        } else {
            System.out.print(o.table());
        }
        return o.exitCode();
    }
}
