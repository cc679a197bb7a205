package org.cottention.bench;

import org.cottention.kernels.Gemm;

import java.util.Random;

/**
 * The reference rate of the "vs GEMM" ratios (bench attention --vs-gemm, bench train's paired MFU): one 1024^3 SGEMM on
 * fixed random operands, timed in milliseconds right after each measured run. On a shared machine whose speed drifts
 * (other tenants on the same cores) a run and the GEMM timed beside it drift together, so the median of the per-run
 * ratios is steadier than a ratio of separate medians or bests.
 */
final class GemmReference {
    static final int N = 1024;
    static final double FLOPS = 2.0 * N * N * N;
    private static float[] a, b, c;

    private GemmReference() {}

    /** Runs the GEMM for at least a second (as bench gemm's warm-up does): until then C2 has not compiled it. */
    static void warmUp() {
        long until = System.nanoTime() + 1_000_000_000L;
        for (int i = 0; i < 10 || System.nanoTime() < until; i++) time();
    }

    /**
     * The GEMM's time now: the median of three (the first brings its operands back into cache after the measured run
     * evicted them, as in a run of bench gemm).
     */
    static double timeNow() {
        return Stats.median(new double[]{time(), time(), time()});
    }

    static synchronized double time() {
        if (a == null) {
            Random r = new Random(7);
            a = new float[N * N];
            b = new float[N * N];
            for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
            c = new float[N * N];
        }
        long t0 = System.nanoTime();
        Gemm.sgemm(false, false, N, N, N, 1f, a, 0, N, b, 0, N, 0f, c, 0, N);
        return (System.nanoTime() - t0) / 1e6;
    }
}
