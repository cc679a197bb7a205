package org.cottention.model;

import org.cottention.train.EvalMetrics;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How closely a student's embeddings follow its teacher's on the same N texts:
 * {@code meanCosine} (mean cosine between each text's two vectors), {@code spearman} (rank correlation of all
 * N(N-1)/2 pairwise cosine similarities, teacher against student: does the student order pairs the same way) and
 * {@code top10Overlap} (mean fraction of each text's 10 nearest neighbours by the teacher that are also among its 10
 * nearest by the student: retrieval of the same neighbours).
 */
public record Fidelity(int texts, double meanCosine, double spearman, double top10Overlap) {
    public static Fidelity of(float[][] teacher, float[][] student) {
        int n = teacher.length;
        if (n != student.length || n < 2) throw new IllegalArgumentException("fidelity needs the same >= 2 texts for both models");
        double cos = 0;
        for (int i = 0; i < n; i++) cos += Embedder.cosine(teacher[i], student[i]);
        double[][] st = similarities(teacher), ss = similarities(student);
        int pairs = n * (n - 1) / 2, p = 0;
        double[] a = new double[pairs], b = new double[pairs];
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) {
            a[p] = st[i][j];
            b[p++] = ss[i][j];
        }
        int k = Math.min(10, n - 1);
        double overlap = 0;
        for (int i = 0; i < n; i++) {
            int[] nt = nearest(st[i], i, k), ns = nearest(ss[i], i, k);
            int common = 0;
            for (int x : nt) for (int y : ns) if (x == y) common++;
            overlap += (double) common / k;
        }
        return new Fidelity(n, cos / n, EvalMetrics.pearson(EvalMetrics.ranks(a), EvalMetrics.ranks(b)), overlap / n);
    }

    /** Back from {@link #toMap()} (e.g. the trainer's last evaluation, or a saved report). */
    public static Fidelity of(Map<?, ?> m) {
        return new Fidelity(((Number) m.get("texts")).intValue(), ((Number) m.get("meanCosine")).doubleValue(),
                ((Number) m.get("spearman")).doubleValue(), ((Number) m.get("top10Overlap")).doubleValue());
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("texts", texts);
        m.put("meanCosine", meanCosine);
        m.put("spearman", spearman);
        m.put("top10Overlap", top10Overlap);
        return m;
    }

    @Override
    public String toString() {
        return String.format("meanCosine %.4f  spearman %.4f  top10Overlap %.3f  (%d texts)", meanCosine, spearman, top10Overlap, texts);
    }

    private static double[][] similarities(float[][] v) {
        int n = v.length;
        double[][] s = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = i; j < n; j++) s[i][j] = s[j][i] = Embedder.cosine(v[i], v[j]);
        return s;
    }

    private static int[] nearest(double[] sims, int self, int k) {
        Integer[] idx = new Integer[sims.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (x, y) -> Double.compare(sims[y], sims[x]));
        int[] out = new int[k];
        for (int i = 0, c = 0; c < k; i++) if (idx[i] != self) out[c++] = idx[i];
        return out;
    }
}
