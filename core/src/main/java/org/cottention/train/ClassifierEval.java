package org.cottention.train;

import org.cottention.data.LabeledTexts;
import org.cottention.inference.Classification;
import org.cottention.model.Bert;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** Labels of a classification task and the dev metrics of a BERT classifier (shared by finetune and pilot). */
public final class ClassifierEval {
    private ClassifierEval() {}

    /** Dev metrics from the inference forward: valLoss and accuracy/F1/MCC, or Pearson/Spearman/MSE. */
    public static Map<String, Object> evaluate(Bert model, List<Batch> dev, int k, int positive) {
        List<Integer> gold = new ArrayList<>(), pred = new ArrayList<>();
        List<Float> gv = new ArrayList<>(), pv = new ArrayList<>();
        double loss = 0;
        long count = 0;
        for (Batch b : dev) {
            float[] out = model.classify(b.size(), b.seqLen(), b.inputIds(), b.attentionMask(), b.tokenTypeIds());
            for (int i = 0; i < b.size(); i++) {
                if (model.cfg.regression()) {
                    gv.add(b.values()[i]);
                    pv.add(out[i]);
                    loss += (out[i] - b.values()[i]) * (double) (out[i] - b.values()[i]);
                } else {
                    double[] p = Classification.softmax(out, i * k, k);
                    int best = 0;
                    for (int j = 1; j < k; j++) if (p[j] > p[best]) best = j;
                    gold.add(b.targets()[i]);
                    pred.add(best);
                    loss -= Math.log(Math.max(p[b.targets()[i]], 1e-300));
                }
                count++;
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("valLoss", loss / count);
        if (model.cfg.regression()) {
            float[] g = new float[gv.size()], p = new float[pv.size()];
            for (int i = 0; i < g.length; i++) {
                g[i] = gv.get(i);
                p[i] = pv.get(i);
            }
            m.putAll(EvalMetrics.regression(g, p));
        } else {
            m.putAll(EvalMetrics.classification(gold.stream().mapToInt(Integer::intValue).toArray(),
                    pred.stream().mapToInt(Integer::intValue).toArray(), k, positive));
        }
        return m;
    }

    /** The class F1 is reported for: label "1" when there is one, else the second label. */
    public static int positiveClass(List<String> labels) {
        return labels.indexOf("1") >= 0 ? labels.indexOf("1") : Math.min(1, labels.size() - 1);
    }

    /** Distinct training labels, numerically sorted when all are integers, else lexicographically. */
    public static List<String> labelSet(List<LabeledTexts.Example> ex) {
        TreeSet<String> s = new TreeSet<>();
        for (LabeledTexts.Example e : ex) s.add(e.label());
        List<String> l = new ArrayList<>(s);
        if (l.stream().allMatch(x -> x.matches("-?\\d{1,9}"))) l.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
        if (l.size() < 2) throw new IllegalArgumentException("train.tsv has only one label " + l + "; classification needs at least two (or use --regression)");
        return l;
    }

    /** Class ids of the examples' labels; an unseen label names its line. */
    public static int[] classIds(List<LabeledTexts.Example> ex, List<String> labels, Path file) {
        int[] y = new int[ex.size()];
        for (int i = 0; i < y.length; i++) {
            y[i] = labels.indexOf(ex.get(i).label());
            if (y[i] < 0)
                throw new IllegalArgumentException(file + " line " + ex.get(i).line() + ": label '" + ex.get(i).label()
                        + "' does not occur in the training data (labels: " + labels + ")");
        }
        return y;
    }
}
