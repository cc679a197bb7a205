package org.cottention.train;

import org.cottention.kernels.Parallel;

/** Global gradient-norm computation and clipping over a flat gradient buffer. */
public final class GradClip {
    private GradClip() {}

    /** L2 norm of g, accumulated in double over fixed blocks (deterministic for a given length). */
    public static double norm(float[] g) {
        int blocks = Math.max(1, Math.min(256, g.length / 4096));
        double[] partial = new double[blocks];
        Parallel.forEach(blocks, blk -> {
            int lo = (int) ((long) g.length * blk / blocks), hi = (int) ((long) g.length * (blk + 1) / blocks);
            double s = 0;
            for (int i = lo; i < hi; i++) s += (double) g[i] * g[i];
            partial[blk] = s;
        });
        double s = 0;
        for (double p : partial) s += p;
        return Math.sqrt(s);
    }

    /** Scales g so its norm is at most maxNorm (maxNorm <= 0 disables); returns the norm before clipping. */
    public static double clip(float[] g, double maxNorm) {
        double n = norm(g);
        if (maxNorm > 0 && n > maxNorm && Double.isFinite(n)) {
            float scale = (float) (maxNorm / (n + 1e-6));
            Parallel.forRange(g.length, 1 << 15, (lo, hi) -> {
                for (int i = lo; i < hi; i++) g[i] *= scale;
            });
        }
        return n;
    }
}
