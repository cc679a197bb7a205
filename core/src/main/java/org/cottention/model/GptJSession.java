package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.CosineCausal;
import org.cottention.attention.CosineRecurrent;
import org.cottention.attention.CosineState;
import org.cottention.attention.Heads;
import org.cottention.attention.KvCache;
import org.cottention.generate.DecodeSession;

import java.util.Arrays;

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
            contexts = new CosineCausal.Context[L];
            for (int l = 0; l < L; l++) states[l] = new CosineState(b, c.nHead(), c.headDim(), c.qkvConvSize());
        } else {
            caches = new KvCache[L];
            int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElse(1);
            for (int l = 0; l < L; l++) caches[l] = new KvCache(b, c.nHead(), c.headDim(), longest + 64);
        }
        int tMax = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        int s = Math.min(segment, tMax);
        if (segActs == null || segActs.n != b * s) segActs = new GptJ.Acts(c, b * s, false);
        float[] logits = new float[b * c.vocabSize()];
        int[] ids = new int[b * s], mask = new int[b * s];
        for (int s0 = 0; s0 < tMax; s0 += s) {
            int len = Math.min(s, tMax - s0);
            // right-padded segment [B, s]: padding positions are masked out (and past len nothing is real)
            for (int r = 0; r < b; r++) {
                for (int t = 0; t < s; t++) {
                    int p = s0 + t;
                    boolean real = t < len && p < prompts[r].length;
                    ids[r * s + t] = real ? prompts[r][p] : 0;
                    mask[r * s + t] = real ? 1 : 0;
                }
            }
            GptJ.Acts a = model.forward(b, s, ids, mask, segActs, new GptJ.Positions(s0, null), new GptJ.Attend() {
                @Override
                public void run(int l, AttnShape shape, Heads q, Heads k, Heads v, int[] msk, float[] m, float[] decay, Heads out) {
                    if (cosine()) contexts[l] = CosineCausal.forward(contexts[l], shape, q, k, v, msk, m, decay, out, model.chunk, states[l], states[l]);
                    else caches[l].appendAndAttend(shape, q, k, v, msk, out);
                }

                @Override
                public float[] convTail(int l) {
                    return states[l].convTail;
                }
            });
            for (int r = 0; r < b; r++) {
                int last = prompts[r].length - 1;
                if (last >= s0 && last < s0 + s) headRow(a, r * s + (last - s0), logits, r);
            }
        }
        for (int r = 0; r < b; r++) pos[r] = prompts[r].length;
        return logits;
    }

    @Override
    public float[] step(int[] tokens) {
        if (pos == null) throw new IllegalStateException("step before prefill");
        if (tokens.length != batch) throw new IllegalArgumentException("expected " + batch + " tokens, one per row, got " + tokens.length);
        GptJConfig c = model.cfg;
        if (stepActs == null || stepActs.n != batch) stepActs = new GptJ.Acts(c, batch, false);
        GptJ.Acts a = model.forward(batch, 1, tokens, null, stepActs, new GptJ.Positions(0, pos.clone()), new GptJ.Attend() {
            @Override
            public void run(int l, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] decay, Heads out) {
                if (cosine()) CosineRecurrent.step(states[l], q, k, v, null, m, decay, out);
                else caches[l].appendAndAttend(shape, q, k, v, null, out);
            }

            @Override
            public float[] convTail(int l) {
                return states[l].convTail;
            }
        });
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
            for (CosineState st : states) s += 8L * st.s.length + 4L * st.count.length + (decayed ? 8L * st.z.length : 0) + 4L * st.convTail.length;
        if (caches != null) for (KvCache kv : caches) s += kv.bytes();
        return s;
    }
}
