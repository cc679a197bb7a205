package org.cottention.data;

import org.cottention.train.Batch;
import org.cottention.train.BatchSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Causal-LM batches from a token file: packed windows of T+1 tokens taken every T tokens (input = first T,
 * target = last T), split into training windows and a held-out tail for validation, training windows shuffled per
 * epoch by a seeded permutation (batch i depends only on i and the seed, so resuming needs no iterator state).
 */
public final class LmWindows implements BatchSource {
    private final TokenFile tokens;
    private final int seqLen, batchSize;
    private final long seed;
    private final int trainWindows, valWindows;
    private long cachedEpoch = -1;
    private int[] perm;

    public LmWindows(TokenFile tokens, int seqLen, int batchSize, double valFraction, long seed) {
        if (seqLen < 1) throw new IllegalArgumentException("context length must be >= 1, got " + seqLen);
        if (batchSize < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batchSize);
        if (!(valFraction >= 0 && valFraction < 1)) throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + valFraction);
        this.tokens = tokens;
        this.seqLen = seqLen;
        this.batchSize = batchSize;
        this.seed = seed;
        long windows = (tokens.size() - 1) / seqLen;
        if (windows < 2)
            throw new IllegalArgumentException("the corpus has " + tokens.size() + " tokens: too few for two windows of " + (seqLen + 1) + " (lower --context)");
        long val = valFraction == 0 ? 0 : Math.max(1, Math.round(windows * valFraction));
        if (windows > Integer.MAX_VALUE) throw new IllegalArgumentException("corpus too large: " + windows + " windows");
        this.valWindows = (int) val;
        this.trainWindows = (int) (windows - val);
    }

    public int seqLen() {
        return seqLen;
    }

    public int trainWindows() {
        return trainWindows;
    }

    public int valWindows() {
        return valWindows;
    }

    @Override
    public long batchesPerEpoch() {
        return Math.max(1, trainWindows / batchSize);
    }

    @Override
    public synchronized Batch batch(long index) {
        int[] windows = new int[batchSize];
        for (int r = 0; r < batchSize; r++) {
            long sample = index * batchSize + r;
            long epoch = sample / trainWindows;
            if (epoch != cachedEpoch) {
                perm = permutation(trainWindows, new SplittableRandom(seed * 1_000_003L + epoch));
                cachedEpoch = epoch;
            }
            windows[r] = perm[(int) (sample % trainWindows)];
        }
        return windowsBatch(windows);
    }

    /** The validation windows in batches of at most maxBatches * batchSize windows (all of them when maxBatches <= 0). */
    public List<Batch> validation(int maxBatches) {
        List<Batch> out = new ArrayList<>();
        int n = maxBatches <= 0 ? valWindows : Math.min(valWindows, maxBatches * batchSize);
        for (int s = 0; s < n; s += batchSize) {
            int b = Math.min(batchSize, n - s);
            int[] w = new int[b];
            for (int r = 0; r < b; r++) w[r] = trainWindows + s + r;
            out.add(windowsBatch(w));
        }
        return out;
    }

    private Batch windowsBatch(int[] windows) {
        int b = windows.length, t = seqLen;
        int[] ids = new int[b * t], targets = new int[b * t], buf = new int[t + 1];
        for (int r = 0; r < b; r++) {
            tokens.read((long) windows[r] * t, buf, 0, t + 1);
            System.arraycopy(buf, 0, ids, r * t, t);
            System.arraycopy(buf, 1, targets, r * t, t);
        }
        return Batch.lm(b, t, ids, null, targets);
    }

    static int[] permutation(int n, SplittableRandom rnd) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }
}
