package org.cottention.attention;

/**
 * Sizes of one attention call: batch B, sequence length T, heads H, head dim D. Every per-head tensor of the
 * attention API is a {@link Heads} view of logical shape [B, T, H, D].
 */
public record AttnShape(int batch, int seq, int heads, int headDim) {
    public AttnShape {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (seq < 1) throw new IllegalArgumentException("seq must be >= 1, got " + seq);
        if (heads < 1) throw new IllegalArgumentException("heads must be >= 1, got " + heads);
        if (headDim < 1) throw new IllegalArgumentException("headDim must be >= 1, got " + headDim);
        if ((long) batch * seq * heads * headDim > Integer.MAX_VALUE)
            throw new IllegalArgumentException("B*T*H*D = " + (long) batch * seq * heads * headDim + " exceeds the int range");
    }

    /** Model width E = H * D. */
    public int width() {
        return heads * headDim;
    }

    /** Throws IllegalArgumentException naming {@code name} unless {@code x} can hold [B, T, H, D]. */
    public void check(String name, Heads x) {
        if (x == null) throw new IllegalArgumentException(name + " is null");
        int e = width();
        if (x.rowStride() < e)
            throw new IllegalArgumentException(name + ": row stride " + x.rowStride() + " < H*D = " + e);
        long last = (long) x.off() + (long) (batch * seq - 1) * x.rowStride() + e;
        if (x.off() < 0 || last > x.data().length)
            throw new IllegalArgumentException(name + ": view [B=" + batch + ", T=" + seq + ", H=" + heads + ", D=" + headDim
                    + "] with offset " + x.off() + " and row stride " + x.rowStride() + " needs " + last
                    + " floats but the array has " + x.data().length);
    }

    /** Throws unless mask is null (all tokens) or an int[B*T] of 0/1. */
    public void checkMask(int[] mask) {
        if (mask == null) return;
        if (mask.length != batch * seq)
            throw new IllegalArgumentException("mask: length " + mask.length + " != B*T = " + batch * seq);
        for (int i = 0; i < mask.length; i++)
            if (mask[i] != 0 && mask[i] != 1)
                throw new IllegalArgumentException("mask: entry " + i + " is " + mask[i] + ", must be 0 or 1");
    }

    /** Throws unless m (the raw per-head stabiliser norm_const) is a float[H]. */
    public void checkStabiliser(String name, float[] m) {
        if (m == null) throw new IllegalArgumentException(name + " is null");
        if (m.length != heads) throw new IllegalArgumentException(name + ": length " + m.length + " != H = " + heads);
    }

    /** Checks the inputs and output of a forward call: q, k, v, out views and the mask (null = all tokens). */
    public void checkForward(Heads q, Heads k, Heads v, Heads out, int[] mask) {
        check("q", q);
        check("k", k);
        check("v", v);
        check("out", out);
        checkMask(mask);
    }

    /** Checks the views of a backward call. */
    public void checkBackward(Heads dOut, Heads dq, Heads dk, Heads dv) {
        check("dOut", dOut);
        check("dq", dq);
        check("dk", dk);
        check("dv", dv);
    }
}
