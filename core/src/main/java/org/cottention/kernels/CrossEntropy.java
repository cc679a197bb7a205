package org.cottention.kernels;

import static org.cottention.kernels.Ops.S;
import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Fused log-softmax + cross-entropy over logits [n, v] (row stride v) with integer targets [n]. A negative target
 * (PyTorch's ignore_index -100, or any other negative) marks a row that contributes neither loss nor gradient; a
 * target >= v is an error. Rows are processed independently in parallel; per-row results are combined in row order,
 * so every result is bit-identical for any thread count. Each row subtracts its max before exponentiating and sums
 * the exponentials in double. Nothing of size [n, v] is allocated.
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /** Number of rows whose target is not ignored (>= 0). Throws if any target is >= v. */
    public static int countTargets(int[] targets, int targetsOff, int n, int v) {
        requireNonNegative("n", n);
        Ops.requirePositive("v", v);
        requireRange("targets", targets, targetsOff, n);
        int count = 0;
        for (int i = 0; i < n; i++) {
            int t = targets[targetsOff + i];
            if (t >= v) throw new IllegalArgumentException("targets[" + i + "] = " + t + " is outside the vocabulary [0, " + v + ")");
            if (t >= 0) count++;
        }
        return count;
    }

    /**
     * Mean cross-entropy over the non-ignored rows, and (when dlogits is not null) the gradient of
     * {@code scale * meanLoss}: dlogits[i, :] = (softmax(logits[i, :]) - onehot(target_i)) * scale / count, zero rows
     * for ignored targets. dlogits is WRITTEN (not accumulated) and may be the logits array itself at the same offset
     * (in place). With no non-ignored row the loss is 0 and the gradient all zeros.
     */
    public static double forwardBackward(float[] logits, int logitsOff, int[] targets, int targetsOff, int n, int v,
                                         float[] dlogits, int dlogitsOff, float scale) {
        int count = countTargets(targets, targetsOff, n, v);
        double sum = sumLossAndGradient(logits, logitsOff, targets, targetsOff, n, v, dlogits, dlogitsOff,
                count == 0 ? 0.0 : (double) scale / count);
        return count == 0 ? 0.0 : sum / count;
    }

    /** Mean cross-entropy over the non-ignored rows (0 when there are none); no gradient. */
    public static double loss(float[] logits, int logitsOff, int[] targets, int targetsOff, int n, int v) {
        return forwardBackward(logits, logitsOff, targets, targetsOff, n, v, null, 0, 1f);
    }

    /**
     * SUM of the per-row cross-entropies over non-ignored rows, and (when dlogits is not null) dlogits[i, :] =
     * (softmax - onehot) * gradScale, zero rows for ignored targets — for callers that normalise by a count of their
     * own (e.g. tokens over all micro-batches of a step). dlogits is written, not accumulated; may alias logits.
     */
    public static double sumLossAndGradient(float[] logits, int logitsOff, int[] targets, int targetsOff, int n, int v,
                                            float[] dlogits, int dlogitsOff, double gradScale) {
        check(logits, logitsOff, targets, targetsOff, n, v);
        if (dlogits != null) requireRange("dlogits", dlogits, dlogitsOff, (long) n * v);
        double[] rowLoss = new double[n];
        Parallel.forRange(n, Math.max(1, Ops.rowGrain(v) / 4), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int t = targets[targetsOff + r];
                int lo0 = logitsOff + r * v;
                if (t < 0) {
                    if (dlogits != null) java.util.Arrays.fill(dlogits, dlogitsOff + r * v, dlogitsOff + (r + 1) * v, 0f);
                    continue;
                }
                float max = max(logits, lo0, v);
                double sumExp = sumExp(logits, lo0, v, max);
                float target = logits[lo0 + t];
                // (max - target) first: both are large when logits are, their difference is not.
                rowLoss[r] = ((double) max - target) + Math.log(sumExp);
                if (dlogits != null) {
                    // softmax_j = exp(x_j - max) / sumExp; the 1/sumExp and gradScale fold into one factor.
                    float f = (float) (gradScale / sumExp);
                    writeScaledExp(dlogits, dlogitsOff + r * v, logits, lo0, v, max, f);
                    dlogits[dlogitsOff + r * v + t] -= (float) gradScale;
                }
            }
        });
        double sum = 0;
        for (int r = 0; r < n; r++) sum += rowLoss[r];
        return sum;
    }

    /**
     * out[i] = log softmax(logits[i, :])[targets[i]] (natural log, in double) for perplexity and next-token
     * log-probabilities; NaN for ignored (negative) targets.
     */
    public static void targetLogProbs(float[] logits, int logitsOff, int[] targets, int targetsOff, int n, int v,
                                      double[] out, int outOff) {
        check(logits, logitsOff, targets, targetsOff, n, v);
        requireRange("out", out, outOff, n);
        for (int i = 0; i < n; i++)
            if (targets[targetsOff + i] >= v)
                throw new IllegalArgumentException("targets[" + i + "] = " + targets[targetsOff + i] + " is outside the vocabulary [0, " + v + ")");
        Parallel.forRange(n, Math.max(1, Ops.rowGrain(v) / 4), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int t = targets[targetsOff + r];
                if (t < 0) {
                    out[outOff + r] = Double.NaN;
                    continue;
                }
                int lo0 = logitsOff + r * v;
                float max = max(logits, lo0, v);
                out[outOff + r] = (double) logits[lo0 + t] - max - Math.log(sumExp(logits, lo0, v, max));
            }
        });
    }

    // ---------------------------------------------------------------------------------------------- row helpers

    private static void check(float[] logits, int logitsOff, int[] targets, int targetsOff, int n, int v) {
        requireNonNegative("n", n);
        Ops.requirePositive("v", v);
        requireRange("logits", logits, logitsOff, (long) n * v);
        requireRange("targets", targets, targetsOff, n);
        countTargets(targets, targetsOff, n, v);
    }

    static float max(float[] x, int off, int v) {
        FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (int up = S.loopBound(v); j < up; j += S.length()) acc = acc.max(FloatVector.fromArray(S, x, off + j));
        float m = acc.reduceLanes(VectorOperators.MAX);
        for (; j < v; j++) m = Math.max(m, x[off + j]);
        return m;
    }

    /**
     * sum_j exp(x_j - max): exponentials in float ({@link Ops#exp}), summed per lane in float over blocks of
     * {@code SUM_BLOCK} vectors (at most 16 terms per lane, all in (0, 1]), and the block sums added in double.
     */
    static double sumExp(float[] x, int off, int v, float max) {
        FloatVector vmax = FloatVector.broadcast(S, max);
        int step = S.length(), block = SUM_BLOCK * step;
        double s = 0;
        int j = 0;
        for (int up = S.loopBound(v); j < up; ) {
            int end = Math.min(up, j + block);
            FloatVector acc = FloatVector.zero(S);
            for (; j < end; j += step) acc = acc.add(Ops.exp(FloatVector.fromArray(S, x, off + j).sub(vmax)));
            s += Ops.sumLanes(acc);
        }
        for (; j < v; j++) s += Ops.exp(x[off + j] - max);
        return s;
    }

    private static final int SUM_BLOCK = 16;

    /** out_j = exp(x_j - max) * f. */
    static void writeScaledExp(float[] out, int outOff, float[] x, int off, int v, float max, float f) {
        FloatVector vmax = FloatVector.broadcast(S, max);
        int j = 0;
        for (int up = S.loopBound(v); j < up; j += S.length())
            Ops.exp(FloatVector.fromArray(S, x, off + j).sub(vmax)).mul(f).intoArray(out, outOff + j);
        for (; j < v; j++) out[outOff + j] = Ops.exp(x[off + j] - max) * f;
    }
}
