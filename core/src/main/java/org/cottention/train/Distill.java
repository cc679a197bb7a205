package org.cottention.train;

/**
 * Distillation losses (student against a frozen teacher) with their gradients, over row-major [n, width] activations
 * where {@code mask[r] = 0} rows (padding) count for nothing; a null mask means all rows are real. Each returns the
 * loss summed over real rows (the caller divides) and, when {@code grad != null}, adds {@code scale * d(sum)/d(student)}.
 */
public final class Distill {
    private Distill() {}

    public static int realRows(int[] mask, int n) {
        if (mask == null) return n;
        int c = 0;
        for (int r = 0; r < n; r++) if (mask[r] != 0) c++;
        return c;
    }

    /** sum over real rows of ||s_r - t_r||^2 / width (mean squared error per element, summed over rows). */
    public static double mse(float[] s, int sOff, int lds, float[] t, int tOff, int ldt, int[] mask, int n, int width,
                             float[] grad, int gOff, int ldg, double scale) {
        double sum = 0;
        for (int r = 0; r < n; r++) {
            if (mask != null && mask[r] == 0) continue;
            double row = 0;
            for (int j = 0; j < width; j++) {
                double d = s[sOff + r * lds + j] - t[tOff + r * ldt + j];
                row += d * d;
                if (grad != null) grad[gOff + r * ldg + j] += (float) (scale * 2 * d / width);
            }
            sum += row / width;
        }
        return sum;
    }

    /**
     * sum over the rows of (1 - cos(s_b, t_b)) for B pooled vectors [B, width]; the gradient goes into grad [B, width].
     */
    public static double cosine(float[] s, float[] t, int b, int width, float[] grad, double scale) {
        double sum = 0;
        for (int i = 0; i < b; i++) {
            double dot = 0, ns = 0, nt = 0;
            for (int j = 0; j < width; j++) {
                double x = s[i * width + j], y = t[i * width + j];
                dot += x * y;
                ns += x * x;
                nt += y * y;
            }
            double a = Math.max(Math.sqrt(ns), 1e-12), c = Math.max(Math.sqrt(nt), 1e-12), cos = dot / (a * c);
            sum += 1 - cos;
            if (grad != null)   // d(1 - cos)/ds = -(t / (|s||t|) - cos s / |s|^2)
                for (int j = 0; j < width; j++)
                    grad[i * width + j] += (float) (-scale * (t[i * width + j] / (a * c) - cos * s[i * width + j] / (a * a)));
        }
        return sum;
    }

    /**
     * KL(teacher || student) of the softmax distributions of each real row's logits, at temperature 1, summed over rows;
     * the gradient with respect to the student's logits is {@code scale * (p_student - p_teacher)}, written over
     * {@code grad}'s row (grad may be the student logits buffer itself).
     */
    public static double kl(float[] s, int sOff, float[] t, int tOff, int[] mask, int n, int v, float[] grad, int gOff, double scale) {
        double sum = 0;
        for (int r = 0; r < n; r++) {
            int so = sOff + r * v, to = tOff + r * v, go = gOff + r * v;
            if (mask != null && mask[r] == 0) {
                if (grad != null) java.util.Arrays.fill(grad, go, go + v, 0f);
                continue;
            }
            double ms = Double.NEGATIVE_INFINITY, mt = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                ms = Math.max(ms, s[so + j]);
                mt = Math.max(mt, t[to + j]);
            }
            double zs = 0, zt = 0;
            for (int j = 0; j < v; j++) {
                zs += Math.exp(s[so + j] - ms);
                zt += Math.exp(t[to + j] - mt);
            }
            double lzs = Math.log(zs) + ms, lzt = Math.log(zt) + mt, row = 0;
            for (int j = 0; j < v; j++) {
                double lpt = t[to + j] - lzt, lps = s[so + j] - lzs, pt = Math.exp(lpt);
                row += pt * (lpt - lps);
                if (grad != null) grad[go + j] = (float) (scale * (Math.exp(lps) - pt));
            }
            sum += row;
        }
        return sum;
    }
}
