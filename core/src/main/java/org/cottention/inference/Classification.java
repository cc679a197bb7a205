package org.cottention.inference;

import org.cottention.data.SequenceBatches;
import org.cottention.model.Bert;
import org.cottention.tokenizer.Encoding;
import org.cottention.train.Batch;

import java.util.List;

/** Class probabilities from a classifier's logits: shared by {@code predict}, {@code finetune}'s evaluation and Spark. */
public final class Classification {
    private Classification() {}

    /** Softmax of x[off, off + k) in double precision (max subtracted first). */
    public static double[] softmax(float[] x, int off, int k) {
        double max = Double.NEGATIVE_INFINITY, s = 0;
        for (int j = 0; j < k; j++) max = Math.max(max, x[off + j]);
        double[] p = new double[k];
        for (int j = 0; j < k; j++) s += p[j] = Math.exp(x[off + j] - max);
        for (int j = 0; j < k; j++) p[j] /= s;
        return p;
    }

    /** Index of the largest value (the first of equals). */
    public static int argmax(double[] p) {
        int best = 0;
        for (int j = 1; j < p.length; j++) if (p[j] > p[best]) best = j;
        return best;
    }

    /**
     * The classifier's outputs [n, numLabels] (logits; for a regressor [n, 1] values) for encoded texts, in order,
     * {@code batch} texts per forward pass padded to the longest of the batch.
     */
    public static float[] logits(Bert bert, List<Encoding> enc, int batch, int padId) {
        int k = bert.cfg.numLabels(), i = 0;
        float[] out = new float[Math.multiplyExact(enc.size(), k)];
        for (Batch b : new SequenceBatches(enc, null, null, batch, padId, 0, false).inOrder()) {
            float[] y = bert.classify(b.size(), b.seqLen(), b.inputIds(), b.attentionMask(), b.tokenTypeIds());
            System.arraycopy(y, 0, out, i * k, b.size() * k);
            i += b.size();
        }
        return out;
    }
}
