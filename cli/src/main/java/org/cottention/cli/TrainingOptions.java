package org.cottention.cli;

import org.cottention.train.AdamW;
import org.cottention.train.LrSchedule;
import org.cottention.train.Trainer;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Optimizer, schedule and loop options shared by `train`, `pretrain-mlm` and `finetune` (a picocli mixin). */
public final class TrainingOptions {
    @Option(names = "--steps", description = "Optimizer steps (default ${DEFAULT-VALUE}).")
    public int steps = 1000;

    @Option(names = "--batch", description = "Sequences per micro-batch (default ${DEFAULT-VALUE}).")
    public int batch = 16;

    @Option(names = "--accumulation", description = "Micro-batches per optimizer step (gradient accumulation; default ${DEFAULT-VALUE}).")
    public int accumulation = 1;

    @Option(names = "--lr", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    public float lr = 1e-3f;

    @Option(names = "--min-lr", description = "Learning rate at the end of the decay (default: lr/10).")
    public Float minLr;

    @Option(names = "--warmup", description = "Linear warmup steps (default: 5%% of --steps).")
    public Integer warmup;

    @Option(names = "--decay", description = "Schedule after warmup: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
    public LrSchedule.Decay decay = LrSchedule.Decay.COSINE;

    @Option(names = "--weight-decay", description = "AdamW decoupled weight decay (default ${DEFAULT-VALUE}).")
    public float weightDecay = 0.1f;

    @Option(names = "--beta2", description = "AdamW beta2 (default ${DEFAULT-VALUE}).")
    public float beta2 = 0.99f;

    @Option(names = "--clip", description = "Gradient-norm clipping threshold, 0 = off (default ${DEFAULT-VALUE}).")
    public double clip = 1.0;

    @Option(names = "--seed", description = "Seed for initialisation, shuffling and masking (default ${DEFAULT-VALUE}).")
    public long seed = 1;

    @Option(names = "--log-every", description = "Write a metrics.jsonl row every N steps (default ${DEFAULT-VALUE}).")
    public int logEvery = 10;

    @Option(names = "--eval-every", description = "Validate every N steps, 0 = only at the end (default ${DEFAULT-VALUE}).")
    public int evalEvery = 100;

    @Option(names = "--save-every", description = "Checkpoint every N steps, 0 = only at the end (default ${DEFAULT-VALUE}).")
    public int saveEvery = 500;

    @Option(names = "--keep-checkpoints", description = "Checkpoint folders kept in --out (default ${DEFAULT-VALUE}).")
    public int keep = 2;

    @Option(names = "--out", required = true, description = "Run folder: checkpoints, metrics.jsonl, the final model (HF layout).")
    public Path out;

    @Option(names = "--resume", description = "Continue from the newest checkpoint in --out (same data, seed and threads give bit-identical results).")
    public boolean resume;

    @Option(names = "--plot", description = "Write the loss curves to this PNG/SVG file.")
    public Path plot;

    @Option(names = "--no-progress", description = "No progress bar.")
    public boolean noProgress;

    @Option(names = "--stop-after", hidden = true, description = "Stop (saving a checkpoint) after this step, as Ctrl-C would.")
    public int stopAfter;

    public Trainer.Options toOptions(String bestMetric, boolean maximize, int defaultEvalEvery) {
        int w = warmup != null ? warmup : Math.max(0, steps / 20);
        float min = minLr != null ? minLr : lr / 10;
        return new Trainer.Options(steps, accumulation, new LrSchedule(lr, min, w, steps, decay),
                new AdamW.Config(0.9f, beta2, 1e-8f, weightDecay), clip, logEvery, evalEvery >= 0 ? evalEvery : defaultEvalEvery,
                saveEvery, keep, seed, out, resume, !noProgress, plot, bestMetric, maximize, stopAfter);
    }

    /**
     * Ends a training command: the summary (step, loss, the last evaluation, interrupted, model, parameters,
     * flopsPerToken of a training token) as one JSON object with {@code json}, else a "done:" line on stderr.
     * Returns the exit code: 130 when interrupted, else 0.
     */
    public int finish(Trainer.Result r, long parameters, double flopsPerToken, boolean json) throws java.io.IOException {
        java.util.Map<String, Object> summary = new java.util.LinkedHashMap<>();
        summary.put("step", r.step());
        summary.put("loss", r.lastLoss());
        summary.putAll(r.lastEval());
        summary.put("interrupted", r.interrupted());
        summary.put("model", out.toString());
        summary.put("parameters", parameters);
        summary.put("flopsPerToken", flopsPerToken);
        if (json) System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(summary));
        else System.err.println("done: " + summary);
        return r.interrupted() ? 130 : 0;
    }
}
