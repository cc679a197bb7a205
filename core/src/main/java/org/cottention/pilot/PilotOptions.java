package org.cottention.pilot;

import org.cottention.data.LabeledTexts;
import org.cottention.train.AdamW;
import org.cottention.train.LrSchedule;
import org.cottention.train.Trainer;

import java.nio.file.Path;
import java.util.List;

/**
 * Everything a pilot is run with. Exactly one of {@code text} (causal LM) and {@code trainDir} (classification);
 * at most one of {@code steps} and {@code budgetMinutes} (neither: {@link #DEFAULT_STEPS}).
 *
 * @param shape     the model trained from scratch (ignored with --model)
 * @param training  optimizer and loop settings shared by every variant
 * @param lengths   fixed lengths the usage cost is measured at besides the data's own (default 4K, 16K, 64K)
 * @param cutoffSeconds  per-document time beyond which a length is not run (null: from the budget, else 60 s)
 * @param command   the exact command line, for the report
 */
public record PilotOptions(List<Path> text, Path trainDir, Path out, Path model, String variants, Integer steps, Double budgetMinutes,
                           long seed, Shape shape, Training training, LabeledTexts.Columns columns, List<Integer> lengths, Double cutoffSeconds,
                           int decodeTokens, String command) {
    public static final int DEFAULT_STEPS = 300;
    /** Fewer optimizer steps than this cannot say anything about quality: a budget that allows fewer is refused. */
    public static final int MIN_STEPS = 20;
    /** Validation evaluations along training (the curves), unless --eval-every says otherwise. */
    public static final int CURVE_POINTS = 5;

    /** Model shape and tokenizer of variants trained from scratch; null fields take the task's default. */
    public record Shape(Integer nLayer, Integer nEmbd, Integer nHead, Integer length, Integer vocabSize, String position) {}

    /** Optimizer and loop settings; null fields take defaults (lr: 1e-3 from scratch, 1e-4 from --model). */
    public record Training(int batch, int accumulation, Float lr, Float minLr, Integer warmupSteps, LrSchedule.Decay decay,
                           float weightDecay, float beta2, double clip, int logEvery, Integer evalEvery, int stopAfter, boolean progress) {
        /** The trainer's options for one variant's run. */
        public Trainer.Options toOptions(int steps, float defaultLr, Path out, boolean resume) {
            float peak = lr != null ? lr : defaultLr;
            int w = warmupSteps != null ? warmupSteps : Math.max(0, steps / 20);
            int ev = evalEvery != null ? evalEvery : Math.max(1, steps / CURVE_POINTS);
            return new Trainer.Options(steps, accumulation, new LrSchedule(peak, minLr != null ? minLr : peak / 10, w, steps, decay),
                    new AdamW.Config(0.9f, beta2, 1e-8f, weightDecay), clip, logEvery, ev, Math.max(1, steps / 4), 1, 0, out, resume,
                    progress, null, null, false, stopAfter);
        }
    }

    public PilotOptions {
        if ((text == null || text.isEmpty()) == (trainDir == null))
            throw new IllegalArgumentException("give exactly one of --text DATA... (causal language modelling) and --train-dir DIR (classification)");
        if (out == null) throw new IllegalArgumentException("--out DIR is required");
        if (steps != null && budgetMinutes != null) throw new IllegalArgumentException("give --steps or --budget-minutes, not both");
        if (steps != null && steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (budgetMinutes != null && !(budgetMinutes > 0)) throw new IllegalArgumentException("--budget-minutes must be > 0, got " + budgetMinutes);
        if (decodeTokens < 1) throw new IllegalArgumentException("--decode-tokens must be >= 1, got " + decodeTokens);
        if (cutoffSeconds != null && !(cutoffSeconds > 0)) throw new IllegalArgumentException("--cutoff-seconds must be > 0, got " + cutoffSeconds);
        if (lengths == null || lengths.isEmpty()) lengths = List.of(4096, 16384, 65536);
        for (int l : lengths) if (l < 1) throw new IllegalArgumentException("--lengths must be >= 1, got " + l);
        lengths = List.copyOf(lengths);
    }

    public Task task() {
        return trainDir != null ? Task.CLASSIFY : Task.LM;
    }
}
