package org.cottention.bench;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;

/**
 * Times {@link Gemm#sgemm} on C[m,n] = A[m,k] * op(B) with op(B) = B[k,n], or with transB the stored B [n,k] (the
 * decoding case x * W^T): warmup runs, then timed runs.
 */
public final class GemmBench {
    /** One measured shape: median and best wall time of the timed runs, GFLOPS from the median. */
    public record Result(int m, int n, int k, boolean transB, int threads, int runs, double medianMs, double minMs, double gflops) {
        /** Bytes of A, B and C touched once, per median time: the figure of merit for the bandwidth-bound m == 1 case. */
        public double gbPerS() {
            return 4.0 * ((double) m * k + (double) k * n + (double) m * n) / (medianMs * 1e-3) / 1e9;
        }
    }

    private GemmBench() {}

    /**
     * Runs {@code warmup} untimed then {@code runs} timed sgemm calls with {@code threads} threads. Warmup continues
     * until at least ~0.5 s has been spent so the JIT has compiled the kernel even for small shapes, and small shapes
     * get repeated inside one timed run so a run lasts at least ~1 ms (the time reported is per call).
     */
    public static Result run(int m, int n, int k, boolean transB, int threads, int warmup, int runs) {
        if (m < 1 || n < 1 || k < 1) throw new IllegalArgumentException("m, n, k must be >= 1, got " + m + ", " + n + ", " + k);
        if (runs < 1) throw new IllegalArgumentException("runs must be >= 1, got " + runs);
        Parallel.setThreads(threads);
        SplittableRandom rnd = new SplittableRandom(42);
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) (rnd.nextDouble() - 0.5);
        for (int i = 0; i < b.length; i++) b[i] = (float) (rnd.nextDouble() - 0.5);
        double flops = 2.0 * m * n * k;
        // repetitions per timed run: aim for >= 1 ms per run at ~50 GFLOPS
        int reps = (int) Math.max(1, Math.min(100_000, 1e-3 * 50e9 / flops));
        long warmEnd = System.nanoTime() + 500_000_000L;
        for (int w = 0; w < warmup || System.nanoTime() < warmEnd; w++) {
            for (int r = 0; r < reps; r++) Gemm.sgemm(false, transB, m, n, k, 1f, a, 0, k, b, 0, transB ? k : n, 0f, c, 0, n);
            if (w > 100_000) break;
        }
        double[] ms = new double[runs];
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            for (int q = 0; q < reps; q++) Gemm.sgemm(false, transB, m, n, k, 1f, a, 0, k, b, 0, transB ? k : n, 0f, c, 0, n);
            ms[r] = (System.nanoTime() - t0) / 1e6 / reps;
        }
        Arrays.sort(ms);
        double median = runs % 2 == 1 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
        return new Result(m, n, k, transB, threads, runs, median, ms[0], flops / (median * 1e-3) / 1e9);
    }
}
