package org.cottention.bench;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class CpuStealTest {
    @Test
    void readsTheStealColumnOfTheAggregateLine() {
        assertArrayEquals(new long[]{4602597, 908768, 228216, 6231885, 13715, 0, 4657, 118334},
                CpuSteal.parse("cpu  4602597 908768 228216 6231885 13715 0 4657 118334 0 0"));
        assertNull(CpuSteal.parse("cpu  1 2 3 4 5 6 7"), "a kernel without the steal column");
    }

    @Test
    void aWindowGivesAShareBetweenZeroAndAHundred() {
        CpuSteal s = CpuSteal.start();
        long x = 0;
        for (int i = 0; i < 20_000_000; i++) x += i ^ (x >>> 3); // some CPU time in the window
        assertNotEquals(42, x);
        if (CpuSteal.read() == null) {
            assertTrue(s.percent().isEmpty(), "no /proc/stat: no figure");
            return;
        }
        var p = s.percent();
        if (p.isPresent()) assertTrue(p.getAsDouble() >= 0 && p.getAsDouble() <= 100, "steal " + p.getAsDouble());
    }
}
