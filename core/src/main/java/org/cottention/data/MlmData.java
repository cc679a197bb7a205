package org.cottention.data;

import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Masked-LM training data: documents cut into lines (sentences), tokenised, and packed into segments of whole lines up
 * to the segment length (a longer line is split). A sequence is {@code [CLS] segment [SEP]}, or with next-sentence
 * prediction {@code [CLS] A [SEP] B [SEP]} where A is the start of a segment and B its continuation (label 0) or, half
 * the time, a piece of another document (label 1). Masking is dynamic — 15% of the real non-special tokens, of which
 * 80% become [MASK], 10% a random token, 10% stay — and drawn from (seed, batch index) only, so {@code batch(i)} is the
 * same in a resumed run. The last {@code valFraction} of the segments is held out; its batches use a fixed seed.
 */
public final class MlmData implements BatchSource {
    private final WordPieceTokenizer tok;
    private final int[] tokens;                 // all segments' tokens, concatenated
    private final int[] segStart, segDoc;       // segment s = tokens[segStart[s] .. segStart[s+1])
    private final int trainSegs;
    private final int batch, maxLength;
    private final boolean nsp;
    private final long seed;
    private final int firstNormalId;            // random replacements avoid the special tokens below this id
    private long permEpoch = -1;
    private int[] perm;

    public MlmData(List<String> documents, WordPieceTokenizer tok, int maxLength, int batch, boolean nsp, double valFraction, long seed) {
        if (maxLength < (nsp ? 5 : 3)) throw new IllegalArgumentException("--max-length " + maxLength + " is too short for MLM" + (nsp ? " with NSP" : ""));
        if (tok.maskId() < 0) throw new IllegalArgumentException("the tokenizer has no [MASK] token");
        this.tok = tok;
        this.batch = batch;
        this.maxLength = maxLength;
        this.nsp = nsp;
        this.seed = seed;
        int segLen = maxLength - (nsp ? 3 : 2);
        WordPieceTokenizer.IntList all = new WordPieceTokenizer.IntList(1 << 16);
        List<Integer> starts = new ArrayList<>(), docs = new ArrayList<>();
        for (int d = 0; d < documents.size(); d++) {
            int segBegin = all.size();
            for (String line : documents.get(d).split("\n")) {
                if (line.isBlank()) continue;
                int[] ids = tok.encode(line);
                // keep lines whole: close the segment when this line would overflow it; split only lines longer than a segment
                if (all.size() > segBegin && all.size() - segBegin + ids.length > segLen) {
                    starts.add(segBegin);
                    docs.add(d);
                    segBegin = all.size();
                }
                for (int id : ids) {
                    if (all.size() - segBegin == segLen) {
                        starts.add(segBegin);
                        docs.add(d);
                        segBegin = all.size();
                    }
                    all.add(id);
                }
            }
            if (all.size() > segBegin) {
                starts.add(segBegin);
                docs.add(d);
            }
        }
        tokens = all.toArray();
        int n = starts.size();
        if (n < 2) throw new IllegalArgumentException("the corpus is too small: " + n + " segment(s) of up to " + segLen + " tokens");
        segStart = new int[n + 1];
        segDoc = new int[n];
        for (int i = 0; i < n; i++) {
            segStart[i] = starts.get(i);
            segDoc[i] = docs.get(i);
        }
        segStart[n] = tokens.length;
        int val = (int) Math.round(n * valFraction);
        if (valFraction > 0 && val == 0) val = 1;
        trainSegs = n - val;
        if (trainSegs < 1) throw new IllegalArgumentException("no training segments left after holding out " + val + " for validation");
        int first = 0;
        for (String s : new String[]{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) first = Math.max(first, tok.tokenToId(s) + 1);
        firstNormalId = first < tok.vocabSize() ? first : 0;
    }

    public int trainSegments() {
        return trainSegs;
    }

    public int validationSegments() {
        return segDoc.length - trainSegs;
    }

    public long tokens() {
        return tokens.length;
    }

    @Override
    public long batchesPerEpoch() {
        return (trainSegs + batch - 1) / batch;
    }

    @Override
    public synchronized Batch batch(long index) {
        long bpe = batchesPerEpoch(), epoch = index / bpe;
        int i = (int) (index % bpe);
        if (epoch != permEpoch) {
            int[] p = new int[trainSegs];
            for (int j = 0; j < p.length; j++) p[j] = j;
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            for (int j = p.length - 1; j > 0; j--) {
                int k = r.nextInt(j + 1), t = p[j];
                p[j] = p[k];
                p[k] = t;
            }
            perm = p;
            permEpoch = epoch;
        }
        int lo = i * batch, hi = Math.min(trainSegs, lo + batch);
        return make(Arrays.copyOfRange(perm, lo, hi), new SplittableRandom(seed ^ (0x5DEECE66DL * (index + 1))), 0, trainSegs);
    }

    /** Validation batches (at most max, 0 = all), masked with a fixed seed so every evaluation sees the same inputs. */
    public List<Batch> validation(int max) {
        List<Batch> out = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(12345);
        for (int lo = trainSegs; lo < segDoc.length && (max <= 0 || out.size() < max); lo += batch) {
            int hi = Math.min(segDoc.length, lo + batch);
            int[] idx = new int[hi - lo];
            for (int j = 0; j < idx.length; j++) idx[j] = lo + j;
            out.add(make(idx, r, trainSegs, segDoc.length));
        }
        return out;
    }

    /** Sequences for segments idx; NSP partners are drawn from segments [poolLo, poolHi) of another document. */
    private Batch make(int[] idx, SplittableRandom r, int poolLo, int poolHi) {
        int b = idx.length;
        int[][] seqs = new int[b][], types = new int[b][];
        int[] nspLabels = new int[b];
        int t = 0;
        for (int i = 0; i < b; i++) {
            int s = idx[i], len = segStart[s + 1] - segStart[s];
            if (!nsp) {
                int[] seq = new int[len + 2];
                seq[0] = tok.clsId();
                System.arraycopy(tokens, segStart[s], seq, 1, len);
                seq[len + 1] = tok.sepId();
                seqs[i] = seq;
                types[i] = new int[seq.length];
            } else {
                int cut = len < 2 ? len : 1 + r.nextInt(len - 1);   // A = [0, cut), true B = [cut, len)
                int aLen = cut, bStart, bLen;
                boolean random = r.nextBoolean() || len < 2;
                int other = s;
                if (random && poolHi - poolLo > 1) {
                    for (int tries = 0; tries < 10 && (other == s || segDoc[other] == segDoc[s]); tries++) other = poolLo + r.nextInt(poolHi - poolLo);
                }
                if (random && other != s) {
                    int oLen = segStart[other + 1] - segStart[other];
                    bLen = Math.max(1, Math.min(oLen, len - cut));
                    bStart = segStart[other];
                    nspLabels[i] = 1;
                } else {
                    bStart = segStart[s] + cut;
                    bLen = len - cut;
                    nspLabels[i] = 0;
                }
                int[] seq = new int[aLen + bLen + 3], ty = new int[seq.length];
                seq[0] = tok.clsId();
                System.arraycopy(tokens, segStart[s], seq, 1, aLen);
                seq[aLen + 1] = tok.sepId();
                System.arraycopy(tokens, bStart, seq, aLen + 2, bLen);
                seq[seq.length - 1] = tok.sepId();
                Arrays.fill(ty, aLen + 2, seq.length, 1);
                seqs[i] = seq;
                types[i] = ty;
            }
            t = Math.max(t, seqs[i].length);
        }
        int n = b * t;
        int[] ids = new int[n], mask = new int[n], ty = new int[n], targets = new int[nsp ? n + b : n];
        Arrays.fill(ids, tok.padId());
        Arrays.fill(targets, -100);
        for (int i = 0; i < b; i++) {
            int[] seq = seqs[i];
            int masked = 0, candidates = 0;
            for (int j = 0; j < seq.length; j++) {
                int k = i * t + j;
                ids[k] = seq[j];
                mask[k] = 1;
                ty[k] = types[i][j];
                if (seq[j] == tok.clsId() || seq[j] == tok.sepId()) continue;
                candidates++;
                if (r.nextDouble() < 0.15) {
                    mask(ids, targets, k, r);
                    masked++;
                }
            }
            if (masked == 0 && candidates > 0) {   // at least one target per sequence
                int pick = r.nextInt(candidates);
                for (int j = 0; j < seq.length; j++) {
                    if (seq[j] == tok.clsId() || seq[j] == tok.sepId()) continue;
                    if (pick-- == 0) {
                        mask(ids, targets, i * t + j, r);
                        break;
                    }
                }
            }
            if (nsp) targets[n + i] = nspLabels[i];
        }
        return new Batch(b, t, ids, mask, ty, targets, null);
    }

    /** BERT's 80/10/10: the target is the original token; the input becomes [MASK], a random token, or stays. */
    private void mask(int[] ids, int[] targets, int k, SplittableRandom r) {
        targets[k] = ids[k];
        double u = r.nextDouble();
        if (u < 0.8) ids[k] = tok.maskId();
        else if (u < 0.9) ids[k] = firstNormalId + r.nextInt(tok.vocabSize() - firstNormalId);
    }
}
