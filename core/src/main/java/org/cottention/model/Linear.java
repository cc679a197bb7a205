package org.cottention.model;

import org.cottention.kernels.Gemm;
import org.cottention.kernels.Ops;
import org.cottention.kernels.SegmentMatmul;

/**
 * A dense layer in PyTorch layout: weight [out, in] row-major, optional bias [out]; y = x W^T + b.
 * Weights and gradients live in a model's flat {@link Params} buffers, or, for inference from memory-mapped or BF16
 * weights, the weight matrix lives off-heap in {@code slot} (then {@code w} still holds the bias).
 */
public record Linear(Params.View weight, Params.View bias, Params.Slot slot) {
    public Linear(Params.View weight, Params.View bias) {
        this(weight, bias, null);
    }

    public int in() {
        return weight.shape()[1];
    }

    public int out() {
        return weight.shape()[0];
    }

    /** y[n, out] = x[n, in] W^T (+ b); x and y are strided row views (row r at off + r*ld). */
    public void forward(float[] w, float[] x, int xOff, int ldx, float[] y, int yOff, int ldy, int n) {
        if (slot != null) SegmentMatmul.matmulT(x, xOff, ldx, n, slot.segment(), slot.bf16(), out(), in(), y, yOff, ldy);
        else Gemm.sgemm(false, true, n, out(), in(), 1f, x, xOff, ldx, w, weight.offset(), in(), 0f, y, yOff, ldy);
        if (bias != null) {
            for (int r = 0; r < n; r++) Ops.addInPlace(y, yOff + r * ldy, w, bias.offset(), out());
        }
    }

    /**
     * Given dy[n, out]: dx += dy W (skipped when dx is null), dW += dy^T x, db += column sums of dy.
     */
    public void backward(float[] w, float[] g, float[] x, int xOff, int ldx, float[] dy, int dyOff, int lddy,
                         float[] dx, int dxOff, int lddx, int n) {
        if (slot != null)
            throw new IllegalStateException("training needs f32 weights on the heap; " + weight.name() + " is off-heap (--dtype bf16 or --mmap)");
        if (dx != null) Gemm.sgemm(false, false, n, in(), out(), 1f, dy, dyOff, lddy, w, weight.offset(), in(), 1f, dx, dxOff, lddx);
        Gemm.sgemm(true, false, out(), in(), n, 1f, dy, dyOff, lddy, x, xOff, ldx, 1f, g, weight.offset(), in());
        if (bias != null) {
            if (lddy == out()) Ops.biasBackward(g, bias.offset(), dy, dyOff, n, out());
            else for (int r = 0; r < n; r++) Ops.addInPlace(g, bias.offset(), dy, dyOff + r * lddy, out());
        }
    }
}
