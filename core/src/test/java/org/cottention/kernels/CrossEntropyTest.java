package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class CrossEntropyTest {
    /** Double reference: per-row loss (NaN when ignored) and the gradient of scale * mean loss. */
    static double[] reference(float[] logits, int off, int[] tg, int n, int v, double scale, double[] grad) {
        double[] loss = new double[n];
        int count = 0;
        for (int t : tg) if (t >= 0) count++;
        for (int i = 0; i < n; i++) {
            if (tg[i] < 0) {
                loss[i] = Double.NaN;
                continue;
            }
            double m = Double.NEGATIVE_INFINITY, s = 0;
            for (int j = 0; j < v; j++) m = Math.max(m, logits[off + i * v + j]);
            for (int j = 0; j < v; j++) s += Math.exp(logits[off + i * v + j] - m);
            loss[i] = m + Math.log(s) - logits[off + i * v + tg[i]];
            if (grad != null)
                for (int j = 0; j < v; j++)
                    grad[i * v + j] = (Math.exp(logits[off + i * v + j] - m) / s - (j == tg[i] ? 1 : 0)) * scale / count;
        }
        return loss;
    }

    private static int[] targets(Random rnd, int n, int v) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(5) == 0 ? (rnd.nextBoolean() ? -100 : -1) : rnd.nextInt(v);
        if (n > 0 && t[0] < 0) t[0] = v - 1;
        return t;
    }

    @Test
    void lossGradientAndLogProbsMatchReference() {
        Random rnd = new Random(51);
        for (int[] s : new int[][] {{1, 1}, {1, 7}, {3, 17}, {6, 67}, {5, 1000}, {4, 50400}}) {
            int n = s[0], v = s[1];
            float[] logits = randn(rnd, n * v + 3, 3);
            int[] tg = targets(rnd, n, v);
            int[] tgOff = new int[n + 1];
            System.arraycopy(tg, 0, tgOff, 1, n);
            double[] grad = new double[n * v];
            double[] rowLoss = reference(logits, 3, tg, n, v, 0.5, grad);
            double mean = 0;
            int count = 0;
            for (double l : rowLoss) if (!Double.isNaN(l)) { mean += l; count++; }
            mean /= count;

            float[] d = new float[n * v + 2];
            double loss = CrossEntropy.forwardBackward(logits, 3, tgOff, 1, n, v, d, 2, 0.5f);
            assertEquals(mean, loss, 1e-6 * Math.max(1, mean), n + "x" + v);
            assertClose("dlogits " + n + "x" + v, grad, d, 2, 1e-8, 1e-5);
            assertEquals(mean, CrossEntropy.loss(logits, 3, tgOff, 1, n, v), 1e-6 * Math.max(1, mean));
            assertEquals(count, CrossEntropy.countTargets(tgOff, 1, n, v));

            float[] inPlace = logits.clone();
            double loss2 = CrossEntropy.forwardBackward(inPlace, 3, tgOff, 1, n, v, inPlace, 3, 0.5f);
            assertEquals(loss, loss2);
            for (int i = 0; i < n * v; i++) assertEquals(d[2 + i], inPlace[3 + i]);

            double sum = CrossEntropy.sumLossAndGradient(logits, 3, tgOff, 1, n, v, d, 2, 0.5 / count);
            assertEquals(mean * count, sum, 1e-6 * Math.max(1, mean * count));
            assertClose("dlogits (sum form)", grad, d, 2, 1e-8, 1e-5);

            double[] lp = new double[n + 1];
            CrossEntropy.targetLogProbs(logits, 3, tgOff, 1, n, v, lp, 1);
            for (int i = 0; i < n; i++) {
                if (tg[i] < 0) assertTrue(Double.isNaN(lp[1 + i]));
                else assertEquals(-rowLoss[i], lp[1 + i], 1e-6 * Math.max(1, rowLoss[i]));
            }
        }
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        Random rnd = new Random(52);
        int n = 3, v = 11;
        float[] logits = randn(rnd, n * v, 2);
        int[] tg = {4, -100, 10};
        float[] d = new float[n * v];
        CrossEntropy.forwardBackward(logits, 0, tg, 0, n, v, d, 0, 1f);
        double h = 1e-3;
        for (int i = 0; i < n * v; i++) {
            float keep = logits[i];
            // Finite differences on the double reference loss with the logit perturbed.
            double[] up = perturbed(logits, i, keep + h, tg, n, v), down = perturbed(logits, i, keep - h, tg, n, v);
            double fd = (mean(up) - mean(down)) / (2 * h);
            assertEquals(fd, d[i], 1e-6, "logit " + i);
        }
    }

    private static double[] perturbed(float[] logits, int i, double value, int[] tg, int n, int v) {
        // Evaluate the reference in double with one logit replaced by a double value.
        double[] x = toDouble(logits, 0, n * v);
        x[i] = value;
        double[] loss = new double[n];
        for (int r = 0; r < n; r++) {
            if (tg[r] < 0) { loss[r] = Double.NaN; continue; }
            double m = Double.NEGATIVE_INFINITY, s = 0;
            for (int j = 0; j < v; j++) m = Math.max(m, x[r * v + j]);
            for (int j = 0; j < v; j++) s += Math.exp(x[r * v + j] - m);
            loss[r] = m + Math.log(s) - x[r * v + tg[r]];
        }
        return loss;
    }

    private static double mean(double[] l) {
        double s = 0;
        int c = 0;
        for (double x : l) if (!Double.isNaN(x)) { s += x; c++; }
        return s / c;
    }

    @Test
    void hugeLogitsStayFiniteAndAllIgnoredGivesZero() {
        int v = 5;
        float[] logits = {1e30f, 1e30f, -1e30f, 0f, 88f};
        float[] d = new float[v];
        double loss = CrossEntropy.forwardBackward(logits, 0, new int[] {1}, 0, 1, v, d, 0, 1f);
        assertEquals(Math.log(2), loss, 1e-7);
        assertEquals(0.5f, d[0], 1e-7f);
        assertEquals(-0.5f, d[1], 1e-7f);
        float[] z = {1f, 2f, 3f, 4f, 5f, 6f};
        java.util.Arrays.fill(d, 9f);
        float[] d2 = new float[6];
        java.util.Arrays.fill(d2, 9f);
        assertEquals(0.0, CrossEntropy.forwardBackward(z, 0, new int[] {-100, -5}, 0, 2, 3, d2, 0, 1f));
        for (float g : d2) assertEquals(0f, g);
    }

    @Test
    void largeInputsAreThreadCountIndependent() {
        Random rnd = new Random(53);
        int n = 37, v = 5003;
        float[] logits = randn(rnd, n * v, 4);
        int[] tg = targets(rnd, n, v);
        assertThreadIndependent(() -> {
            float[] d = new float[n * v];
            double loss = CrossEntropy.forwardBackward(logits, 0, tg, 0, n, v, d, 0, 1f);
            double[] lp = new double[n];
            CrossEntropy.targetLogProbs(logits, 0, tg, 0, n, v, lp, 0);
            float[] lpf = new float[2 * n];
            for (int i = 0; i < n; i++) lpf[i] = (float) lp[i];
            return new float[][] {d, {(float) loss, (float) (loss - (float) loss)}, lpf};
        });
    }

    @Test
    void badArgumentsNameTheArgument() {
        float[] logits = new float[6];
        var e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 0, new int[] {0, 3}, 0, 2, 3, null, 0, 1f));
        assertTrue(e.getMessage().contains("targets[1] = 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 1, new int[] {0, 1}, 0, 2, 3, null, 0, 1f));
        assertTrue(e.getMessage().startsWith("logits:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.forwardBackward(logits, 0, new int[] {0, 1}, 0, 2, 3, new float[5], 0, 1f));
        assertTrue(e.getMessage().startsWith("dlogits:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CrossEntropy.targetLogProbs(logits, 0, new int[] {0, 1}, 0, 2, 3, new double[1], 0));
        assertTrue(e.getMessage().startsWith("out:"), e.getMessage());
    }
}
