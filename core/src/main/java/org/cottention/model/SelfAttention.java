package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.CosineBidir;
import org.cottention.attention.CosineCausal;
import org.cottention.attention.FlashAttention;
import org.cottention.attention.Heads;
import org.cottention.attention.QkvSource;

/**
 * The attention core of one layer (after the projections, before the output projection), for both model families:
 * cosine (the paper's) or softmax (the baseline), causal (GPT) or bidirectional (BERT). It keeps what its backward
 * needs between the two calls. Softmax runs in the tiled online form (O(T) memory) so both sides of a comparison
 * have linear memory in training; the materialised form lives in the attention package for benchmarks.
 */
public final class SelfAttention {
    private final AttentionType type;
    private final boolean causal;
    private final int chunk;
    private CosineCausal.Context causalCtx;
    private CosineBidir.Context bidirCtx;
    private FlashAttention.Context softmaxCtx;
    private AttnShape shape; // the last forward's

    public SelfAttention(AttentionType type, boolean causal, int chunk) {
        this.type = type;
        this.causal = causal;
        this.chunk = chunk;
    }

    /** out = attention(q, k, v); m [H] is the layer's norm_const (ignored for softmax). */
    public void forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out) {
        forward(shape, q, k, v, mask, m, null, out);
    }

    /** The same with a log-decay [B*T*H] for gated causal cosine attention (null: none). */
    public void forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] logDecay, Heads out) {
        if (logDecay != null && (type == AttentionType.SOFTMAX || !causal))
            throw new IllegalArgumentException("a decay gate needs causal cosine attention");
        this.shape = shape;
        if (type == AttentionType.SOFTMAX) softmaxCtx = FlashAttention.forward(shape, q, k, v, mask, causal, out);
        else if (causal) causalCtx = CosineCausal.forward(causalCtx, shape, q, k, v, mask, m, logDecay, out, chunk, null, null);
        else bidirCtx = CosineBidir.forward(bidirCtx, shape, q, k, v, mask, m, out);
    }

    /**
     * Causal cosine attention with q|k|v made row by row by {@code rows} inside the kernel (gated layers: the
     * convolution and rotary), so no [B*T, 3E] buffer of them is kept; the backward is the same call as after the
     * other forwards.
     */
    public void forward(AttnShape shape, QkvSource rows, int[] mask, float[] m, float[] logDecay, Heads out) {
        if (type == AttentionType.SOFTMAX || !causal) throw new IllegalArgumentException("q|k|v rows on demand need causal cosine attention");
        this.shape = shape;
        causalCtx = CosineCausal.forward(causalCtx, shape, rows, mask, m, logDecay, out, chunk, null, null);
    }

    /** Adds the gradients into dq, dk, dv (and dm [H] for cosine), given dOut. */
    public void backward(Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm) {
        backward(dOut, dq, dk, dv, dm, null);
    }

    /** The same, also adding dL/d(log-decay) into dLogDecay [B*T*H] after a gated forward. */
    public void backward(Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm, float[] dLogDecay) {
        if (type == AttentionType.SOFTMAX) FlashAttention.backward(softmaxCtx, dOut, dq, dk, dv);
        else if (causal) CosineCausal.backward(causalCtx, dOut, dq, dk, dv, dm, dLogDecay);
        else CosineBidir.backward(bidirCtx, dOut, dq, dk, dv, dm);
    }

    /**
     * The same with dq, dk, dv WRITTEN (their old contents are ignored): causal cosine attention writes them as it
     * goes, without a zeroing pass or reading them back; the other kernels add into them, so they are zeroed first.
     */
    public void backwardInto(Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm, float[] dLogDecay) {
        if (type != AttentionType.SOFTMAX && causal) {
            CosineCausal.backwardInto(causalCtx, dOut, dq, dk, dv, dm, dLogDecay);
            return;
        }
        if (shape == null) throw new IllegalStateException("backward before forward");
        for (Heads d : new Heads[]{dq, dk, dv})
            for (int r = 0; r < shape.batch() * shape.seq(); r++)
                java.util.Arrays.fill(d.data(), d.off() + r * d.rowStride(), d.off() + r * d.rowStride() + shape.width(), 0f);
        backward(dOut, dq, dk, dv, dm, dLogDecay);
    }
}
