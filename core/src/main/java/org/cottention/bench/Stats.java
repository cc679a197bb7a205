package org.cottention.bench;

import java.util.Arrays;

/** The statistics the bench commands report. */
final class Stats {
    private Stats() {}

    /** The median (the mean of the middle two for an even count). */
    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
