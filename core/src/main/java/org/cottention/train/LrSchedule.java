package org.cottention.train;

/** Learning rate at a step: linear warmup from 0, then constant, linear or cosine decay to {@code minLr}. */
public record LrSchedule(float maxLr, float minLr, int warmupSteps, int totalSteps, Decay decay) {
    public enum Decay { CONSTANT, LINEAR, COSINE }

    public LrSchedule {
        if (!(maxLr > 0)) throw new IllegalArgumentException("learning rate must be > 0, got " + maxLr);
        if (minLr < 0 || minLr > maxLr) throw new IllegalArgumentException("min lr must be in [0, lr], got " + minLr);
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (totalSteps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + totalSteps);
    }

    /** Learning rate for the update numbered {@code step} (0-based). */
    public float at(int step) {
        if (step < warmupSteps) return maxLr * (step + 1) / warmupSteps;
        if (decay == Decay.CONSTANT || totalSteps <= warmupSteps) return maxLr;
        double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
        double f = decay == Decay.LINEAR ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
        return (float) (minLr + (maxLr - minLr) * f);
    }
}
