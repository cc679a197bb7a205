package org.cottention.data;

import org.cottention.tokenizer.Encoding;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Encoded sequences (or pairs) with per-sequence labels or values, cut into batches padded to their longest member.
 * Training order is a fresh permutation per epoch drawn from (seed, epoch), so batch(i) depends only on i.
 */
public final class SequenceBatches implements BatchSource {
    private final List<Encoding> enc;
    private final int[] labels;
    private final float[] values;
    private final int batch, padId;
    private final long seed;
    private final boolean shuffle;
    private long permEpoch = -1;
    private int[] perm;

    /** labels or values (or neither, for prediction) per sequence. */
    public SequenceBatches(List<Encoding> enc, int[] labels, float[] values, int batch, int padId, long seed, boolean shuffle) {
        if (enc.isEmpty()) throw new IllegalArgumentException("no sequences");
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        this.enc = enc;
        this.labels = labels;
        this.values = values;
        this.batch = batch;
        this.padId = padId;
        this.seed = seed;
        this.shuffle = shuffle;
    }

    @Override
    public long batchesPerEpoch() {
        return (enc.size() + batch - 1) / batch;
    }

    public int size() {
        return enc.size();
    }

    @Override
    public synchronized Batch batch(long index) {
        long bpe = batchesPerEpoch(), epoch = index / bpe;
        int i = (int) (index % bpe);
        int[] order = order(epoch);
        int lo = i * batch, hi = Math.min(enc.size(), lo + batch);
        return make(Arrays.copyOfRange(order, lo, hi));
    }

    /** All sequences in file order, in batches (for evaluation and prediction). */
    public List<Batch> inOrder() {
        List<Batch> out = new ArrayList<>();
        for (int lo = 0; lo < enc.size(); lo += batch) {
            int hi = Math.min(enc.size(), lo + batch);
            int[] idx = new int[hi - lo];
            for (int j = 0; j < idx.length; j++) idx[j] = lo + j;
            out.add(make(idx));
        }
        return out;
    }

    private int[] order(long epoch) {
        if (epoch == permEpoch) return perm;
        int n = enc.size();
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        if (shuffle) {
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1), t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
        }
        permEpoch = epoch;
        perm = p;
        return p;
    }

    private Batch make(int[] idx) {
        int b = idx.length, t = 1;
        for (int i : idx) t = Math.max(t, enc.get(i).length());
        int[] ids = new int[b * t], types = new int[b * t], mask = new int[b * t];
        Arrays.fill(ids, padId);
        int[] lab = labels == null ? null : new int[b];
        float[] val = values == null ? null : new float[b];
        for (int r = 0; r < b; r++) {
            Encoding e = enc.get(idx[r]);
            System.arraycopy(e.inputIds(), 0, ids, r * t, e.length());
            System.arraycopy(e.tokenTypeIds(), 0, types, r * t, e.length());
            System.arraycopy(e.attentionMask(), 0, mask, r * t, e.length());
            if (lab != null) lab[r] = labels[idx[r]];
            if (val != null) val[r] = values[idx[r]];
        }
        return new Batch(b, t, ids, mask, types, lab, val);
    }
}
