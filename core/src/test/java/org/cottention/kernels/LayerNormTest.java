package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class LayerNormTest {
    private static final int[][] SHAPES = {{1, 1}, {1, 7}, {3, 17}, {5, 67}, {2, 16}, {4, 1024}};

    /** Double-precision reference: out [n, c]; stats[0] = mean [n], stats[1] = rstd [n]. */
    static double[] reference(double[] x, double[] w, double[] b, int n, int c, double eps, double[][] stats) {
        double[] out = new double[n * c];
        for (int i = 0; i < n; i++) {
            double m = 0, v = 0;
            for (int j = 0; j < c; j++) m += x[i * c + j];
            m /= c;
            for (int j = 0; j < c; j++) v += (x[i * c + j] - m) * (x[i * c + j] - m);
            v /= c;
            double s = 1 / Math.sqrt(v + eps);
            if (stats != null) {
                stats[0][i] = m;
                stats[1][i] = s;
            }
            for (int j = 0; j < c; j++) out[i * c + j] = (x[i * c + j] - m) * s * w[j] + b[j];
        }
        return out;
    }

    @Test
    void forwardMatchesDoubleReference() {
        Random rnd = new Random(11);
        for (int[] s : SHAPES) {
            int n = s[0], c = s[1];
            float[] x = randn(rnd, n * c + 3, 2), w = randn(rnd, c + 1, 1), b = randn(rnd, c + 2, 1);
            for (int i = 0; i < x.length; i++) x[i] += 5; // a mean far from 0 tests the two-pass variance
            float[] out = new float[n * c + 4], mean = new float[n + 1], rstd = new float[n + 2];
            LayerNorm.forward(out, 4, mean, 1, rstd, 2, x, 3, w, 1, b, 2, n, c, 1e-5f);
            double[][] st = {new double[n], new double[n]};
            double[] e = reference(toDouble(x, 3, n * c), toDouble(w, 1, c), toDouble(b, 2, c), n, c, 1e-5, st);
            assertClose("out " + n + "x" + c, e, out, 4, 2e-5, 2e-5);
            assertClose("mean", st[0], mean, 1, 1e-6, 1e-6);
            assertClose("rstd", st[1], rstd, 2, 1e-6, 2e-5);
        }
    }

    @Test
    void forwardInPlaceAndWithoutStats() {
        Random rnd = new Random(12);
        int n = 3, c = 67;
        float[] x = randn(rnd, n * c, 1), w = randn(rnd, c, 1), b = randn(rnd, c, 1);
        float[] out = new float[n * c];
        LayerNorm.forward(out, 0, null, 0, null, 0, x, 0, w, 0, b, 0, n, c, 1e-12f);
        LayerNorm.forward(x, 0, null, 0, null, 0, x, 0, w, 0, b, 0, n, c, 1e-12f);
        assertArrayEquals(out, x, 0f);
    }

    @Test
    void backwardMatchesFiniteDifferencesAndAccumulates() {
        Random rnd = new Random(13);
        for (int[] s : SHAPES) {
            int n = s[0], c = s[1];
            if ((long) n * c > 2000) continue; // finite differences cost O((nc)^2)
            double eps = 1e-5;
            float[] x = randn(rnd, n * c + 1, 1), w = randn(rnd, c, 1), b = randn(rnd, c, 1), g = randn(rnd, n * c, 1);
            float[] mean = new float[n], rstd = new float[n], out = new float[n * c];
            LayerNorm.forward(out, 0, mean, 0, rstd, 0, x, 1, w, 0, b, 0, n, c, (float) eps);
            float[] dx = randn(rnd, n * c + 2, 1), dw = randn(rnd, c, 1), db = randn(rnd, c, 1);
            float[] dx0 = dx.clone(), dw0 = dw.clone(), db0 = db.clone();
            LayerNorm.backward(dx, 2, dw, 0, db, 0, g, 0, x, 1, w, 0, mean, 0, rstd, 0, n, c);

            double[] xd = toDouble(x, 1, n * c), wd = toDouble(w, 0, c), bd = toDouble(b, 0, c), gd = toDouble(g, 0, n * c);
            double h = 1e-6;
            double[] ex = new double[n * c], ew = new double[c], eb = new double[c];
            for (int i = 0; i < n * c; i++) ex[i] = dx0[2 + i] + fd(xd, i, h, () -> loss(xd, wd, bd, gd, n, c, eps));
            for (int j = 0; j < c; j++) ew[j] = dw0[j] + fd(wd, j, h, () -> loss(xd, wd, bd, gd, n, c, eps));
            for (int j = 0; j < c; j++) eb[j] = db0[j] + fd(bd, j, h, () -> loss(xd, wd, bd, gd, n, c, eps));
            // c = 1: out = bias exactly, the x-gradient is 0 analytically but rstd = 1/sqrt(eps) amplifies rounding.
            assertClose("dx " + n + "x" + c, ex, dx, 2, c == 1 ? 1e-3 : 1e-4, 1e-3);
            assertClose("dweight", ew, dw, 0, 1e-4, 1e-4);
            assertClose("dbias", eb, db, 0, 1e-4, 1e-4);
        }
    }

    private static double loss(double[] x, double[] w, double[] b, double[] g, int n, int c, double eps) {
        double[] out = reference(x, w, b, n, c, eps, null);
        double l = 0;
        for (int i = 0; i < out.length; i++) l += out[i] * g[i];
        return l;
    }

    static double fd(double[] p, int i, double h, java.util.function.DoubleSupplier f) {
        double keep = p[i];
        p[i] = keep + h;
        double up = f.getAsDouble();
        p[i] = keep - h;
        double down = f.getAsDouble();
        p[i] = keep;
        return (up - down) / (2 * h);
    }

    @Test
    void largeInputsAreThreadCountIndependent() {
        Random rnd = new Random(14);
        int n = 257, c = 1000;
        float[] x = randn(rnd, n * c, 1), w = randn(rnd, c, 1), b = randn(rnd, c, 1), g = randn(rnd, n * c, 1);
        assertThreadIndependent(() -> {
            float[] out = new float[n * c], mean = new float[n], rstd = new float[n];
            LayerNorm.forward(out, 0, mean, 0, rstd, 0, x, 0, w, 0, b, 0, n, c, 1e-5f);
            float[] dx = new float[n * c], dw = new float[c], db = new float[c];
            LayerNorm.backward(dx, 0, dw, 0, db, 0, g, 0, x, 0, w, 0, mean, 0, rstd, 0, n, c);
            return new float[][] {out, mean, rstd, dx, dw, db};
        });
    }

    @Test
    void badArgumentsNameTheArgument() {
        float[] a = new float[12], w = new float[4];
        var e = assertThrows(IllegalArgumentException.class,
                () -> LayerNorm.forward(a, 0, null, 0, null, 0, a, 0, new float[3], 0, w, 0, 3, 4, 1e-5f));
        assertTrue(e.getMessage().startsWith("weight:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LayerNorm.forward(a, 0, new float[3], 0, null, 0, a, 0, w, 0, w, 0, 3, 4, 1e-5f));
        assertTrue(e.getMessage().contains("mean and rstd"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LayerNorm.forward(a, 0, null, 0, null, 0, a, 0, w, 0, w, 0, 3, 0, 1e-5f));
        assertTrue(e.getMessage().startsWith("c must"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LayerNorm.backward(a, 0, w, 0, w, 0, a, 0, a, 0, w, 0, new float[2], 0, new float[3], 0, 3, 4));
        assertTrue(e.getMessage().startsWith("mean:"), e.getMessage());
    }
}
