package org.cottention.bench;

import org.cottention.model.GptJ;
import org.cottention.train.AdamW;
import org.cottention.train.Batch;

import java.util.SplittableRandom;

import static org.cottention.bench.Stats.median;

/**
 * Training throughput of a GPT-J model: full steps (forward, backward, AdamW update) on random tokens, timed after a
 * warmup step; FLOPs per token counted from the model (3x the forward's dense FLOPs). With {@code vsGemm}, each timed
 * step is followed by the 1024^3 reference GEMM ({@link GemmReference}), and mfuPaired is the median over the steps of
 * the step's FLOP rate over the GEMM's timed beside it (NaN without).
 */
public final class TrainBench {
    public record Result(String attention, int context, int batch, int steps, double medianStepMs, double tokensPerSec,
                         double flopsPerToken, double gflops, long parameters, double gemmPairedGflops, double mfuPaired) {}

    /** Untimed steps first (JIT warm-up). */
    static final int WARMUP_STEPS = 2;

    private TrainBench() {}

    public static Result run(GptJ model, int context, int batch, int steps, long seed) {
        return run(model, context, batch, steps, seed, false);
    }

    public static Result run(GptJ model, int context, int batch, int steps, long seed, boolean vsGemm) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = batch * context, v = model.cfg.vocabSize();
        AdamW adam = new AdamW(AdamW.Config.defaults(0.1f), model.params.size());
        double[] ms = new double[steps], gemm = new double[steps];
        if (vsGemm) GemmReference.warmUp();
        for (int s = -WARMUP_STEPS; s < steps; s++) {
            int[] ids = new int[n], tg = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = r.nextInt(v);
                tg[i] = r.nextInt(v);
            }
            long t0 = System.nanoTime();
            model.params.zeroGrad();
            model.trainStep(Batch.lm(batch, context, ids, null, tg), 1f);
            adam.update(model.params, 1e-4f);
            if (s >= 0) {
                ms[s] = (System.nanoTime() - t0) / 1e6;
                if (vsGemm) gemm[s] = GemmReference.timeNow();
            }
        }
        double med = median(ms);
        double tps = n / (med / 1e3);
        double fpt = 3 * model.flopsPerToken(context);
        double gemmGflops = Double.NaN, paired = Double.NaN;
        if (vsGemm) {
            double[] ratio = new double[steps];
            for (int s = 0; s < steps; s++) ratio[s] = fpt * n / ms[s] / GemmReference.FLOPS * gemm[s];
            paired = median(ratio);
            gemmGflops = GemmReference.FLOPS / median(gemm) / 1e6;
        }
        return new Result(model.cfg.attentionType().configName(), context, batch, steps, med, tps, fpt, tps * fpt / 1e9,
                model.parameterCount(), gemmGflops, paired);
    }
}
