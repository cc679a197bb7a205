package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.data.BertTexts;
import org.cottention.data.LabeledTexts;
import org.cottention.data.SequenceBatches;
import org.cottention.model.Bert;
import org.cottention.model.BertConfig;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.train.Batch;
import org.cottention.train.Checkpoints;
import org.cottention.train.ClassifierEval;
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

/** {@code cottention finetune}: sequence classification / regression on a GLUE-style TSV folder with the shared trainer. */
@Command(name = "finetune", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune (or train from scratch) a BERT sequence classifier or regressor on a GLUE-style folder",
                "holding train.tsv and dev.tsv. Dev metrics after each epoch; the best model is kept in --out/best."})
public final class FinetuneCommand implements Callable<Integer> {
    @Option(names = "--train-dir", required = true, description = "Folder with train.tsv and dev.tsv.")
    Path trainDir;

    @Option(names = "--model", description = "Pretrained BERT folder (else a new model from --tokenizer/--vocab-size and the shape flags).")
    Path modelDir;

    @Mixin
    ColumnsOption columns;

    @Option(names = "--regression", description = "Labels are numbers: train a regressor (MSE), report Pearson/Spearman.")
    boolean regression;

    @Option(names = "--epochs", description = "Passes over train.tsv (default ${DEFAULT-VALUE}).")
    int epochs = 3;

    @Option(names = "--no-truncate", description = "Error on texts longer than the maximum length instead of truncating them.")
    boolean noTruncate;

    @Option(names = "--json", description = "Print one JSON object per evaluation on stdout.")
    boolean json;

    @Mixin
    BertModelOptions shape;

    @Mixin
    TrainingOptions train;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (epochs < 1) throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
        Path trainFile = trainDir.resolve("train.tsv"), devFile = trainDir.resolve("dev.tsv");
        for (Path f : List.of(trainFile, devFile)) if (!Files.isRegularFile(f)) throw new java.io.IOException(f + " not found");
        LabeledTexts.Columns cols = columns.columns();
        LabeledTexts.Read tr = LabeledTexts.read(trainFile, cols, true), dv = LabeledTexts.read(devFile, cols, true);
        for (var r : List.of(Map.entry(trainFile, tr), Map.entry(devFile, dv)))
            if (r.getValue().emptyLines() > 0) System.err.printf("warning: skipped %d empty line(s) in %s%n", r.getValue().emptyLines(), r.getKey());

        List<String> labels = regression ? List.of() : labelSet(tr.examples());
        Object[] trainY = targets(tr.examples(), labels, trainFile), devY = targets(dv.examples(), labels, devFile);

        Path out = train.out;
        Files.createDirectories(out);
        WordPieceTokenizer tok;
        Bert model;
        if (train.resume) {
            Path ck = Checkpoints.latest(out);
            tok = BertModelOptions.wordPiece(ck);
            model = ModelStore.loadBert(ck, null);
            if (!model.heads.classifier() || !model.cfg.labels().equals(labels) || model.cfg.regression() != regression)
                throw new IllegalArgumentException(ck + " is not a classifier over the labels " + labels + " of " + trainFile);
        } else if (modelDir != null) {
            tok = BertModelOptions.wordPiece(modelDir);
            model = ModelStore.loadBert(modelDir, shape.attentionOverride(), Bert.HeadSet.CLASSIFIER, c -> c.withTask(labels, regression), train.seed);
        } else {
            List<String> texts = new ArrayList<>();
            for (LabeledTexts.Example e : tr.examples()) {
                texts.add(e.a());
                if (e.b() != null) texts.add(e.b());
            }
            tok = shape.tokenizer(texts);
            model = new Bert(shape.config(tok).withTask(labels, regression), Bert.HeadSet.CLASSIFIER).initialise(train.seed);
        }
        BertConfig cfg = model.cfg;
        int maxLen = cfg.rotary() ? shape.maxLength : Math.min(shape.maxLength, cfg.maxPositionEmbeddings());
        String why = cfg.rotary() ? "--max-length" : "max_position_embeddings " + cfg.maxPositionEmbeddings() + " / --max-length";
        List<Encoding> trEnc = BertTexts.encode(tok, tr.examples(), maxLen, noTruncate, trainFile, why);
        List<Encoding> dvEnc = BertTexts.encode(tok, dv.examples(), maxLen, noTruncate, devFile, why);
        SequenceBatches trainBatches = new SequenceBatches(trEnc, regression ? null : (int[]) trainY[0], regression ? (float[]) trainY[1] : null,
                train.batch, tok.padId(), train.seed, true);
        List<Batch> dev = new SequenceBatches(dvEnc, regression ? null : (int[]) devY[0], regression ? (float[]) devY[1] : null,
                train.batch, tok.padId(), train.seed, false).inOrder();
        int bpe = (int) trainBatches.batchesPerEpoch();
        train.steps = epochs * bpe;
        train.evalEvery = bpe;
        train.saveEvery = bpe;
        System.err.printf("model: %,d parameters, %s attention, %s positions, %d layers, width %d, %d heads; %s over %s; %d train / %d dev examples, %d batches per epoch%n",
                model.parameterCount(), cfg.attentionType().configName(), cfg.rotary() ? "rotary" : "absolute", cfg.numHiddenLayers(),
                cfg.hiddenSize(), cfg.numAttentionHeads(), regression ? "regression" : "classification", regression ? "values" : labels,
                trEnc.size(), dvEnc.size(), bpe);
        ObjectMapper om = new ObjectMapper();
        int positive = ClassifierEval.positiveClass(labels);
        Trainer.Evaluator eval = step -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("epoch", step / (double) bpe);
            m.putAll(evaluate(model, dev, labels.size(), positive));
            if (json) {
                Map<String, Object> row = new LinkedHashMap<>(m);
                row.put("step", step);
                System.out.println(om.writeValueAsString(row));
                System.out.flush();
            } else {
                System.err.println("dev after epoch " + m.get("epoch") + ": " + m);
            }
            return m;
        };
        long t0 = System.nanoTime();
        Trainer.Result r = new Trainer(model.classifierObjective(), tok, trainBatches, eval,
                train.toOptions(regression ? "pearson" : "accuracy", true, bpe)).run();
        System.err.printf("done in %.1f s: %s; best model in %s%n", (System.nanoTime() - t0) / 1e9, r.lastEval(), out.resolve("best"));
        return r.interrupted() ? 130 : 0;
    }

    static Map<String, Object> evaluate(Bert model, List<Batch> dev, int k, int positive) {
        return ClassifierEval.evaluate(model, dev, k, positive);
    }

    /** Distinct training labels, numerically sorted when all are integers, else lexicographically. */
    static List<String> labelSet(List<LabeledTexts.Example> ex) {
        return ClassifierEval.labelSet(ex);
    }

    /** {int[] ids, null} for classification, {null, float[] values} for regression; unseen labels / bad numbers name the line. */
    static Object[] targets(List<LabeledTexts.Example> ex, List<String> labels, Path file) {
        if (labels.isEmpty()) {
            float[] v = new float[ex.size()];
            for (int i = 0; i < v.length; i++) {
                try {
                    v[i] = Float.parseFloat(ex.get(i).label());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + " line " + ex.get(i).line() + ": label '" + ex.get(i).label() + "' is not a number (--regression)");
                }
                if (!Float.isFinite(v[i])) throw new IllegalArgumentException(file + " line " + ex.get(i).line() + ": label '" + ex.get(i).label() + "' is not finite");
            }
            return new Object[]{null, v};
        }
        int[] y = ClassifierEval.classIds(ex, labels, file);
        return new Object[]{y, null};
    }
}
