package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.Heads;
import org.cottention.io.DType;
import org.cottention.kernels.CrossEntropy;
import org.cottention.kernels.Embedding;
import org.cottention.kernels.Gelu;
import org.cottention.kernels.LayerNorm;
import org.cottention.kernels.Ops;
import org.cottention.kernels.Rotary;
import org.cottention.train.Batch;
import org.cottention.train.TrainableModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * BERT with cosine or softmax attention (math doc §3, §6): word + position + token-type embeddings and LayerNorm,
 * post-LN encoder layers {@code h = LN(x + attn(x)); x' = LN(h + fc_out(gelu(fc_in(h))))} with q/k/v biases and exact
 * GELU, then the heads: pooler (dense + tanh on [CLS]), MLM (transform dense + gelu + LayerNorm, decoder tied to the
 * word embeddings with its own bias), NSP, and sequence classification/regression on the pooled output. Parameter
 * names are HF's; query/key/value weights are adjacent in the flat buffer (one fused [3E, E] projection) and so are
 * their biases. With {@code position_embedding_type = rotary} q and k are rotated instead and there is no position
 * table, so sequences have no length limit. Forward and backward of each layer are written side by side below.
 */
public final class Bert {
    /** Which heads the model carries. The pooler is needed by NSP and the classifier. */
    public record HeadSet(boolean mlm, boolean pooler, boolean nsp, boolean classifier) {
        public HeadSet {
            if ((nsp || classifier) && !pooler) throw new IllegalArgumentException("NSP and classifier heads need the pooler");
        }

        public static final HeadSet MASKED_LM = new HeadSet(true, false, false, false);
        public static final HeadSet PRETRAINING = new HeadSet(true, true, true, false);
        public static final HeadSet CLASSIFIER = new HeadSet(false, true, false, true);
        public static final HeadSet ENCODER = new HeadSet(false, false, false, false);

        /** HF class name of a model with these heads (config.json "architectures"). */
        public String architecture() {
            if (classifier) return "BertForSequenceClassification";
            if (mlm && nsp) return "BertForPreTraining";
            if (mlm) return "BertForMaskedLM";
            return "BertModel";
        }
    }

    public final BertConfig cfg;
    public final HeadSet heads;
    public final Params params;
    final Params.View wordEmb, posEmb, typeEmb, embLnW, embLnB;
    final Layer[] layers;
    final Linear pooler, nsp, classifier;
    final Linear mlmTransform, mlmDecoder;
    final Params.View mlmLnW, mlmLnB;
    final Rotary rotary;
    private Acts acts;
    private LongPositions longPositions = LongPositions.NONE;
    private int stabiliserLength;

    /**
     * Absolute positions past max_position_embeddings P (inference of long documents in one pass): NONE refuses them;
     * CYCLE gives token p the position p mod P (each 512-token stretch looks, to the embeddings, like the windows the
     * model was trained on, while attention spans the whole document); INTERPOLATE maps position p of a T-token text
     * to p (P-1)/(T-1) and blends the two neighbouring rows of the table (the whole text squeezed into the trained range).
     */
    public enum LongPositions { NONE, CYCLE, INTERPOLATE }

    /** Sets how positions past max_position_embeddings are embedded (see {@link LongPositions}); returns this. */
    public Bert longPositions(LongPositions mode) {
        this.longPositions = mode;
        return this;
    }

    /**
     * Holds the cosine stabiliser's output scale at {@code n} tokens for longer texts (0 = off; inference of long
     * documents). The cosine attention output of a token is sum_j cos(q, k_j) v_j / n^a with a = sigmoid(m): when the
     * similarities do not shrink with the length (they do not; they are a property of the text), the sum grows as n
     * and the output as n^(1-a), so a model trained on spans of at most N tokens sees, at 32K tokens, attention outputs
     * (32768/N)^(1-a) times larger than any it was trained on (about 9x for N = 128, a = 0.6). For a text of T > N
     * tokens the exponent becomes a' = 1 - (1-a) ln N / ln T, so that T^a' = T^a (T/N)^(1-a): the output keeps the
     * scale it had at N tokens. At T <= N nothing changes. One exponent per head for the whole batch, from the padded
     * length T (exact for one document per batch, as long-document embedding runs).
     */
    public Bert stabiliserLength(int n) {
        if (n < 0) throw new IllegalArgumentException("stabiliser length must be >= 0, got " + n);
        this.stabiliserLength = n;
        return this;
    }

    /** One encoder layer's parameters; {@code qkv} is query, key, value (weights and biases). */
    record Layer(QkvProjection qkv, Params.View normConst, Linear attnOut, Params.View ln1W, Params.View ln1B,
                 Linear fcIn, Linear fcOut, Params.View ln2W, Params.View ln2B, SelfAttention attention) {}

    public Bert(BertConfig cfg, HeadSet heads) {
        this(cfg, heads, WeightStorage.HEAP);
    }

    /** A model whose matrices live as {@code storage} says (off-heap storage: inference only). */
    public Bert(BertConfig cfg, HeadSet heads, WeightStorage storage) {
        if (cfg.attentionType() == null) throw new IllegalArgumentException("attention_type must be set (cosine or softmax)");
        if (heads.classifier() && cfg.numLabels() < 1)
            throw new IllegalArgumentException("a classifier head needs labels (id2label) or problem_type regression in the config");
        this.cfg = cfg;
        this.heads = heads;
        int e = cfg.hiddenSize(), h = cfg.numAttentionHeads(), in = cfg.intermediateSize();
        Params.Builder pb = Params.builder().offHeapMatrices(storage != WeightStorage.HEAP, storage == WeightStorage.BF16);
        String emb = "bert.embeddings.";
        wordEmb = pb.add(emb + "word_embeddings.weight", true, cfg.vocabSize(), e);
        posEmb = cfg.rotary() ? null : pb.add(emb + "position_embeddings.weight", true, cfg.maxPositionEmbeddings(), e);
        typeEmb = pb.add(emb + "token_type_embeddings.weight", true, cfg.typeVocabSize(), e);
        embLnW = pb.add(emb + "LayerNorm.weight", false, e);
        embLnB = pb.add(emb + "LayerNorm.bias", false, e);
        layers = new Layer[cfg.numHiddenLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "bert.encoder.layer." + i + ".";
            Params.View qw = pb.add(p + "attention.self.query.weight", true, e, e);
            Params.View kw = pb.add(p + "attention.self.key.weight", true, e, e);
            Params.View vw = pb.add(p + "attention.self.value.weight", true, e, e);
            Params.View qb = pb.add(p + "attention.self.query.bias", false, e);
            Params.View kb = pb.add(p + "attention.self.key.bias", false, e);
            Params.View vb = pb.add(p + "attention.self.value.bias", false, e);
            QkvProjection qkv = QkvProjection.of(pb, p + "attention.self.qkv", qw, kw, vw, qb, kb, vb);
            Params.View nc = cfg.attentionType() == AttentionType.COSINE ? pb.add(p + "attention.self.norm_const", false, 1, h, 1, 1) : null;
            Linear out = linear(pb, p + "attention.output.dense", e, e);
            Params.View l1w = pb.add(p + "attention.output.LayerNorm.weight", false, e), l1b = pb.add(p + "attention.output.LayerNorm.bias", false, e);
            Linear fcIn = linear(pb, p + "intermediate.dense", in, e);
            Linear fcOut = linear(pb, p + "output.dense", e, in);
            Params.View l2w = pb.add(p + "output.LayerNorm.weight", false, e), l2b = pb.add(p + "output.LayerNorm.bias", false, e);
            layers[i] = new Layer(qkv, nc, out, l1w, l1b, fcIn, fcOut, l2w, l2b, new SelfAttention(cfg.attentionType(), false, 64));
        }
        pooler = heads.pooler() ? linear(pb, "bert.pooler.dense", e, e) : null;
        if (heads.mlm()) {
            mlmTransform = linear(pb, "cls.predictions.transform.dense", e, e);
            mlmLnW = pb.add("cls.predictions.transform.LayerNorm.weight", false, e);
            mlmLnB = pb.add("cls.predictions.transform.LayerNorm.bias", false, e);
            mlmDecoder = new Linear(wordEmb, pb.add("cls.predictions.bias", false, cfg.vocabSize()), pb.slot(wordEmb)); // tied decoder
        } else {
            mlmTransform = mlmDecoder = null;
            mlmLnW = mlmLnB = null;
        }
        nsp = heads.nsp() ? linear(pb, "cls.seq_relationship", 2, e) : null;
        classifier = heads.classifier() ? linear(pb, "classifier", cfg.numLabels(), e) : null;
        params = pb.build();
        rotary = cfg.rotary() ? new Rotary(cfg.rotaryDim(), 512) : null;
    }

    private static Linear linear(Params.Builder pb, String name, int out, int in) {
        Params.View w = pb.add(name + ".weight", true, out, in);
        return new Linear(w, pb.add(name + ".bias", false, out), pb.slot(w));
    }

    /** HF's initialisation: N(0, 0.02) weights and embeddings, zero biases (and the padding row), unit LayerNorms, norm_const 0.5. */
    public Bert initialise(long seed) {
        Initialiser.standard(params, seed, 0.02f, Initialiser.NORM_CONST);
        int e = cfg.hiddenSize();
        Arrays.fill(params.data, wordEmb.offset() + cfg.padTokenId() * e, wordEmb.offset() + (cfg.padTokenId() + 1) * e, 0f);
        return this;
    }

    /** Re-initialises only the named parameters (heads a checkpoint did not have), the rest stays as loaded. */
    void initialiseOnly(java.util.Set<String> names, long seed) {
        if (params.hasOffHeap())
            throw new IllegalStateException("new parameters " + names + " cannot be initialised in a model with off-heap weights (--dtype bf16 or --mmap); load it in f32 without --mmap");
        Params fresh = new Bert(cfg, heads).initialise(seed).params;
        for (Params.View v : params.views())
            if (names.contains(v.name())) System.arraycopy(fresh.data, v.offset(), params.data, v.offset(), v.size());
    }

    public long parameterCount() {
        return params.size();
    }

    // ------------------------------------------------------------------------------------------------ activations

    /** Everything the backward pass reads, for one batch shape [B, T]. */
    static final class Acts {
        final int n;
        final float[] emb, embMean, embRstd;   // [n, E] embedding sum before LayerNorm, its stats [n]
        final float[][] x;                     // [L+1][n, E] x[0] embeddings, x[l+1] output of layer l
        final float[][] qkv;                   // [L][n, 3E] q, k (rotated), v
        final float[][] att;                   // [L][n, E] attention core output
        final float[][] s1, h1, s2;            // [L][n, E] x + attn (before LN1), LN1 output, h1 + mlp (before LN2)
        final float[][] m1, r1, m2, r2;        // [L][n] LayerNorm stats
        final float[][] pre;                   // [L][n, I] intermediate dense output, before gelu
        final float[] act;                     // [n, I] gelu output (recomputed in backward)

        /** keep = false (inference): all layers share one set of buffers; x alternates between two. */
        Acts(BertConfig c, int n, boolean keep) {
            int L = c.numHiddenLayers(), e = c.hiddenSize(), in = c.intermediateSize();
            this.n = n;
            emb = new float[Math.multiplyExact(n, e)];
            embMean = new float[n];
            embRstd = new float[n];
            x = new float[L + 1][];
            for (int l = 0; l <= L; l++) x[l] = keep || l < 2 ? new float[n * e] : x[l - 2];
            qkv = new float[L][];
            att = new float[L][];
            s1 = new float[L][];
            h1 = new float[L][];
            s2 = new float[L][];
            m1 = new float[L][];
            r1 = new float[L][];
            m2 = new float[L][];
            r2 = new float[L][];
            pre = new float[L][];
            for (int l = 0; l < L; l++) {
                boolean fresh = keep || l == 0;
                qkv[l] = fresh ? new float[Math.multiplyExact(n, 3 * e)] : qkv[0];
                att[l] = fresh ? new float[n * e] : att[0];
                s1[l] = fresh ? new float[n * e] : s1[0];
                h1[l] = fresh ? new float[n * e] : h1[0];
                s2[l] = fresh ? (keep ? new float[n * e] : s1[0]) : s2[0];   // inference: s1 is dead once h1 exists
                m1[l] = fresh ? new float[n] : m1[0];
                r1[l] = fresh ? new float[n] : r1[0];
                m2[l] = fresh ? new float[n] : m2[0];
                r2[l] = fresh ? new float[n] : r2[0];
                pre[l] = fresh ? new float[Math.multiplyExact(n, in)] : pre[0];
            }
            act = keep ? new float[Math.multiplyExact(n, in)] : pre[0];   // inference: gelu in place (elementwise)
        }
    }

    private Acts trainingActs(int n) {
        if (acts == null || acts.n != n) acts = new Acts(cfg, n, true);
        return acts;
    }

    // ------------------------------------------------------------------------------------------------ forward

    /** Training forward (every layer's activations kept); the last hidden state is acts.x[L] [B*T, E]. */
    Acts forward(int b, int t, int[] ids, int[] mask, int[] types) {
        if (stabiliserLength > 0) throw new IllegalStateException("the held stabiliser (stabiliserLength) is for inference; its gradient is not the kernel's");
        SelfAttention[] att = new SelfAttention[layers.length];
        for (int l = 0; l < layers.length; l++) att[l] = layers[l].attention;
        return forward(b, t, ids, mask, types, trainingActs(b * t), att);
    }

    /** Inference forward: one layer's activations at a time, no training buffers kept afterwards. */
    Acts inferenceForward(int b, int t, int[] ids, int[] mask, int[] types) {
        SelfAttention shared = new SelfAttention(cfg.attentionType(), false, 64);
        SelfAttention[] att = new SelfAttention[layers.length];
        Arrays.fill(att, shared);
        return forward(b, t, ids, mask, types, new Acts(cfg, Math.multiplyExact(b, t), false), att);
    }

    private Acts forward(int b, int t, int[] ids, int[] mask, int[] types, Acts a, SelfAttention[] att) {
        int n = b * t, e = cfg.hiddenSize();
        checkInputs(b, t, ids, mask, types);
        float[] w = params.data;
        // emb = word[ids] + pos[t] + type[types];  x0 = LN(emb)              [n, E]
        params.lookup(wordEmb, ids, n, a.emb, false, a.x[0]);  // x[0] is free until the LayerNorm below
        if (posEmb != null && t > cfg.maxPositionEmbeddings() && longPositions == LongPositions.INTERPOLATE) interpolatedPositions(b, t, a.emb);
        else if (posEmb != null) params.lookup(posEmb, positionIds(b, t, t > cfg.maxPositionEmbeddings() ? cfg.maxPositionEmbeddings() : t), n, a.emb, true, a.x[0]);
        params.lookup(typeEmb, types == null ? new int[n] : types, n, a.emb, true, a.x[0]);
        LayerNorm.forward(a.x[0], 0, a.embMean, 0, a.embRstd, 0, a.emb, 0, w, embLnW.offset(), w, embLnB.offset(), n, e, cfg.layerNormEps());
        if (rotary != null) rotary.ensureCapacity(t);
        AttnShape shape = new AttnShape(b, t, cfg.numAttentionHeads(), cfg.headDim());
        for (int l = 0; l < layers.length; l++) layerForward(l, shape, mask, a, att[l]);
        return a;
    }

    private void layerForward(int l, AttnShape shape, int[] mask, Acts a, SelfAttention attention) {
        Layer ly = layers[l];
        float[] w = params.data;
        int n = a.n, e = cfg.hiddenSize(), in = cfg.intermediateSize();
        // q|k|v = x Wqkv^T + bqkv, rotary on q and k                            [n, 3E]
        ly.qkv.forward(w, a.x[l], 0, e, a.qkv[l], 0, 3 * e, n);
        if (rotary != null) {
            rotary.forward(a.qkv[l], 0, 3 * e, shape.batch(), shape.seq(), shape.heads(), shape.headDim(), 0);
            rotary.forward(a.qkv[l], e, 3 * e, shape.batch(), shape.seq(), shape.heads(), shape.headDim(), 0);
        }
        // att = attention(q, k, v), bidirectional                               [n, E]
        attention.forward(shape, new Heads(a.qkv[l], 0, 3 * e), new Heads(a.qkv[l], e, 3 * e), new Heads(a.qkv[l], 2 * e, 3 * e),
                mask, heldNormConst(normConst(ly), shape.seq()), Heads.of(a.att[l], e));
        // s1 = x + dense(att);  h1 = LN1(s1)
        ly.attnOut.forward(w, a.att[l], 0, e, a.s1[l], 0, e, n);
        Ops.addInPlace(a.s1[l], 0, a.x[l], 0, n * e);
        LayerNorm.forward(a.h1[l], 0, a.m1[l], 0, a.r1[l], 0, a.s1[l], 0, w, ly.ln1W.offset(), w, ly.ln1B.offset(), n, e, cfg.layerNormEps());
        // s2 = h1 + fc_out(gelu(fc_in(h1)));  x' = LN2(s2)                       [n, I] -> [n, E]
        ly.fcIn.forward(w, a.h1[l], 0, e, a.pre[l], 0, in, n);
        Gelu.erfForward(a.act, 0, a.pre[l], 0, n * in);
        ly.fcOut.forward(w, a.act, 0, in, a.s2[l], 0, e, n);
        Ops.addInPlace(a.s2[l], 0, a.h1[l], 0, n * e);
        LayerNorm.forward(a.x[l + 1], 0, a.m2[l], 0, a.r2[l], 0, a.s2[l], 0, w, ly.ln2W.offset(), w, ly.ln2B.offset(), n, e, cfg.layerNormEps());
    }

    // ------------------------------------------------------------------------------------------------ backward

    /** Scratch gradients shared by all layers. */
    private static final class Grads {
        final float[] dx, ds2, dh1, ds1, datt, dqkv, dact, dpre;

        Grads(BertConfig c, int n) {
            int e = c.hiddenSize(), in = c.intermediateSize();
            dx = new float[n * e];
            ds2 = new float[n * e];
            dh1 = new float[n * e];
            ds1 = new float[n * e];
            datt = new float[n * e];
            dqkv = new float[n * 3 * e];
            dact = new float[n * in];
            dpre = new float[n * in];
        }
    }

    private Grads grads;

    /** Given dTop = dL/dx[L] [n, E], accumulates every encoder and embedding parameter gradient. */
    void backward(int b, int t, int[] ids, int[] types, float[] dTop, Acts a) {
        backward(b, t, ids, types, dTop, null, a);
    }

    /**
     * As {@link #backward(int, int, int[], int[], float[], Acts)} for a loss that also reads the intermediate hidden
     * states: dInner[l] (null, or null entries, for none) = the loss's own dL/dx[l] [n, E], 0 < l < L, added where the
     * backward pass reaches x[l].
     */
    void backward(int b, int t, int[] ids, int[] types, float[] dTop, float[][] dInner, Acts a) {
        int n = a.n, e = cfg.hiddenSize();
        if (grads == null || grads.dx.length != n * e) grads = new Grads(cfg, n);
        Grads d = grads;
        System.arraycopy(dTop, 0, d.dx, 0, n * e);
        AttnShape shape = new AttnShape(b, t, cfg.numAttentionHeads(), cfg.headDim());
        for (int l = layers.length - 1; l >= 0; l--) {
            layerBackward(l, shape, a, d);
            if (dInner != null && l > 0 && dInner[l] != null) Ops.addInPlace(d.dx, 0, dInner[l], 0, n * e);
        }
        // embeddings: LN backward, then scatter into the three tables
        float[] w = params.data, g = params.grad();
        float[] demb = d.ds1;
        Arrays.fill(demb, 0f);
        LayerNorm.backward(demb, 0, g, embLnW.offset(), g, embLnB.offset(), d.dx, 0, a.emb, 0, w, embLnW.offset(), a.embMean, 0, a.embRstd, 0, n, e);
        // nn.Embedding(padding_idx=pad): the padding row gets no gradient from the lookup (only from the tied decoder)
        int padOff = wordEmb.offset() + cfg.padTokenId() * e;
        float[] padRow = Arrays.copyOfRange(g, padOff, padOff + e);
        Embedding.backward(g, wordEmb.offset(), demb, 0, ids, 0, n, cfg.vocabSize(), e);
        System.arraycopy(padRow, 0, g, padOff, e);
        if (posEmb != null && t > cfg.maxPositionEmbeddings() && longPositions == LongPositions.INTERPOLATE)
            throw new IllegalStateException("training with interpolated positions is not supported");
        if (posEmb != null) Embedding.backward(g, posEmb.offset(), demb, 0, positionIds(b, t, Math.min(t, cfg.maxPositionEmbeddings())), 0, n, cfg.maxPositionEmbeddings(), e);
        Embedding.backward(g, typeEmb.offset(), demb, 0, types == null ? new int[n] : types, 0, n, cfg.typeVocabSize(), e);
    }

    /** On entry d.dx = dL/dx[l+1]; on exit d.dx = dL/dx[l]. */
    private void layerBackward(int l, AttnShape shape, Acts a, Grads d) {
        Layer ly = layers[l];
        float[] w = params.data, g = params.grad();
        int n = a.n, e = cfg.hiddenSize(), in = cfg.intermediateSize();
        // LN2: ds2 = LN2'(dx)
        Arrays.fill(d.ds2, 0f);
        LayerNorm.backward(d.ds2, 0, g, ly.ln2W.offset(), g, ly.ln2B.offset(), d.dx, 0, a.s2[l], 0, w, ly.ln2W.offset(), a.m2[l], 0, a.r2[l], 0, n, e);
        // s2 = h1 + mlp(h1): the MLP branch and the residual both receive ds2
        Gelu.erfForward(a.act, 0, a.pre[l], 0, n * in);
        Arrays.fill(d.dact, 0f);
        ly.fcOut.backward(w, g, a.act, 0, in, d.ds2, 0, e, d.dact, 0, in, n);
        Arrays.fill(d.dpre, 0f);
        Gelu.erfBackward(d.dpre, 0, a.pre[l], 0, d.dact, 0, n * in);
        System.arraycopy(d.ds2, 0, d.dh1, 0, n * e);
        ly.fcIn.backward(w, g, a.h1[l], 0, e, d.dpre, 0, in, d.dh1, 0, e, n);
        // LN1: ds1 = LN1'(dh1)
        Arrays.fill(d.ds1, 0f);
        LayerNorm.backward(d.ds1, 0, g, ly.ln1W.offset(), g, ly.ln1B.offset(), d.dh1, 0, a.s1[l], 0, w, ly.ln1W.offset(), a.m1[l], 0, a.r1[l], 0, n, e);
        // s1 = x + dense(att): attention branch, then the fused qkv projection adds into dx
        Arrays.fill(d.datt, 0f);
        ly.attnOut.backward(w, g, a.att[l], 0, e, d.ds1, 0, e, d.datt, 0, e, n);
        Arrays.fill(d.dqkv, 0f);
        float[] dm = new float[cfg.numAttentionHeads()];
        ly.attention.backward(Heads.of(d.datt, e), new Heads(d.dqkv, 0, 3 * e), new Heads(d.dqkv, e, 3 * e), new Heads(d.dqkv, 2 * e, 3 * e), dm);
        if (ly.normConst != null) Ops.addInPlace(g, ly.normConst.offset(), dm, 0, dm.length);
        if (rotary != null) {
            rotary.backward(d.dqkv, 0, 3 * e, shape.batch(), shape.seq(), shape.heads(), shape.headDim(), 0);
            rotary.backward(d.dqkv, e, 3 * e, shape.batch(), shape.seq(), shape.heads(), shape.headDim(), 0);
        }
        System.arraycopy(d.ds1, 0, d.dx, 0, n * e);
        ly.qkv.backward(w, g, a.x[l], 0, e, d.dqkv, 0, 3 * e, d.dx, 0, e, n);
    }

    // ------------------------------------------------------------------------------------------------ MLM head

    /** Rows of logits computed at once: the [rows, V] block stays near 16 MB whatever the vocabulary. */
    private int headRows(int n) {
        return Math.max(1, Math.min(n, (4 << 20) / cfg.vocabSize()));
    }

    /** MLM head activations for the selected rows of the last hidden state. */
    private final class MlmRows {
        final int m;
        final int[] rows;
        final float[] hs, tpre, tact, tln, mean, rstd;   // [m, E] ..., [m]

        MlmRows(float[] top, int[] rows) {
            int e = cfg.hiddenSize();
            float[] w = params.data;
            this.rows = rows;
            m = rows.length;
            hs = new float[m * e];
            for (int i = 0; i < m; i++) System.arraycopy(top, rows[i] * e, hs, i * e, e);
            // transform: dense -> gelu -> LayerNorm                                [m, E]
            tpre = new float[m * e];
            tact = new float[m * e];
            tln = new float[m * e];
            mean = new float[m];
            rstd = new float[m];
            mlmTransform.forward(w, hs, 0, e, tpre, 0, e, m);
            Gelu.erfForward(tact, 0, tpre, 0, m * e);
            LayerNorm.forward(tln, 0, mean, 0, rstd, 0, tact, 0, w, mlmLnW.offset(), w, mlmLnB.offset(), m, e, cfg.layerNormEps());
        }

        /** Given dtln, accumulates the transform's gradients and scatters dL/dhidden into dTop rows. */
        void backward(float[] dtln, float[] dTop) {
            int e = cfg.hiddenSize();
            float[] w = params.data, g = params.grad();
            float[] dtact = new float[m * e], dtpre = new float[m * e], dhs = new float[m * e];
            LayerNorm.backward(dtact, 0, g, mlmLnW.offset(), g, mlmLnB.offset(), dtln, 0, tact, 0, w, mlmLnW.offset(), mean, 0, rstd, 0, m, e);
            Gelu.erfBackward(dtpre, 0, tpre, 0, dtact, 0, m * e);
            mlmTransform.backward(w, g, hs, 0, e, dtpre, 0, e, dhs, 0, e, m);
            for (int i = 0; i < m; i++) Ops.addInPlace(dTop, rows[i] * e, dhs, i * e, e);
        }
    }

    private static int[] targetRows(int[] targets, int n) {
        int c = 0;
        for (int i = 0; i < n; i++) if (targets[i] >= 0) c++;
        int[] rows = new int[c];
        c = 0;
        for (int i = 0; i < n; i++) if (targets[i] >= 0) rows[c++] = i;
        return rows;
    }

    /** Sums over the masked positions: loss, count, correct (argmax == label). */
    public record MlmSums(double loss, long count, long correct) {}

    /**
     * MLM loss on the rows with targets >= 0 (logits only there). With dTop != null, adds gradScale * d(mean loss)/d(param)
     * to the head's and the tied embedding's gradients and d/dhidden into dTop.
     */
    private MlmSums mlmLoss(float[] top, int[] targets, int n, float[] dTop, float gradScale) {
        int e = cfg.hiddenSize(), v = cfg.vocabSize();
        int[] rows = targetRows(targets, n);
        int m = rows.length;
        if (m == 0) return new MlmSums(0, 0, 0);
        MlmRows h = new MlmRows(top, rows);
        int[] tg = new int[m];
        for (int i = 0; i < m; i++) tg[i] = targets[rows[i]];
        float[] w = params.data, g = dTop != null ? params.grad() : null;
        float[] dtln = dTop != null ? new float[m * e] : null;
        int chunk = headRows(m);
        float[] logits = new float[chunk * v];
        double sum = 0;
        long correct = 0;
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int r = Math.min(chunk, m - r0);
            mlmDecoder.forward(w, h.tln, r0 * e, e, logits, 0, v, r);
            for (int i = 0; i < r; i++) if (argmax(logits, i * v, v) == tg[r0 + i]) correct++;
            sum += CrossEntropy.sumLossAndGradient(logits, 0, tg, r0, r, v, dTop != null ? logits : null, 0, (double) gradScale / m);
            if (dTop != null) mlmDecoder.backward(w, g, h.tln, r0 * e, e, logits, 0, v, dtln, r0 * e, e, r);
        }
        if (dTop != null) h.backward(dtln, dTop);
        return new MlmSums(sum, m, correct);
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) if (x[off + j] > x[off + best]) best = j;
        return best;
    }

    /** MLM logits [B*T, V] for every position (inference); mask and tokenTypes may be null. */
    public float[] mlmLogits(int b, int t, int[] ids, int[] mask, int[] tokenTypes) {
        if (mlmDecoder == null) throw new IllegalStateException("this model has no MLM head");
        int n = b * t, e = cfg.hiddenSize(), v = cfg.vocabSize();
        Acts a = forward(b, t, ids, mask, tokenTypes);
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        MlmRows h = new MlmRows(a.x[layers.length], all);
        float[] out = new float[Math.multiplyExact(n, v)];
        mlmDecoder.forward(params.data, h.tln, 0, e, out, 0, v, n);
        return out;
    }

    // ------------------------------------------------------------------------------------------------ pooler heads

    /** tanh(dense(x[CLS])) for each sequence, and the [CLS] rows. */
    private record Pooled(float[] cls, float[] pooled) {}

    private Pooled pool(float[] top, int b, int t) {
        int e = cfg.hiddenSize();
        float[] cls = new float[b * e], pooled = new float[b * e];
        for (int i = 0; i < b; i++) System.arraycopy(top, i * t * e, cls, i * e, e);
        pooler.forward(params.data, cls, 0, e, pooled, 0, e, b);
        for (int i = 0; i < pooled.length; i++) pooled[i] = (float) Math.tanh(pooled[i]);
        return new Pooled(cls, pooled);
    }

    /** Given dpooled [B, E], accumulates the pooler's gradients and adds d/d[CLS] into dTop. */
    private void poolBackward(Pooled p, float[] dpooled, float[] dTop, int b, int t) {
        int e = cfg.hiddenSize();
        for (int i = 0; i < dpooled.length; i++) dpooled[i] *= 1f - p.pooled[i] * p.pooled[i];
        float[] dcls = new float[b * e];
        pooler.backward(params.data, params.grad(), p.cls, 0, e, dpooled, 0, e, dcls, 0, e, b);
        for (int i = 0; i < b; i++) Ops.addInPlace(dTop, i * t * e, dcls, i * e, e);
    }

    /** Head logits [B, K] from the pooled output (NSP: K = 2; classifier: K = labels). */
    private static float[] headLogits(Linear head, float[] w, float[] pooled, int b, int e) {
        float[] logits = new float[b * head.out()];
        head.forward(w, pooled, 0, e, logits, 0, head.out(), b);
        return logits;
    }

    /** Classification logits [B, K] (or regression outputs [B]) for inference. */
    public float[] classify(int b, int t, int[] ids, int[] mask, int[] tokenTypes) {
        if (classifier == null) throw new IllegalStateException("this model has no classifier head");
        Acts a = inferenceForward(b, t, ids, mask, tokenTypes);
        return headLogits(classifier, params.data, pool(a.x[layers.length], b, t).pooled, b, cfg.hiddenSize());
    }

    /** Last hidden state [B*T, E] from the inference forward (one layer's activations alive at a time). */
    public float[] encode(int b, int t, int[] ids, int[] mask, int[] tokenTypes) {
        return inferenceForward(b, t, ids, mask, tokenTypes).x[layers.length];
    }

    // ------------------------------------------------------------------------------------------------ objectives

    /**
     * Masked-LM pretraining (+ NSP when the model has the head): batch.targets holds the per-token MLM labels [B*T]
     * (-100 = ignored), followed by B next-sentence labels (0 = continuation, 1 = random) when NSP is trained.
     * The loss is HF BertForPreTraining's: mean MLM cross-entropy + mean NSP cross-entropy.
     */
    public TrainableModel mlmObjective() {
        if (!heads.mlm()) throw new IllegalStateException("this model has no MLM head");
        return new Objective() {
            @Override
            public Loss trainStep(Batch batch, float gradScale) {
                return new Loss(mlmStep(batch, gradScale, true).total(), 1);
            }

            @Override
            public Loss evaluate(Batch batch) {
                MlmResult r = mlmStep(batch, 0, false);
                return new Loss(r.mlm.loss(), r.mlm.count());
            }

            @Override
            public double flopsPerToken(int seqLen) {
                int e = cfg.hiddenSize();
                return encoderFlopsPerToken(seqLen) + 0.15 * 2.0 * ((double) e * e + (double) e * cfg.vocabSize());
            }
        };
    }

    /** One MLM(+NSP) batch's results: MLM sums, NSP sums (loss, count, correct; count 0 without NSP). */
    public record MlmResult(MlmSums mlm, MlmSums nsp) {
        public double total() {
            return (mlm.count() == 0 ? 0 : mlm.loss() / mlm.count()) + (nsp.count() == 0 ? 0 : nsp.loss() / nsp.count());
        }
    }

    /** Forward (and backward when train) of the MLM(+NSP) objective on one batch. */
    public MlmResult mlmStep(Batch batch, float gradScale, boolean train) {
        int b = batch.size(), t = batch.seqLen(), n = b * t, e = cfg.hiddenSize();
        int[] targets = batch.targets();
        boolean withNsp = targets.length == n + b;
        if (targets.length != n && !withNsp) throw new IllegalArgumentException("MLM batch needs " + n + " (or " + (n + b) + " with NSP) targets, got " + targets.length);
        if (withNsp && nsp == null) throw new IllegalArgumentException("batch has NSP labels but the model has no NSP head");
        Acts a = forward(b, t, batch.inputIds(), batch.attentionMask(), batch.tokenTypeIds());
        float[] top = a.x[layers.length];
        float[] dTop = train ? new float[n * e] : null;
        MlmSums mlm = mlmLoss(top, targets, n, dTop, gradScale);
        MlmSums ns = new MlmSums(0, 0, 0);
        if (withNsp) {
            int[] labels = Arrays.copyOfRange(targets, n, n + b);
            ns = pooledLoss(nsp, top, b, t, labels, null, dTop, gradScale);
        }
        if (train) backward(b, t, batch.inputIds(), batch.tokenTypeIds(), dTop, a);
        return new MlmResult(mlm, ns);
    }

    /** Cross-entropy (labels) or MSE (values) of a pooled head; sums, count B, correct predictions. */
    private MlmSums pooledLoss(Linear head, float[] top, int b, int t, int[] labels, float[] values, float[] dTop, float gradScale) {
        int e = cfg.hiddenSize(), k = head.out();
        Pooled p = pool(top, b, t);
        float[] logits = headLogits(head, params.data, p.pooled, b, e);
        double sum = 0;
        long correct = 0;
        if (values != null) {
            for (int i = 0; i < b; i++) {
                double d = logits[i] - values[i];
                sum += d * d;
                logits[i] = (float) (2 * d * gradScale / b);   // becomes dlogits
            }
        } else {
            for (int i = 0; i < b; i++) if (argmax(logits, i * k, k) == labels[i]) correct++;
            sum = CrossEntropy.sumLossAndGradient(logits, 0, labels, 0, b, k, dTop != null ? logits : null, 0, (double) gradScale / b);
        }
        if (dTop != null) {
            float[] dpooled = new float[b * e];
            head.backward(params.data, params.grad(), p.pooled, 0, e, logits, 0, k, dpooled, 0, e, b);
            poolBackward(p, dpooled, dTop, b, t);
        }
        return new MlmSums(sum, b, correct);
    }

    /**
     * Sequence classification (batch.targets = label ids [B]) or regression (batch.values [B]); mean cross-entropy or
     * mean squared error, as HF BertForSequenceClassification.
     */
    public TrainableModel classifierObjective() {
        if (classifier == null) throw new IllegalStateException("this model has no classifier head");
        return new Objective() {
            @Override
            public Loss trainStep(Batch batch, float gradScale) {
                return new Loss(classifierStep(batch, gradScale, true).loss() / batch.size(), 1);
            }

            @Override
            public Loss evaluate(Batch batch) {
                MlmSums s = classifierStep(batch, 0, false);
                return new Loss(s.loss(), s.count());
            }

            @Override
            public double flopsPerToken(int seqLen) {
                return encoderFlopsPerToken(seqLen);
            }
        };
    }

    private MlmSums classifierStep(Batch batch, float gradScale, boolean train) {
        int b = batch.size(), t = batch.seqLen(), e = cfg.hiddenSize();
        if (cfg.regression() ? batch.values() == null || batch.values().length != b : batch.targets() == null || batch.targets().length != b)
            throw new IllegalArgumentException("classification batch needs " + b + (cfg.regression() ? " values" : " labels"));
        Acts a = forward(b, t, batch.inputIds(), batch.attentionMask(), batch.tokenTypeIds());
        float[] dTop = train ? new float[b * t * e] : null;
        MlmSums s = pooledLoss(classifier, a.x[layers.length], b, t, cfg.regression() ? null : batch.targets(),
                cfg.regression() ? batch.values() : null, dTop, gradScale);
        if (train) backward(b, t, batch.inputIds(), batch.tokenTypeIds(), dTop, a);
        return s;
    }

    /** The parts of TrainableModel common to both objectives. */
    private abstract class Objective implements TrainableModel {
        @Override
        public Params params() {
            return params;
        }

        @Override
        public void saveModel(Path dir) throws IOException {
            Bert.this.saveModel(dir);
        }
    }

    /** Forward FLOPs per token of the encoder (matmuls + attention core), without heads. */
    public double encoderFlopsPerToken(int seqLen) {
        int e = cfg.hiddenSize(), h = cfg.numAttentionHeads(), d = cfg.headDim();
        double matmul = 2.0 * cfg.numHiddenLayers() * (4.0 * e * e + 2.0 * e * cfg.intermediateSize());
        double attn = cfg.attentionType() == AttentionType.COSINE
                ? 4.0 * d * d          // Kh^T Vt and Qh S, per token and head (math doc §3)
                : 4.0 * seqLen * d;    // QK^T and PV over the whole square
        return matmul + cfg.numHiddenLayers() * h * attn;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** The residual stream after the embedding (layer 0) and after each layer, [B*T, E], from the last training forward. */
    float[] hidden(int layer) {
        return acts.x[layer];
    }

    float[] normConst(Layer ly) {
        if (ly.normConst == null) return null;
        return Arrays.copyOfRange(params.data, ly.normConst.offset(), ly.normConst.offset() + cfg.numAttentionHeads());
    }

    /** The raw stabilisers m [H] with the exponent held at {@link #stabiliserLength} tokens for a t-token batch. */
    float[] heldNormConst(float[] m, int t) {
        if (m == null || stabiliserLength == 0 || t <= stabiliserLength) return m;
        double ratio = Math.log(stabiliserLength) / Math.log(t);
        float[] held = new float[m.length];
        for (int h = 0; h < m.length; h++) {
            double a = 1 / (1 + Math.exp(-m[h])), a2 = 1 - (1 - a) * ratio;
            held[h] = (float) Math.log(a2 / (1 - a2));
        }
        return held;
    }

    /** Position ids 0..t-1 of each row, modulo {@code period} (= t when the text fits the table). */
    private static int[] positionIds(int b, int t, int period) {
        int[] p = new int[b * t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) p[i * t + j] = j % period;
        return p;
    }

    /** emb += the position table interpolated at p (P-1)/(t-1) for each position p (see {@link LongPositions#INTERPOLATE}). */
    private void interpolatedPositions(int b, int t, float[] emb) {
        int e = cfg.hiddenSize(), last = cfg.maxPositionEmbeddings() - 1, n = b * t;
        int[] lo = new int[n], hi = new int[n];
        float[] f = new float[n];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) {
                double x = (double) j * last / (t - 1);
                int k = i * t + j;
                lo[k] = (int) Math.floor(x);
                hi[k] = Math.min(lo[k] + 1, last);
                f[k] = (float) (x - lo[k]);
            }
        float[] a = new float[Math.multiplyExact(n, e)], c = new float[n * e];
        params.lookup(posEmb, lo, n, a, false, null);
        params.lookup(posEmb, hi, n, c, false, null);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < e; j++) emb[r * e + j] += (1 - f[r]) * a[r * e + j] + f[r] * c[r * e + j];
    }

    private void checkInputs(int b, int t, int[] ids, int[] mask, int[] types) {
        int n = Math.multiplyExact(b, t);
        if (ids.length != n) throw new IllegalArgumentException("expected " + n + " input ids, got " + ids.length);
        if (mask != null && mask.length != n) throw new IllegalArgumentException("expected " + n + " attention mask entries, got " + mask.length);
        if (types != null && types.length != n) throw new IllegalArgumentException("expected " + n + " token type ids, got " + types.length);
        if (!cfg.rotary() && t > cfg.maxPositionEmbeddings() && longPositions == LongPositions.NONE)
            throw new IllegalArgumentException("sequence length " + t + " exceeds max_position_embeddings " + cfg.maxPositionEmbeddings()
                    + " (absolute positions); truncate, use a model with rotary positions, or embed long positions (cycle or interpolate)");
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= cfg.vocabSize())
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary of " + cfg.vocabSize());
            if (types != null && (types[i] < 0 || types[i] >= cfg.typeVocabSize()))
                throw new IllegalArgumentException("token type id " + types[i] + " at position " + i + " is outside type_vocab_size " + cfg.typeVocabSize());
        }
    }

    /** config.json (architecture from the heads) and model.safetensors. */
    public void saveModel(Path dir) throws IOException {
        if (params.hasOffHeap()) throw new IllegalStateException("saving needs f32 weights on the heap; this model was loaded with off-heap weights (--dtype bf16 or --mmap)");
        cfg.write(dir.resolve("config.json"), heads.architecture());
        params.save(dir.resolve("model.safetensors"), false, DType.F32, Map.of("format", "pt"));
    }
}
