package org.cottention.attention;

import java.util.function.Function;

/** Central finite differences of a double-valued function of several double arrays. */
final class Fd {
    private Fd() {}

    /** d f / d x[which][i] for every i, step 1e-6 (the function is computed in float64). */
    static double[] gradient(Function<double[][], Double> f, double[][] x, int which) {
        double[] p = x[which], g = new double[p.length];
        double h = 1e-6;
        for (int i = 0; i < p.length; i++) {
            double keep = p[i];
            p[i] = keep + h;
            double up = f.apply(x);
            p[i] = keep - h;
            double dn = f.apply(x);
            p[i] = keep;
            g[i] = (up - dn) / (2 * h);
        }
        return g;
    }
}
