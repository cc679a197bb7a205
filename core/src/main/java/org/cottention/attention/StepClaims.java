package org.cottention.attention;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Who runs which unit of a pipeline step ({@link CosineCausal}'s forward and backward). Each part owns a list of
 * units per step (its heads' products, interleaved with slices of its share of the rows) and takes them in order;
 * once its list is done it takes what is left of the other parts' lists, so a part whose vCPU stalls (steal on a
 * shared host, an interrupt) hands the rest of its step to the parts that are running instead of keeping them at
 * the step's barrier. Units write disjoint outputs and a head's chunks stay in order within a step (one unit), so
 * the results are the same bits whoever runs a unit.
 *
 * <p>One counter per (step, owner), each on its own cache line: an owner's claims stay in its core's cache until
 * another part comes to take from it. The counters of three steps rotate: at step s each owner clears its counter
 * for step s+1, which was last used at step s-2 (every claim at s-2 happened before the barrier that ended it).
 */
final class StepClaims {
    private static final int PAD = 16;   // ints per counter: 64 bytes
    /** Tests set it: every part starts with the next part's list, so that units run on parts that do not own them. */
    static volatile boolean othersFirst;
    private final int maxParts;
    private final AtomicIntegerArray next;

    StepClaims(int maxParts) {
        this.maxParts = maxParts;
        next = new AtomicIntegerArray(3 * maxParts * PAD);
    }

    /** Called by each owner at the start of step s, before its first claim: clears its counter for step s+1. */
    void clearNext(int part, int step) {
        next.set(counter(step + 1, part), 0);
    }

    /**
     * The next unit of step s for this part: one of its own while it has any, else one left in another part's list
     * (the next owner after it, round robin). lists[o] has owner o's heads; each has kinds units per head.
     *
     * @return owner << 32 | index within the owner's list, or -1 when the step is done
     */
    long next(int step, int part, int parts, int[][] lists, int kinds) {
        for (int i = 0, first = othersFirst ? 1 : 0; i < parts; i++) {
            int o = (part + first + i) % parts, n = kinds * lists[o].length, c = counter(step, o);
            if (next.get(c) >= n) continue; // a plain read first: no locked add on a finished list
            int at = next.getAndIncrement(c);
            if (at < n) return (long) o << 32 | at;
        }
        return -1;
    }

    static int owner(long unit) {
        return (int) (unit >>> 32);
    }

    static int index(long unit) {
        return (int) unit;
    }

    private int counter(int step, int part) {
        return ((step % 3) * maxParts + part) * PAD;
    }
}
