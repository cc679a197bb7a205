package org.cottention.model;

import org.cottention.tokenizer.Truncation;
import org.cottention.tokenizer.WordPieceTokenizer;


/**
 * Sentence embeddings from a BERT encoder, as its users compute them: WordPiece ids with [CLS] and [SEP], the
 * encoder's last hidden state, then the model's {@link Pooling} (mean over all tokens or [CLS], then unit length).
 * Texts are encoded one at a time, unpadded (so padding never changes a vector).
 */
public final class Embedder {
    private final Bert bert;
    private final WordPieceTokenizer tokenizer;
    private final Pooling pooling;

    public Embedder(Bert bert, WordPieceTokenizer tokenizer, Pooling pooling) {
        this.bert = bert;
        this.tokenizer = tokenizer;
        this.pooling = pooling;
    }

    public Bert model() {
        return bert;
    }

    public WordPieceTokenizer tokenizer() {
        return tokenizer;
    }

    public Pooling pooling() {
        return pooling;
    }

    /** The model's input ids for a text, [CLS] ... [SEP], truncated to maxLength tokens (0 = no limit). */
    public int[] ids(String text, int maxLength) {
        return tokenizer.encode(text, null, maxLength, Truncation.LONGEST_FIRST, false).inputIds();
    }

    /** The pooled embedding of ids (one sequence, all real tokens). */
    public float[] embedIds(int[] ids) {
        int e = bert.cfg.hiddenSize();
        return pooling.pool(bert.encode(1, ids.length, ids, null, null), ids.length, e);
    }

    /** One text with the model's own truncation (max_seq_length; else none). */
    public float[] embed(String text) {
        return embedIds(ids(text, pooling.maxSeqLength()));
    }

    /**
     * A long text as langchain4j's OnnxBertBiEncoder embeds it: its word pieces (without [CLS]/[SEP]) cut into windows
     * of at most {@code window} pieces (never inside a word: a window ends before a "##" piece), each window embedded as
     * [CLS] window [SEP] and pooled without normalisation, then the windows' vectors averaged weighted by their piece
     * counts, then normalised as the model's pooling says.
     */
    public float[] embedWindows(int[] pieces, int window) {
        int e = bert.cfg.hiddenSize();
        Pooling raw = new Pooling(pooling.mode(), false, 0);
        double[] sum = new double[e];
        int total = 0;
        for (int from = 0; from < pieces.length; ) {
            int to = from + window;
            if (to >= pieces.length) to = pieces.length;
            else while (to > from + 1 && tokenizer.idToToken(pieces[to]).startsWith("##")) to--;
            int[] ids = new int[to - from + 2];
            ids[0] = tokenizer.clsId();
            System.arraycopy(pieces, from, ids, 1, to - from);
            ids[ids.length - 1] = tokenizer.sepId();
            float[] v = raw.pool(bert.encode(1, ids.length, ids, null, null), ids.length, e);
            for (int j = 0; j < e; j++) sum[j] += (double) v[j] * (to - from);
            total += to - from;
            from = to;
        }
        float[] out = new float[e];
        for (int j = 0; j < e; j++) out[j] = (float) (sum[j] / Math.max(total, 1));
        if (pooling.normalize()) Pooling.normalizeInPlace(out);
        return out;
    }

    /** Word pieces of a text without [CLS]/[SEP] (what {@link #embedWindows} cuts). */
    public int[] pieces(String text) {
        return tokenizer.encode(text);
    }

    public static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return d / Math.max(Math.sqrt(na * nb), 1e-30);
    }

}
