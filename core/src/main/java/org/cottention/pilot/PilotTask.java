package org.cottention.pilot;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.model.AttentionType;
import org.cottention.model.Linearize;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;
import org.cottention.train.TrainableModel;
import org.cottention.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What the pilot needs from a task (causal LM on GPT-J, classification on BERT), for models of type M: the shared
 * data (tokenizer, split, lengths), a variant's model from scratch or from --model, training data and evaluation,
 * and the usage-cost probe. One instance holds the data every variant is trained and measured on.
 */
abstract class PilotTask<M> {
    static final ObjectMapper JSON = new ObjectMapper();

    final PilotOptions opt;
    /** out/data: the tokenizer (and token cache) shared by the variants. */
    final Path dataDir;
    /** Set by {@link #prepare}: the tokenizer every variant shares, and the data's document lengths. */
    Tokenizer tok;
    LengthProfile lengths;

    PilotTask(PilotOptions opt) {
        this.opt = opt;
        this.dataDir = opt.out().resolve("data");
    }

    abstract Task task();

    /** Checks the inputs (readable, non-empty, labelled; --model of the right family) without writing anything. */
    abstract void validate() throws IOException;

    /** Loads or builds the tokenizer, the train/validation split and the length profile (cached in dataDir). */
    abstract void prepare() throws IOException;

    Tokenizer tokenizer() {
        return tok;
    }

    LengthProfile lengths() {
        return lengths;
    }

    /** Description of the data and split for the report. */
    abstract Map<String, Object> describeData();

    /** A new model of the variant (same shape and seed as every other variant). */
    abstract M fresh(Variant v);

    /**
     * The variant made from --model: the one place a {@link Variant.Conversion} is carried out. A linearized variant
     * is the model {@link #linearize} wrote to {@code work}.
     */
    M convert(Variant v, Path work) throws IOException {
        return switch (v.fromModel()) {
            case ORIGINAL -> load(opt.model(), null);
            case SWAP_FINETUNE -> load(opt.model(), v.attention());
            case LINEARIZE -> load(work, null);
        };
    }

    /**
     * A model with the variant's shape and cost per step, for timing steps before the run (a linearized model has
     * the shape of its attention swap, which costs nothing to make).
     */
    M standIn(Variant v) throws IOException {
        if (opt.model() == null) return fresh(v);
        return v.fromModel() == Variant.Conversion.LINEARIZE ? load(opt.model(), v.attention()) : convert(v, null);
    }

    /**
     * Linearizes --model into {@code work} on the task's unlabeled training text (lin.resume(): continuing a run that
     * was stopped there); the report ({@link Linearize.Report#toMap}: fidelity before and after each stage, steps, seconds), or
     * null when it was stopped. A finished linearization is not run again.
     */
    Map<String, Object> linearize(Path work, Linearize.Options lin, Consumer<String> log) throws IOException {
        Path report = work.resolve(Linearize.REPORT);
        if (Files.isRegularFile(report) && Files.isRegularFile(work.resolve("config.json"))) {
            Map<String, Object> done = JSON.readValue(report.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
            if (Boolean.FALSE.equals(done.get("interrupted"))) return done;
        }
        Linearize.Report r;
        try {
            r = linearizeInto(work, lin, log);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("linearizing " + opt.model() + " on the pilot's training text: " + e.getMessage()
                    + "; give more text, or leave out the linearized variant (--variants)");
        }
        return r.interrupted() ? null : r.toMap();
    }

    /** How many unlabeled texts (paragraphs, documents) the linearization reads: sizes its held-out fidelity set. */
    abstract int unlabeledTexts();

    /** The family's linearization ({@link Linearize#bert} or {@link Linearize#gptJ}) of --model on the task's text. */
    abstract Linearize.Report linearizeInto(Path work, Linearize.Options lin, Consumer<String> log) throws IOException;

    /** A model from a folder (a checkpoint of this pilot or --model), with its own attention or the given one. */
    abstract M load(Path dir, AttentionType attention) throws IOException;

    /** Whether the variant's model is trained (false: evaluated as it is, e.g. the original LM). */
    abstract boolean trains(Variant v, M model);

    abstract TrainableModel objective(M model);

    abstract BatchSource trainData();

    /** Validation batches (what the training curves and the final quality are measured on). */
    abstract List<Batch> validation();

    /** Quality metrics on the validation data (valPerplexity or accuracy/F1/MCC, plus valLoss). */
    abstract Map<String, Object> evaluate(M model);

    /** The evaluator the trainer calls every evalEvery steps (the training curves). */
    Trainer.Evaluator evaluator(M model) {
        return step -> evaluate(model);
    }

    abstract long parameterCount(M model);

    abstract AttentionType attention(M model);

    /** Model shape in words, for the report. */
    abstract String describe(M model);

    /** Runs the model on one document of the given length (encode or prefill + decoding). */
    abstract UsageCost.Probe probe(M model);

    /** Tokens per optimizer step (for the budget and tokens/s). */
    long tokensPerStep() {
        return (long) opt.training().batch() * opt.training().accumulation() * length();
    }

    /** Sequence length the models are trained at. */
    abstract int length();

    /** The default peak learning rate: from scratch, or fine-tuning an existing model. */
    float defaultLr() {
        return opt.model() == null ? 1e-3f : 1e-4f;
    }

    /** model_type of a model folder's config.json. */
    static String modelType(Path dir) throws IOException {
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) throw new IllegalArgumentException("--model " + dir + " has no config.json; give a model folder in HF layout (config.json, weights, tokenizer files)");
        return JSON.readTree(cfg.toFile()).path("model_type").asText("gptj");
    }

    /** An error unless --model is a softmax model of the task's family. */
    void checkModelFamily() throws IOException {
        if (opt.model() == null) return;
        if (!Files.isDirectory(opt.model())) throw new IllegalArgumentException("--model " + opt.model() + " does not exist; give a model folder (HF layout)");
        String type = modelType(opt.model());
        if (!type.equals(task().modelType)) {
            String other = task() == Task.LM ? "--train-dir DIR (classification)" : "--text DATA (causal language modelling)";
            throw new IllegalArgumentException("--model " + opt.model() + " is a " + type + " model, but " + task().words + " needs a "
                    + task().modelType + " model; give a " + task().modelType + " model, or use " + other + " with this one");
        }
    }

    static double round(double x, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(x * f) / f;
    }
}
