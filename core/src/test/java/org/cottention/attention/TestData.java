package org.cottention.attention;

import java.util.Random;

/** Random inputs and comparison helpers for the attention tests. */
final class TestData {
    private TestData() {}

    static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    static double[] toDouble(float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i];
        return y;
    }

    static float[] toFloat(double[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = (float) x[i];
        return y;
    }

    /** Padding patterns per batch row: 0 none, 1 left, 2 right, 3 inner (+ some scattered). */
    static int[] mask(int B, int T, int... kinds) {
        int[] m = new int[B * T];
        for (int b = 0; b < B; b++) {
            int kind = kinds[b % kinds.length];
            for (int t = 0; t < T; t++) {
                boolean pad = switch (kind) {
                    case 1 -> t < T / 4;
                    case 2 -> t >= T - T / 3;
                    case 3 -> (t > T / 3 && t < T / 3 + 3) || t % 7 == 5;
                    default -> false;
                };
                m[b * T + t] = pad ? 0 : 1;
            }
        }
        return m;
    }

    static double maxAbsDiff(float[] a, double[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static double maxAbs(double[] a) {
        double d = 0;
        for (double x : a) d = Math.max(d, Math.abs(x));
        return d;
    }

    /** sum(out * g). */
    static double dot(double[] out, float[] g) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += out[i] * g[i];
        return s;
    }
}
