package org.cottention.model;

/**
 * The q|k|v projection of an attention layer, shared by GPT-J and BERT: y[n, 3E] = x[n, E] [Wq; Wk; Wv]^T (+ biases).
 * With the weights in the flat buffer the three matrices (and biases) are adjacent, so one fused [3E, E] product
 * does all three and trains; with off-heap weights (inference) each is its own matrix.
 */
record QkvProjection(Linear fused, Linear[] parts) {
    /**
     * From the three [E, E] weight views just added to pb (and their biases, or null), in order. The fused form needs
     * them adjacent in the flat buffer, which adding them one after the other gives.
     */
    static QkvProjection of(Params.Builder pb, String name, Params.View q, Params.View k, Params.View v,
                            Params.View qb, Params.View kb, Params.View vb) {
        if (pb.slot(q) != null)
            return new QkvProjection(null, new Linear[]{new Linear(q, qb, pb.slot(q)), new Linear(k, kb, pb.slot(k)), new Linear(v, vb, pb.slot(v))});
        int e = q.shape()[0];
        Params.View bias = qb == null ? null : new Params.View(name + "_bias", qb.offset(), new int[]{3 * e}, false);
        return new QkvProjection(new Linear(new Params.View(name, q.offset(), new int[]{3 * e, q.shape()[1]}, true), bias), null);
    }

    /** y[n, 3E] (row stride ldy) = x[n, E] W^T (+ b). */
    void forward(float[] w, float[] x, int xOff, int ldx, float[] y, int yOff, int ldy, int n) {
        if (fused != null) {
            fused.forward(w, x, xOff, ldx, y, yOff, ldy, n);
            return;
        }
        for (int j = 0; j < 3; j++) parts[j].forward(w, x, xOff, ldx, y, yOff + j * parts[j].out(), ldy, n);
    }

    /** Given dy[n, 3E]: dx += dy W, dW += dy^T x, db += column sums of dy (flat-buffer weights only). */
    void backward(float[] w, float[] g, float[] x, int xOff, int ldx, float[] dy, int dyOff, int lddy,
                  float[] dx, int dxOff, int lddx, int n) {
        if (fused == null)
            throw new IllegalStateException("training needs f32 weights on the heap; " + parts[0].weight().name() + " is off-heap (--dtype bf16 or --mmap)");
        fused.backward(w, g, x, xOff, ldx, dy, dyOff, lddy, dx, dxOff, lddx, n);
    }
}
