package org.cottention.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one thread pool every kernel uses. Work is split statically into contiguous ranges, one per thread, so a
 * computation whose per-index work is independent gives bit-identical results for a given thread count.
 * Calls made from inside a parallel region run serially on the calling thread (no nested fan-out), which lets a
 * kernel that parallelises over (batch, head) call a GEMM that would otherwise parallelise itself.
 *
 * <p>The workers spin for a short while after each part before they park: decoding issues hundreds of small
 * parallel calls per token, and waking a parked thread for each (tens of microseconds) cost more than the work.
 * Every part of a region runs on its own thread at the same time (GEMM's packing threads meet at a barrier);
 * regions from different callers take turns.
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
    private static volatile Worker[] workers;
    private static final ReentrantLock DISPATCH = new ReentrantLock();
    /** How long an idle worker spins for its next part before parking. */
    private static final long SPIN_NANOS = 200_000;
    private static final ThreadLocal<Boolean> IN_REGION = ThreadLocal.withInitial(() -> false);

    private Parallel() {}

    /** Number of threads kernels may use (the caller's thread included). */
    public static int threads() {
        return threads;
    }

    /** Sets the thread count for all kernels; the `--threads` option of every command lands here. */
    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        if (n == threads) return;
        DISPATCH.lock();  // not while a region runs on the old workers
        try {
            threads = n;
            Worker[] old = workers;
            workers = null;
            if (old != null) for (Worker w : old) w.shutdown();
        } finally {
            DISPATCH.unlock();
        }
    }

    /** True on a thread that is already running part of a parallel region. */
    public static boolean inRegion() {
        return IN_REGION.get();
    }

    /** The workers for the current thread count, started on first use; call with DISPATCH held. */
    private static Worker[] workers() {
        Worker[] w = workers;
        if (w == null) {
            w = new Worker[Math.max(0, threads - 1)];
            for (int i = 0; i < w.length; i++) {
                w[i] = new Worker("cottention-worker-" + (i + 1));
                w[i].start();
            }
            workers = w;
        }
        return w;
    }

    /** One region's bookkeeping: parts still running and the first failure. */
    private record Region(IndexBody body, AtomicInteger remaining, AtomicReference<Throwable> error) {}

    /** A pool thread: runs the part it is handed, spinning briefly for the next one before parking. */
    private static final class Worker extends Thread {
        private volatile Region region;
        private volatile int part;
        private volatile boolean stop;

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        void submit(Region r, int p) {
            part = p;
            region = r;  // volatile write publishes part too
            LockSupport.unpark(this);
        }

        void shutdown() {
            stop = true;
            LockSupport.unpark(this);
        }

        @Override
        public void run() {
            IN_REGION.set(true);
            while (!stop) {
                Region r = region;
                if (r == null) {
                    long idleSince = System.nanoTime();
                    while ((r = region) == null && !stop) {
                        if (System.nanoTime() - idleSince < SPIN_NANOS) Thread.onSpinWait();
                        else LockSupport.park(this);
                    }
                    if (r == null) return;
                }
                int p = part;
                region = null;
                try {
                    r.body().run(p);
                } catch (Throwable e) {
                    r.error().compareAndSet(null, e);
                } finally {
                    r.remaining().decrementAndGet();
                }
            }
        }
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

    /**
     * Runs body(0..parts-1) at the same time, one part per thread, for pipelines whose parts wait for each other at
     * a {@link Barrier}. parts is clipped to the thread count, and to 1 inside a parallel region (where parts would
     * run one after another); the body must work for any count, so it is handed the count it gets.
     */
    public static void together(int parts, TogetherBody body) {
        if (IN_REGION.get() || Math.min(parts, threads) <= 1) {
            body.run(0, 1, new Barrier(1));
            return;
        }
        DISPATCH.lock();
        try {
            Worker[] w = workers();
            int n = Math.min(parts, w.length + 1); // settled under the lock: every part gets a thread of its own
            Barrier barrier = new Barrier(n);
            dispatch(w, n, part -> {
                try {
                    body.run(part, n, barrier);
                } catch (Throwable e) {
                    barrier.breakDown(e); // the other parts would wait for this one forever
                    throw e;
                }
            });
        } finally {
            DISPATCH.unlock();
        }
    }

    public interface TogetherBody {
        void run(int part, int parts, Barrier barrier);
    }

    /**
     * A reusable spin barrier for the parts of {@link #together}; a part that fails breaks it for the others. It spins
     * (the waits are short: the gap between parts finishing equal shares), yielding after a while so that an
     * oversubscribed machine still makes progress.
     */
    public static final class Barrier {
        private static final int SPINS_BEFORE_YIELD = 2_000;
        private final int parties;
        private final AtomicInteger arrived = new AtomicInteger();
        private volatile int generation;
        private volatile Throwable broken;

        Barrier(int parties) {
            this.parties = parties;
        }

        /** Waits until every part has called await the same number of times. */
        public void await() {
            if (parties == 1) return;
            int g = generation;
            if (arrived.incrementAndGet() == parties) {
                arrived.set(0);
                generation = g + 1;
                return;
            }
            for (int spins = 0; generation == g; spins++) {
                Throwable cause = broken;
                if (cause != null) throw new IllegalStateException("another part of the parallel region failed: " + cause, cause);
                if (spins < SPINS_BEFORE_YIELD) Thread.onSpinWait();
                else Thread.yield(); // a part was descheduled: let it run
            }
        }

        void breakDown(Throwable cause) {
            broken = cause;
        }
    }

    private static void runParts(int parts, IndexBody part) {
        DISPATCH.lock();
        try {
            dispatch(workers(), parts, part);
        } finally {
            DISPATCH.unlock();
        }
    }

    /** Runs parts 1.. on the workers and part 0 (and any the workers cannot take) here; call with DISPATCH held. */
    private static void dispatch(Worker[] w, int parts, IndexBody part) {
        int onWorkers = Math.min(parts - 1, w.length);  // fewer only if --threads changed mid-call
        Region region = new Region(part, new AtomicInteger(onWorkers), new AtomicReference<>());
        for (int k = 1; k <= onWorkers; k++) w[k - 1].submit(region, k);
        IN_REGION.set(true);
        try {
            part.run(0);
            for (int k = onWorkers + 1; k < parts; k++) part.run(k);
        } catch (Throwable e) {
            region.error().compareAndSet(null, e);
        } finally {
            IN_REGION.set(false);
        }
        for (int spins = 0; region.remaining().get() > 0; spins++) {
            if (spins < 1 << 14) Thread.onSpinWait();
            else Thread.yield();  // a worker was descheduled: let it run
        }
        Throwable e = region.error().get();
        if (e instanceof RuntimeException re) throw re;
        if (e instanceof Error err) throw err;
        if (e != null) throw new RuntimeException(e);
    }
}
