package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.data.BertTexts;
import org.cottention.data.LabeledTexts;
import org.cottention.inference.Classification;
import org.cottention.model.Bert;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.WordPieceTokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention predict}: labels (with probabilities) or regression values for new texts from a fine-tuned model. */
@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Label texts with a fine-tuned BERT classifier (label and class probabilities) or regressor (value).",
                "Output: one line per input text, in input order, with its line number."})
public final class PredictCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    static final class Input {
        @Option(names = "--input", description = "TSV file (GLUE style; the label column, if present, gives accuracy too).")
        Path tsv;

        @Option(names = "--text-file", description = "Plain text file, one text per line.")
        Path textFile;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--text-column", description = "Text column of --input (default ${DEFAULT-VALUE}).")
    String textColumn = "sentence";

    @Option(names = "--text-b-column", description = "Second text column of --input (sentence pairs).")
    String textBColumn;

    @Option(names = "--label-column", description = "Gold label column of --input, used when present (default ${DEFAULT-VALUE}).")
    String labelColumn = "label";

    @Option(names = "--batch", description = "Texts per forward pass (default ${DEFAULT-VALUE}).")
    int batch = 16;

    @Option(names = "--no-truncate", description = "Error on texts longer than the model's maximum instead of truncating them.")
    boolean noTruncate;

    @Option(names = "--json", description = "One JSON object per text.")
    boolean json;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        WordPieceTokenizer tok = BertModelOptions.wordPiece(model.dir);
        Bert bert = model.loadBert();
        if (!bert.heads.classifier()) throw new IllegalArgumentException(model.dir + " has no classifier head (train one with `cottention finetune`)");
        List<LabeledTexts.Example> ex;
        Path file;
        if (input.tsv != null) {
            file = input.tsv;
            LabeledTexts.Read r = LabeledTexts.read(file, new LabeledTexts.Columns(textColumn, textBColumn, labelColumn), false);
            if (r.emptyLines() > 0) System.err.printf("warning: skipped %d empty line(s) in %s%n", r.emptyLines(), file);
            ex = r.examples();
        } else {
            file = input.textFile;
            ex = new ArrayList<>();
            String[] lines = org.cottention.tokenizer.Utf8.readFile(file).split("\r?\n", -1);
            int empty = 0;
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) {
                    if (i < lines.length - 1) empty++;
                    continue;
                }
                ex.add(new LabeledTexts.Example(lines[i], null, null, i + 1));
            }
            if (empty > 0) System.err.printf("warning: skipped %d empty line(s) in %s (output lines carry the input line numbers)%n", empty, file);
            if (ex.isEmpty()) throw new java.io.IOException(file + ": no texts");
        }
        int maxLen = bert.cfg.rotary() ? 0 : bert.cfg.maxPositionEmbeddings();
        List<Encoding> enc = BertTexts.encode(tok, ex, maxLen, noTruncate, file, "max_position_embeddings " + maxLen);
        List<String> labels = bert.cfg.labels();
        int k = bert.cfg.numLabels();
        ObjectMapper om = new ObjectMapper();
        PrintStream out = System.out;
        int correct = 0, scored = 0;
        float[] y = Classification.logits(bert, enc, batch, tok.padId());
        for (int i = 0; i < ex.size(); i++) {
            LabeledTexts.Example e = ex.get(i);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("line", e.line());
            if (bert.cfg.regression()) {
                row.put("value", y[i]);
                out.println(json ? om.writeValueAsString(row) : e.line() + "\t" + y[i]);
                continue;
            }
            double[] p = Classification.softmax(y, i * k, k);
            int best = Classification.argmax(p);
            row.put("label", labels.get(best));
            Map<String, Double> probs = new LinkedHashMap<>();
            for (int j = 0; j < k; j++) probs.put(labels.get(j), p[j]);
            row.put("probabilities", probs);
            if (e.label() != null) {
                row.put("gold", e.label());
                scored++;
                if (e.label().equals(labels.get(best))) correct++;
            }
            if (json) out.println(om.writeValueAsString(row));
            else out.printf("%d\t%s\t%.4f%n", e.line(), labels.get(best), p[best]);
        }
        if (scored > 0) System.err.printf("accuracy against the label column: %.4f (%d/%d)%n", correct / (double) scored, correct, scored);
        return 0;
    }
}
