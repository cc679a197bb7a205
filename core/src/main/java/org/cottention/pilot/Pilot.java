package org.cottention.pilot;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.DecodeBench;
import org.cottention.io.AtomicFiles;
import org.cottention.model.AttentionType;
import org.cottention.model.Linearize;
import org.cottention.train.BatchSource;
import org.cottention.train.Checkpoints;
import org.cottention.train.TrainableModel;
import org.cottention.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * {@code cottention pilot}: every variant trained (or converted) on the same data, tokenizer, split, steps, schedule
 * and seed through the shared {@link Trainer}; its quality measured on the same validation data; its cost of use
 * measured at the data's own document lengths and at 4K/16K/64K ({@link UsageCost}); then one report
 * ({@link PilotReport}).
 *
 * <p>Layout of --out: {@code pilot.json} (what this pilot is: task, data, model, seed, shape, steps; a folder holding
 * another pilot's is refused), {@code data/} (tokenizer, token cache, length profile), {@code variants/NAME/} (the
 * trainer's run folder: checkpoints, metrics.jsonl; {@code result.json} once the variant is finished — it is not run
 * again), and the report files. Ctrl-C stops training with a checkpoint; the next run continues from it.
 */
public final class Pilot {
    public static final String MANIFEST = "pilot.json";
    static final ObjectMapper JSON = new ObjectMapper();
    /** Training steps timed per variant to plan a budget (the first ones run before the JIT has compiled the kernels). */
    static final int CALIBRATION_STEPS = 5;
    /** What the trainer logs itself in a metrics row (the rest of a row is the evaluator's). */
    static final java.util.Set<String> TRAINER_KEYS = java.util.Set.of("step", "loss", "lr", "tokensPerSec", "gradNorm", "tokensSeen", "elapsedSec");
    private static final DateTimeFormatter HM = DateTimeFormatter.ofPattern("HH:mm");
    /**
     * With --model and --budget-minutes: the linearizations' share of the time left after the cost-of-use measurements
     * (distillation buys most of a converted model's quality; fine-tuning follows in the rest).
     */
    static final double LINEARIZE_SHARE = 0.5;
    /** Attention transfer's share of a linearization (as {@code linearize} defaults). */
    static final double LINEARIZE_STAGE1 = 0.3;

    /** How the run ended: exit code (0, or 130 when stopped), the report's numbers, the summary table. */
    public record Outcome(int exitCode, Map<String, Object> report, String table) {}

    private final PilotOptions opt;
    private final long t0 = System.nanoTime();
    private double secPerStepAll = -1;   // all variants' seconds per step together (from calibration), for ETAs
    private double linearizeMinutes;     // each linearization's share of --budget-minutes (0: --steps steps)

    private Pilot(PilotOptions opt) {
        this.opt = opt;
    }

    public static Outcome run(PilotOptions opt) throws IOException {
        Pilot p = new Pilot(opt);
        return opt.task() == Task.LM ? p.run(new LmTask(opt)) : p.run(new ClassifyTask(opt));
    }

    private <M> Outcome run(PilotTask<M> task) throws IOException {
        List<Variant> variants = Variants.select(opt.variants(), task.task());
        task.validate();
        Map<String, Object> identity = identity();
        Map<String, Object> manifest = openOut(identity);
        log("data: preparing (tokenizer, split, lengths)");
        task.prepare();
        LengthProfile lp = task.lengths();
        log(String.format("data: %s; document lengths median %,d, p90 %,d, max %,d tokens (%,d documents)", task.describeData(), lp.median(), lp.p90(), lp.max(), lp.documents()));

        List<Variant> todo = variants.stream().filter(v -> !Files.isRegularFile(resultFile(v))).toList();
        int steps = manifest.get("steps") instanceof Number n ? n.intValue()
                : opt.steps() != null ? opt.steps() : opt.budgetMinutes() == null ? PilotOptions.DEFAULT_STEPS : -1;
        double cutoff = opt.cutoffSeconds() != null ? opt.cutoffSeconds()
                : manifest.get("cutoffSeconds") instanceof Number n ? n.doubleValue() : opt.budgetMinutes() == null ? 60 : -1;
        if ((steps < 0 || cutoff < 0) && !todo.isEmpty()) {
            double[] plan = plan(task, todo, steps);
            if (steps < 0) {
                steps = (int) plan[0];
                manifest.put("linearizeMinutes", plan[2]);
            }
            if (cutoff < 0) cutoff = plan[1];
        }
        linearizeMinutes = manifest.get("linearizeMinutes") instanceof Number n ? n.doubleValue() : 0;
        if (steps < 0) steps = PilotOptions.DEFAULT_STEPS;
        if (cutoff < 0) cutoff = 60;
        manifest.put("steps", steps);
        manifest.put("cutoffSeconds", cutoff);
        writeJson(opt.out().resolve(MANIFEST), manifest);

        List<Map<String, Object>> results = new ArrayList<>();
        for (int i = 0; i < variants.size(); i++) {
            Variant v = variants.get(i);
            String tag = v.name() + " (" + (i + 1) + "/" + variants.size() + ")";
            Path rf = resultFile(v);
            if (Files.isRegularFile(rf)) {
                log(tag + ": finished earlier (" + rf + "), not run again");
                results.add(JSON.readValue(rf.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {}));
                continue;
            }
            Map<String, Object> r = runVariant(task, v, tag, steps, cutoff, variants.size() - i - 1);
            if (r == null) {
                log("stopped during " + v.name() + "; finished variants are kept; run the same command again to continue");
                return new Outcome(130, null, null);
            }
            writeJson(rf, r);
            results.add(r);
        }
        Map<String, Object> report = PilotReport.write(opt, task.task(), manifest, task.describeData(), lp.toMap(), results,
                (System.nanoTime() - t0) / 1e9);
        return new Outcome(0, report, PilotReport.table(report));
    }

    // ------------------------------------------------------------------------------------------------ one variant

    private <M> Map<String, Object> runVariant(PilotTask<M> task, Variant v, String tag, int steps, double cutoff, int after) throws IOException {
        Path dir = variantDir(v);
        Path ck = latestCheckpoint(dir);
        long ckStep = ck == null ? -1 : JSON.readTree(ck.resolve(Checkpoints.TRAINER_STATE).toFile()).path("step").asLong();
        String method = opt.model() == null ? "trained from scratch" : v.fromModel().label;
        long c0 = System.nanoTime();
        Path work = dir.resolve("linearize");
        Map<String, Object> linearization = null;
        if (opt.model() != null && v.fromModel() == Variant.Conversion.LINEARIZE) {
            // before fine-tuning (or resuming it): the linearization's report, run now or finished earlier
            if (ck == null) log(tag + ": linearizing " + opt.model() + (Files.isDirectory(work) ? " (continuing)" : ""));
            linearization = task.linearize(work, linearizeOptions(task, work, steps), s -> log(tag + ": linearize: " + s));
            if (linearization == null) return null;
        }
        M model = ck != null ? task.load(ck, null) : opt.model() == null ? task.fresh(v) : task.convert(v, work);
        double conversionSec = ck != null || opt.model() == null ? 0 : (System.nanoTime() - c0) / 1e9;
        if (linearization != null) conversionSec = ((Number) linearization.get("stage1Seconds")).doubleValue() + ((Number) linearization.get("stage2Seconds")).doubleValue();
        boolean trains = task.trains(v, model);
        if (opt.model() != null && !trains) method = "original, as it is";
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("method", method);
        training.put("conversionSeconds", PilotTask.round(conversionSec, 3));
        if (linearization != null) training.put("linearization", linearization);
        List<Map<String, Object>> curve = List.of();
        if (trains) {
            TrainableModel obj = task.objective(model);
            long stepBytes = trainStepBytes(obj, task.trainData());
            if (ckStep < steps) {
                String eta = secPerStepAll > 0 ? String.format("; about %s for this variant, pilot done about %s UTC", dur(secPerStepAll / 2 * (steps - Math.max(0, ckStep))),
                        LocalTime.now(ZoneOffset.UTC).plusSeconds((long) (secPerStepAll / 2 * (steps - Math.max(0, ckStep)) * (1 + after))).format(HM)) : "";
                log(tag + ": training " + steps + " steps (" + method + (ck != null ? ", continuing from step " + ckStep : "") + ")" + eta);
                Trainer.Result tr = new Trainer(obj, task.tokenizer(), task.trainData(), task.evaluator(model),
                        opt.training().toOptions(steps, task.defaultLr(), dir, ck != null)).run();
                if (tr.interrupted()) return null;
            } else {
                log(tag + ": training finished earlier (step " + ckStep + ")");
            }
            curve = readMetrics(dir.resolve("metrics.jsonl"));
            Map<String, Object> last = curve.get(curve.size() - 1);
            double secs = ((Number) last.get("elapsedSec")).doubleValue();
            long tokens = ((Number) last.get("tokensSeen")).longValue();
            training.put("steps", steps);
            training.put("tokens", tokens);
            training.put("seconds", PilotTask.round(secs, 2));
            training.put("tokensPerSec", PilotTask.round(tokens / secs, 1));
            training.put("peakBytes", 16L * obj.params().size() + stepBytes);
            training.put("activationBytes", stepBytes);
        } else {
            training.put("steps", 0);
            training.put("tokens", 0);
            training.put("seconds", 0.0);
        }
        Map<String, Object> quality = new LinkedHashMap<>();
        if (!curve.isEmpty() && curve.get(curve.size() - 1).containsKey(task.task().metric)) {
            // the trainer evaluated the final model on the validation data at its last step
            curve.get(curve.size() - 1).forEach((k, x) -> {
                if (!TRAINER_KEYS.contains(k)) quality.put(k, x);
            });
        } else {
            log(tag + ": evaluating on the validation data");
            long e0 = System.nanoTime();
            quality.putAll(task.evaluate(model));
            quality.put("evalSeconds", PilotTask.round((System.nanoTime() - e0) / 1e9, 2));
        }
        log(tag + ": " + quality);
        List<UsageCost.Length> lengths = UsageCost.lengths(task.lengths(), opt.lengths());
        log(tag + ": measuring the cost of use at " + String.join(", ", lengths.stream().map(l -> String.format("%,d", l.tokens())).toList())
                + " tokens (cutoff " + UsageCost.secs(cutoff) + " per document)");
        List<UsageCost.Point> usage = UsageCost.measure(lengths, task.attention(model) == AttentionType.SOFTMAX, cutoff, task.probe(model),
                s -> log(tag + ": " + (task.task() == Task.LM ? "prefill + decode " : "encode ") + s));

        Map<String, Object> r = new LinkedHashMap<>();
        r.put("variant", v.name());
        r.put("description", v.description());
        r.put("attention", task.attention(model).configName());
        r.put("model", task.describe(model));
        r.put("parameters", task.parameterCount(model));
        r.put("weightsBytes", 4L * task.parameterCount(model));
        r.put("quality", quality);
        r.put("training", training);
        if (task instanceof ClassifyTask ct && ct.longerOnRotaryCopy((org.cottention.model.Bert) model))
            r.put("usageNote", "lengths beyond the model's position table measured on a model of the same shape with rotary positions");
        r.put("usage", usage.stream().map(UsageCost.Point::toMap).toList());
        r.put("curve", curve);
        return r;
    }

    /**
     * A variant's linearization: its share of --budget-minutes (steps sized by the linearizer from timed probe
     * steps), or --steps optimizer steps for both stages together; the pilot's batch, length, seed and progress
     * display; the held-out fidelity set sized to the data (1 text in 20, 3 to 100).
     */
    private Linearize.Options linearizeOptions(PilotTask<?> task, Path work, int steps) {
        int evalTexts = Math.max(3, Math.min(100, task.unlabeledTexts() / 20));
        return new Linearize.Options(AttentionType.COSINE, Math.max(2, steps), linearizeMinutes, LINEARIZE_STAGE1, task.length(), opt.training().batch(),
                1e-3f, 2e-4f, 1.0, evalTexts, 0, Math.max(1, Math.min(50, steps / 4)), opt.seed(), Files.isDirectory(work), opt.training().progress(),
                opt.training().stopAfter());
    }

    /**
     * What a training step keeps alive (its activations, kept for the next step): live heap after a full GC around
     * the first step of a model that has not run yet. Not the step's allocation count, which the JIT's warm-up
     * inflates for whichever variant runs first.
     */
    private static long trainStepBytes(TrainableModel obj, BatchSource data) {
        obj.params().zeroGrad();
        long before = DecodeBench.liveHeap();
        obj.trainStep(data.batch(0), 1f);
        long bytes = Math.max(0, DecodeBench.liveHeap() - before);
        obj.params().zeroGrad();
        return bytes;
    }

    // ------------------------------------------------------------------------------------------------ the budget

    /**
     * Steps and the per-document cutoff that fit --budget-minutes: each variant's step time measured on a few steps of
     * a throw-away model (its evaluation time follows from it); a quarter of what remains kept for the cost-of-use
     * measurements; with --model, {@link #LINEARIZE_SHARE} of the rest for the linearizations first.
     * Returns {steps, cutoffSeconds, minutes of each linearization}.
     */
    private <M> double[] plan(PilotTask<M> task, List<Variant> todo, int fixedSteps) throws IOException {
        double budget = opt.budgetMinutes() * 60;
        double stepSum = 0, evalSum = 0;
        int training = 0;
        for (Variant v : todo) {
            M model = task.standIn(v);
            if (!task.trains(v, model)) continue;
            training++;
            TrainableModel obj = task.objective(model);
            BatchSource data = task.trainData();
            // a few steps first: until the JIT has compiled the kernels a step is many times slower than it will be
            double[] t = new double[CALIBRATION_STEPS];
            for (int i = 0; i < t.length; i++) {
                long s = System.nanoTime();
                obj.params().zeroGrad();
                obj.trainStep(data.batch(i), 1f);
                t[i] = (System.nanoTime() - s) / 1e9;
            }
            double step = Math.min(t[t.length - 1], Math.min(t[t.length - 2], t[t.length - 3])) * 1.1;   // the optimizer update and logging on top
            // an evaluation is a forward pass over the validation batches: about a third of a training step each
            double eval = task.validation().size() * step / (3.0 * opt.training().accumulation());
            stepSum += step;
            evalSum += eval * (PilotOptions.CURVE_POINTS + 1);  // the curve and its final point (the quality)
            log(String.format("budget: %s takes %.2f s per step, about %.1f s per evaluation", v.name(), step, eval));
        }
        double elapsed = (System.nanoTime() - t0) / 1e9, remaining = budget - elapsed;
        int lengths = UsageCost.lengths(task.lengths(), opt.lengths()).size();
        double usage = 0.25 * remaining;
        double cutoff = Math.max(2, Math.min(120, usage / (todo.size() * lengths * 1.5)));
        long linearized = opt.model() == null ? 0 : todo.stream().filter(v -> v.fromModel() == Variant.Conversion.LINEARIZE).count();
        if (fixedSteps > 0 || training == 0) return new double[]{fixedSteps, cutoff, 0};
        double linSeconds = linearized == 0 ? 0 : LINEARIZE_SHARE * (remaining - usage);
        double forTraining = 0.9 * (remaining - usage - linSeconds - evalSum);
        int steps = (int) Math.floor(forTraining / stepSum);
        if (steps < PilotOptions.MIN_STEPS) {
            double need = elapsed + (PilotOptions.MIN_STEPS * stepSum / 0.9 + evalSum) / (linearized == 0 ? 1 : 1 - LINEARIZE_SHARE) / 0.75;
            throw new IllegalArgumentException(String.format("--budget-minutes %s is too small: preparing took %.0f s and one step of every variant "
                            + "together takes %.2f s, which leaves room for %d training steps (at least %d are needed); give --budget-minutes %d or more, or --steps N",
                    fmt(opt.budgetMinutes()), elapsed, stepSum, Math.max(0, steps), PilotOptions.MIN_STEPS, (long) Math.ceil(need / 60)));
        }
        secPerStepAll = stepSum;
        log(String.format("budget: %.1f min: %s%d steps per variant (%.0f s of training), up to %s per document for the cost of use", opt.budgetMinutes(),
                linearized == 0 ? "" : String.format("%.1f min for each linearization, then ", linSeconds / 60 / linearized), steps, steps * stepSum, UsageCost.secs(cutoff)));
        return new double[]{steps, cutoff, linSeconds / 60 / Math.max(1, linearized)};
    }

    // ------------------------------------------------------------------------------------------------ the out folder

    /** What makes a pilot this pilot: resuming needs the same; anything else in --out is another pilot's. */
    private Map<String, Object> identity() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pilot", "cottention pilot");
        m.put("task", opt.task().id());
        m.put("data", opt.text() != null ? opt.text().stream().map(p -> p.toAbsolutePath().normalize().toString()).toList()
                : List.of(opt.trainDir().toAbsolutePath().normalize().toString()));
        m.put("model", opt.model() == null ? null : opt.model().toAbsolutePath().normalize().toString());
        m.put("seed", opt.seed());
        PilotOptions.Shape s = opt.shape();
        m.put("shape", Stream.of(s.nLayer(), s.nEmbd(), s.nHead(), s.length(), s.vocabSize()).map(x -> x == null ? "default" : x.toString()).toList()
                + (s.position() == null ? "" : " " + s.position()));
        m.put("batch", opt.training().batch() + "x" + opt.training().accumulation());
        m.put("lr", opt.training().lr() == null ? "default" : opt.training().lr().toString());
        return m;
    }

    /** The manifest of --out: a new one, or this pilot's own (resumed); another pilot's results are refused. */
    private Map<String, Object> openOut(Map<String, Object> identity) throws IOException {
        Path out = opt.out(), mf = out.resolve(MANIFEST);
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a file; give a folder");
        if (Files.isRegularFile(mf)) {
            Map<String, Object> old;
            try {
                old = JSON.readValue(mf.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
            } catch (IOException e) {
                throw new IllegalArgumentException("--out " + out + ": " + MANIFEST + " is unreadable (" + e.getMessage() + "); give a new --out");
            }
            for (var e : identity.entrySet())
                if (!Objects.equals(String.valueOf(old.get(e.getKey())), String.valueOf(e.getValue())))
                    throw new IllegalArgumentException("--out " + out + " holds another pilot's results (its " + e.getKey() + " is " + old.get(e.getKey())
                            + ", this run's " + e.getValue() + "); give a new --out, or that pilot's arguments to continue it");
            if (opt.steps() != null && old.get("steps") instanceof Number n && n.intValue() != opt.steps())
                throw new IllegalArgumentException("--out " + out + " holds a pilot of " + n + " steps, not --steps " + opt.steps()
                        + "; give a new --out, or --steps " + n + " to continue it");
            log("continuing the pilot in " + out);
            return old;
        }
        if (Files.isDirectory(out)) {
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent())
                    throw new IllegalArgumentException("--out " + out + " is not empty and holds no pilot (" + MANIFEST + "); give a new or empty folder");
            }
        }
        Files.createDirectories(out);
        Map<String, Object> m = new LinkedHashMap<>(identity);
        writeJson(mf, m);
        return m;
    }

    private Path variantDir(Variant v) {
        return opt.out().resolve("variants").resolve(v.name());
    }

    private Path resultFile(Variant v) {
        return variantDir(v).resolve("result.json");
    }

    private static Path latestCheckpoint(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return null;
        try (Stream<Path> s = Files.list(dir)) {
            if (s.noneMatch(p -> p.getFileName().toString().startsWith("checkpoint-"))) return null;
        }
        return Checkpoints.latest(dir);
    }

    static List<Map<String, Object>> readMetrics(Path file) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String line : Files.readAllLines(file))
            if (!line.isBlank()) rows.add(JSON.readValue(line, new TypeReference<LinkedHashMap<String, Object>>() {}));
        if (rows.isEmpty()) throw new IOException(file + " is empty");
        return rows;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** Writes a folder's files through a temporary sibling folder renamed into place (a half-written folder never shows). */
    static void saveAtomically(Path dir, IoConsumer<Path> writer) throws IOException {
        Files.createDirectories(dir.getParent());
        Path tmp = Files.createTempDirectory(dir.getParent(), "." + dir.getFileName() + ".");
        try {
            writer.accept(tmp);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            if (Files.exists(tmp)) Checkpoints.deleteTree(tmp);
        }
    }

    @FunctionalInterface
    interface IoConsumer<T> {
        void accept(T t) throws IOException;
    }

    static void writeJson(Path file, Object value) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value) + "\n");
    }

    private void log(String msg) {
        System.err.printf("[pilot %s] %s%n", dur((System.nanoTime() - t0) / 1e9), msg);
        System.err.flush();
    }

    static String dur(double s) {
        long t = Math.round(s);
        return t >= 3600 ? String.format("%dh%02dm", t / 3600, t / 60 % 60) : String.format("%dm%02ds", t / 60, t % 60);
    }

    static String fmt(double x) {
        return x == Math.rint(x) ? Long.toString((long) x) : Double.toString(x);
    }
}
