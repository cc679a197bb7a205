package org.cottention.kernels;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one thread pool every kernel uses. Work is split statically into contiguous ranges, one per thread, so a
 * computation whose per-index work is independent gives bit-identical results for a given thread count.
 * Calls made from inside a parallel region run serially on the calling thread (no nested fan-out), which lets a
 * kernel that parallelises over (batch, head) call a GEMM that would otherwise parallelise itself.
 */
public final class Parallel {
    /** Body over a half-open index range [lo, hi). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    /** Body over one index. */
    @FunctionalInterface
    public interface IndexBody {
        void run(int i);
    }

    private static volatile int threads = Runtime.getRuntime().availableProcessors();
    private static volatile ExecutorService pool;
    private static final ThreadLocal<Boolean> IN_REGION = ThreadLocal.withInitial(() -> false);

    private Parallel() {}

    /** Number of threads kernels may use (the caller's thread included). */
    public static int threads() {
        return threads;
    }

    /** Sets the thread count for all kernels; the `--threads` option of every command lands here. */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        if (n == threads) return;
        threads = n;
        ExecutorService old = pool;
        pool = null;
        if (old != null) old.shutdown();
    }

    /** True on a thread that is already running part of a parallel region. */
    public static boolean inRegion() {
        return IN_REGION.get();
    }

    private static ExecutorService pool() {
        ExecutorService p = pool;
        if (p == null) {
            synchronized (Parallel.class) {
                p = pool;
                if (p == null) {
                    AtomicInteger id = new AtomicInteger();
                    p = Executors.newFixedThreadPool(Math.max(1, threads - 1), r -> {
                        Thread t = new Thread(() -> {
                            IN_REGION.set(true);
                            r.run();
                        }, "cottention-worker-" + id.incrementAndGet());
                        t.setDaemon(true);
                        return t;
                    });
                    pool = p;
                }
            }
        }
        return p;
    }

    /**
     * Splits [0, n) into at most {@link #threads()} contiguous ranges of at least {@code grain} indices and runs
     * them concurrently; returns when all are done. Exceptions from any range are rethrown here.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int t = threads;
        int parts = Math.min(t, Math.max(1, n / Math.max(1, grain)));
        if (parts <= 1 || IN_REGION.get()) {
            body.run(0, n);
            return;
        }
        runParts(parts, part -> body.run((int) ((long) n * part / parts), (int) ((long) n * (part + 1) / parts)));
    }

    /** {@link #forRange} with a per-index body. */
    public static void forEach(int n, IndexBody body) {
        forRange(n, 1, (lo, hi) -> {
            for (int i = lo; i < hi; i++) body.run(i);
        });
    }

    /**
     * Runs body(i) for i in [0, n), handing indices out one at a time to whichever thread is free: for work items
     * of uneven cost. Results stay deterministic as long as each index writes only its own outputs.
     */
    public static void forEachDynamic(int n, IndexBody body) {
        if (n <= 0) return;
        int parts = Math.min(threads, n);
        if (parts <= 1 || IN_REGION.get()) {
            for (int i = 0; i < n; i++) body.run(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        runParts(parts, part -> {
            for (int i; (i = next.getAndIncrement()) < n; ) body.run(i);
        });
    }

    private static void runParts(int parts, IndexBody part) {
        ExecutorService p = pool();
        CountDownLatch done = new CountDownLatch(parts - 1);
        AtomicReference<Throwable> error = new AtomicReference<>();
        for (int k = 1; k < parts; k++) {
            int kk = k;
            p.execute(() -> {
                try {
                    part.run(kk);
                } catch (Throwable e) {
                    error.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            });
        }
        IN_REGION.set(true);
        try {
            part.run(0);
        } catch (Throwable e) {
            error.compareAndSet(null, e);
        } finally {
            IN_REGION.set(false);
        }
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for parallel work", e);
        }
        Throwable e = error.get();
        if (e instanceof RuntimeException re) throw re;
        if (e instanceof Error err) throw err;
        if (e != null) throw new RuntimeException(e);
    }
}
