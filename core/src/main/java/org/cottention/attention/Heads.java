package org.cottention.attention;

/**
 * A strided view of a [B, T, H, D] tensor: element (b, t, h, d) lives at
 * {@code data[off + (b*T + t)*rowStride + h*D + d]}. rowStride = H*D for a plain [B*T, E] buffer, 3E for one third of a
 * fused qkv buffer (off = 0, E or 2E).
 */
public record Heads(float[] data, int off, int rowStride) {
    /** A plain contiguous [B*T, H*D] buffer. */
    public static Heads of(float[] data, int width) {
        return new Heads(data, 0, width);
    }

    /** Index of element (b, t, h, 0) for sequence length {@code seq} and head dim {@code headDim}. */
    public int at(int seq, int headDim, int b, int t, int h) {
        return off + (b * seq + t) * rowStride + h * headDim;
    }
}
