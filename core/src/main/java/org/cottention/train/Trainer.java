package org.cottention.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.cottention.io.Charts;
import org.cottention.tokenizer.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The one training loop, shared by every model family and task: gradient accumulation, clipping, AdamW with a
 * learning-rate schedule, periodic evaluation, metrics.jsonl, a progress bar, atomic checkpoints, bit-identical
 * resume, a clean stop on Ctrl-C (saves first) and on a non-finite loss (saves nothing; the last good checkpoint stays).
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);

    /** Evaluation run every {@code evalEvery} steps and at the end; returns metrics to log (e.g. valLoss, accuracy). */
    @FunctionalInterface
    public interface Evaluator {
        Map<String, Object> evaluate(long step) throws IOException;
    }

    /**
     * @param steps          optimizer updates in the whole run
     * @param accumulation   micro-batches per update
     * @param clipNorm       global gradient-norm limit (0 = no clipping)
     * @param bestMetric     metric from the evaluator whose best value is kept as out/best (null = none)
     * @param plot           loss-curve image written at each evaluation and at the end (null = none)
     * @param stopAfter      behave as if Ctrl-C came after this step (0 = never): what resume tests interrupt with
     */
    public record Options(int steps, int accumulation, LrSchedule lr, AdamW.Config adam, double clipNorm,
                          int logEvery, int evalEvery, int saveEvery, int keepCheckpoints, long seed,
                          Path out, boolean resume, boolean progress, Path plot, String bestMetric, boolean bestMaximize, int stopAfter) {
        public Options {
            if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
            if (accumulation < 1) throw new IllegalArgumentException("gradient accumulation must be >= 1, got " + accumulation);
            if (logEvery < 1) throw new IllegalArgumentException("log interval must be >= 1, got " + logEvery);
            if (evalEvery < 0 || saveEvery < 0) throw new IllegalArgumentException("eval/save intervals must be >= 0");
            if (out == null) throw new IllegalArgumentException("--out is required");
        }
    }

    /**
     * Thrown when the loss or the gradient norm stops being finite, before that step's update: the model still holds
     * the parameters after the last good step ({@link #stepsDone} of them).
     */
    public static final class DivergedException extends RuntimeException {
        public final long stepsDone;

        public DivergedException(String message, long stepsDone) {
            super(message);
            this.stepsDone = stepsDone;
        }
    }

    /**
     * Where a step's gradient is computed. The trainer zeroes params().grad(), asks for the gradient of the step's
     * {@code accumulation} micro-batches (the mean-loss gradient, each micro-batch weighted 1/accumulation) to be put
     * there, then clips it and applies AdamW. {@link #local} computes it in this process; a data-parallel
     * implementation computes shares of the micro-batches elsewhere (Spark tasks) and sums them into params().grad().
     */
    @FunctionalInterface
    public interface Gradients {
        StepLoss compute(long step, int accumulation);
    }

    /** A step's (or a share's) mean loss, already weighted by 1/accumulation per micro-batch, and its real tokens. */
    public record StepLoss(double loss, long tokens) implements java.io.Serializable {
        public StepLoss plus(StepLoss o) {
            return new StepLoss(loss + o.loss, tokens + o.tokens);
        }
    }

    /** The single-process gradient: every micro-batch of the step, one after another, here. */
    public static Gradients local(TrainableModel model, BatchSource data) {
        return (step, accumulation) -> microBatches(model, data, step, accumulation, 0, accumulation);
    }

    /**
     * Forward and backward of micro-batches [from, to) of a step into model.params().grad() (which it adds to), in
     * order: what a single process does for the whole step and a data-parallel task for its share.
     */
    public static StepLoss microBatches(TrainableModel model, BatchSource data, long step, int accumulation, int from, int to) {
        double loss = 0;
        long tokens = 0;
        for (int micro = from; micro < to; micro++) {
            Batch b = data.batch(step * accumulation + micro);
            TrainableModel.Loss l = model.trainStep(b, 1f / accumulation);
            loss += l.mean() / accumulation;
            tokens += b.realTokens();
        }
        return new StepLoss(loss, tokens);
    }

    /**
     * Revises the run's length while it runs: a time budget that steps estimated up front would miss (a noisy or
     * throttled machine, probes that ran faster than the run).
     */
    @FunctionalInterface
    public interface Replan {
        /**
         * @param step           steps done (counted from 0, a resumed run's earlier steps included)
         * @param secondsPerStep wall seconds a step has taken in this run so far, on average (logging, evaluations
         *                       and checkpoints included)
         * @param total          the current total
         * @return the new total (clipped to at least step + 1 and at most {@link Integer#MAX_VALUE})
         */
        long steps(long step, double secondsPerStep, long total);
    }

    /** What the run ended with. */
    public record Result(long step, double lastLoss, Map<String, Object> lastEval, boolean interrupted, Path lastCheckpoint) {}

    private final TrainableModel model;
    private final Tokenizer tokenizer;
    private final Gradients gradients;
    private final Evaluator evaluator;
    private final Options opt;
    private volatile boolean stopRequested;
    private Replan replan;
    private int replanEvery;

    public Trainer(TrainableModel model, Tokenizer tokenizer, BatchSource data, Evaluator evaluator, Options options) {
        this(model, tokenizer, local(model, data), evaluator, options);
    }

    /** A trainer whose gradients are computed by {@code gradients} (e.g. data-parallel on Spark) into model.params().grad(). */
    public Trainer(TrainableModel model, Tokenizer tokenizer, Gradients gradients, Evaluator evaluator, Options options) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.gradients = gradients;
        this.evaluator = evaluator;
        this.opt = options;
    }

    /**
     * Asks {@code r} for a new total every {@code every} steps (the learning-rate schedule stretches or shrinks to
     * it; warmup unchanged). The returned total is what the run then ends at, and what a resume must be given.
     */
    public Trainer replan(int every, Replan r) {
        if (every < 1) throw new IllegalArgumentException("replan interval must be >= 1, got " + every);
        this.replanEvery = every;
        this.replan = r;
        return this;
    }

    /** Asks the loop to save and stop after the current step (what Ctrl-C does). */
    public void requestStop() {
        stopRequested = true;
    }

    /**
     * Runs (or, with options.resume, continues) training. The caller has already loaded the checkpoint's weights
     * into the model when resuming; this restores optimizer and trainer state from the newest checkpoint in out.
     */
    public Result run() throws IOException {
        var params = model.params();
        AdamW adam = new AdamW(opt.adam(), params.size());
        long start = 0, tokensSeen = 0;
        double elapsedBefore = 0;
        Double best = null;
        if (opt.resume()) {
            Path ck = Checkpoints.latest(opt.out());
            Checkpoints.State st = Checkpoints.restore(ck, adam, params.size());
            start = st.step();
            tokensSeen = st.tokensSeen();
            elapsedBefore = st.elapsedSeconds();
            if (st.extra() != null && st.extra().has("best")) best = st.extra().get("best").asDouble();
            if (start >= opt.steps()) throw new IllegalArgumentException("checkpoint " + ck + " is at step " + start + ", not before --steps " + opt.steps());
            log.info("resuming from {} at step {}", ck, start);
        } else {
            Files.createDirectories(opt.out());
        }

        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopRequested = true;
            try {
                finished.await(120, TimeUnit.SECONDS);  // let the loop save before the JVM exits
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "cottention-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);

        long t0 = System.nanoTime();
        double lastLoss = Double.NaN;
        Map<String, Object> lastEval = Map.of();
        Path lastCheckpoint = null;
        long step = start, total = opt.steps();
        LrSchedule schedule = opt.lr();
        ProgressBar bar = opt.progress() ? new ProgressBarBuilder().setTaskName("train").setInitialMax(opt.steps())
                .startsFrom(start, Duration.ZERO).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).showSpeed().setUnit(" steps", 1).build() : null;
        try (MetricsLog metrics = new MetricsLog(opt.out().resolve("metrics.jsonl"), opt.resume() ? start : -1)) {
            while (step < total && !stopRequested) {
                long ts = System.nanoTime();
                params.zeroGrad();
                StepLoss sl = gradients.compute(step, opt.accumulation());
                double loss = sl.loss();
                long tokens = sl.tokens();
                if (!Double.isFinite(loss))
                    throw new DivergedException("training diverged at step " + (step + 1) + ": loss is " + loss
                            + "; stopped without saving (last good checkpoint: " + lastCheckpointName(lastCheckpoint) + "). Try a lower --lr.", step);
                double gradNorm = GradClip.clip(params.grad(), opt.clipNorm());
                if (!Double.isFinite(gradNorm))
                    throw new DivergedException("training diverged at step " + (step + 1) + ": gradient norm is " + gradNorm
                            + "; stopped without saving (last good checkpoint: " + lastCheckpointName(lastCheckpoint) + ").", step);
                float lr = schedule.at((int) step);
                adam.update(params, lr, model::trainable);
                step++;
                tokensSeen += tokens;
                if (step == opt.stopAfter()) stopRequested = true;
                lastLoss = loss;
                double secs = (System.nanoTime() - ts) / 1e9;
                if (replan != null && (step - start) % replanEvery == 0 && step < total) {
                    double perStep = (System.nanoTime() - t0) / 1e9 / (step - start);
                    long revised = Math.min(Integer.MAX_VALUE, Math.max(step + 1, replan.steps(step, perStep, total)));
                    if (revised != total) {
                        total = revised;
                        schedule = new LrSchedule(schedule.maxLr(), schedule.minLr(), schedule.warmupSteps(), (int) total, schedule.decay());
                        if (bar != null) bar.maxHint(total);
                    }
                }
                boolean last = step == total;
                boolean evalNow = evaluator != null && (last || stopRequested || (opt.evalEvery() > 0 && step % opt.evalEvery() == 0));
                if (step % opt.logEvery() == 0 || evalNow || last) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("step", step);
                    row.put("loss", loss);
                    row.put("lr", lr);
                    row.put("tokensPerSec", tokens / secs);
                    row.put("gradNorm", gradNorm);
                    row.put("tokensSeen", tokensSeen);
                    row.put("elapsedSec", elapsedBefore + (System.nanoTime() - t0) / 1e9);
                    if (evalNow) {
                        lastEval = evaluator.evaluate(step);
                        row.putAll(lastEval);
                        best = keepBest(lastEval, best);
                    }
                    metrics.log(row);
                    if (evalNow && opt.plot() != null) plot(metrics.rows(), opt.plot());
                }
                if (bar != null) {
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format(" loss %.4f  %,.0f tok/s", loss, tokens / secs));
                }
                if (last || stopRequested || (opt.saveEvery() > 0 && step % opt.saveEvery() == 0)) {
                    ObjectNode extra = Checkpoints.JSON.createObjectNode();
                    if (best != null) extra.put("best", best);
                    lastCheckpoint = Checkpoints.save(opt.out(), model, tokenizer, adam,
                            new Checkpoints.State(step, tokensSeen, elapsedBefore + (System.nanoTime() - t0) / 1e9, opt.seed(), extra),
                            opt.keepCheckpoints());
                }
            }
        } finally {
            if (bar != null) bar.close();
            // said before releasing the shutdown hook: after that the JVM may halt at any moment
            if (stopRequested && step < total)
                System.err.println("stopped at step " + step + (lastCheckpoint != null ? "; saved " + lastCheckpoint : "")
                        + "; continue with --resume");
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running and waits for the latch counted down above
            }
        }
        return new Result(step, lastLoss, lastEval, stopRequested && step < total, lastCheckpoint);
    }

    private Double keepBest(Map<String, Object> eval, Double best) throws IOException {
        if (opt.bestMetric() == null || !(eval.get(opt.bestMetric()) instanceof Number n)) return best;
        double v = n.doubleValue();
        if (best != null && (opt.bestMaximize() ? v <= best : v >= best)) return best;
        Path dir = opt.out().resolve("best");
        Path staging = Files.createTempDirectory(opt.out(), ".best.");
        try {
            model.saveModel(staging);
            if (tokenizer != null) tokenizer.save(staging);
            Files.createDirectories(dir);
            Checkpoints.publish(staging, dir);
        } finally {
            Checkpoints.deleteTree(staging);
        }
        log.info("new best {} = {} saved to {}", opt.bestMetric(), v, dir);
        return v;
    }

    private static String lastCheckpointName(Path p) {
        return p == null ? "the one before this run, if any" : p.toString();
    }

    /** Training and validation loss against step. */
    public static void plot(List<Map<String, Object>> rows, Path file) throws IOException {
        List<Number> xs = new ArrayList<>(), ys = new ArrayList<>(), vx = new ArrayList<>(), vy = new ArrayList<>();
        for (Map<String, Object> r : rows) {
            if (r.get("step") instanceof Number s && r.get("loss") instanceof Number l) {
                xs.add(s);
                ys.add(l);
            }
            if (r.get("step") instanceof Number s && r.get("valLoss") instanceof Number l) {
                vx.add(s);
                vy.add(l);
            }
        }
        List<Charts.Series> series = new ArrayList<>();
        series.add(new Charts.Series("train loss", xs, ys));
        if (!vx.isEmpty()) series.add(new Charts.Series("validation loss", vx, vy));
        Charts.write(file, List.of(new Charts.Chart("Loss", "step", "loss (nats/token)", false, false, series)));
    }
}
