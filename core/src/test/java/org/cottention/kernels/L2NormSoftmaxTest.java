package org.cottention.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Row-wise L2 normalisation and softmax, forward and backward, against scalar double references. */
class L2NormSoftmaxTest {

    @Test
    void l2NormForwardBackwardOnAwkwardSizes() {
        Random r = new Random(1);
        for (int n : new int[]{1, 3, 15, 16, 17, 33, 64, 100}) {
            int off = 5;
            float[] x = new float[off + n], y = new float[off + n], dy = new float[n], dx = new float[off + n];
            for (int i = 0; i < n; i++) { x[off + i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
            float norm = L2Norm.forward(x, off, y, off, n, 1f);
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double) x[off + i] * x[off + i];
            double rr = Math.sqrt(ss);
            assertEquals(rr, norm, 1e-5 * rr);
            for (int i = 0; i < n; i++) assertEquals(x[off + i] / rr, y[off + i], 1e-6);
            dx[off] = 1f; // accumulates on top
            L2Norm.backward(dy, 0, y, off, norm, dx, off, n, 1f);
            double dot = 0;
            for (int i = 0; i < n; i++) dot += dy[i] * x[off + i] / rr;
            for (int i = 0; i < n; i++) {
                double want = (dy[i] - dot * x[off + i] / rr) / rr + (i == 0 ? 1 : 0);
                assertEquals(want, dx[off + i], 1e-5 * (1 + Math.abs(want)), "n=" + n + " i=" + i);
            }
        }
    }

    @Test
    void l2NormOfZeroRowUsesEpsilon() {
        float[] x = new float[4], y = new float[4], dx = new float[4];
        assertEquals(0f, L2Norm.forward(x, 0, y, 0, 4, 1f));
        assertArrayEquals(new float[4], y);
        L2Norm.backward(new float[]{1e-12f, 0, 0, 0}, 0, y, 0, 0f, dx, 0, 4, 1f);
        assertEquals(1f, dx[0], 1e-6f);
    }

    @Test
    void l2NormRowsStrided() {
        Random r = new Random(2);
        int rows = 3, n = 7, ld = 10;
        float[] x = new float[rows * ld], y = new float[rows * ld], norms = new float[rows];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        L2Norm.forwardRows(rows, n, x, 0, ld, y, 0, ld, norms, 0);
        for (int i = 0; i < rows; i++) {
            double ss = 0;
            for (int j = 0; j < n; j++) ss += y[i * ld + j] * y[i * ld + j];
            assertEquals(1.0, ss, 1e-5);
            assertEquals(0f, y[i * ld + n]);
        }
    }

    @Test
    void softmaxForwardBackward() {
        Random r = new Random(3);
        for (int n : new int[]{1, 2, 17, 70}) {
            float[] x = new float[n], dy = new float[n], dx = new float[n];
            double[] xd = new double[n];
            for (int i = 0; i < n; i++) { x[i] = (float) (3 * r.nextGaussian()); xd[i] = x[i]; dy[i] = (float) r.nextGaussian(); }
            double mx = Double.NEGATIVE_INFINITY, sum = 0;
            for (double v : xd) mx = Math.max(mx, v);
            for (double v : xd) sum += Math.exp(v - mx);
            float lse = Softmax.forward(x, 0, n);
            assertEquals(mx + Math.log(sum), lse, 1e-5 * (1 + Math.abs(lse)));
            double dot = 0;
            for (int i = 0; i < n; i++) dot += dy[i] * Math.exp(xd[i] - mx) / sum;
            for (int i = 0; i < n; i++) assertEquals(Math.exp(xd[i] - mx) / sum, x[i], 1e-6);
            Softmax.backward(x, 0, dy, 0, dx, 0, n, false);
            for (int i = 0; i < n; i++) {
                double p = Math.exp(xd[i] - mx) / sum;
                assertEquals(p * (dy[i] - dot), dx[i], 1e-5);
            }
        }
    }

    @Test
    void softmaxMaskedValues() {
        float min = -Float.MAX_VALUE, inf = Float.NEGATIVE_INFINITY;
        float[] x = {min, inf, min, min};
        Softmax.forward(x, 0, 4);
        assertArrayEquals(new float[]{1f / 3, 0, 1f / 3, 1f / 3}, x, 1e-7f);
        float[] y = {2f, min, inf};
        Softmax.forward(y, 0, 3);
        assertArrayEquals(new float[]{1, 0, 0}, y, 0f);
        assertThrows(IllegalArgumentException.class, () -> Softmax.forward(new float[]{inf, inf}, 0, 2));
    }
}
