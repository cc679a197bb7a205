package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.CosineCausal;
import org.cottention.attention.CosineRecurrent;
import org.cottention.attention.CosineState;
import org.cottention.attention.Heads;
import org.cottention.attention.KvCache;
import org.cottention.generate.DecodeSession;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Incremental decoding with a {@link GptJ}. The prompt is prefilled in segments of {@code segment} tokens with the
 * chunkwise-parallel form, each segment handing every layer's cosine state to the next, so memory does not grow with
 * the prompt; then one token per step through the recurrent form. Rows of a batch are right-padded during prefill
 * (padding neither enters the state nor shifts positions). Softmax models keep a {@link KvCache} per layer instead.
 * Gated cosine models (math doc §8) carry per layer the decayed counts z and the convolution's tail as well (in the
 * {@link CosineState}): still constant in the context length.
 */
public final class GptJSession implements DecodeSession {
    private final GptJ model;
    private final int segment;
    private int batch;
    private CosineState[] states;
    private CosineCausal.Context[] contexts;
    private KvCache[] caches;
    private int[] pos;                 // [B] tokens fed so far per row
    private GptJ.Acts segActs, stepActs;
    private final float[][] normConst; // [L][H]

    public GptJSession(GptJ model, int segment) {
        if (segment < 1) throw new IllegalArgumentException("prefill segment must be >= 1, got " + segment);
        this.model = model;
        this.segment = segment;
        normConst = new float[model.blocks.length][];
        for (int l = 0; l < model.blocks.length; l++) normConst[l] = model.normConst(model.blocks[l]);
    }

    @Override
    public int vocabSize() {
        return model.cfg.vocabSize();
    }

    private boolean cosine() {
        return model.cfg.attentionType() == AttentionType.COSINE;
    }

    @Override
    public float[] prefill(int[][] prompts) {
        GptJConfig c = model.cfg;
        int b = prompts.length, L = model.blocks.length;
        batch = b;
        pos = new int[b];
        if (cosine()) {
            states = new CosineState[L];
            for (int l = 0; l < L; l++) states[l] = new CosineState(b, c.nHead(), c.headDim(), c.qkvConvSize());
        } else {
            caches = new KvCache[L];
            int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElse(1);
            for (int l = 0; l < L; l++) caches[l] = new KvCache(b, c.nHead(), c.headDim(), longest + 64);
        }
        contexts = new CosineCausal.Context[L];
        return extend(prompts);
    }

    /**
     * Feeds further tokens to every row, continuing from the state and position each row is in (row r = tokens[r],
     * lengths may differ, each >= 1): the same segmented parallel prefill as {@link #prefill}, at positions
     * {@code position(r)} onwards. Returns next-token logits [B, V] after each row's last new token. A prefill of the
     * whole sequence and a prefill of its first part followed by extend of the rest agree to rounding.
     */
    public float[] extend(int[][] tokens) {
        if (pos == null) throw new IllegalStateException("extend before prefill");
        if (tokens.length != batch) throw new IllegalArgumentException("expected " + batch + " rows of tokens, got " + tokens.length);
        for (int[] t : tokens) if (t.length == 0) throw new IllegalArgumentException("every row needs at least one token to extend");
        GptJConfig c = model.cfg;
        int b = batch;
        int tMax = Arrays.stream(tokens).mapToInt(p -> p.length).max().orElseThrow();
        int s = Math.min(segment, tMax);
        if (segActs == null || segActs.n != b * s) segActs = new GptJ.Acts(c, b * s, false);
        float[] logits = new float[b * c.vocabSize()];
        int[] ids = new int[b * s], mask = new int[b * s], at = new int[b * s];
        for (int s0 = 0; s0 < tMax; s0 += s) {
            int len = Math.min(s, tMax - s0);
            // right-padded segment [B, s]: padding positions are masked out (and past len nothing is real)
            for (int r = 0; r < b; r++) {
                for (int t = 0; t < s; t++) {
                    int p = s0 + t;
                    boolean real = t < len && p < tokens[r].length;
                    ids[r * s + t] = real ? tokens[r][p] : 0;
                    mask[r * s + t] = real ? 1 : 0;
                    at[r * s + t] = pos[r] + p;
                }
            }
            GptJ.Acts a = model.forward(b, s, ids, mask, segActs, new GptJ.Positions(0, at), attendPrefill);
            for (int r = 0; r < b; r++) {
                int last = tokens[r].length - 1;
                if (last >= s0 && last < s0 + s) headRow(a, r * s + (last - s0), logits, r);
            }
        }
        for (int r = 0; r < b; r++) pos[r] += tokens[r].length;
        return logits;
    }

    /** Prefill: the chunkwise form continuing from (and updating) each layer's state; softmax appends to the KV cache. */
    private final GptJ.Attend attendPrefill = new GptJ.Attend() {
        @Override
        public void run(int l, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] decay, Heads out) {
            if (cosine()) contexts[l] = CosineCausal.forward(contexts[l], shape, q, k, v, mask, m, decay, out, model.chunk, states[l], states[l]);
            else caches[l].appendAndAttend(shape, q, k, v, mask, out);
        }

        @Override
        public float[] convTail(int l) {
            return cosine() ? states[l].convTail : null;
        }
    };

    /** One decoding step: the recurrent form (state S in float64, decayed count z, convolution tail). */
    private final GptJ.Attend attendStep = new GptJ.Attend() {
        @Override
        public void run(int l, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] decay, Heads out) {
            if (cosine()) CosineRecurrent.step(states[l], q, k, v, null, m, decay, out);
            else caches[l].appendAndAttend(shape, q, k, v, null, out);
        }

        @Override
        public float[] convTail(int l) {
            return cosine() ? states[l].convTail : null;
        }
    };

    @Override
    public float[] step(int[] tokens) {
        if (pos == null) throw new IllegalStateException("step before prefill");
        if (tokens.length != batch) throw new IllegalArgumentException("expected " + batch + " tokens, one per row, got " + tokens.length);
        GptJConfig c = model.cfg;
        if (stepActs == null || stepActs.n != batch) stepActs = new GptJ.Acts(c, batch, false);
        GptJ.Acts a = model.forward(batch, 1, tokens, null, stepActs, new GptJ.Positions(0, pos.clone()), attendStep);
        float[] logits = new float[batch * c.vocabSize()];
        model.lmHead.forward(model.params.data, a.lnf, 0, c.nEmbd(), logits, 0, c.vocabSize(), batch);
        for (int r = 0; r < batch; r++) pos[r]++;
        return logits;
    }

    /**
     * Benchmark support for softmax models: grows every layer's KV cache by {@code tokens} random entries, as if that
     * many tokens had been prefilled (a real softmax prefill of 64K tokens costs minutes; decoding cost depends only on
     * the cache length). Cosine models need no such thing: their prefill is linear and their state size fixed.
     */
    public void extendCacheSynthetic(int tokens, long seed) {
        if (caches == null) throw new IllegalStateException("only softmax sessions have a KV cache, after prefill");
        for (int l = 0; l < caches.length; l++) caches[l].appendSynthetic(tokens, seed + l);
        for (int r = 0; r < batch; r++) pos[r] += tokens;
    }

    private void headRow(GptJ.Acts a, int row, float[] logits, int r) {
        GptJConfig c = model.cfg;
        model.lmHead.forward(model.params.data, a.lnf, row * c.nEmbd(), c.nEmbd(), logits, r * c.vocabSize(), c.vocabSize(), 1);
    }

    /** Tokens fed so far in row r (prompt and generated). */
    public int position(int r) {
        return pos[r];
    }

    @Override
    public long stateBytes() {
        long s = 0;
        boolean decayed = model.cfg.cosineGate() != CosineGate.NONE;
        if (states != null)
            for (CosineState st : states) s += cosineBytes(st, decayed);
        if (caches != null) for (KvCache kv : caches) s += kv.bytes();
        return s;
    }

    /** Bytes of a cosine state proper: S, counts, the decayed counts z (gated models only) and the convolution tail. */
    private static long cosineBytes(CosineState st, boolean decayed) {
        return 8L * st.s.length + 4L * st.count.length + (decayed ? 8L * st.z.length : 0) + 4L * st.convTail.length;
    }

    // ------------------------------------------------------------------------------------------------ rows

    /**
     * The decoding state of one sequence: each layer's cosine state (or KV cache) for that row and the tokens fed so
     * far. A detached row ({@link #emptyRow}, {@link #cosineRow}, {@link Row#copy}) owns its state; {@link #row} is a
     * view into a batch, valid until that session next changes. Regrouping sequences into a batch
     * ({@link #ofRows}) lets a server step many sequences together while each keeps its own state between requests.
     */
    public static final class Row {
        final CosineState[] states;  // [L], batch >= 1, this sequence at index `index`; null for softmax
        final KvCache[] caches;      // [L]; null for cosine
        final int index;
        final int pos;
        final boolean decayed;       // gated: the decayed counts z are part of the state

        Row(CosineState[] states, KvCache[] caches, int index, int pos, boolean decayed) {
            this.states = states;
            this.caches = caches;
            this.index = index;
            this.pos = pos;
            this.decayed = decayed;
        }

        /** Tokens fed so far (the position the next token takes). */
        public int position() {
            return pos;
        }

        public boolean cosine() {
            return states != null;
        }

        /**
         * Bytes of this row's state: per layer H x D x D doubles, the count, and with gating the decayed counts and the
         * convolution tail for cosine (constant); the KV cache for softmax.
         */
        public long bytes() {
            if (states != null) {
                return states.length * (cosineBytes(states[0], decayed) / states[0].batch);
            }
            long b = 0;
            for (KvCache kv : caches) b += kv.bytes() / kv.batch();
            return b;
        }

        /** A detached deep copy. */
        public Row copy() {
            int L = states != null ? states.length : caches.length;
            if (states != null) {
                CosineState[] s = new CosineState[L];
                for (int l = 0; l < L; l++) s[l] = states[l].row(index);
                return new Row(s, null, 0, pos, decayed);
            }
            KvCache[] c = new KvCache[L];
            for (int l = 0; l < L; l++) c[l] = KvCache.gather(java.util.List.of(caches[l]), new int[]{index}).copy();
            return new Row(null, c, 0, pos, false);
        }

        /**
         * Layer l's cosine state of this sequence as a single-row {@link CosineState} (a copy when this row is a view
         * into a batch); for serialisation. Cosine rows only.
         */
        public CosineState layerState(int l) {
            if (states == null) throw new IllegalStateException("a softmax row has a KV cache, not a cosine state");
            return states[l].batch == 1 ? states[l] : states[l].row(index);
        }

    }

    /** The state of a sequence that has seen nothing. */
    public static Row emptyRow(GptJ model) {
        GptJConfig c = model.cfg;
        int L = model.blocks.length;
        if (c.attentionType() == AttentionType.COSINE) {
            CosineState[] s = new CosineState[L];
            for (int l = 0; l < L; l++) s[l] = new CosineState(1, c.nHead(), c.headDim(), c.qkvConvSize());
            return new Row(s, null, 0, 0, c.cosineGate() != CosineGate.NONE);
        }
        KvCache[] kv = new KvCache[L];
        for (int l = 0; l < L; l++) kv[l] = new KvCache(1, c.nHead(), c.headDim(), 64);
        return new Row(null, kv, 0, 0, false);
    }

    /** A cosine row from single-row layer states (e.g. read back from a file); shapes are checked against the model. */
    public static Row cosineRow(GptJ model, CosineState[] states, int position) {
        GptJConfig c = model.cfg;
        if (c.attentionType() != AttentionType.COSINE) throw new IllegalArgumentException("the model uses softmax attention: it has no cosine state");
        if (states.length != model.blocks.length) throw new IllegalArgumentException("state has " + states.length + " layers, the model " + model.blocks.length);
        for (CosineState s : states)
            if (s.batch != 1 || s.heads != c.nHead() || s.headDim != c.headDim() || s.convWidth != c.qkvConvSize())
                throw new IllegalArgumentException("state layer is [B=" + s.batch + ", H=" + s.heads + ", D=" + s.headDim + ", conv " + s.convWidth
                        + "], the model needs [1, " + c.nHead() + ", " + c.headDim() + ", conv " + c.qkvConvSize() + "]");
        if (position < 0) throw new IllegalArgumentException("negative position " + position);
        return new Row(states.clone(), null, 0, position, c.cosineGate() != CosineGate.NONE);
    }

    /** A view of row r's state (valid until this session next changes; {@link Row#copy} to keep it). */
    public Row row(int r) {
        if (pos == null) throw new IllegalStateException("no rows before prefill");
        Objects.checkIndex(r, batch);
        return new Row(states, caches, r, pos[r], model.cfg.cosineGate() != CosineGate.NONE);
    }

    /**
     * A session whose batch rows are the given sequences, in order (at least one): cosine states are copied in; KV
     * caches are taken over (the rows are consumed: copy first to keep one). Continue with {@link #extend} or
     * {@link #step}; each row's output is what it would be alone, up to the summation order of batched kernels.
     */
    public static GptJSession ofRows(GptJ model, int segment, List<Row> rows) {
        if (rows.isEmpty()) throw new IllegalArgumentException("ofRows needs at least one row");
        GptJSession s = new GptJSession(model, segment);
        GptJConfig c = model.cfg;
        int b = rows.size(), L = model.blocks.length;
        s.batch = b;
        s.pos = new int[b];
        s.contexts = new CosineCausal.Context[L];
        for (int i = 0; i < b; i++) {
            Row r = rows.get(i);
            if (r.cosine() != s.cosine()) throw new IllegalArgumentException("row " + i + " holds " + (r.cosine() ? "cosine" : "softmax")
                    + " state, the model uses the other attention");
            s.pos[i] = r.pos;
        }
        if (s.cosine()) {
            s.states = new CosineState[L];
            for (int l = 0; l < L; l++) {
                CosineState d = s.states[l] = new CosineState(b, c.nHead(), c.headDim(), c.qkvConvSize());
                for (int i = 0; i < b; i++) {
                    Row r = rows.get(i);
                    try {
                        d.copyRow(i, r.states[l], r.index);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("row " + i + " does not fit the model: " + e.getMessage(), e);
                    }
                }
            }
        } else {
            s.caches = new KvCache[L];
            int[] idx = rows.stream().mapToInt(r -> r.index).toArray();
            for (int l = 0; l < L; l++) {
                final int layer = l;
                s.caches[l] = KvCache.gather(rows.stream().map(r -> r.caches[layer]).toList(), idx);
            }
        }
        return s;
    }

    /** Rows in the batch (0 before the first prefill). */
    public int batchSize() {
        return pos == null ? 0 : batch;
    }
}
