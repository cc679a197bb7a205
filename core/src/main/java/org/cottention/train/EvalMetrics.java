package org.cottention.train;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Dev-set metrics of sequence classification and regression (GLUE's). */
public final class EvalMetrics {
    private EvalMetrics() {}

    /**
     * accuracy, f1 and mcc of predicted vs gold class ids in [0, k). F1: binary (k = 2) for the positive class
     * {@code positive}; multiclass: macro average over classes. MCC: Matthews' correlation (Gorodkin's R_K for k > 2).
     */
    public static Map<String, Object> classification(int[] gold, int[] pred, int k, int positive) {
        if (gold.length != pred.length) throw new IllegalArgumentException("gold and predictions differ in length");
        long[][] cm = new long[k][k];   // [gold][pred]
        for (int i = 0; i < gold.length; i++) cm[gold[i]][pred[i]]++;
        long n = gold.length, correct = 0;
        for (int c = 0; c < k; c++) correct += cm[c][c];
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("accuracy", n == 0 ? 0.0 : (double) correct / n);
        m.put("f1", k == 2 ? f1(cm, positive) : macroF1(cm));
        m.put("mcc", mcc(cm));
        return m;
    }

    static double f1(long[][] cm, int c) {
        long tp = cm[c][c], fp = 0, fn = 0;
        for (int j = 0; j < cm.length; j++) {
            if (j == c) continue;
            fp += cm[j][c];
            fn += cm[c][j];
        }
        return tp == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
    }

    static double macroF1(long[][] cm) {
        double s = 0;
        for (int c = 0; c < cm.length; c++) s += f1(cm, c);
        return s / cm.length;
    }

    /** R_K = (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)); the binary MCC for K = 2. */
    static double mcc(long[][] cm) {
        int k = cm.length;
        double s = 0, c = 0, pt = 0, pp = 0, tt = 0;
        double[] t = new double[k], p = new double[k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                t[i] += cm[i][j];
                p[j] += cm[i][j];
                s += cm[i][j];
            }
        for (int i = 0; i < k; i++) {
            c += cm[i][i];
            pt += p[i] * t[i];
            pp += p[i] * p[i];
            tt += t[i] * t[i];
        }
        double den = Math.sqrt((s * s - pp) * (s * s - tt));
        return den == 0 ? 0.0 : (c * s - pt) / den;
    }

    /** pearson and spearman (average ranks for ties) of predictions against gold values, plus mse. */
    public static Map<String, Object> regression(float[] gold, float[] pred) {
        double[] g = new double[gold.length], p = new double[pred.length];
        double mse = 0;
        for (int i = 0; i < g.length; i++) {
            g[i] = gold[i];
            p[i] = pred[i];
            mse += (p[i] - g[i]) * (p[i] - g[i]);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pearson", pearson(g, p));
        m.put("spearman", pearson(ranks(g), ranks(p)));
        m.put("mse", g.length == 0 ? 0.0 : mse / g.length);
        return m;
    }

    public static double pearson(double[] x, double[] y) {
        int n = x.length;
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= n;
        my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? 0.0 : sxy / Math.sqrt(sxx * syy);
    }

    public static double[] ranks(double[] x) {
        Integer[] idx = new Integer[x.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Double.compare(x[a], x[b]));
        double[] r = new double[x.length];
        for (int i = 0; i < idx.length; ) {
            int j = i;
            while (j + 1 < idx.length && x[idx[j + 1]] == x[idx[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int q = i; q <= j; q++) r[idx[q]] = avg;
            i = j + 1;
        }
        return r;
    }
}
