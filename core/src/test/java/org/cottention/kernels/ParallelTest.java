package org.cottention.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

class ParallelTest {
    /** Every part sees every other part's write of step s after the barrier of step s, for many steps. */
    @Test
    void togetherRunsPartsSideBySideAndTheBarrierSeparatesSteps() throws Throwable {
        int steps = 2000;
        AtomicIntegerArray slot = new AtomicIntegerArray(3);
        int[] seenParts = new int[1];
        withThreads(3, () -> Parallel.together(3, (part, parts, barrier) -> {
            if (part == 0) seenParts[0] = parts;
            for (int s = 1; s <= steps; s++) {
                slot.set(part, s);
                barrier.await();
                for (int p = 0; p < parts; p++)
                    if (slot.get(p) < s) throw new AssertionError("part " + p + " behind at step " + s);
                barrier.await(); // nobody writes step s+1 before all have checked step s
            }
        }));
        assertEquals(3, seenParts[0]);
    }

    /** A part that fails breaks the barrier: the others stop waiting and the failure reaches the caller. */
    @Test
    void aFailingPartDoesNotLeaveTheOthersWaiting() {
        RuntimeException e = assertThrows(RuntimeException.class, () -> withThreads(2, () ->
                Parallel.together(2, (part, parts, barrier) -> {
                    for (int s = 0; s < 100; s++) {
                        if (part == 1 && s == 5) throw new IllegalArgumentException("part 1 failed at step 5");
                        barrier.await();
                    }
                })));
        String all = e + " " + e.getCause();
        assertTrue(all.contains("part 1 failed at step 5"), all);
    }

    /** Inside a parallel region (nested call) the parts cannot wait for each other: one part runs. */
    @Test
    void nestedTogetherRunsOnePart() throws Throwable {
        int[] parts = new int[2];
        withThreads(2, () -> Parallel.forEach(2, i -> Parallel.together(2, (part, n, barrier) -> {
            barrier.await();
            parts[i] = n;
        })));
        assertArrayEquals(new int[]{1, 1}, parts);
    }

    /** Runs body with the pool at n threads (restored after), failing instead of hanging past a minute. */
    private static void withThreads(int n, Executable body) throws Throwable {
        int saved = Parallel.threads();
        try {
            Parallel.setThreads(n);
            assertTimeoutPreemptively(Duration.ofSeconds(60), body);
        } finally {
            Parallel.setThreads(saved);
        }
    }
}
