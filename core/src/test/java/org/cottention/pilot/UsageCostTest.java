package org.cottention.pilot;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class UsageCostTest {
    /** A probe whose every run allocates as much as the whole heap may hold: the next length's estimate cannot fit. */
    private static UsageCost.Probe probe(boolean grows, List<Integer> ran) {
        long heap = Runtime.getRuntime().maxMemory();
        return new UsageCost.Probe() {
            public UsageCost.Sample run(int length) {
                ran.add(length);
                return new UsageCost.Sample(1.0, heap, null, null);
            }

            public boolean heldMemoryGrows() {
                return grows;
            }
        };
    }

    private static final List<UsageCost.Length> LENGTHS = List.of(new UsageCost.Length(64, "median"), new UsageCost.Length(256, "4x"));

    @Test
    void aLengthWhoseExtrapolatedMemoryDoesNotFitIsNotRun() {
        List<Integer> ran = new ArrayList<>();
        List<UsageCost.Point> p = UsageCost.measure(LENGTHS, false, 60, probe(true, ran), s -> {});
        assertNull(p.get(0).skipped());
        assertNull(p.get(1).ms());
        assertTrue(p.get(1).skipped().startsWith("out of memory: would need about"), p.get(1).skipped());
        assertTrue(p.get(1).skipped().contains("extrapolated from 64 tokens"), p.get(1).skipped());
        assertFalse(ran.contains(256), "the refused length was run: " + ran);
    }

    @Test
    void aRunWhoseLiveMemoryStaysTheSameIsRunHoweverMuchItAllocates() {
        List<Integer> ran = new ArrayList<>();
        List<UsageCost.Point> p = UsageCost.measure(LENGTHS, false, 60, probe(false, ran), s -> {});
        assertNull(p.get(1).skipped(), p.get(1).toString());
        assertEquals(1.0, p.get(1).ms());
        assertTrue(ran.contains(256), ran.toString());
    }
}
