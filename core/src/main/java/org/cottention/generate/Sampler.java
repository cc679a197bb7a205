package org.cottention.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: repetition penalty (CTRL-style: positive logits divided, negative multiplied,
 * for tokens already in the sequence), then greedy when temperature is 0, else temperature, top-k and top-p
 * (nucleus) filtering and a draw from a seeded generator.
 */
public final class Sampler {
    /** Sampling settings; topK 0 and topP 1 disable those filters, repetitionPenalty 1 disables the penalty. */
    public record Settings(float temperature, int topK, float topP, float repetitionPenalty, long seed) {
        public Settings {
            if (!(temperature >= 0)) throw new IllegalArgumentException("--temperature must be >= 0, got " + temperature);
            if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
            if (!(repetitionPenalty > 0)) throw new IllegalArgumentException("--repetition-penalty must be > 0, got " + repetitionPenalty);
        }

        public static Settings greedy() {
            return new Settings(0f, 0, 1f, 1f, 0);
        }
    }

    private final Settings s;
    private final SplittableRandom rnd;

    public Sampler(Settings settings) {
        this.s = settings;
        this.rnd = new SplittableRandom(settings.seed());
    }

    /**
     * Next token for one sequence. {@code logits} [V] is modified in place; {@code seen} marks tokens already in the
     * sequence (prompt and generated), for the repetition penalty (may be null).
     */
    public int next(float[] logits, boolean[] seen) {
        int v = logits.length;
        if (s.repetitionPenalty() != 1f && seen != null) {
            for (int i = 0; i < v; i++) {
                if (seen[i]) logits[i] = logits[i] > 0 ? logits[i] / s.repetitionPenalty() : logits[i] * s.repetitionPenalty();
            }
        }
        if (s.temperature() == 0f) return argmax(logits);
        // probabilities over the candidates, sorted by logit (descending) when filters need the order
        Integer[] order = null;
        int n = v;
        if (s.topK() > 0 || s.topP() < 1f) {
            order = new Integer[v];
            for (int i = 0; i < v; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
            if (s.topK() > 0) n = Math.min(n, s.topK());
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) max = Math.max(max, logits[i]);
        double[] p = new double[n];
        double total = 0;
        for (int j = 0; j < n; j++) {
            int id = order == null ? j : order[j];
            p[j] = Math.exp((logits[id] - max) / s.temperature());
            total += p[j];
        }
        if (s.topP() < 1f) {
            double cum = 0;
            for (int j = 0; j < n; j++) {
                cum += p[j] / total;
                if (cum >= s.topP()) {
                    n = j + 1;
                    break;
                }
            }
            total = 0;
            for (int j = 0; j < n; j++) total += p[j];
        }
        double r = rnd.nextDouble() * total;
        for (int j = 0; j < n; j++) {
            r -= p[j];
            if (r <= 0) return order == null ? j : order[j];
        }
        return order == null ? n - 1 : order[n - 1];
    }

    /** Index of the largest value (the first one on ties, as torch.argmax does). */
    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
