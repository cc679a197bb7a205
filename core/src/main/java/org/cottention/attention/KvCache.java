package org.cottention.attention;

import org.cottention.kernels.Ops;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Parallel;

import java.util.Arrays;

/**
 * Key/value cache of one softmax attention layer for decoding: keys and values of every token seen, per batch row,
 * and causal softmax attention of new tokens over them (scale 1/sqrt(D)). Its memory grows with the tokens seen —
 * the cost that cosine attention's fixed-size {@link CosineState} avoids.
 */
public final class KvCache {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[1024]);

    private final int batch, heads, headDim, width;
    private final float[][] k, v;   // [B][capacity * E]: token p of row b at p*E, head h at +h*D
    private final int[] length;     // [B] tokens cached per row

    public KvCache(int batch, int heads, int headDim, int initialCapacity) {
        if (batch < 1 || heads < 1 || headDim < 1 || initialCapacity < 1)
            throw new IllegalArgumentException("KvCache: batch, heads, headDim and capacity must be >= 1");
        this.batch = batch;
        this.heads = heads;
        this.headDim = headDim;
        this.width = heads * headDim;
        k = new float[batch][initialCapacity * width];
        v = new float[batch][initialCapacity * width];
        length = new int[batch];
    }

    private KvCache(int heads, int headDim, float[][] k, float[][] v, int[] length) {
        this.batch = length.length;
        this.heads = heads;
        this.headDim = headDim;
        this.width = heads * headDim;
        this.k = k;
        this.v = v;
        this.length = length;
    }

    /**
     * A cache whose row i is row {@code rows[i]} of {@code caches[i]} (all of one head shape), sharing its arrays:
     * for regrouping the sequences of a batch without copying their keys and values. The sources are consumed (do
     * not use them afterwards; {@link #copy} first to keep one).
     */
    public static KvCache gather(java.util.List<KvCache> caches, int[] rows) {
        if (caches.isEmpty() || caches.size() != rows.length) throw new IllegalArgumentException("gather: one row index per cache, at least one");
        KvCache first = caches.get(0);
        float[][] k = new float[rows.length][], v = new float[rows.length][];
        int[] len = new int[rows.length];
        for (int i = 0; i < rows.length; i++) {
            KvCache c = caches.get(i);
            if (c.heads != first.heads || c.headDim != first.headDim) throw new IllegalArgumentException("gather: caches of different head shapes");
            k[i] = c.k[rows[i]];
            v[i] = c.v[rows[i]];
            len[i] = c.length[rows[i]];
        }
        return new KvCache(first.heads, first.headDim, k, v, len);
    }

    /** A deep copy (the used part of each row, plus some room to grow). */
    public KvCache copy() {
        float[][] k2 = new float[batch][], v2 = new float[batch][];
        for (int b = 0; b < batch; b++) {
            int n = Math.max(1, length[b] + 16) * width;
            k2[b] = Arrays.copyOf(k[b], n);
            v2[b] = Arrays.copyOf(v[b], n);
        }
        return new KvCache(heads, headDim, k2, v2, length.clone());
    }

    public int batch() {
        return batch;
    }

    public int length(int b) {
        return length[b];
    }

    /** Bytes held by the cache arrays (capacity, not just the used part). */
    public long bytes() {
        long s = 0;
        for (int b = 0; b < batch; b++) s += 4L * (k[b].length + v[b].length);
        return s;
    }

    /**
     * For each row b and each new token t with mask 1, in order: appends k, v of the token to the cache, then
     * out = softmax(q K^T / sqrt(D)) V over every cached token of the row (itself included). Tokens with mask 0 are
     * not cached and get out = 0.
     *
     * @param shape [B, T, H, D] of the new tokens; q, k, v, out are views of that shape
     * @param mask  [B*T] or null (all tokens)
     */
    public void appendAndAttend(AttnShape shape, Heads q, Heads kNew, Heads vNew, int[] mask, Heads out) {
        if (shape.batch() != batch || shape.heads() != heads || shape.headDim() != headDim)
            throw new IllegalArgumentException("KvCache: call shape " + shape + " does not match the cache [B=" + batch + ", H=" + heads + ", D=" + headDim + "]");
        shape.checkForward(q, kNew, vNew, out, mask);
        int T = shape.seq(), D = headDim;
        int[] added = new int[batch];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < T; t++) if (mask == null || mask[b * T + t] != 0) added[b]++;
            ensure(b, length[b] + added[b]);
        }
        float scale = (float) (1 / Math.sqrt(D));
        Parallel.forEach(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads;
            float[] kb = k[b], vb = v[b];
            int p = length[b];
            for (int t = 0; t < T; t++) {
                int o = out.at(T, D, b, t, h);
                if (mask != null && mask[b * T + t] == 0) {
                    Arrays.fill(out.data(), o, o + D, 0f);
                    continue;
                }
                System.arraycopy(kNew.data(), kNew.at(T, D, b, t, h), kb, p * width + h * D, D);
                System.arraycopy(vNew.data(), vNew.at(T, D, b, t, h), vb, p * width + h * D, D);
                p++;
                attend(q.data(), q.at(T, D, b, t, h), kb, vb, h * D, p, scale, out.data(), o);
            }
        });
        for (int b = 0; b < batch; b++) length[b] += added[b];
    }

    /**
     * Appends {@code tokens} random keys and values (N(0,1)) to every row without attending: for benchmarks that
     * need a cache of a given length, whose decoding cost depends only on that length.
     */
    public void appendSynthetic(int tokens, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int b = 0; b < batch; b++) {
            ensure(b, length[b] + tokens);
            for (int i = length[b] * width; i < (length[b] + tokens) * width; i++) {
                k[b][i] = (float) r.nextGaussian();
                v[b][i] = (float) r.nextGaussian();
            }
            length[b] += tokens;
        }
    }

    /** out[0..D) = softmax_j(q . k_j * scale) weighted sum of v_j over the first n cached tokens. */
    private void attend(float[] q, int qOff, float[] kb, float[] vb, int hOff, int n, float scale, float[] out, int oOff) {
        int D = headDim;
        float[] sc = SCORES.get();
        if (sc.length < n) SCORES.set(sc = new float[Math.max(n, sc.length * 2)]);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            float s = dot(q, qOff, kb, j * width + hOff, D) * scale;
            sc[j] = s;
            max = Math.max(max, s);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            float e = (float) Math.exp(sc[j] - max);
            sc[j] = e;
            sum += e;
        }
        Arrays.fill(out, oOff, oOff + D, 0f);
        float inv = (float) (1 / sum);
        for (int j = 0; j < n; j++) axpy(sc[j] * inv, vb, j * width + hOff, out, oOff, D);
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (int up = S.loopBound(n); i < up; i += S.length())
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        float s = Ops.sumLanes(acc);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    private static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (int up = S.loopBound(n); i < up; i += S.length())
            FloatVector.fromArray(S, x, xo + i).fma(va, FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        for (; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }

    private void ensure(int b, int tokens) {
        if ((long) tokens * width > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("KV cache for " + tokens + " tokens exceeds the array limit");
        if (k[b].length >= tokens * width) return;
        int cap = (int) Math.min((Integer.MAX_VALUE - 16L) / width, Math.max(tokens, 2L * k[b].length / width));
        k[b] = Arrays.copyOf(k[b], cap * width);
        v[b] = Arrays.copyOf(v[b], cap * width);
    }
}
