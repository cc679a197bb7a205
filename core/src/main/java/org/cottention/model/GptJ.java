package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.Heads;
import org.cottention.attention.QkvConv;
import org.cottention.attention.QkvSource;
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
import java.util.SplittableRandom;

/**
 * GPT-J with cosine or softmax attention (math doc §6): per block one LayerNorm feeding attention and MLP in
 * parallel, {@code x + attn(ln(x)) + mlp(ln(x))}; rotary on the first rotary_dim dims of q and k; bias-free
 * q/k/v/out projections; MLP fc_in -> gelu_new -> fc_out with biases; final LayerNorm; untied lm_head with bias.
 * Parameter names are HF's; q, k and v weights sit next to each other in the flat buffer so they act as one fused
 * [3E, E] projection. Forward and backward of each layer are written side by side below.
 *
 * <p>Gated cosine attention (math doc §8, config {@code cosine_gate}, {@code qkv_conv_size}): per layer a decay gate
 * {@code attn.gate_proj} [H, E] + [H] giving the log-decay a = -softplus(ln W_g^T + b_g) per token and head, and a
 * depthwise causal convolution {@code attn.qkv_conv.weight} [3E, 1, w] on q|k|v before rotary. Their parameters come
 * after all the others in the flat buffer, so the other tensors of a gated model get the same initial values as in
 * the plain model from the same seed.
 */
public final class GptJ implements TrainableModel {
    public final GptJConfig cfg;
    public final Params params;
    final Params.View wte, lnfW, lnfB;
    final Linear lmHead;
    public final WeightStorage storage;
    final Block[] blocks;
    final Rotary rotary;
    final int chunk;
    private Acts acts;

    /**
     * One transformer block's parameters; {@code qkv} is q_proj, k_proj, v_proj; {@code gate} (gate_proj) and
     * {@code conv} (qkv_conv.weight) are null unless the model is gated.
     */
    record Block(Params.View lnW, Params.View lnB, QkvProjection qkv, Linear out, Params.View normConst, Linear fcIn,
                 Linear fcOut, SelfAttention attention, Linear gate, Params.View conv) {}

    /** A block's plain parameters, collected before the gated ones are added at the end of the buffer. */
    private record Parts(Params.View lnW, Params.View lnB, QkvProjection qkv, Linear out, Params.View normConst, Linear fcIn, Linear fcOut) {}

    /**
     * The gate bias of a gate that is shut: softplus(-1000) = log1p(e^-1000) is exactly 0 in float32 and float64
     * (e^-1000 underflows), so with zero gate weights a = 0 exactly and the model is the ungated one, bit for bit; a
     * finite value, unlike -inf, survives every checkpoint format. Such a gate has no gradient (sigmoid(-1000) = 0):
     * it stays shut under training unless it is re-initialised.
     */
    public static final float SHUT_GATE_BIAS = -1000f;

    public GptJ(GptJConfig cfg) {
        this(cfg, 64);
    }

    public GptJ(GptJConfig cfg, int chunk) {
        this(cfg, chunk, WeightStorage.HEAP);
    }

    /** The chunk length of its chunkwise cosine attention (a replica elsewhere must use the same to compute the same). */
    public int chunk() {
        return chunk;
    }

    /** A model whose matrices will live as {@code storage} says; off-heap ones are filled by {@link ModelStore}. */
    public GptJ(GptJConfig cfg, int chunk, WeightStorage storage) {
        if (cfg.attentionType() == null) throw new IllegalArgumentException("attention_type must be set (cosine or softmax)");
        this.cfg = cfg;
        this.chunk = chunk;
        int e = cfg.nEmbd(), h = cfg.nHead();
        this.storage = storage;
        Params.Builder pb = Params.builder().offHeapMatrices(storage != WeightStorage.HEAP, storage == WeightStorage.BF16);
        wte = pb.add("transformer.wte.weight", true, cfg.vocabSize(), e);
        blocks = new Block[cfg.nLayer()];
        Parts[] parts = new Parts[cfg.nLayer()];
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = "transformer.h." + i + ".";
            Params.View lnW = pb.add(p + "ln_1.weight", false, e), lnB = pb.add(p + "ln_1.bias", false, e);
            Params.View q = pb.add(p + "attn.q_proj.weight", true, e, e);
            Params.View k = pb.add(p + "attn.k_proj.weight", true, e, e);
            Params.View v = pb.add(p + "attn.v_proj.weight", true, e, e);
            QkvProjection qkv = QkvProjection.of(pb, p + "attn.qkv", q, k, v, null, null, null);
            Linear out = linear(pb, pb.add(p + "attn.out_proj.weight", true, e, e), null);
            Params.View nc = cfg.attentionType() == AttentionType.COSINE ? pb.add(p + "attn.norm_const", false, 1, h, 1, 1) : null;
            Linear fcIn = linear(pb, pb.add(p + "mlp.fc_in.weight", true, cfg.nInner(), e), pb.add(p + "mlp.fc_in.bias", false, cfg.nInner()));
            Linear fcOut = linear(pb, pb.add(p + "mlp.fc_out.weight", true, e, cfg.nInner()), pb.add(p + "mlp.fc_out.bias", false, e));
            parts[i] = new Parts(lnW, lnB, qkv, out, nc, fcIn, fcOut);
        }
        lnfW = pb.add("transformer.ln_f.weight", false, e);
        lnfB = pb.add("transformer.ln_f.bias", false, e);
        lmHead = linear(pb, pb.add("lm_head.weight", true, cfg.vocabSize(), e), pb.add("lm_head.bias", false, cfg.vocabSize()));
        for (int i = 0; i < cfg.nLayer(); i++) { // gated attention's parameters last (see the class comment)
            String p = "transformer.h." + i + ".attn.";
            Linear gate = cfg.cosineGate() == CosineGate.NONE ? null
                    : linear(pb, pb.add(p + "gate_proj.weight", true, h, e), pb.add(p + "gate_proj.bias", false, h));
            Params.View conv = cfg.qkvConvSize() == 0 ? null : pb.add(p + "qkv_conv.weight", false, 3 * e, 1, cfg.qkvConvSize());
            Parts x = parts[i];
            blocks[i] = new Block(x.lnW, x.lnB, x.qkv, x.out, x.normConst, x.fcIn, x.fcOut, new SelfAttention(cfg.attentionType(), true, chunk), gate, conv);
        }
        params = pb.build();
        rotary = new Rotary(cfg.rotaryDim(), Math.max(16, cfg.nPositions()));
    }

    private static Linear linear(Params.Builder pb, Params.View w, Params.View b) {
        return new Linear(w, b, pb.slot(w));
    }

    /**
     * HF's initialisation: N(0, 0.02) weights and embeddings, zero biases, unit LayerNorms, norm_const 0.5; gated
     * attention (math doc §8, last paragraph): gate weights N(0, 0.02) and biases spread over the heads so that the
     * per-token decays softplus(b_h) are log-spaced from 1e-3 to 1e-1 (memories of ~1000 down to ~10 tokens), the
     * convolution the identity.
     */
    public GptJ initialise(long seed) {
        Initialiser.standard(params, seed, 0.02f, Initialiser.NORM_CONST);
        int h = cfg.nHead();
        for (Block blk : blocks) {
            if (blk.gate != null)
                for (int i = 0; i < h; i++) {
                    double sp = 1e-3 * Math.pow(100, h == 1 ? 0.5 : (double) i / (h - 1));
                    params.data[blk.gate.bias().offset() + i] = (float) Math.log(Math.expm1(sp));
                }
            if (blk.conv != null) identityConv(blk.conv);
        }
        return this;
    }

    /** The convolution's weight [3E, 1, w] set to the identity: tap w-1 (the current token) 1, the others 0. */
    void identityConv(Params.View conv) {
        int w = cfg.qkvConvSize();
        Arrays.fill(params.data, conv.offset(), conv.offset() + conv.size(), 0f);
        for (int c = 0; c < 3 * cfg.nEmbd(); c++) params.data[conv.offset() + c * w + w - 1] = 1f;
    }

    /**
     * Sets the gated parameters among {@code names} so that the model equals the ungated one: a shut gate (weights 0,
     * bias {@link #SHUT_GATE_BIAS}) and the identity convolution. For loading a plain checkpoint into a gated model.
     */
    public void neutralGating(java.util.Set<String> names) {
        for (Block blk : blocks) {
            if (blk.gate != null) {
                if (names.contains(blk.gate.weight().name())) {
                    Params.Slot slot = blk.gate.slot();
                    if (slot != null) // off-heap weights: a segment of zeros (zero in F32 and BF16 alike)
                        slot.set(java.lang.foreign.Arena.ofAuto().allocate((long) blk.gate.weight().size() * (slot.bf16Wanted() ? 2 : 4), 64), slot.bf16Wanted());
                    else Arrays.fill(params.data, blk.gate.weight().offset(), blk.gate.weight().offset() + blk.gate.weight().size(), 0f);
                }
                if (names.contains(blk.gate.bias().name()))
                    Arrays.fill(params.data, blk.gate.bias().offset(), blk.gate.bias().offset() + cfg.nHead(), SHUT_GATE_BIAS);
            }
            if (blk.conv != null && names.contains(blk.conv.name())) identityConv(blk.conv);
        }
    }

    /** Names of the gated attention parameters (gate_proj, qkv_conv) this model has. */
    public static boolean isGatingParameter(String name) {
        return name.endsWith(".attn.gate_proj.weight") || name.endsWith(".attn.gate_proj.bias") || name.endsWith(".attn.qkv_conv.weight");
    }

    @Override
    public Params params() {
        return params;
    }

    // ------------------------------------------------------------------------------------------------ activations

    /** Everything the backward pass reads, for one batch shape [B, T]; reused while the shape fits. */
    static final class Acts {
        final int n;             // B*T rows
        final float[][] x;       // [L+1][n, E] residual stream: x[0] embeddings, x[l+1] after block l
        final float[][] ln;      // [L][n, E] ln_1 output
        final float[][] lnMean, lnRstd;  // [L][n]
        final float[][] qkv;     // [L][n, 3E] q, k (rotated), v (null while training a gated layer: made in the kernel)
        final float[][] qkvIn;   // [L][n, 3E] the projections before the convolution (null without one)
        final float[][] gate, decay;  // [L][n, H] gate logits and log-decay -softplus(logits) (null without a gate)
        int[] mask;              // the forward's mask (referenced), for the convolution's backward
        final float[][] att;     // [L][n, E] attention output before out_proj
        final float[][] pre;     // [L][n, inner] fc_in output before gelu
        final float[] lnf, lnfMean, lnfRstd;  // [n, E], [n], [n]
        final float[] act;       // [n, inner] gelu output (recomputed in backward rather than stored per layer)
        final float[] attnOut, mlpOut;  // [n, E] block branch outputs

        /**
         * @param keep true for training (every layer's activations kept for backward); false for inference, where
         *             all layers share one set of buffers and the residual stream alternates between two
         */
        Acts(GptJConfig c, int n, boolean keep) {
            int L = c.nLayer(), e = c.nEmbd(), in = c.nInner();
            this.n = n;
            x = new float[L + 1][];
            ln = new float[L][];
            lnMean = new float[L][];
            lnRstd = new float[L][];
            qkv = new float[L][];
            att = new float[L][];
            pre = new float[L][];
            qkvIn = c.qkvConvSize() > 0 ? new float[L][] : null;
            gate = c.cosineGate() != CosineGate.NONE ? new float[L][] : null;
            decay = gate != null ? new float[L][] : null;
            for (int l = 0; l <= L; l++) x[l] = keep || l < 2 ? new float[n * e] : x[l - 2];
            for (int l = 0; l < L; l++) {
                boolean fresh = keep || l == 0;
                ln[l] = fresh ? new float[n * e] : ln[0];
                lnMean[l] = fresh ? new float[n] : lnMean[0];
                lnRstd[l] = fresh ? new float[n] : lnRstd[0];
                // training a gated layer: q|k|v after the convolution are made inside the attention kernel (blockForward)
                qkv[l] = keep && c.qkvConvSize() > 0 ? null : fresh ? new float[n * 3 * e] : qkv[0];
                att[l] = fresh ? new float[n * e] : att[0];
                pre[l] = fresh ? new float[n * in] : pre[0];
                if (qkvIn != null) qkvIn[l] = fresh ? new float[n * 3 * e] : qkvIn[0];
                if (gate != null) {
                    gate[l] = fresh ? new float[n * c.nHead()] : gate[0];
                    decay[l] = fresh ? new float[n * c.nHead()] : decay[0];
                }
            }
            lnf = new float[n * e];
            lnfMean = new float[n];
            lnfRstd = new float[n];
            act = new float[n * in];
            attnOut = new float[n * e];
            mlpOut = new float[n * e];
        }
    }

    private Acts acts(int n) {
        if (acts == null || acts.n != n) acts = new Acts(cfg, n, true);
        return acts;
    }

    /** The attention core as a block calls it: training keeps contexts for backward, decoding carries state. */
    @FunctionalInterface
    interface Attend {
        /** @param logDecay [B*T*H] the gate's log-decay, or null without a gate */
        void run(int layer, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] logDecay, Heads out);

        /** The convolution's carried tail of this layer (read and updated), or null for a fresh sequence. */
        default float[] convTail(int layer) {
            return null;
        }
    }

    /** Token positions of a forward call: {@code start + t} for every row, or one per token when {@code perToken} is set. */
    record Positions(int start, int[] perToken) {
        static final Positions FROM_ZERO = new Positions(0, null);
    }

    // ------------------------------------------------------------------------------------------------ forward

    /** Runs the blocks and ln_f on ids [B, T]; the result is in acts.lnf [B*T, E]. Positions are 0..T-1 per row. */
    Acts forward(int b, int t, int[] ids, int[] mask) {
        return forward(b, t, ids, mask, acts(b * t), Positions.FROM_ZERO, training);
    }

    /** Training's attention: keeps each layer's context for backward; also takes q|k|v as rows on demand (gated layers). */
    private final class TrainingAttend implements Attend {
        @Override
        public void run(int l, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] logDecay, Heads out) {
            blocks[l].attention.forward(shape, q, k, v, mask, m, logDecay, out);
        }

        void runRows(int l, AttnShape shape, QkvSource rows, int[] mask, float[] m, float[] logDecay, Heads out) {
            blocks[l].attention.forward(shape, rows, mask, m, logDecay, out);
        }
    }

    private final TrainingAttend training = new TrainingAttend();

    /** The forward pass with explicit buffers, positions and attention (shared by training and decoding). */
    Acts forward(int b, int t, int[] ids, int[] mask, Acts a, Positions pos, Attend attend) {
        int n = b * t, e = cfg.nEmbd();
        checkIds(ids, n);
        a.mask = mask;
        float[] w = params.data;
        params.lookup(wte, ids, n, a.x[0], false, null);
        AttnShape shape = new AttnShape(b, t, cfg.nHead(), cfg.headDim());
        for (int l = 0; l < blocks.length; l++) blockForward(l, shape, mask, a, pos, attend);
        LayerNorm.forward(a.lnf, 0, a.lnfMean, 0, a.lnfRstd, 0, a.x[blocks.length], 0, w, lnfW.offset(), w, lnfB.offset(),
                n, e, cfg.layerNormEpsilon());
        return a;
    }

    private void blockForward(int l, AttnShape shape, int[] mask, Acts a, Positions pos, Attend attend) {
        Block blk = blocks[l];
        float[] w = params.data;
        int n = a.n, e = cfg.nEmbd(), in = cfg.nInner();
        // ln = LayerNorm(x)                                          [n, E]
        LayerNorm.forward(a.ln[l], 0, a.lnMean[l], 0, a.lnRstd[l], 0, a.x[l], 0, w, blk.lnW.offset(), w, blk.lnB.offset(),
                n, e, cfg.layerNormEpsilon());
        // q|k|v = ln Wqkv^T (gated: then the causal convolution over time), then rotary on q and k   [n, 3E]
        // Training a gated layer, the convolution and rotary run row by row inside the attention kernel (rows below):
        // q|k|v after them are never stored, only qkvIn before them (which the convolution's backward reads).
        boolean onDemand = blk.conv != null && attend instanceof TrainingAttend;
        QkvSource rows = null;
        if (blk.conv == null) blk.qkv.forward(w, a.ln[l], 0, e, a.qkv[l], 0, 3 * e, n);
        else {
            blk.qkv.forward(w, a.ln[l], 0, e, a.qkvIn[l], 0, 3 * e, n);
            if (onDemand) rows = convolvedRotated(a.qkvIn[l], mask, shape, pos, blk);
            else {
                if (a.qkv[l] == null) a.qkv[l] = new float[n * 3 * e];
                float[] tail = attend.convTail(l);
                QkvConv.forward(shape.batch(), shape.seq(), 3 * e, cfg.qkvConvSize(), a.qkvIn[l], 0, 3 * e, w, blk.conv.offset(), mask,
                        tail, a.qkv[l], 0, 3 * e, tail);
            }
        }
        if (!onDemand) {
            rotate(a.qkv[l], 0, shape, pos);
            rotate(a.qkv[l], e, shape, pos);
        }
        // gated: log-decay a = -softplus(ln Wg^T + bg)              [n, H]
        float[] decay = null;
        if (blk.gate != null) {
            if (blk.gate.slot() != null) blk.gate.forward(w, a.ln[l], 0, e, a.gate[l], 0, cfg.nHead(), n);
            else GateProjection.forward(a.ln[l], 0, e, w, blk.gate.weight().offset(), blk.gate.bias().offset(), a.gate[l], n, e, cfg.nHead());
            decay = a.decay[l];
            CosineGate.logDecay(a.gate[l], decay, n * cfg.nHead());
        }
        // att = attention(q, k, v)                                   [n, E]
        if (onDemand) ((TrainingAttend) attend).runRows(l, shape, rows, mask, normConst(blk), decay, Heads.of(a.att[l], e));
        else attend.run(l, shape, new Heads(a.qkv[l], 0, 3 * e), new Heads(a.qkv[l], e, 3 * e), new Heads(a.qkv[l], 2 * e, 3 * e),
                mask, normConst(blk), decay, Heads.of(a.att[l], e));
        blk.out.forward(w, a.att[l], 0, e, a.attnOut, 0, e, n);
        // mlp = fc_out(gelu_new(fc_in(ln)))                          [n, inner] -> [n, E]
        blk.fcIn.forward(w, a.ln[l], 0, e, a.pre[l], 0, in, n);
        Gelu.tanhForward(a.act, 0, a.pre[l], 0, n * in);
        blk.fcOut.forward(w, a.act, 0, in, a.mlpOut, 0, e, n);
        // x' = x + attn + mlp
        Ops.add3(a.x[l + 1], 0, a.x[l], 0, a.attnOut, 0, a.mlpOut, 0, n * e);
    }

    /** Token (b, t)'s q|k|v row: the convolution over u [n, 3E] (a fresh sequence), then rotary on q and k, as the bulk calls give. */
    private QkvSource convolvedRotated(float[] u, int[] mask, AttnShape s, Positions pos, Block blk) {
        int e = cfg.nEmbd(), T = s.seq(), H = s.heads(), D = s.headDim();
        QkvSource conv = QkvConv.rows(s.batch(), T, 3 * e, cfg.qkvConvSize(), u, 0, 3 * e, params.data, blk.conv.offset(), mask, null);
        int[] perToken = pos.perToken();
        int start = pos.start();
        return (b, t, dst, off) -> {
            conv.row(b, t, dst, off);
            int p = perToken != null ? perToken[b * T + t] : start + t;
            rotary.forwardRow(dst, off, H, D, p);
            rotary.forwardRow(dst, off + e, H, D, p);
        };
    }

    private void rotate(float[] qkv, int off, AttnShape s, Positions pos) {
        int e3 = 3 * cfg.nEmbd();
        if (pos.perToken() != null) rotary.forward(qkv, off, e3, s.batch(), s.seq(), s.heads(), s.headDim(), pos.perToken(), 0);
        else rotary.forward(qkv, off, e3, s.batch(), s.seq(), s.heads(), s.headDim(), pos.start());
    }

    // ------------------------------------------------------------------------------------------------ backward

    /** Scratch gradients of one block, shared by all blocks. */
    private static final class Grads {
        final float[] dx, dln, dqkv, datt, dact, dpre;
        final float[] dDecay;  // gated: [n, H] log-decay

        Grads(GptJConfig c, int n) {
            int e = c.nEmbd(), in = c.nInner();
            dDecay = c.cosineGate() != CosineGate.NONE ? new float[n * c.nHead()] : null;
            dx = new float[n * e];
            dln = new float[n * e];
            dqkv = new float[n * 3 * e];
            datt = new float[n * e];
            dact = new float[n * in];
            dpre = new float[n * in];
        }
    }

    private Grads grads;

    /** Given dlnf [n, E] (gradient at ln_f's output), accumulates every parameter gradient. */
    void backward(int b, int t, int[] ids, float[] dlnf, Acts a) {
        int n = a.n, e = cfg.nEmbd();
        if (grads == null || grads.dx.length != n * e) grads = new Grads(cfg, n);
        Grads d = grads;
        float[] w = params.data, g = params.grad();
        Arrays.fill(d.dx, 0f);
        LayerNorm.backward(d.dx, 0, g, lnfW.offset(), g, lnfB.offset(), dlnf, 0, a.x[blocks.length], 0, w, lnfW.offset(),
                a.lnfMean, 0, a.lnfRstd, 0, n, e);
        AttnShape shape = new AttnShape(b, t, cfg.nHead(), cfg.headDim());
        for (int l = blocks.length - 1; l >= 0; l--) blockBackward(l, shape, a, d);
        Embedding.backward(g, wte.offset(), d.dx, 0, ids, 0, n, cfg.vocabSize(), e);
    }

    /** On entry d.dx = dL/dx[l+1]; on exit d.dx = dL/dx[l]. */
    private void blockBackward(int l, AttnShape shape, Acts a, Grads d) {
        Block blk = blocks[l];
        float[] w = params.data, g = params.grad();
        int n = a.n, e = cfg.nEmbd(), in = cfg.nInner();
        // both branches receive dx unchanged (x' = x + attn + mlp); the residual passes it on to x
        Arrays.fill(d.dln, 0f);
        // mlp: recompute gelu output, then fc_out, gelu, fc_in backward
        Gelu.tanhForward(a.act, 0, a.pre[l], 0, n * in);
        Arrays.fill(d.dact, 0f);
        blk.fcOut.backward(w, g, a.act, 0, in, d.dx, 0, e, d.dact, 0, in, n);
        Arrays.fill(d.dpre, 0f);
        Gelu.tanhBackward(d.dpre, 0, a.pre[l], 0, d.dact, 0, n * in);
        blk.fcIn.backward(w, g, a.ln[l], 0, e, d.dpre, 0, in, d.dln, 0, e, n);
        // attention: out_proj, attention core, rotary (rotation by -theta), fused qkv projection
        Arrays.fill(d.datt, 0f);
        blk.out.backward(w, g, a.att[l], 0, e, d.dx, 0, e, d.datt, 0, e, n);
        float[] dm = new float[cfg.nHead()];
        if (d.dDecay != null) Arrays.fill(d.dDecay, 0f);
        blk.attention.backwardInto(Heads.of(d.datt, e), new Heads(d.dqkv, 0, 3 * e), new Heads(d.dqkv, e, 3 * e),
                new Heads(d.dqkv, 2 * e, 3 * e), dm, d.dDecay);
        if (blk.normConst != null) Ops.addInPlace(g, blk.normConst.offset(), dm, 0, dm.length);
        if (blk.gate != null) { // a = -softplus(logit): dlogit = -sigmoid(logit) da, then gate_proj's backward into dln
            CosineGate.logitGradient(a.gate[l], d.dDecay, n * cfg.nHead());
            if (blk.gate.slot() != null) blk.gate.backward(w, g, a.ln[l], 0, e, d.dDecay, 0, cfg.nHead(), d.dln, 0, e, n); // refuses off-heap weights
            else GateProjection.backward(a.ln[l], 0, e, w, blk.gate.weight().offset(), d.dDecay, d.dln, 0, e, g,
                    blk.gate.weight().offset(), blk.gate.bias().offset(), n, e, cfg.nHead());
        }
        rotary.backward(d.dqkv, 0, 3 * e, shape.batch(), shape.seq(), cfg.nHead(), cfg.headDim(), 0);
        rotary.backward(d.dqkv, e, 3 * e, shape.batch(), shape.seq(), cfg.nHead(), cfg.headDim(), 0);
        if (blk.conv != null) // d(q|k|v) before the convolution, written over d(q|k|v) after it
            QkvConv.backwardInPlace(shape.batch(), shape.seq(), 3 * e, cfg.qkvConvSize(), a.qkvIn[l], 0, 3 * e, w, blk.conv.offset(), a.mask,
                    null, d.dqkv, 0, 3 * e, g, blk.conv.offset());
        blk.qkv.backward(w, g, a.ln[l], 0, e, d.dqkv, 0, 3 * e, d.dln, 0, e, n);
        // ln_1: dx += LayerNorm'(dln)
        LayerNorm.backward(d.dx, 0, g, blk.lnW.offset(), g, blk.lnB.offset(), d.dln, 0, a.x[l], 0, w, blk.lnW.offset(),
                a.lnMean[l], 0, a.lnRstd[l], 0, n, e);
    }

    // ------------------------------------------------------------------------------------------------ head and loss

    /** Rows of logits computed at once: the [rows, V] block stays near 16 MB whatever the vocabulary. */
    private int headRows(int n) {
        return Math.max(1, Math.min(n, (4 << 20) / cfg.vocabSize()));
    }

    private float[] headLogits, headGrad;

    /** The [rows, V] logits block of the chunked head, kept between steps. */
    private float[] headLogits(int size) {
        if (headLogits == null || headLogits.length != size) headLogits = new float[size];
        return headLogits;
    }

    /** dL/d(ln_f output) [n, E], zeroed, kept between steps. */
    private float[] headGrad(int size) {
        if (headGrad == null || headGrad.length != size) headGrad = new float[size];
        else Arrays.fill(headGrad, 0f);
        return headGrad;
    }

    @Override
    public Loss trainStep(Batch batch, float gradScale) {
        params.grad();  // fails clearly, before any work, when the weights are off-heap (inference only)
        int n = batch.size() * batch.seqLen(), e = cfg.nEmbd(), v = cfg.vocabSize();
        Acts a = forward(batch.size(), batch.seqLen(), batch.inputIds(), batch.attentionMask());
        int count = CrossEntropy.countTargets(batch.targets(), 0, n, v);
        float[] dlnf = headGrad(n * e), w = params.data, g = params.grad();
        int rows = headRows(n);
        float[] logits = headLogits(rows * v);
        double sum = 0;
        for (int r0 = 0; r0 < n; r0 += rows) {
            int r = Math.min(rows, n - r0);
            lmHead.forward(w, a.lnf, r0 * e, e, logits, 0, v, r);
            sum += CrossEntropy.sumLossAndGradient(logits, 0, batch.targets(), r0, r, v, logits, 0,
                    count == 0 ? 0 : (double) gradScale / count);
            lmHead.backward(w, g, a.lnf, r0 * e, e, logits, 0, v, dlnf, r0 * e, e, r);
        }
        backward(batch.size(), batch.seqLen(), batch.inputIds(), dlnf, a);
        return new Loss(count == 0 ? 0 : sum / count, 1);
    }

    @Override
    public Loss evaluate(Batch batch) {
        int n = batch.size() * batch.seqLen(), e = cfg.nEmbd(), v = cfg.vocabSize();
        Acts a = forward(batch.size(), batch.seqLen(), batch.inputIds(), batch.attentionMask());
        int count = CrossEntropy.countTargets(batch.targets(), 0, n, v);
        int rows = headRows(n);
        float[] logits = headLogits(rows * v);
        double sum = 0;
        for (int r0 = 0; r0 < n; r0 += rows) {
            int r = Math.min(rows, n - r0);
            lmHead.forward(params.data, a.lnf, r0 * e, e, logits, 0, v, r);
            sum += CrossEntropy.sumLossAndGradient(logits, 0, batch.targets(), r0, r, v, null, 0, 0);
        }
        return new Loss(sum, count);
    }

    /** Validation loss and perplexity over held-out batches (what `train` and `pilot` log). */
    public Map<String, Object> validation(java.util.List<Batch> val) {
        Loss sum = new Loss(0, 0);
        for (Batch b : val) sum = sum.plus(evaluate(b));
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("valLoss", sum.mean());
        m.put("valPerplexity", Math.exp(sum.mean()));
        return m;
    }

    /** Logits [B*T, V] for ids [B, T] (mask may be null); the `forward` command and the fixtures use this. */
    public float[] logits(int b, int t, int[] ids, int[] mask) {
        int n = b * t, e = cfg.nEmbd(), v = cfg.vocabSize();
        Acts a = forward(b, t, ids, mask);
        float[] out = new float[Math.multiplyExact(n, v)];
        lmHead.forward(params.data, a.lnf, 0, e, out, 0, v, n);
        return out;
    }

    /** The residual stream after the embedding (layer 0) and after each block, [B*T, E], from the last forward. */
    float[] hidden(int layer) {
        return acts.x[layer];
    }

    @Override
    public double flopsPerToken(int seqLen) {
        int e = cfg.nEmbd(), h = cfg.nHead(), d = cfg.headDim();
        double matmul = 2.0 * ((double) cfg.nLayer() * (4.0 * e * e + 2.0 * e * cfg.nInner()) + (double) e * cfg.vocabSize());
        double attn = cfg.attentionType() == AttentionType.COSINE
                ? 4.0 * d * d + 2.0 * Math.min(chunk, seqLen) * d   // math doc §4, per token and head
                : 2.0 * seqLen * d;                                 // causal QK^T and PV, half the square each
        double gating = cfg.nLayer() * (2.0 * e * (cfg.cosineGate() == CosineGate.NONE ? 0 : h) + 2.0 * 3 * e * cfg.qkvConvSize());
        return matmul + gating + cfg.nLayer() * h * attn;
    }

    /** Parameter count (as PyTorch counts it). */
    public long parameterCount() {
        return params.size();
    }

    float[] normConst(Block blk) {
        if (blk.normConst == null) return null;
        return Arrays.copyOfRange(params.data, blk.normConst.offset(), blk.normConst.offset() + cfg.nHead());
    }

    private void checkIds(int[] ids, int n) {
        if (ids.length != n) throw new IllegalArgumentException("expected " + n + " input ids, got " + ids.length);
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= cfg.vocabSize())
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary of " + cfg.vocabSize());
        }
    }

    @Override
    public void saveModel(Path dir) throws IOException {
        if (params.hasOffHeap()) throw new IllegalStateException("saving needs f32 weights on the heap; this model was loaded with off-heap weights (--dtype bf16 or --mmap)");
        cfg.write(dir.resolve("config.json"));
        params.save(dir.resolve("model.safetensors"), false, DType.F32, Map.of("format", "pt"));
    }
}
