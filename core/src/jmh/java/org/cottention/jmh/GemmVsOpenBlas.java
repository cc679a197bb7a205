package org.cottention.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;

/**
 * Quick head-to-head without JMH's forking: for each thread count, alternates timed rounds of our sgemm and
 * OpenBLAS's on the same n^3 problem (alternating so machine noise hits both alike, with a pause before each round
 * so OpenBLAS's spinning idle threads are asleep again), and prints the medians and their ratio. Usage: GemmVsOpenBlas [size=1024] [threads=1,2] [rounds=15]
 */
public final class GemmVsOpenBlas {
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        int size = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int[] threads = Arrays.stream((args.length > 1 ? args[1] : "1,2").split(",")).mapToInt(Integer::parseInt).toArray();
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 15;
        int m = size, n = size, k = size;
        System.out.println("OpenBLAS core: " + OpenBlas.corename() + " | config: " + OpenBlas.config());
        SplittableRandom rnd = new SplittableRandom(1);
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) (rnd.nextDouble() - 0.5);
        for (int i = 0; i < b.length; i++) b[i] = (float) (rnd.nextDouble() - 0.5);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment na = arena.allocate(4L * a.length, 64), nb = arena.allocate(4L * b.length, 64), nc = arena.allocate(4L * c.length, 64);
            MemorySegment.copy(a, 0, na, ValueLayout.JAVA_FLOAT, 0, a.length);
            MemorySegment.copy(b, 0, nb, ValueLayout.JAVA_FLOAT, 0, b.length);
            double flops = 2.0 * m * n * k;
            // sanity: both agree
            Gemm.matmul(a, b, c, m, n, k);
            OpenBlas.sgemm(false, false, m, n, k, 1f, na, k, nb, n, 0f, nc, n);
            double maxDiff = 0;
            for (int i = 0; i < c.length; i++) maxDiff = Math.max(maxDiff, Math.abs(c[i] - nc.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
            System.out.printf("max |ours - openblas| = %.3g%n", maxDiff);
            for (int t : threads) {
                Parallel.setThreads(t);
                OpenBlas.setThreads(t);
                // warmup ~1.5 s each
                for (long end = System.nanoTime() + 1_500_000_000L; System.nanoTime() < end; ) {
                    Gemm.matmul(a, b, c, m, n, k);
                    OpenBlas.sgemm(false, false, m, n, k, 1f, na, k, nb, n, 0f, nc, n);
                }
                List<Double> ours = new ArrayList<>(), blas = new ArrayList<>(), ratios = new ArrayList<>();
                List<Double> oursCpu = new ArrayList<>(), blasCpu = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    // OpenBLAS's idle workers spin for a while after a call; let them fall asleep so they don't
                    // steal a core from our threads in the next timed run.
                    pause(300);
                    long u0 = CPU.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    Gemm.matmul(a, b, c, m, n, k);
                    long t1 = System.nanoTime();
                    long u1 = CPU.getCurrentThreadCpuTime();
                    OpenBlas.sgemm(false, false, m, n, k, 1f, na, k, nb, n, 0f, nc, n);
                    long t2 = System.nanoTime();
                    long u2 = CPU.getCurrentThreadCpuTime();
                    oursCpu.add(flops / (u1 - u0));
                    blasCpu.add(flops / (u2 - u1));
                    ours.add(flops / (t1 - t0));
                    blas.add(flops / (t2 - t1));
                    ratios.add((double) (t2 - t1) / (t1 - t0));
                }
                double o = median(ours), q = median(blas);
                System.out.printf("size=%d threads=%d  ours %.1f GFLOPS (best %.1f)  openblas %.1f GFLOPS (best %.1f)  ratio %.3f"
                                + "  (median of per-round ratios %.3f, best/best %.3f)%n",
                        size, t, o, max(ours), q, max(blas), o / q, median(ratios), max(ours) / max(blas));
                if (t == 1) {
                    // one thread: both run on this thread, so its CPU time excludes the time other processes took
                    System.out.printf("size=%d threads=1  by this thread's CPU time: ours %.1f GFLOPS  openblas %.1f GFLOPS  ratio %.3f%n",
                            size, median(oursCpu), median(blasCpu), median(oursCpu) / median(blasCpu));
                }
            }
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
    }

    private static double max(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    }
}
