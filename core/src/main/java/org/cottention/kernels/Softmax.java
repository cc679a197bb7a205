package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise softmax and its backward. Rows may hold -inf (weight 0) and -Float.MAX_VALUE (HF's "masked" value): a row
 * whose maximum is -MAX_VALUE gives equal weight to every -MAX_VALUE entry, exactly as PyTorch does.
 */
public final class Softmax {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private Softmax() {}

    /** In place: x[0..n) = softmax(x). Returns the row's log-sum-exp (max + log(sum exp(x - max))). */
    public static float forward(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) max = Math.max(max, x[off + j]);
        if (max == Float.NEGATIVE_INFINITY) throw new IllegalArgumentException("softmax: row of only -inf");
        float sum = 0f;
        for (int j = 0; j < n; j++) {
            float e = (float) Math.exp(x[off + j] - max);
            x[off + j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        int j = 0;
        for (int up = F.loopBound(n); j < up; j += F.length())
            FloatVector.fromArray(F, x, off + j).mul(inv).intoArray(x, off + j);
        for (; j < n; j++) x[off + j] *= inv;
        return max + (float) Math.log(sum);
    }

    /** dx[0..n) (+)= y .* (dy - (dy . y)), the backward of y = softmax(x). */
    public static void backward(float[] y, int yOff, float[] dy, int dyOff, float[] dx, int dxOff, int n, boolean accumulate) {
        float dot = L2Norm.dot(dy, dyOff, y, yOff, n);
        int j = 0;
        for (int up = F.loopBound(n); j < up; j += F.length()) {
            FloatVector g = FloatVector.fromArray(F, dy, dyOff + j).sub(dot).mul(FloatVector.fromArray(F, y, yOff + j));
            if (accumulate) g = g.add(FloatVector.fromArray(F, dx, dxOff + j));
            g.intoArray(dx, dxOff + j);
        }
        for (; j < n; j++) {
            float g = y[yOff + j] * (dy[dyOff + j] - dot);
            dx[dxOff + j] = accumulate ? dx[dxOff + j] + g : g;
        }
    }

    static float sumAll(float[] x, int off, int n) {
        int j = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int up = F.loopBound(n); j < up; j += F.length()) acc = acc.add(FloatVector.fromArray(F, x, off + j));
        float s = Ops.sumLanes(acc);
        for (; j < n; j++) s += x[off + j];
        return s;
    }
}
